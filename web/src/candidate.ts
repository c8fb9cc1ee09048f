// One candidate: the source image with the face boxed, what is known of it, and the review
// (confirm / reject; confirmed only by two different reviewers).

import { ApiError, post, type RawBox, type ReviewState } from './api';
import type { Ctx } from './app';
import { Alert, h, replace, status, type Child } from './dom';
import { basename, meaningView, when, type ScoreFacts } from './format';
import { m, num } from './i18n';
import { photoWithBoxes } from './photo';
import { reviewLink, verdict } from './review-state';

export interface CandidateInfo {
  candidateId: number;
  faceId: number;
  imageId: number;
  /** For a face from a video: the frame's time and the sampled frames' size. */
  video?: { time_s: number; timestamp?: string; frame_width?: number; frame_height?: number } | null;
  bbox?: RawBox | null;
  collection?: string;
  path?: string;
  source?: string;
  capturedAt?: string | null;
  score?: number;
  /** What the score is read from (its meaning is worded as on every page). */
  facts?: ScoreFacts;
  rank?: number;
  /** The review so far, when known (shown before deciding). */
  state?: ReviewState;
}

export function candidateDetail(ctx: Ctx, c: CandidateInfo): HTMLElement {
  const t = m().search.dialog;
  const tv = c.video ? `?time_s=${encodeURIComponent(String(c.video.time_s))}` : '';
  const ref = c.video?.frame_width && c.video.frame_height ? { width: c.video.frame_width, height: c.video.frame_height } : undefined;
  const photo = photoWithBoxes(
    `/api/v1/images/${c.imageId}/file${tv}`,
    t.photoAlt(c.path ? basename(c.path) : null),
    c.bbox ? [{ box: c.bbox, label: t.boxLabel }] : [],
    ref,
  );
  const facts: [string, Child][] = [];
  if (c.score !== undefined) facts.push([t.score, h('span', { class: 'score' }, num(c.score, 3))]);
  if (c.facts) facts.push([t.meaning, meaningView(c.facts)]);
  if (c.state) facts.push([t.case, c.state.candidate.case_ref]);
  if (c.path) facts.push([t.sourceFile, h('span', { class: 'path' }, c.path)]);
  if (c.collection) facts.push([t.collection, c.collection]);
  if (c.source && c.source !== c.path) facts.push([t.ingestedFrom, h('span', { class: 'path' }, c.source)]);
  facts.push([t.captured, when(c.capturedAt)]);
  if (c.video) facts.push([t.videoTime, c.video.timestamp ?? t.seconds(num(c.video.time_s, 3))]);

  const alert = new Alert();
  const state = status();
  state.classList.add('review-state');
  const link = reviewLink(c.candidateId);
  const absolute = `${location.origin}${location.pathname}${link}`;
  let review: Child;
  if (ctx.can('reviewer')) {
    const me = ctx.me.name;
    const sync = (s: ReviewState): void => {
      replace(state, verdict(s, me, true));
      // Confirming twice counts once: the second confirmation must come from someone else.
      confirm.disabled = s.candidate.confirmed_by.includes(me);
      reject.disabled = s.candidate.rejected_by.includes(me);
    };
    const decide = async (decision: 'confirm' | 'reject', button: HTMLButtonElement): Promise<void> => {
      alert.clear();
      button.disabled = true;
      try {
        const s = await post<ReviewState>(`/candidates/${c.candidateId}/review`, { decision });
        sync(s);
      } catch (e) {
        button.disabled = false;
        alert.show(e instanceof ApiError ? e.message : t.decisionFailed);
      }
    };
    const confirm: HTMLButtonElement = h('button', { type: 'button', class: 'confirm', onclick: () => decide('confirm', confirm) }, t.confirm);
    const reject: HTMLButtonElement = h('button', { type: 'button', class: 'reject', onclick: () => decide('reject', reject) }, t.reject);
    if (c.state) sync(c.state);
    else replace(state, t.notKnown);
    review = [state, h('div', { class: 'actions' }, confirm, reject), h('p', { class: 'hint' }, t.recorded)];
  } else {
    review = h('p', null, t.onlyReviewers, h('a', { class: 'review-link', href: link }, absolute));
  }
  return h(
    'div',
    { class: 'candidate-detail' },
    h('div', { class: 'detail-photo' }, photo.el),
    h(
      'div',
      { class: 'detail-facts' },
      h('dl', null, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
      h('h3', null, t.review),
      h('p', { class: 'notice' }, t.notice),
      review,
      alert.el,
    ),
  );
}
