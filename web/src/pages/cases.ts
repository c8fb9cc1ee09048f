// #/cases: the investigator's own searches, newest first, each with its case, purpose, the
// face searched for (while kept) and every candidate's review state.

import { ApiError, apiMessage, get, type Case, type Cases } from '../api';
import type { Ctx } from '../app';
import { Alert, h, replace, status, uid } from '../dom';
import { score, when } from '../format';
import { m, num } from '../i18n';

type CandidateState = Case['candidates'][number];

/** A candidate's review state in a few words, and a class for its colour. */
export function stateOf(c: CandidateState): [string, string] {
  const s = m().review.states;
  if (c.erased) return [s.erased, 'erased'];
  if (c.rejected) return [s.rejected, 'rejected'];
  if (c.confirmations >= 2) return [s.confirmed, 'confirmed'];
  if (c.confirmations === 1) return [s.one, 'waiting'];
  return [s.waiting, 'waiting'];
}

export function casesPage(ctx: Ctx): HTMLElement {
  const t = m().review;
  const alert = new Alert();
  const loading = status();
  loading.textContent = t.casesLoading;
  const body = h('div', null, loading);

  void (async () => {
    try {
      const { items } = await get<Cases>('/searches?limit=100');
      if (!ctx.live()) return;
      if (!items.length) {
        replace(body, h('p', { class: 'empty-list' }, t.casesEmpty));
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
                h('img', { class: 'query-thumb', src: `/api/v1/searches/${s.id}/query-faces/${f}`, alt: t.queryFaceN(f + 1), width: 64, height: 64 }),
              ),
              h(
                'div',
                null,
                h('h2', { id: headingId }, t.group(s.case_ref, s.id)),
                h('p', { class: 'purpose' }, t.purpose(s.purpose)),
                h(
                  'p',
                  { class: 'hint' },
                  t.caseFacts(
                    when(s.started_at),
                    s.collections.join(', '),
                    t.faces(s.gallery_size, num(s.gallery_size)),
                    t.decidedOf(num(decided), t.candidates(k.candidates.length, num(k.candidates.length))),
                  ),
                ),
              ),
            ),
            k.candidates.length
              ? h(
                  'table',
                  { class: 'data cases' },
                  h('thead', null, h('tr', null, [t.columns.candidate, t.columns.queryFace, t.columns.rank, t.columns.score, t.columns.review].map((c) => h('th', { scope: 'col' }, c)))),
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
              : h('p', null, t.noCandidate),
          );
        }),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(e instanceof ApiError ? apiMessage(e) : t.casesFailed);
    }
  })();

  return h(
    'section',
    { class: 'cases-page' },
    h('h1', null, t.casesTitle),
    h('p', { class: 'lede' }, t.casesLede),
    alert.el,
    body,
  );
}
