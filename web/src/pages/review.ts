// #/review: the candidates awaiting a decision (fewer than two confirmations, no rejection),
// grouped by case and search, newest first, with a filter. #/review/{candidate}: the face
// searched for beside the candidate's face at the same size, the case and its purpose, what
// the score means, and Confirm / Reject beside them; the full photo on demand; keyboard
// shortcuts (C confirm, R reject, N next, F full photo).

import { ApiError, get, post, type CandidateView, type ReviewState } from '../api';
import type { Ctx } from '../app';
import { reviewLink, reviewSummary } from '../candidate';
import { Alert, h, replace, status, uid, type Child } from '../dom';
import { basename, count, meaningView, score, when, type ScoreFacts } from '../format';
import { photoWithBoxes } from '../photo';

const LIMIT = 100;

/** What a candidate's score is read from. */
function scoreFacts(v: CandidateView): ScoreFacts {
  return { fmr: v.false_match_rate, comparisons: v.calibration_comparisons, gallery: v.gallery_size };
}

/** The shortcuts of the review page, as listed on it. */
const SHORTCUTS: [string, string][] = [
  ['C', 'confirm'],
  ['R', 'reject'],
  ['N', 'next candidate'],
  ['F', 'show or hide the full photo'],
];

/** A face picture in a square frame; if it cannot be shown, `missing` instead. */
function faceFrame(src: string, alt: string, missing: string): HTMLElement {
  const frame = h('div', { class: 'face-frame' });
  const img = h('img', { class: 'face', src, alt, decoding: 'async' });
  img.addEventListener('error', () => replace(frame, h('p', { class: 'face-missing' }, missing)));
  frame.appendChild(img);
  return frame;
}

function queryFaceSrc(v: CandidateView): string {
  return `/api/v1/searches/${v.candidate.search_id}/query-faces/${v.candidate.query_face}`;
}

const QUERY_GONE = 'The face searched for is no longer kept: every candidate of this search has been decided, or its period ended.';

/** The query face of a candidate's search, or why it is not shown. */
function queryFace(v: CandidateView): HTMLElement {
  if (!v.query_face_kept) return h('div', { class: 'face-frame' }, h('p', { class: 'face-missing' }, QUERY_GONE));
  return faceFrame(queryFaceSrc(v), `Face searched for in case ${v.candidate.case_ref}`, QUERY_GONE);
}

function candidateFace(v: CandidateView): HTMLElement {
  return faceFrame(
    `/api/v1/faces/${v.candidate.face_id}/crop`,
    `Face of candidate ${v.candidate.id} (${basename(v.path)})`,
    'The candidate’s face cannot be shown (erased, or its file is gone).',
  );
}

/** Whether the user has decided a candidate already. */
function decidedBy(v: ReviewState, me: string): boolean {
  return v.candidate.confirmed_by.includes(me) || v.candidate.rejected_by.includes(me);
}

