// #/audit: the audit log, page by page, filtered by period, action and actor (by the API), and
// the hash chain verified with one click.

import { ApiError, get, type AuditEntry, type Page, type Verify } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status } from '../dom';
import { count, when } from '../format';

const PAGE = 50;

export function auditPage(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const verifyOut = status();
  verifyOut.classList.add('verify-result');
  const verifyButton = h('button', { type: 'button', onclick: verify }, 'Verify the chain');
  const from = h('input', { type: 'date', name: 'from' });
  const to = h('input', { type: 'date', name: 'to' });
  const action = h('input', { name: 'action', list: 'audit-actions', autocomplete: 'off' });
  const actor = h('input', { name: 'actor', autocomplete: 'off' });
  const actions = h('datalist', { id: 'audit-actions' });
  const table = h('div', { class: 'table-wrap' });
  const pager = h('div', { class: 'pager' });
  const pageStatus = status();
  let offset = 0;
  /** Every action seen so far, offered as suggestions for the action filter. */
  const seen = new Set<string>();

  async function verify(): Promise<void> {
    alert.clear();
    verifyButton.disabled = true;
    verifyOut.textContent = 'Verifying…';
    try {
      const v = await get<Verify>('/audit/verify');
      if (!ctx.live()) return;
      verifyOut.classList.toggle('bad', !v.intact);
      verifyOut.textContent = v.intact
        ? `The chain is intact: ${count(v.entries, 'entry', 'entries')} verified.`
        : `The chain is broken at entry ${v.first_break?.position} (seq ${v.first_break?.seq}): ${v.first_break?.reason}.`;
    } catch (e) {
      verifyOut.textContent = '';
      alert.show(e instanceof ApiError ? e.message : 'The chain could not be verified.');
    } finally {
      verifyButton.disabled = false;
    }
  }

  /** The query of the filters: period, action and actor (exact names, matched by the server). */
  function filters(): URLSearchParams {
    const q = new URLSearchParams();
    if (from.value) q.set('from', `${from.value}T00:00:00Z`);
    if (to.value) {
      const end = new Date(`${to.value}T00:00:00Z`);
      end.setUTCDate(end.getUTCDate() + 1);
      q.set('to', end.toISOString().replace('.000', ''));
    }
    if (action.value.trim()) q.set('action', action.value.trim());
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    return q;
  }

  async function load(): Promise<void> {
    alert.clear();
    pageStatus.textContent = 'Loading…';
    const q = filters();
    const filtered = q.has('action') || q.has('actor');
    q.set('offset', String(offset));
    q.set('limit', String(PAGE));
    try {
      const p = await get<Page<AuditEntry>>(`/audit?${q.toString()}`);
      if (!ctx.live()) return;
      const { items, total } = p;
      const before = seen.size;
      for (const e of items) seen.add(e.action);
      if (seen.size !== before) replace(actions, [...seen].sort().map((a) => h('option', { value: a })));
      const last = Math.min(total, offset + items.length);
      pageStatus.textContent = total ? `Entries ${offset + 1}–${last} of ${total}${filtered ? ' matching' : ''}.` : `No entry${filtered ? ' matches' : ''}.`;
      replace(
        table,
        items.length
          ? h(
              'table',
              { class: 'data audit' },
              h('caption', null, 'Audit entries, oldest first'),
              h('thead', null, h('tr', null, ['#', 'When', 'Actor', 'Action', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                null,
                items.map((e) =>
                  h(
                    'tr',
                    null,
                    h('td', { class: 'num' }, String(e.seq)),
                    h('td', { title: e.at }, when(e.at)),
                    h('td', null, e.actor),
                    h('td', null, h('code', null, e.action)),
                    h('td', null, h('details', null, h('summary', null, summarize(e.detail)), h('pre', null, JSON.stringify(e.detail, null, 2)))),
                  ),
                ),
              ),
            )
          : null,
      );
      replace(
        pager,
        h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onclick: () => { offset = 0; void load(); } }, 'First'),
        h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); void load(); } }, 'Previous'),
        h('button', { type: 'button', class: 'secondary', disabled: last >= total, onclick: () => { offset += PAGE; void load(); } }, 'Next'),
        h('button', { type: 'button', class: 'secondary', disabled: last >= total, onclick: () => { offset = Math.max(0, Math.floor((total - 1) / PAGE) * PAGE); void load(); } }, 'Last'),
      );
    } catch (e) {
      if (!ctx.live()) return;
      pageStatus.textContent = '';
      alert.show(e instanceof ApiError ? e.message : 'The audit log could not be loaded.');
    }
  }

  const form = h(
    'form',
    { class: 'card filters' },
    h('div', { class: 'cols' }, field('From', from), field('To (inclusive)', to), field('Action', action, 'Its exact name, e.g. image_view or search.'), field('Actor', actor, 'A user name.')),
    actions,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show'), h('button', { type: 'reset', class: 'secondary' }, 'Clear')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    offset = 0;
    void load();
  });
  form.addEventListener('reset', () => {
    setTimeout(() => {
      offset = 0;
      void load();
    });
  });
  void load();

  return h(
    'section',
    null,
    h('h1', null, 'Audit log'),
    h('p', { class: 'lede' }, 'Every action is chained to the previous one by its SHA-256: a changed or removed entry breaks the chain. Reading the log is itself recorded.'),
    alert.el,
    h('div', { class: 'card verify' }, verifyButton, verifyOut),
    form,
    pageStatus,
    table,
    pager,
  );
}

function summarize(detail: unknown): string {
  if (detail === null || typeof detail !== 'object') return String(detail ?? '');
  const parts = Object.entries(detail as Record<string, unknown>)
    .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
    .slice(0, 4)
    .map(([k, v]) => `${k}: ${String(v)}`);
  const s = parts.join(', ');
  return s.length > 90 ? `${s.slice(0, 89)}…` : s || 'details';
}
