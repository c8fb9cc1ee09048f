// #/rights: data subjects' requests with their deadlines; open one. #/rights/{id}: run it with
// the requester's photo: access (the report of what GDPR art. 15 gives the person, with the
// faces, shown and downloadable as a self-contained HTML page and as JSON), erasure (the plan
// with the faces, then the confirmed deletion, run by the server as a job this page follows),
// objection.

import { get, post, type ErasureJob, type RightsReport, type RightsRequest, errorText, fieldOf } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status, uid, markInvalid, clearInvalid } from '../dom';
import { daysUntil, today } from '../format';
import { dateTime, day, m, num } from '../i18n';
import { faces, freshReport, htmlLink, jsonLink, matchesTable, noticeSection, rightsAndMatching, summary } from './rights-report';

const KINDS: RightsRequest['kind'][] = ['access', 'erasure', 'objection'];

/** POST /rights/{id}/erase: the plan (200, no job), or with `confirm` the erasure queued (202). */
interface EraseAnswer {
  report: RightsReport;
  job: ErasureJob | null;
}

/** How often a running erasure is polled. */
const POLL_MS = 500;

/** The request a queued erasure job works on (its input is the confirmed erasure as JSON). */
function erasureRequest(j: ErasureJob): number | null {
  try {
    const input = JSON.parse(j.inputs?.[0] ?? 'null') as { request?: unknown } | null;
    return typeof input?.request === 'number' ? input.request : null;
  } catch {
    return null;
  }
}

function kindName(kind: string): string {
  return m().rights.kinds[kind] ?? kind;
}

function statusName(s: string): string {
  return m().rights.statuses[s] ?? s;
}

function deadline(r: RightsRequest): string {
  const t = m().rights;
  const due = day(r.deadline);
  if (r.status !== 'open') return due;
  const d = daysUntil(r.deadline);
  if (d < 0) return t.overdue(due, t.days(-d, num(-d)));
  if (d === 0) return t.dueToday(due);
  return t.dueIn(due, t.days(d, num(d)));
}

export function rightsPage(ctx: Ctx): HTMLElement {
  const t = m().rights;
  const alert = new Alert();
  const list = h('div', { class: 'table-wrap' }, status());
  (list.firstChild as HTMLElement).textContent = t.loadingList;

  async function load(): Promise<void> {
    try {
      const reqs = await get<RightsRequest[]>('/rights');
      if (!ctx.live()) return;
      const c = t.cols;
      replace(
        list,
        reqs.length === 0
          ? h('p', null, t.empty)
          : h(
              'table',
              { class: 'data', id: 'rights-requests' },
              h('caption', null, t.listCaption(reqs.length, num(reqs.length))),
              h('thead', null, h('tr', null, [c.request, c.kind, c.requester, c.received, c.due, c.status, c.outcome].map((x) => h('th', { scope: 'col' }, x)))),
              h(
                'tbody',
                null,
                reqs.map((r) => {
                  const overdue = r.status === 'open' && daysUntil(r.deadline) < 0;
                  return h(
                    'tr',
                    { class: overdue ? 'overdue' : null },
                    h('th', { scope: 'row' }, h('a', { href: `#/rights/${r.id}` }, t.requestLink(r.id))),
                    h('td', null, t.kindShort[r.kind] ?? r.kind),
                    h('td', null, r.requester),
                    h('td', null, day(r.received_on)),
                    h('td', null, deadline(r)),
                    h('td', null, statusName(r.status)),
                    h('td', null, r.outcome ?? t.dash),
                  );
                }),
              ),
            ),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(list);
      alert.show(errorText(e, t.listFailed));
    }
  }
  void load();

  const formAlert = new Alert();
  const kind = h('select', { name: 'kind' }, KINDS.map((k) => h('option', { value: k }, kindName(k))));
  const requester = h('input', { name: 'requester', required: true, autocomplete: 'off' });
  const verification = h('input', { name: 'verification', required: true, autocomplete: 'off' });
  const received = h('input', { name: 'received_on', type: 'date', required: true, value: today() });
  const submit = h('button', { type: 'submit' }, t.open);
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    h('h2', null, t.newRequest),
    h('div', { class: 'cols' },
      field(t.kind, kind),
      field(t.requester, requester, t.requesterHint),
      field(t.verification, verification, t.verificationHint),
      field(t.receivedOn, received, t.receivedHint),
    ),
    h('div', { class: 'actions' }, submit),
    formAlert.el,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formAlert.clear();
    clearInvalid(form);
    const missing = (
      [
        [requester, t.missingRequester],
        [verification, t.missingVerification],
        [received, t.missingReceived],
      ] as [HTMLInputElement, string][]
    ).filter(([el]) => !el.value.trim());
    if (missing.length) {
      formAlert.show(t.give(missing.map(([, l]) => l)));
      missing[0]![0].focus();
      return;
    }
    submit.disabled = true;
    try {
      const r = await post<RightsRequest>('/rights', {
        kind: kind.value,
        requester: requester.value.trim(),
        verification: verification.value.trim(),
        received_on: received.value,
      });
      ctx.go(`#/rights/${r.id}`);
    } catch (err) {
      formAlert.show(errorText(err, t.openFailed));
      markInvalid(form, formAlert, fieldOf(err));
      submit.disabled = false;
    }
  });

  return h('section', null, h('h1', null, t.title), alert.el, list, form);
}

