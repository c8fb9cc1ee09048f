// #/cases: the investigator's own searches, newest first, each with its case, purpose, the
// face searched for (while kept) and every candidate's review state.

import { ApiError, get, type Case } from '../api';
import type { Ctx } from '../app';
import { Alert, h, replace, status, uid } from '../dom';
import { count, score, when } from '../format';

type CandidateState = Case['candidates'][number];

/** A candidate's review state in a few words, and a class for its colour. */
export function stateOf(c: CandidateState): [string, string] {
  if (c.erased) return ['Erased since', 'erased'];
  if (c.rejected) return ['Rejected', 'rejected'];
  if (c.confirmations >= 2) return ['Confirmed by two reviewers', 'confirmed'];
  if (c.confirmations === 1) return ['1 of 2 confirmations', 'waiting'];
  return ['Awaiting review', 'waiting'];
}

export function casesPage(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const loading = status();
  loading.textContent = 'Loading your searches…';
  const body = h('div', null, loading);

  void (async () => {
    try {
      const { items } = await get<{ items: Case[] }>('/searches?limit=100');
      if (!ctx.live()) return;
      if (!items.length) {
        replace(body, h('p', { class: 'empty-list' }, 'You have not searched yet.'));
        return;
      }
      replace(
        body,
        items.map((k) => {
          const s = k.search;
          const decided = k.candidates.filter((c) => stateOf(c)[1] !== 'waiting').length;
          const headingId = uid('case');
          return h(
            'section',
            { class: 'card case', 'data-search': s.id, 'aria-labelledby': headingId },
            h(
              'div',
              { class: 'search-head' },
              k.query_faces_kept.map((f) =>
                h('img', { class: 'query-thumb', src: `/api/v1/searches/${s.id}/query-faces/${f}`, alt: `Face searched for (face ${f + 1})`, width: 64, height: 64 }),
              ),
              h(
                'div',
                null,
                h('h2', { id: headingId }, `Case ${s.case_ref} · search ${s.id}`),
                h('p', { class: 'purpose' }, `Purpose: ${s.purpose}`),
                h('p', { class: 'hint' }, `${when(s.started_at)} · ${s.collections.join(', ')} · ${count(s.gallery_size, 'face')} searched · ${decided} of ${count(k.candidates.length, 'candidate')} decided`),
              ),
            ),
            k.candidates.length
              ? h(
                  'table',
                  { class: 'data cases' },
                  h('thead', null, h('tr', null, ['Candidate', 'Query face', 'Rank', 'Score', 'Review'].map((t) => h('th', { scope: 'col' }, t)))),
                  h(
                    'tbody',
                    null,
                    k.candidates.map((c) => {
                      const [text, cls] = stateOf(c);
                      return h(
                        'tr',
                        { 'data-candidate': c.id },
                        h('td', null, String(c.id)),
                        h('td', { class: 'num' }, String(c.query_face + 1)),
                        h('td', { class: 'num' }, String(c.rank)),
                        h('td', { class: 'num' }, score(c.score)),
                        h('td', { class: `state ${cls}` }, text),
                      );
                    }),
                  ),
                )
              : h('p', null, 'No candidate: nothing to review.'),
          );
        }),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(e instanceof ApiError ? e.message : 'Your searches could not be loaded.');
    }
  })();

  return h(
    'section',
    { class: 'cases-page' },
    h('h1', null, 'My cases'),
    h('p', { class: 'lede' }, 'Your searches, newest first, with the review state of each candidate. The face you searched for is kept for the reviewers until every candidate is decided.'),
    alert.el,
    body,
  );
}
