// #/review: the candidates awaiting a decision (fewer than two confirmations, no rejection),
// grouped by case and search, newest first, with a filter. #/review/{candidate}: the face
// searched for beside the candidate's face at the same size, the case and its purpose, what
// the score means, and Confirm / Reject beside them; the full photo on demand; keyboard
// shortcuts (C confirm, R reject, N next, F full photo).

import { ApiError, apiMessage, get, post, type Candidates, type CandidateView, type ReviewState } from '../api';
import type { Ctx } from '../app';
import { Alert, h, replace, status, uid, type Child } from '../dom';
import { basename, meaningView, score, when, type ScoreFacts } from '../format';
import { m, num } from '../i18n';
import { photoWithBoxes } from '../photo';
import { reviewLink, reviewSummary, verdict } from '../review-state';

const LIMIT = 100;

/** What a candidate's score is read from. */
function scoreFacts(v: CandidateView): ScoreFacts {
  return { fmr: v.false_match_rate, comparisons: v.calibration_comparisons, gallery: v.gallery_size };
}

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

/** The query face of a candidate's search, or why it is not shown. */
function queryFace(v: CandidateView): HTMLElement {
  const t = m().review;
  if (!v.query_face_kept) return h('div', { class: 'face-frame' }, h('p', { class: 'face-missing' }, t.queryGone));
  return faceFrame(queryFaceSrc(v), t.queryFaceOf(v.candidate.case_ref), t.queryGone);
}

function candidateFace(v: CandidateView): HTMLElement {
  const t = m().review;
  return faceFrame(`/api/v1/faces/${v.candidate.face_id}/crop`, `${t.faceOf(v.candidate.id)} (${basename(v.path)})`, t.candidateGone);
}

/** Whether the user has decided a candidate already. */
function decidedBy(v: ReviewState, me: string): boolean {
  return v.candidate.confirmed_by.includes(me) || v.candidate.rejected_by.includes(me);
}

export function reviewListPage(ctx: Ctx): HTMLElement {
  const t = m().review;
  const alert = new Alert();
  const loading = status();
  loading.textContent = t.loadingList;
  const body = h('div', null, loading);
  const me = ctx.me.name;
  const filter = h('input', { type: 'search', id: uid('filter'), placeholder: t.filterPlaceholder, autocomplete: 'off' });
  const shown = status();

  void (async () => {
    try {
      const { items } = await get<Candidates>(`/candidates?limit=${LIMIT}`);
      if (!ctx.live()) return;
      if (!items.length) {
        replace(body, h('p', { class: 'empty-list' }, t.empty));
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
            h('img', { class: 'crop', src: `/api/v1/faces/${c.face_id}/crop`, alt: t.faceOf(c.id), width: 160, height: 160 }),
            h('p', { class: 'rank' }, t.candidate(c.id)),
            h('p', { class: 'score' }, m().common.score.label(score(c.score))),
            meaningView(scoreFacts(v)),
            h('p', { class: 'case' }, t.caseOf(c.case_ref)),
            h('p', { class: 'where' }, h('strong', { class: 'name' }, name), h('br'), h('span', { class: 'path' }, v.path)),
            h('p', { class: 'meta' }, t.collection(v.collection), h('br'), t.captured(when(v.captured_at))),
            h('p', { class: `review-summary${mine ? ' mine' : ''}` }, `${reviewSummary(v)}.`, mine ? t.decidedAlready : null),
            h('a', { class: 'open button-like', href: reviewLink(c.id), 'aria-label': t.openLabel(c.id, name, c.case_ref) }, t.open),
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
              ? h('img', { class: 'query-thumb', src: queryFaceSrc(first), alt: t.queryFaceOf(first.candidate.case_ref), width: 64, height: 64 })
              : null,
            h(
              'div',
              null,
              h('h2', { id: headingId }, t.group(first.candidate.case_ref, searchId)),
              h('p', { class: 'purpose' }, t.purpose(first.candidate.purpose)),
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
        shown.textContent = q ? t.filterShown(t.candidates(visible, num(visible)), filter.value.trim()) : '';
      };
      filter.addEventListener('input', apply);
      replace(
        body,
        h('p', { class: 'summary', id: 'review-count' }, t.awaiting(t.candidates(items.length, num(items.length)), t.searches(groups.length, num(groups.length)), items.length === LIMIT)),
        groups,
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(e instanceof ApiError ? apiMessage(e) : t.listFailed);
    }
  })();

  return h(
    'section',
    { class: 'review-list' },
    h('h1', null, t.title),
    h('p', { class: 'lede' }, t.lede),
    h('div', { class: 'filter-bar' }, h('label', { for: filter.id }, t.filter), filter, shown),
    alert.el,
    body,
  );
}

/** The next candidate awaiting this reviewer's decision after `current` (same search first). */
async function nextCandidate(current: CandidateView, me: string): Promise<number | null> {
  const { items } = await get<Candidates>(`/candidates?limit=${LIMIT}`);
  const open = items.filter((v) => v.candidate.id !== current.candidate.id && !decidedBy(v, me));
  const same = open.find((v) => v.candidate.search_id === current.candidate.search_id);
  return (same ?? open[0])?.candidate.id ?? null;
}

export function reviewPage(ctx: Ctx, [candidate]: string[]): HTMLElement {
  const t = m().review;
  const alert = new Alert();
  const loading = status();
  loading.textContent = t.loadingOne;
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
      // A candidate whose face is gone (erased) or out of the reviewer's grants: said plainly.
      alert.show(e instanceof ApiError && e.status === 404 ? t.gone(candidateId) : e instanceof ApiError ? apiMessage(e) : t.oneFailed);
    }
  })();
  return h(
    'section',
    { class: 'review-page' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/review' }, t.title)),
    h('h1', null, t.candidate(candidateId)),
    alert.el,
    body,
  );
}