export function reviewListPage(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const loading = status();
  loading.textContent = 'Loading the candidates awaiting review…';
  const body = h('div', null, loading);
  const me = ctx.me.name;
  const filter = h('input', { type: 'search', id: uid('filter'), placeholder: 'case, collection, file…', autocomplete: 'off' });
  const shown = status();

  void (async () => {
    try {
      const { items } = await get<{ items: CandidateView[] }>(`/candidates?limit=${LIMIT}`);
      if (!ctx.live()) return;
      if (!items.length) {
        replace(body, h('p', { class: 'empty-list' }, 'No candidate is awaiting review.'));
        return;
      }
      // By search (newest first, as the candidates come), each under its case.
      const searches = new Map<number, CandidateView[]>();
      for (const v of items) {
        const list = searches.get(v.candidate.search_id) ?? [];
        list.push(v);
        searches.set(v.candidate.search_id, list);
      }
      const groups = [...searches.entries()].map(([searchId, list]) => {
        const first = list[0]!;
        const cards = list.map((v) => {
          const c = v.candidate;
          const name = basename(v.path);
          const mine = decidedBy(v, me);
          return h(
            'li',
            { class: 'candidate to-review', 'data-candidate': c.id, 'data-text': `${c.case_ref} ${v.collection} ${v.path}`.toLowerCase() },
            h('img', { class: 'crop', src: `/api/v1/faces/${c.face_id}/crop`, alt: `Face of candidate ${c.id}`, width: 160, height: 160 }),
            h('p', { class: 'rank' }, `Candidate ${c.id}`),
            h('p', { class: 'score' }, `Score ${score(c.score)}`),
            meaningView(scoreFacts(v)),
            h('p', { class: 'case' }, `Case ${c.case_ref}`),
            h('p', { class: 'where' }, h('strong', { class: 'name' }, name), h('br'), h('span', { class: 'path' }, v.path)),
            h('p', { class: 'meta' }, `Collection ${v.collection}`, h('br'), `Captured ${when(v.captured_at)}`),
            h('p', { class: `review-summary${mine ? ' mine' : ''}` }, `${reviewSummary(v)}.`, mine ? ' You decided it already.' : null),
            h('a', { class: 'open button-like', href: reviewLink({ candidateId: c.id }), 'aria-label': `Review candidate ${c.id} (${name}, case ${c.case_ref})` }, 'Review'),
          );
        });
        const headingId = uid('search');
        return h(
          'section',
          { class: 'search-group', 'data-search': searchId, 'aria-labelledby': headingId },
          h(
            'div',
            { class: 'search-head' },
            first.query_face_kept
              ? h('img', { class: 'query-thumb', src: queryFaceSrc(first), alt: `Face searched for in case ${first.candidate.case_ref}`, width: 64, height: 64 })
              : null,
            h(
              'div',
              null,
              h('h2', { id: headingId }, `Case ${first.candidate.case_ref} · search ${searchId}`),
              h('p', { class: 'purpose' }, `Purpose: ${first.candidate.purpose}`),
            ),
          ),
          h('ul', { class: 'grid' }, cards),
        );
      });
      const apply = (): void => {
        const q = filter.value.trim().toLowerCase();
        let visible = 0;
        for (const g of groups) {
          let inGroup = 0;
          g.querySelectorAll<HTMLElement>('li.to-review').forEach((li) => {
            const match = !q || (li.dataset.text ?? '').includes(q);
            li.hidden = !match;
            if (match) inGroup += 1;
          });
          g.hidden = inGroup === 0;
          visible += inGroup;
        }
        shown.textContent = q ? `${count(visible, 'candidate')} match “${filter.value.trim()}”.` : '';
      };
      filter.addEventListener('input', apply);
      replace(
        body,
        h('p', { class: 'summary', id: 'review-count' }, `${count(items.length, 'candidate')} awaiting a decision in ${count(groups.length, 'search', 'searches')}${items.length === LIMIT ? ' (the newest shown)' : ''}.`),
        groups,
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
      'Candidates found by searches, grouped by case and search, newest first, until two different reviewers confirm them or one rejects them. A candidate is a lead, never an identification.',
    ),
    h('div', { class: 'filter-bar' }, h('label', { for: filter.id }, 'Filter'), filter, shown),
    alert.el,
    body,
  );
}

/** The next candidate awaiting this reviewer's decision after `current` (same search first). */
async function nextCandidate(current: CandidateView, me: string): Promise<number | null> {
  const { items } = await get<{ items: CandidateView[] }>(`/candidates?limit=${LIMIT}`);
  const open = items.filter((v) => v.candidate.id !== current.candidate.id && !decidedBy(v, me));
  const same = open.find((v) => v.candidate.search_id === current.candidate.search_id);
  return (same ?? open[0])?.candidate.id ?? null;
}

function verdict(s: ReviewState, me: string): Child[] {
  const { confirmed_by: yes, rejected_by: no } = s.candidate;
  let text: string;
  if (no.length > 0) text = `Rejected by ${no.join(', ')}: not a match for this case.`;
  else if (s.confirmed) text = `Confirmed by two different reviewers (${yes.join(', ')}).`;
  else if (yes.length === 1) text = `Confirmed by ${yes[0]} only: a second, different reviewer must confirm.`;
  else text = 'Not reviewed yet.';
  const yours = yes.includes(me)
    ? ' You confirmed it: your confirmation counts once; rejecting it would replace it.'
    : no.includes(me)
      ? ' You rejected it: confirming it would replace your rejection.'
      : '';
  return [
    h('strong', { class: 'review-verdict' }, text),
    h('span', { class: 'review-detail' }, ` Confirmed by: ${yes.length ? yes.join(', ') : 'nobody'}. Rejected by: ${no.length ? no.join(', ') : 'nobody'}.${yours}`),
  ];
}

export function reviewPage(ctx: Ctx, [candidate]: string[]): HTMLElement {
  const alert = new Alert();
  const loading = status();
  loading.textContent = 'Loading the candidate…';
  const body = h('div', null, loading);
  const candidateId = Number(candidate);
  const me = ctx.me.name;

  void (async () => {
    try {
      const v = await get<CandidateView>(`/candidates/${candidateId}`);
      if (!ctx.live()) return;
      replace(body, reviewPanel(ctx, v, alert, me));
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(e instanceof ApiError ? e.message : 'The candidate could not be loaded.');
    }
  })();
  return h(
    'section',
    { class: 'review-page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/review' }, 'To review')),
    h('h1', null, `Candidate ${candidateId}`),
    alert.el,
    body,
  );
}

