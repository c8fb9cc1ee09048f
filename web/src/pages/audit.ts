// #/audit: the audit log, newest first (or oldest first), page by page, filtered by period,
// action and actor (by the API), and the hash chain verified with one click. A reading is the
// log as its first page found it: the server records it once (`audit_view`, for the first
// page), and turning pages neither reads the first page again nor shifts with the entries
// written since.

import { ApiError, apiMessage, get, type AuditEntry, type AuditPage, type Verify } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status } from '../dom';
import { when } from '../format';
import { day, m, num, plural } from '../i18n';

const PAGE = 50;

/** A page of the audit log, with every action the log holds. */

/** One reading of the log: its filters, and the log as its first page found it. */
interface Reading {
  /** The filters and the order, as a query (without offset and limit). */
  query: URLSearchParams;
  filtered: boolean;
  newest: boolean;
  /** Entries matching when the first page was read. */
  total: number;
  /** The first page (shown again without asking the server, which would record another reading). */
  first: AuditEntry[];
  /** Matching entries written since (newest first, they come before the first page's). */
  newer: number;
}

export function auditPage(ctx: Ctx): HTMLElement {
  const t = m().audit;
  const verifyAlert = new Alert();
  const filterAlert = new Alert();
  const verifyOut = status();
  verifyOut.classList.add('verify-result');
  const verifyButton = h('button', { type: 'button', onclick: verify }, t.verify);
  const from = h('input', { type: 'date', name: 'from' });
  const to = h('input', { type: 'date', name: 'to' });
  const anyAction = (): HTMLOptionElement => h('option', { value: '' }, t.anyAction);
  const action = h('select', { name: 'action' }, anyAction());
  const actor = h('input', { name: 'actor', autocomplete: 'off' });
  const order = h(
    'select',
    { name: 'order' },
    h('option', { value: 'newest' }, t.newestFirst),
    h('option', { value: 'oldest' }, t.oldestFirst),
  );
  const table = h('div', { class: 'table-wrap' });
  const pager = h('nav', { class: 'pager', 'aria-label': t.pager });
  const pageStatus = status();
  let reading: Reading | null = null;
  /** Answers to an older request than the latest are dropped. */
  let latest = 0;

  async function verify(): Promise<void> {
    verifyAlert.clear();
    verifyButton.disabled = true;
    verifyOut.textContent = t.verifying;
    try {
      const v = await get<Verify>('/audit/verify');
      if (!ctx.live()) return;
      verifyOut.classList.toggle('bad', !v.intact);
      verifyOut.textContent = v.intact
        ? t.intact(v.entries, plural(v.entries, t.entry, t.entries))
        : t.broken(v.first_break?.position ?? 0, v.first_break?.seq ?? 0, v.first_break?.reason ?? '');
    } catch (e) {
      if (!ctx.live()) return;
      verifyOut.textContent = '';
      verifyAlert.show(e instanceof ApiError ? apiMessage(e) : t.verifyFailed);
    } finally {
      verifyButton.disabled = false;
    }
  }

  /** The actions the log holds, offered in the action filter (the choice kept). */
  function offerActions(actions: string[] | undefined): void {
    if (!actions) return;
    const chosen = action.value;
    const names = [...new Set([...actions, ...(chosen ? [chosen] : [])])].sort();
    replace(action, anyAction(), names.map((a) => h('option', { value: a }, a)));
    action.value = chosen;
  }

  function clearEntries(): void {
    pageStatus.textContent = '';
    replace(table);
    replace(pager);
  }

  function failed(e: unknown): void {
    clearEntries();
    filterAlert.show(e instanceof ApiError ? apiMessage(e) : t.loadFailed);
  }

  /** A new reading with the filters of the form, from its first page. */
  async function read(): Promise<void> {
    filterAlert.clear();
    // A period that ends before it starts finds nothing: say why rather than "No entry".
    if (from.value && to.value && from.value > to.value) {
      reading = null;
      latest += 1;
      clearEntries();
      filterAlert.show(t.reversed(day(from.value), day(to.value)));
      from.focus();
      return;
    }
    const query = new URLSearchParams();
    // Dates as the server compares them: an entry's time starts with its date (UTC), so `to`
    // takes in the whole of its day.
    if (from.value) query.set('from', from.value);
    if (to.value) query.set('to', to.value);
    if (action.value) query.set('action', action.value);
    if (actor.value.trim()) query.set('actor', actor.value.trim());
    const newest = order.value !== 'oldest';
    query.set('order', newest ? 'newest' : 'oldest');
    const filtered = query.has('action') || query.has('actor');
    const mine = ++latest;
    pageStatus.textContent = t.loading;
    try {
      const p = await get<AuditPage>(`/audit?${query.toString()}&offset=0&limit=${PAGE}`);
      if (!ctx.live() || mine !== latest) return;
      offerActions(p.actions);
      reading = { query, filtered, newest, total: p.total, first: p.items, newer: 0 };
      show(reading, 0, p.items);
    } catch (e) {
      if (!ctx.live() || mine !== latest) return;
      reading = null;
      failed(e);
    }
  }

  /** Page `offset` of the current reading. */
  async function turn(offset: number): Promise<void> {
    const r = reading;
    if (!r) return;
    filterAlert.clear();
    if (offset === 0) {
      latest += 1;
      show(r, 0, r.first);
      return;
    }
    const mine = ++latest;
    pageStatus.textContent = t.loading;
    const ask = (skip: number): Promise<AuditPage> => get<AuditPage>(`/audit?${r.query.toString()}&offset=${skip}&limit=${PAGE}`);
    try {
      let p = await ask(offset + (r.newest ? r.newer : 0));
      if (r.newest && p.total - r.total !== r.newer) {
        // Entries were written since the reading began: they come first, skip them.
        r.newer = Math.max(0, p.total - r.total);
        p = await ask(offset + r.newer);
      }
      if (!ctx.live() || mine !== latest) return;
      offerActions(p.actions);
      // Oldest first, the entries written since come last: the reading stops where it began.
      show(r, offset, r.newest ? p.items : p.items.slice(0, Math.max(0, r.total - offset)));
    } catch (e) {
      if (!ctx.live() || mine !== latest) return;
      failed(e);
    }
  }

  function show(r: Reading, offset: number, items: AuditEntry[]): void {
    const last = Math.min(r.total, offset + items.length);
    pageStatus.textContent = r.total ? t.range(num(offset + 1), num(last), num(r.total), r.filtered) : t.none(r.filtered);
    const c = t.columns;
    replace(
      table,
      items.length
        ? h(
            'table',
            { class: 'data audit' },
            h('caption', null, t.caption(r.newest)),
            h('thead', null, h('tr', null, [c.seq, c.when, c.actor, c.action, c.detail].map((x) => h('th', { scope: 'col' }, x)))),
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
                  h('td', null, h('details', null, h('summary', null, summarize(e.detail, t.details)), h('pre', null, JSON.stringify(e.detail, null, 2)))),
                ),
              ),
            ),
          )
        : null,
    );
    const lastPage = Math.max(0, Math.floor((r.total - 1) / PAGE) * PAGE);
    const button = (label: string, disabled: boolean, target: number): HTMLButtonElement =>
      h('button', { type: 'button', class: 'secondary', disabled, onclick: () => void turn(target) }, label);
    replace(
      pager,
      button(t.first, offset === 0, 0),
      button(t.previous, offset === 0, Math.max(0, offset - PAGE)),
      button(t.next, last >= r.total, offset + PAGE),
      button(t.last, last >= r.total, lastPage),
    );
  }

  const form = h(
    'form',
    { class: 'card filters' },
    h(
      'div',
      { class: 'cols' },
      field(t.from, from, t.datesHint),
      field(t.to, to),
      field(t.action, action, t.actionHint),
      field(t.actor, actor, t.actorHint),
      field(t.order, order),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t.show), h('button', { type: 'reset', class: 'secondary' }, t.clear), filterAlert.el),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void read();
  });
  order.addEventListener('change', () => void read());
  form.addEventListener('reset', () => {
    setTimeout(() => void read());
  });
  void read();

  return h(
    'section',
    null,
    h('h1', null, t.title),
    h('p', { class: 'lede' }, t.lede),
    h('div', { class: 'card verify' }, verifyButton, verifyOut, verifyAlert.el),
    form,
    pageStatus,
    table,
    pager,
  );
}

function summarize(detail: unknown, fallback: string): string {
  if (detail === null || typeof detail !== 'object') return String(detail ?? '');
  const parts = Object.entries(detail as Record<string, unknown>)
    .filter(([, v]) => v === null || ['string', 'number', 'boolean'].includes(typeof v))
    .slice(0, 4)
    .map(([k, v]) => `${k}: ${String(v)}`);
  const s = parts.join(', ');
  return s.length > 90 ? `${s.slice(0, 89)}…` : s || fallback;
}
