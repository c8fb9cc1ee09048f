// #/review: the candidates awaiting a decision (fewer than two confirmations, no rejection),
// newest first. #/review/{candidate}: one candidate, its source image with the face boxed,
// its score, what the score means and who reviewed it so far; the reviewer confirms or rejects.

import { ApiError, get, type CandidateView } from '../api';
import type { Ctx } from '../app';
import { candidateDetail, reviewLink, reviewSummary } from '../candidate';
import { Alert, h, replace, status } from '../dom';
import { basename, count, rateMeaning, score, when } from '../format';

const LIMIT = 100;

/** The face's crop; if it cannot be shown (a collection not granted to you…), a line saying so. */
function crop(faceId: number, candidateId: number): HTMLElement {
  const img = h('img', { class: 'crop', src: `/api/v1/faces/${faceId}/crop`, alt: `Face of candidate ${candidateId}`, width: 160, height: 160 });
  img.addEventListener('error', () => img.replaceWith(h('p', { class: 'crop-missing' }, 'The face cannot be shown to you (its collection is not granted to you, or it was erased).')));
  return img;
}

export function reviewListPage(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const loading = status();
  loading.textContent = 'Loading the candidates awaiting review…';
  const body = h('div', null, loading);
  const me = ctx.me.name;

  void (async () => {
    try {
      const { items } = await get<{ items: CandidateView[] }>(`/candidates?limit=${LIMIT}`);
      if (!ctx.live()) return;
      if (!items.length) {
        replace(body, h('p', { class: 'empty-list' }, 'No candidate is awaiting review.'));
        return;
      }
      const cards = items.map((v) => {
        const c = v.candidate;
        const name = basename(v.path);
        const mine = c.confirmed_by.includes(me);
        return h(
          'li',
          { class: 'candidate to-review', 'data-candidate': c.id },
          crop(c.face_id, c.id),
          h('p', { class: 'rank' }, `Candidate ${c.id}`),
          h('p', { class: 'score' }, `Score ${score(c.score)}`),
          h('p', { class: 'meaning' }, rateMeaning(v.false_match_rate)),
          h('p', { class: 'case' }, `Case ${c.case_ref}`),
          h('p', { class: 'where' }, h('strong', { class: 'name' }, name), h('br'), h('span', { class: 'path' }, v.path)),
          h('p', { class: 'meta' }, `Collection ${v.collection}`, h('br'), `Captured ${when(v.captured_at)}`),
          h('p', { class: `review-summary${mine ? ' mine' : ''}` }, `${reviewSummary(v)}.`, mine ? ' You confirmed it already.' : null),
          h('a', { class: 'open button-like', href: reviewLink({ candidateId: c.id }), 'aria-label': `Review candidate ${c.id} (${name}, case ${c.case_ref})` }, 'Review'),
        );
      });
      replace(
        body,
        h('p', { class: 'summary', id: 'review-count' }, `${count(items.length, 'candidate')} awaiting a decision${items.length === LIMIT ? ' (the newest shown)' : ''}.`),
        h('ul', { class: 'grid', 'aria-labelledby': 'review-count' }, cards),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(e instanceof ApiError ? e.message : 'The candidates could not be loaded.');
    }
  })();

  return h(
    'section',
    { class: 'review-list' },
    h('h1', null, 'To review'),
    h(
      'p',
      { class: 'lede' },
      'Candidates found by searches, newest first, until two different reviewers confirm them or one rejects them. A candidate is a lead, never an identification.',
    ),
    alert.el,
    body,
  );
}

export function reviewPage(ctx: Ctx, [candidate]: string[]): HTMLElement {
  const alert = new Alert();
  const loading = status();
  loading.textContent = 'Loading the candidate…';
  const body = h('div', null, loading);
  const candidateId = Number(candidate);
  void (async () => {
    try {
      const v = await get<CandidateView>(`/candidates/${candidateId}`);
      if (!ctx.live()) return;
      replace(
        body,
        candidateDetail(ctx, {
          candidateId,
          faceId: v.candidate.face_id,
          imageId: v.image_id,
          bbox: v.bbox,
          collection: v.collection,
          path: v.path,
          capturedAt: v.captured_at,
          score: v.candidate.score,
          meaning: rateMeaning(v.false_match_rate),
          // A video's frame is served at the size its boxes refer to.
          video: v.time_s !== null && v.time_s !== undefined ? { time_s: v.time_s } : null,
          state: v,
        }),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(e instanceof ApiError ? e.message : 'The candidate could not be loaded.');
    }
  })();
  return h(
    'section',
    null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/review' }, 'To review')),
    h('h1', null, `Candidate ${candidateId}`),
    alert.el,
    body,
  );
}