export function rightsRequestPage(ctx: Ctx, [idText]: string[]): HTMLElement {
  const t = m().rights;
  const id = Number(idText);
  const alert = new Alert();
  const info = h('div', null, status());
  const output = h('section', { class: 'rights-output', 'aria-live': 'polite', 'aria-labelledby': uid('out') });
  const busy = status();
  const photo = h('input', { type: 'file', accept: 'image/*', id: uid('requester-photo') });
  const buttons = h('div', { class: 'actions' });
  let req: RightsRequest | null = null;
  /** While an erasure job is followed, the actions wait for its end. */
  let following = false;
  let resumeChecked = false;

  function actionsDisabled(disabled: boolean): void {
    buttons.querySelectorAll('button').forEach((b) => (b.disabled = disabled));
  }

  async function load(): Promise<void> {
    try {
      const all = await get<RightsRequest[]>('/rights');
      if (!ctx.live()) return;
      req = all.find((r) => r.id === id) ?? null;
      if (!req) {
        replace(info);
        alert.show(t.noSuchRequest(id));
        return;
      }
      const r = req;
      const f = t.facts;
      replace(
        info,
        h(
          'dl',
          { class: 'facts' },
          [
            [f.kind, kindName(r.kind)],
            [f.requester, r.requester],
            [f.verification, r.verification],
            [f.received, day(r.received_on)],
            [f.due, deadline(r)],
            [f.status, statusName(r.status)],
            [f.outcome, r.outcome ?? t.dash],
            ...((r.runs ?? []).length > 1 ? [[f.laterRuns, (r.runs ?? []).slice(1).map((run) => `${dateTime(run.at)}: ${run.outcome}`).join('; ')]] : []),
            [f.openedBy, r.created_by],
          ].map(([k, v]) => [h('dt', null, k!), h('dd', null, v!)]),
        ),
      );
      // Each kind of request has its own action: access answers access requests only.
      const actions: HTMLButtonElement[] = [];
      if (r.kind === 'access') actions.push(h('button', { type: 'button', onclick: access }, t.runAccess));
      if (r.kind === 'erasure') actions.push(h('button', { type: 'button', onclick: plan }, t.planErasure));
      if (r.kind === 'objection') actions.push(h('button', { type: 'button', onclick: object }, t.recordObjection));
      replace(buttons, actions);
      if (following) actionsDisabled(true);
      if (r.kind === 'erasure' && r.status === 'open' && !following && !resumeChecked) {
        resumeChecked = true;
        void resume();
      }
    } catch (e) {
      if (!ctx.live()) return;
      replace(info);
      alert.show(errorText(e, t.loadFailed));
    }
  }

  function form(extra?: Record<string, string>): FormData | null {
    const f = photo.files?.[0];
    if (!f) {
      alert.show(t.choosePhoto);
      photo.focus();
      return null;
    }
    const body = new FormData();
    body.append('image', f, f.name);
    for (const [k, v] of Object.entries(extra ?? {})) body.append(k, v);
    return body;
  }

  async function run<T>(what: string, path: string, extra?: Record<string, string>): Promise<T | null> {
    alert.clear();
    const body = form(extra);
    if (!body) return null;
    const all = [...buttons.querySelectorAll('button'), ...output.querySelectorAll('button')];
    all.forEach((b) => (b.disabled = true));
    busy.textContent = t.busy(what);
    try {
      const r = await post<T>(path, body);
      busy.textContent = '';
      return ctx.live() ? r : null;
    } catch (e) {
      busy.textContent = '';
      if (ctx.live()) alert.show(errorText(e, t.failed(what)));
      return null;
    } finally {
      all.forEach((b) => (b.disabled = false));
    }
  }

  function heading(text: string): HTMLElement {
    const h2 = h('h2', { id: output.getAttribute('aria-labelledby')!, tabindex: '-1' }, text);
    return h2;
  }

  function focusOutput(): void {
    output.querySelector<HTMLElement>('h2')?.focus();
  }

  async function access(): Promise<void> {
    const r = await run<RightsReport>(t.doingAccess, `/rights/${id}/access`);
    if (!r) return;
    const thumbs = freshReport();
    replace(
      output,
      heading(t.accessTitle(faces(r.matches.length))),
      h('p', null, summary(r)),
      h(
        'p',
        { class: 'actions' },
        htmlLink(r, thumbs, `gabarit-rights-${id}-access.html`),
        ' ',
        jsonLink(r, `gabarit-rights-${id}-access.json`),
      ),
      matchesTable(r.matches, t.accessCaption(dateTime(r.generated_at)), (x) => thumbs.img(x)),
      r.collections.length ? h('p', { class: 'hint' }, t.addressed) : null,
      r.collections.map((n) => noticeSection(n, 'h3')),
      rightsAndMatching(r, 'h3'),
    );
    focusOutput();
    void load();
  }

  async function plan(): Promise<void> {
    const r = await run<EraseAnswer>(t.doingPlan, `/rights/${id}/erase`);
    if (!r) return;
    const thumbs = freshReport();
    const n = r.report.matches.length;
    if (n === 0) {
      replace(output, heading(t.planEmpty), h('p', null, summary(r.report)), matchesTable([], '', () => null));
      focusOutput();
      return;
    }
    const check = h('input', { type: 'checkbox', id: uid('confirm-erasure') });
    const confirmButton = h('button', { type: 'button', class: 'danger', disabled: true }, t.eraseButton(faces(n)));
    check.addEventListener('change', () => (confirmButton.disabled = !check.checked));
    confirmButton.addEventListener('click', () => void erase(n));
    replace(
      output,
      heading(t.planTitle(faces(n))),
      h('p', null, summary(r.report)),
      h('p', { class: 'notice strong' }, t.physical),
      matchesTable(r.report.matches, t.planCaption, (x) => thumbs.img(x)),
      h('div', { class: 'check confirm-box' }, check, h('label', { for: check.id }, t.confirmCheck(faces(n)))),
      h('div', { class: 'actions' }, confirmButton),
    );
    focusOutput();
  }

  async function erase(n: number): Promise<void> {
    const r = await run<EraseAnswer>(t.doingErase, `/rights/${id}/erase`, { confirm: String(n) });
    if (!r) return;
    if (!r.job) {
      // Not expected with `confirm`: the server answered with the plan only.
      replace(output, heading(t.nothingErased), h('p', null, t.notStarted));
      focusOutput();
      return;
    }
    await follow(r.job, n);
  }

  /** After a reload: follows this request's erasure if one of the user's jobs is still at work. */
  async function resume(): Promise<void> {
    try {
      const jobs = (await get<{ items: ErasureJob[] }>('/jobs?limit=50')).items;
      if (!ctx.live() || following) return;
      const active = jobs.find((j) => j.kind === 'erase' && (j.state === 'queued' || j.state === 'running') && erasureRequest(j) === id);
      if (active) await follow(active, null);
    } catch {
      // A convenience only: the request's status says whether it was carried out.
    }
  }

  /** Shows a queued erasure job at work, polling it until it is done or failed. */
  async function follow(job: ErasureJob, planned: number | null): Promise<void> {
    following = true;
    actionsDisabled(true);
    const bar = h('progress', { id: uid('erasure-progress') });
    const line = status();
    line.classList.add('erasure-status');
    const title = heading(t.erasing);
    const result = h('div', { class: 'erasure-result' });
    const what = planned === null ? t.confirmedFaces : faces(planned);
    const intro = h('p', null, t.erasingIntro(what));
    replace(output, title, intro, h('div', { class: 'progress' }, h('label', { for: bar.id }, t.progress), bar, line), result);
    focusOutput();
    const show = (j: ErasureJob): void => {
      if (j.state === 'queued') line.textContent = t.queued(String(j.id));
      else if (j.state === 'running') line.textContent = t.running(String(j.id), what);
    };
    show(job);
    try {
      let current = job;
      while (current.state === 'queued' || current.state === 'running') {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if (!ctx.live()) return;
        current = await get<ErasureJob>(`/jobs/${encodeURIComponent(String(current.id))}`);
        if (!ctx.live()) return;
        show(current);
      }
      bar.max = 1;
      if (current.state === 'done') {
        await load();
        if (!ctx.live()) return;
        const d = current.report?.deleted;
        bar.value = 1;
        title.textContent = t.erased;
        intro.textContent = t.erasedIntro;
        line.textContent = t.done(String(current.id), current.finished_at ? dateTime(current.finished_at) : null);
        replace(
          result,
          d
            ? h(
                'p',
                { class: 'erased', 'data-faces': d.faces, 'data-templates': d.templates, 'data-images': d.images },
                t.erasedCounts(faces(d.faces), t.templates(d.templates, num(d.templates)), t.images(d.images, num(d.images))),
              )
            : h('p', null, t.nothingReported),
          h(
            'p',
            { class: 'request-closed' },
            req && req.status !== 'open' ? t.closed(id, statusName(req.status), req.outcome ?? null) : t.stillOpen(id, statusName(req?.status ?? 'open')),
          ),
          h('p', { class: 'hint' }, t.planAgain),
          offerObjection(),
        );
      } else {
        bar.value = 0;
        title.textContent = t.erasureFailed;
        line.textContent = t.failedLine(String(current.id));
        alert.show(t.failedAlert(current.error ?? null));
        void load();
      }
      focusOutput();
    } catch (e) {
      if (ctx.live()) alert.show(errorText(e, t.progressUnreadable));
    } finally {
      following = false;
      actionsDisabled(false);
    }
  }

  /**
   * After an erasure: an objection for the same person (same requester, same verification,
   * same photo), so that photos of them not held yet are refused at ingestion and hidden from
   * search too. Erased photos themselves are refused on their own (by content).
   */
  function offerObjection(): HTMLElement {
    const box = h('div', { class: 'card offer-objection' });
    const outcome = status();
    const button: HTMLButtonElement = h('button', { type: 'button', class: 'secondary', onclick: () => void record() }, t.offerButton);
    replace(box, h('h3', null, t.offerTitle), h('p', null, t.offerText), h('div', { class: 'actions' }, button), outcome);
    async function record(): Promise<void> {
      if (!req) return;
      alert.clear();
      const body = form();
      if (!body) return;
      button.disabled = true;
      outcome.textContent = t.recording;
      try {
        const objection = await post<RightsRequest>('/rights', {
          kind: 'objection',
          requester: req.requester,
          verification: req.verification,
          received_on: req.received_on,
        });
        const r = await post<RightsReport>(`/rights/${objection.id}/object`, body);
        if (!ctx.live()) return;
        replace(
          outcome,
          h('span', { class: 'objection-recorded' }, t.objectionRecorded(objection.id, r.matches.length, faces(r.matches.length))),
          h('a', { href: `#/rights/${objection.id}` }, t.openRequest(objection.id)),
        );
      } catch (e) {
        button.disabled = false;
        outcome.textContent = '';
        if (ctx.live()) alert.show(errorText(e, t.objectionFailed));
      }
    }
    return box;
  }

  async function object(): Promise<void> {
    const r = await run<RightsReport>(t.doingObjection, `/rights/${id}/object`);
    if (!r) return;
    const thumbs = freshReport();
    replace(
      output,
      heading(t.objectionTitle),
      h('p', null, t.objectionText(r.matches.length, faces(r.matches.length))),
      matchesTable(r.matches, t.hiddenCaption, (x) => thumbs.img(x)),
    );
    focusOutput();
    void load();
  }

  void load();
  return h(
    'section',
    null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/rights' }, t.title)),
    h('h1', null, t.requestTitle(id)),
    alert.el,
    info,
    h('div', { class: 'card' }, field(t.photo, photo, t.photoHint), buttons, busy),
    output,
  );
}