function reviewPanel(ctx: Ctx, v: CandidateView, alert: Alert, me: string): HTMLElement {
  const c = v.candidate;
  const state = status();
  state.classList.add('review-state');
  const moving = status();
  const sync = (s: ReviewState): void => {
    replace(state, verdict(s, me));
    // Confirming twice counts once: the second confirmation must come from someone else.
    confirm.disabled = s.candidate.confirmed_by.includes(me);
    reject.disabled = s.candidate.rejected_by.includes(me);
  };
  const decide = async (decision: 'confirm' | 'reject'): Promise<void> => {
    const button = decision === 'confirm' ? confirm : reject;
    if (button.disabled) return;
    alert.clear();
    button.disabled = true;
    try {
      const s = await post<ReviewState>(`/candidates/${c.id}/review`, { decision });
      if (!ctx.live()) return;
      sync(s);
      next.focus();
    } catch (e) {
      button.disabled = false;
      alert.show(e instanceof ApiError ? e.message : 'The review could not be recorded.');
    }
  };
  const goNext = async (): Promise<void> => {
    moving.textContent = 'Looking for the next candidate…';
    try {
      const id = await nextCandidate(v, me);
      if (!ctx.live()) return;
      if (id === null) {
        moving.textContent = 'No other candidate awaits your decision.';
        ctx.go('#/review');
      } else {
        ctx.go(`#/review/${id}`);
      }
    } catch (e) {
      moving.textContent = '';
      alert.show(e instanceof ApiError ? e.message : 'The next candidate could not be found.');
    }
  };
  const confirm: HTMLButtonElement = h('button', { type: 'button', class: 'confirm', 'aria-keyshortcuts': 'C', onclick: () => decide('confirm') }, 'Confirm');
  const reject: HTMLButtonElement = h('button', { type: 'button', class: 'reject', 'aria-keyshortcuts': 'R', onclick: () => decide('reject') }, 'Reject');
  const next: HTMLButtonElement = h('button', { type: 'button', class: 'secondary next', 'aria-keyshortcuts': 'N', onclick: () => void goNext() }, 'Next candidate');
  sync(v);

  // The full photo, loaded when asked for (it is audited as a view of the image).
  const full = h('details', { class: 'full-photo' }, h('summary', { 'aria-keyshortcuts': 'F' }, 'Show the full photo'));
  full.addEventListener('toggle', () => {
    if (!full.open || full.querySelector('.photo')) return;
    const t = v.time_s !== null && v.time_s !== undefined ? `?time_s=${encodeURIComponent(String(v.time_s))}` : '';
    const photo = photoWithBoxes(`/api/v1/images/${v.image_id}/file${t}`, `Source image of the candidate: ${basename(v.path)}, with the face boxed`, [{ box: v.bbox, label: 'Candidate face' }]);
    full.appendChild(h('div', { class: 'detail-photo' }, photo.el));
  });

  const onKey = (e: KeyboardEvent): void => {
    if (!ctx.live()) {
      document.removeEventListener('keydown', onKey);
      return;
    }
    const t = e.target as HTMLElement | null;
    if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName)))) return;
    const key = e.key.toLowerCase();
    if (key === 'c') void decide('confirm');
    else if (key === 'r') void decide('reject');
    else if (key === 'n') void goNext();
    else if (key === 'f') full.open = !full.open;
    else return;
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);

  const facts: [string, Child][] = [
    ['Collection', v.collection],
    ['Source file', h('span', { class: 'path' }, v.path)],
    ['Captured', when(v.captured_at)],
  ];
  if (v.time_s !== null && v.time_s !== undefined) facts.push(['Time in the video', `${v.time_s.toFixed(3)} s`]);

  return h(
    'div',
    { class: 'review-panel' },
    h('p', { class: 'case-line' }, h('strong', null, `Case ${c.case_ref}`), ` · search ${c.search_id}`, h('br'), h('span', { class: 'purpose' }, `Purpose: ${c.purpose}`)),
    h(
      'div',
      { class: 'compare' },
      h('figure', { class: 'query' }, queryFace(v), h('figcaption', null, 'Face searched for')),
      h('figure', { class: 'found' }, candidateFace(v), h('figcaption', null, `Candidate · ${basename(v.path)}`)),
    ),
    h(
      'div',
      { class: 'decision' },
      h('p', { class: 'score-line' }, h('span', { class: 'score' }, `Score ${score(c.score)}`)),
      meaningView(scoreFacts(v)),
      h('div', { class: 'actions' }, confirm, reject, next),
      state,
      moving,
    ),
    full,
    h('dl', { class: 'facts' }, facts.map(([k, val]) => [h('dt', null, k), h('dd', null, val)])),
    h(
      'p',
      { class: 'notice' },
      'A candidate is a lead for human review, never an identification. It counts as confirmed only when two different reviewers confirm it and nobody rejects it. Your decision is recorded with your name in the audit log.',
    ),
    h('p', { class: 'shortcuts' }, 'Keyboard: ', SHORTCUTS.map(([k, what], i) => [i ? ' · ' : '', h('kbd', null, k), ` ${what}`])),
  );
}