function reviewPanel(ctx: Ctx, v: CandidateView, alert: Alert, me: string): HTMLElement {
  const t = m().review;
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
      alert.show(e instanceof ApiError ? apiMessage(e) : t.decisionFailed);
    }
  };
  const goNext = async (): Promise<void> => {
    moving.textContent = t.looking;
    try {
      const id = await nextCandidate(v, me);
      if (!ctx.live()) return;
      if (id === null) {
        moving.textContent = t.noneLeft;
        ctx.go('#/review');
      } else {
        ctx.go(`#/review/${id}`);
      }
    } catch (e) {
      moving.textContent = '';
      alert.show(e instanceof ApiError ? apiMessage(e) : t.nextFailed);
    }
  };
  const confirm: HTMLButtonElement = h('button', { type: 'button', class: 'confirm', 'aria-keyshortcuts': 'C', onclick: () => decide('confirm') }, t.confirm);
  const reject: HTMLButtonElement = h('button', { type: 'button', class: 'reject', 'aria-keyshortcuts': 'R', onclick: () => decide('reject') }, t.reject);
  const next: HTMLButtonElement = h('button', { type: 'button', class: 'secondary next', 'aria-keyshortcuts': 'N', onclick: () => void goNext() }, t.next);
  sync(v);

  // The full photo, loaded when asked for (it is audited as a view of the image).
  const full = h('details', { class: 'full-photo' }, h('summary', { 'aria-keyshortcuts': 'F' }, t.fullPhoto));
  full.addEventListener('toggle', () => {
    if (!full.open || full.querySelector('.photo')) return;
    const time = v.time_s !== null && v.time_s !== undefined ? `?time_s=${encodeURIComponent(String(v.time_s))}` : '';
    const photo = photoWithBoxes(`/api/v1/images/${v.image_id}/file${time}`, t.fullPhotoAlt(basename(v.path)), [{ box: v.bbox, label: t.boxLabel }]);
    full.appendChild(h('div', { class: 'detail-photo' }, photo.el));
  });

  const onKey = (e: KeyboardEvent): void => {
    if (!ctx.live()) {
      document.removeEventListener('keydown', onKey);
      return;
    }
    const target = e.target as HTMLElement | null;
    if (e.ctrlKey || e.metaKey || e.altKey || (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName)))) return;
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
    [t.factCollection, v.collection],
    [t.factFile, h('span', { class: 'path' }, v.path)],
    [t.factCaptured, when(v.captured_at)],
  ];
  if (v.time_s !== null && v.time_s !== undefined) facts.push([t.factVideo, t.seconds(num(v.time_s, 3))]);
  const shortcuts: [string, string][] = [
    ['C', t.shortcuts.c],
    ['R', t.shortcuts.r],
    ['N', t.shortcuts.n],
    ['F', t.shortcuts.f],
  ];

  return h(
    'div',
    { class: 'review-panel' },
    h('p', { class: 'case-line' }, h('strong', null, t.caseOf(c.case_ref)), t.caseLine(c.search_id), h('br'), h('span', { class: 'purpose' }, t.purpose(c.purpose))),
    h(
      'div',
      { class: 'compare' },
      h('figure', { class: 'query' }, queryFace(v), h('figcaption', null, t.queryFace)),
      h('figure', { class: 'found' }, candidateFace(v), h('figcaption', null, t.candidateFace(basename(v.path)))),
    ),
    h(
      'div',
      { class: 'decision' },
      h('p', { class: 'score-line' }, h('span', { class: 'score' }, m().common.score.label(score(c.score)))),
      meaningView(scoreFacts(v)),
      h('div', { class: 'actions' }, confirm, reject, next),
      state,
      moving,
    ),
    full,
    h('dl', { class: 'facts' }, facts.map(([k, val]) => [h('dt', null, k), h('dd', null, val)])),
    h('p', { class: 'notice' }, t.notice),
    h('p', { class: 'shortcuts' }, t.keyboard, shortcuts.map(([k, what], i) => [i ? ' · ' : '', h('kbd', null, k), ` ${what}`])),
  );
}
