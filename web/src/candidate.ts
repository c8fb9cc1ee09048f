// One candidate: the source image with the face boxed, what is known of it, and the review
// (confirm / reject; confirmed only by two different reviewers).

import { ApiError, post, type RawBox, type ReviewState } from './api';
import type { Ctx } from './app';
import { Alert, h, replace, status, type Child } from './dom';
import { basename, score as fmtScore, when } from './format';
import { photoWithBoxes } from './photo';

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
  meaning?: string;
  rank?: number;
  /** The review so far, when known (shown before deciding). */
  state?: ReviewState;
}

/** The reviewers' link to a candidate (usable after logging in as a reviewer). */
export function reviewLink(c: Pick<CandidateInfo, 'candidateId'>): string {
  return `#/review/${c.candidateId}`;
}

/** Who confirmed a candidate so far, in a few words ("Confirmed by rita", "Not reviewed yet"). */
export function reviewSummary(s: ReviewState): string {
  const { confirmed_by: yes, rejected_by: no } = s.candidate;
  if (no.length > 0) return `Rejected by ${no.join(', ')}`;
  if (s.confirmed) return `Confirmed by ${yes.join(', ')}`;
  if (yes.length > 0) return `Confirmed by ${yes.join(', ')}, waiting for a second reviewer`;
  return 'Not reviewed yet';
}

function describeState(s: ReviewState, me: string): Child[] {
  const { confirmed_by: yes, rejected_by: no } = s.candidate;
  let verdict: string;
  if (no.length > 0) verdict = `Rejected by ${no.join(', ')}: not a match for this case.`;
  else if (s.confirmed) verdict = `Confirmed by two different reviewers (${yes.join(', ')}).`;
  else if (yes.length === 1) verdict = `Confirmed by ${yes[0]} only: a second, different reviewer must confirm.`;
  else verdict = 'Not reviewed yet.';
  const yours = yes.includes(me)
    ? ' You confirmed it: your confirmation counts once; rejecting it would replace it.'
    : no.includes(me)
      ? ' You rejected it: confirming it would replace your rejection.'
      : '';
  return [
    h('strong', { class: 'review-verdict' }, verdict),
    h(
      'span',
      { class: 'review-detail' },
      ` Case ${s.candidate.case_ref}, candidate ${s.candidate.id}. Confirmed by: ${yes.length ? yes.join(', ') : 'nobody'}. Rejected by: ${no.length ? no.join(', ') : 'nobody'}.${yours}`,
    ),
  ];
}

export function candidateDetail(ctx: Ctx, c: CandidateInfo): HTMLElement {
  const t = c.video ? `?time_s=${encodeURIComponent(String(c.video.time_s))}` : '';
  const ref = c.video?.frame_width && c.video.frame_height ? { width: c.video.frame_width, height: c.video.frame_height } : undefined;
  const photo = photoWithBoxes(
    `/api/v1/images/${c.imageId}/file${t}`,
    `Source image of the candidate${c.path ? `: ${basename(c.path)}` : ''}, with the face boxed`,
    c.bbox ? [{ box: c.bbox, label: 'Candidate face' }] : [],
    ref,
  );
  const facts: [string, Child][] = [];
  if (c.score !== undefined) facts.push(['Score', h('span', { class: 'score' }, fmtScore(c.score))]);
  if (c.meaning) facts.push(['What the score means', h('span', { class: 'meaning' }, c.meaning)]);
  if (c.state) facts.push(['Case', c.state.candidate.case_ref]);
  if (c.path) facts.push(['Source file', h('span', { class: 'path' }, c.path)]);
  if (c.collection) facts.push(['Collection', c.collection]);
  if (c.source && c.source !== c.path) facts.push(['Ingested from', h('span', { class: 'path' }, c.source)]);
  facts.push(['Captured', when(c.capturedAt)]);
  if (c.video) facts.push(['Time in the video', c.video.timestamp ?? `${c.video.time_s.toFixed(3)} s`]);

  const alert = new Alert();
  const state = status();
  state.classList.add('review-state');
  const link = reviewLink(c);
  const absolute = `${location.origin}${location.pathname}${link}`;
  let review: Child;
  if (ctx.can('reviewer')) {
    const me = ctx.me.name;
    const sync = (s: ReviewState): void => {
      replace(state, describeState(s, me));
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
        alert.show(e instanceof ApiError ? e.message : 'The review could not be recorded.');
      }
    };
    const confirm: HTMLButtonElement = h('button', { type: 'button', class: 'confirm', onclick: () => decide('confirm', confirm) }, 'Confirm');
    const reject: HTMLButtonElement = h('button', { type: 'button', class: 'reject', onclick: () => decide('reject', reject) }, 'Reject');
    if (c.state) sync(c.state);
    else replace(state, 'Not known yet who reviewed this candidate.');
    review = [
      state,
      h('div', { class: 'actions' }, confirm, reject),
      h('p', { class: 'hint' }, 'Your decision is recorded with your name in the audit log.'),
    ];
  } else {
    review = h('p', null, 'Only reviewers confirm or reject a candidate. Send them this link: ', h('a', { class: 'review-link', href: link }, absolute));
  }
  return h(
    'div',
    { class: 'candidate-detail' },
    h('div', { class: 'detail-photo' }, photo.el),
    h(
      'div',
      { class: 'detail-facts' },
      h('dl', null, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
      h('h3', null, 'Review'),
      h(
        'p',
        { class: 'notice' },
        'A candidate is a lead for human review, never an identification. It counts as confirmed only when two different reviewers confirm it and nobody rejects it.',
      ),
      review,
      alert.el,
    ),
  );
}
