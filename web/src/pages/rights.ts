// #/rights: data subjects' requests with their deadlines; open one. #/rights/{id}: run it with
// the requester's photo: access (report shown and downloadable), erasure (the plan, then the
// confirmed deletion, run by the server as a job this page follows), objection.

import { ApiError, get, post, type ErasureJob, type RightsMatch, type RightsReport, type RightsRequest } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status, uid } from '../dom';
import { count, daysUntil, score, today, when } from '../format';

const KINDS: [RightsRequest['kind'], string][] = [
  ['access', 'Access (art. 15)'],
  ['erasure', 'Erasure (art. 17)'],
  ['objection', 'Objection (art. 21)'],
];

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

function errorText(e: unknown, fallback: string): string {
  return e instanceof ApiError ? e.message : fallback;
}

function deadline(r: RightsRequest): string {
  if (r.status !== 'open') return r.deadline;
  const d = daysUntil(r.deadline);
  if (d < 0) return `${r.deadline} (overdue by ${count(-d, 'day')})`;
  if (d === 0) return `${r.deadline} (today)`;
  return `${r.deadline} (in ${count(d, 'day')})`;
}

export function rightsPage(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const list = h('div', { class: 'table-wrap' }, status());
  (list.firstChild as HTMLElement).textContent = 'Loading the requests…';

  async function load(): Promise<void> {
    try {
      const reqs = await get<RightsRequest[]>('/rights');
      if (!ctx.live()) return;
      replace(
        list,
        reqs.length === 0
          ? h('p', null, 'No request yet.')
          : h(
              'table',
              { class: 'data', id: 'rights-requests' },
              h('caption', null, `${count(reqs.length, 'request')}, newest first. The answer is due one month after receipt.`),
              h('thead', null, h('tr', null, ['Request', 'Kind', 'Requester', 'Received', 'Answer due', 'Status', 'Outcome'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                null,
                reqs.map((r) => {
                  const overdue = r.status === 'open' && daysUntil(r.deadline) < 0;
                  return h(
                    'tr',
                    { class: overdue ? 'overdue' : null },
                    h('th', { scope: 'row' }, h('a', { href: `#/rights/${r.id}` }, `Request ${r.id}`)),
                    h('td', null, r.kind),
                    h('td', null, r.requester),
                    h('td', null, r.received_on),
                    h('td', null, deadline(r)),
                    h('td', null, r.status),
                    h('td', null, r.outcome ?? '—'),
                  );
                }),
              ),
            ),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(list);
      alert.show(errorText(e, 'The requests could not be loaded.'));
    }
  }
  void load();

  const formAlert = new Alert();
  const kind = h('select', { name: 'kind' }, KINDS.map(([v, l]) => h('option', { value: v }, l)));
  const requester = h('input', { name: 'requester', required: true, autocomplete: 'off' });
  const verification = h('input', { name: 'verification', required: true, autocomplete: 'off' });
  const received = h('input', { name: 'received_on', type: 'date', required: true, value: today() });
  const submit = h('button', { type: 'submit' }, 'Open the request');
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    h('h2', null, 'New request'),
    h('div', { class: 'cols' },
      field('Kind', kind),
      field('Requester', requester, 'A name or file number; never a photo here.'),
      field('Identity verified by', verification, 'How the requester proved who they are.'),
      field('Received on', received, 'The deadline is one month later.'),
    ),
    h('div', { class: 'actions' }, submit),
    formAlert.el,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formAlert.clear();
    const missing = [
      [requester, 'the requester'],
      [verification, 'how their identity was verified'],
      [received, 'the date received'],
    ].filter(([el]) => !(el as HTMLInputElement).value.trim());
    if (missing.length) {
      formAlert.show(`Give ${missing.map(([, l]) => l).join(', ')}.`);
      (missing[0]![0] as HTMLInputElement).focus();
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
      formAlert.show(errorText(err, 'The request could not be opened.'));
      submit.disabled = false;
    }
  });

  return h('section', null, h('h1', null, 'Rights requests'), alert.el, list, form);
}

function matchesTable(matches: RightsMatch[], caption: string): HTMLElement {
  if (!matches.length) return h('p', { class: 'empty-report' }, 'No face of the requester was found in any collection.');
  const legal = (m: RightsMatch): string => [m.governance.legal_basis, m.governance.condition].filter(Boolean).join(' / ') || 'not set';
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data matches' },
      h('caption', null, caption),
      h(
        'thead',
        null,
        h('tr', null, ['File', 'Collection', 'Score', 'Captured', 'Ingested', 'Controller', 'Purpose', 'Legal basis / condition'].map((t) => h('th', { scope: 'col' }, t))),
      ),
      h(
        'tbody',
        null,
        matches.map((m) =>
          h(
            'tr',
            null,
            h('td', { class: 'path' }, m.path),
            h('td', null, m.collection),
            h('td', { class: 'num' }, score(m.score)),
            h('td', null, when(m.captured_at)),
            h('td', null, when(m.ingested_at)),
            h('td', null, m.governance.controller ?? 'not set'),
            h('td', null, m.governance.purpose ?? 'not set'),
            h('td', null, legal(m)),
          ),
        ),
      ),
    ),
  );
}

function reportSummary(r: RightsReport): string {
  return `${count(r.matches.length, 'face')} of the requester found among the ${count(r.templates_searched, 'face')} held (every face compared, threshold ${r.threshold.toFixed(2)}). The photo was not kept: only its SHA-256 is recorded.`;
}

let reportUrl: string | null = null;

/** A download link for the report as JSON, made in the page (no second request). */
function download(r: RightsReport, name: string): HTMLElement {
  if (reportUrl) URL.revokeObjectURL(reportUrl);
  const url = URL.createObjectURL(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' }));
  reportUrl = url;
  return h('a', { class: 'button-like download', href: url, download: name }, 'Download the report (JSON)');
}

export function rightsRequestPage(ctx: Ctx, [idText]: string[]): HTMLElement {
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
        alert.show(`There is no rights request ${id}.`);
        return;
      }
      const r = req;
      replace(
        info,
        h(
          'dl',
          { class: 'facts' },
          [
            ['Kind', KINDS.find(([k]) => k === r.kind)?.[1] ?? r.kind],
            ['Requester', r.requester],
            ['Identity verified by', r.verification],
            ['Received', r.received_on],
            ['Answer due', deadline(r)],
            ['Status', r.status],
            ['Outcome', r.outcome ?? '—'],
            ...(r.runs.length > 1
              ? [['Later runs', r.runs.slice(1).map((run) => `${when(run.at)}: ${run.outcome}`).join('; ')]]
              : []),
            ['Opened by', r.created_by],
          ].map(([k, v]) => [h('dt', null, k!), h('dd', null, v!)]),
        ),
      );
      // Each kind of request has its own action: access answers access requests only.
      const actions: HTMLButtonElement[] = [];
      if (r.kind === 'access') actions.push(h('button', { type: 'button', onclick: access }, 'Run access'));
      if (r.kind === 'erasure') actions.push(h('button', { type: 'button', onclick: plan }, 'Plan the erasure'));
      if (r.kind === 'objection') actions.push(h('button', { type: 'button', onclick: object }, 'Record the objection'));
      replace(buttons, actions);
      if (following) actionsDisabled(true);
      if (r.kind === 'erasure' && r.status === 'open' && !following && !resumeChecked) {
        resumeChecked = true;
        void resume();
      }
    } catch (e) {
      if (!ctx.live()) return;
      replace(info);
      alert.show(errorText(e, 'The request could not be loaded.'));
    }
  }

  function form(extra?: Record<string, string>): FormData | null {
    const f = photo.files?.[0];
    if (!f) {
      alert.show("Choose the requester's photo first.");
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
    busy.textContent = `${what}…`;
    try {
      const r = await post<T>(path, body);
      busy.textContent = '';
      return ctx.live() ? r : null;
    } catch (e) {
      busy.textContent = '';
      if (ctx.live()) alert.show(errorText(e, `${what} failed.`));
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
    const r = await run<RightsReport>('Searching every collection for the requester', `/rights/${id}/access`);
    if (!r) return;
    replace(
      output,
      heading(`Access report: ${count(r.matches.length, 'face')}`),
      h('p', null, reportSummary(r)),
      h('p', { class: 'actions' }, download(r, `gabarit-rights-${id}-access.json`)),
      matchesTable(r.matches, `Faces of the requester, report of ${when(r.generated_at)}`),
    );
    focusOutput();
    void load();
  }

  async function plan(): Promise<void> {
    const r = await run<EraseAnswer>('Listing what the erasure would delete', `/rights/${id}/erase`);
    if (!r) return;
    const n = r.report.matches.length;
    if (n === 0) {
      replace(output, heading('Erasure plan: nothing to erase'), h('p', null, reportSummary(r.report)), matchesTable([], ''));
      focusOutput();
      return;
    }
    const check = h('input', { type: 'checkbox', id: uid('confirm-erasure') });
    const confirmButton = h('button', { type: 'button', class: 'danger', disabled: true }, `Erase ${count(n, 'face')}`);
    check.addEventListener('change', () => (confirmButton.disabled = !check.checked));
    confirmButton.addEventListener('click', () => void erase(n));
    replace(
      output,
      heading(`Erasure plan: ${count(n, 'face')}`),
      h('p', null, reportSummary(r.report)),
      h('p', { class: 'notice strong' }, 'Erasure is physical and cannot be undone: the faces below, their templates, and the images left without faces are deleted from the catalog and the index.'),
      matchesTable(r.report.matches, 'What will be erased'),
      h('div', { class: 'check confirm-box' }, check, h('label', { for: check.id }, `I have checked the ${count(n, 'face')} listed above: erase them.`)),
      h('div', { class: 'actions' }, confirmButton),
    );
    focusOutput();
  }

  async function erase(n: number): Promise<void> {
    const r = await run<EraseAnswer>('Asking the server to erase', `/rights/${id}/erase`, { confirm: String(n) });
    if (!r) return;
    if (!r.job) {
      // Not expected with `confirm`: the server answered with the plan only.
      replace(output, heading('Nothing erased'), h('p', null, 'The server did not start the erasure. Plan it again.'));
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
    const title = heading('Erasing');
    const result = h('div', { class: 'erasure-result' });
    const faces = planned === null ? 'the confirmed faces' : count(planned, 'face');
    const intro = h('p', null, `The server deletes ${faces}, their templates and the images left without faces, then compacts the index and the catalog so that nothing of them stays in the files. This can take a while on a large catalog; the page follows it.`);
    replace(
      output,
      title,
      intro,
      h('div', { class: 'progress' }, h('label', { for: bar.id }, 'Erasure progress'), bar, line),
      result,
    );
    focusOutput();
    const show = (j: ErasureJob): void => {
      if (j.state === 'queued') line.textContent = `Erasure job ${j.id} queued: waiting to start.`;
      else if (j.state === 'running') line.textContent = `Erasure job ${j.id} running: deleting ${faces}, then compacting.`;
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
        title.textContent = 'Erased';
        intro.textContent = 'The faces, their templates and the images left without faces were deleted, and the index and the catalog compacted: nothing of them stays in the files.';
        line.textContent = `Done: erasure job ${current.id} finished${current.finished_at ? ` ${when(current.finished_at)}` : ''}.`;
        replace(
          result,
          d
            ? h(
                'p',
                { class: 'erased', 'data-faces': d.faces, 'data-templates': d.templates, 'data-images': d.images },
                `Erased ${count(d.faces, 'face')}, ${count(d.templates, 'template')} and ${count(d.images, 'image')} left without faces.`,
              )
            : h('p', null, 'The job reported nothing erased.'),
          h('p', { class: 'request-closed' }, req && req.status !== 'open' ? `Request ${id} is closed (${req.status})${req.outcome ? `: ${req.outcome}` : ''}.` : `Request ${id} is still ${req?.status ?? 'open'}.`),
          h('p', { class: 'hint' }, 'Plan the erasure again to check that nothing of the requester is left.'),
          offerObjection(),
        );
      } else {
        bar.value = 0;
        title.textContent = 'Erasure failed';
        line.textContent = `Failed: erasure job ${current.id} stopped; the request stays open.`;
        alert.show(`The erasure failed: ${current.error ?? 'no reason given'}`);
        void load();
      }
      focusOutput();
    } catch (e) {
      if (ctx.live()) alert.show(errorText(e, 'The progress of the erasure could not be read.'));
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
    const button: HTMLButtonElement = h('button', { type: 'button', class: 'secondary', onclick: () => void record() }, 'Record an objection too');
    replace(
      box,
      h('h3', null, 'Hold off other photos of this person'),
      h('p', null, 'The photos erased are refused if anyone ingests them again. Other photos of the person, not held today, would still be ingested: an objection (GDPR art. 21) holds them off too, and hides them from search.'),
      h('div', { class: 'actions' }, button),
      outcome,
    );
    async function record(): Promise<void> {
      if (!req) return;
      alert.clear();
      const body = form();
      if (!body) return;
      button.disabled = true;
      outcome.textContent = 'Recording the objection…';
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
          h('span', { class: 'objection-recorded' }, `Objection recorded as request ${objection.id}: from now on, faces of this person are refused at ingestion and hidden from search (${count(r.matches.length, 'face')} held now). `),
          h('a', { href: `#/rights/${objection.id}` }, `Open request ${objection.id}`),
        );
      } catch (e) {
        button.disabled = false;
        outcome.textContent = '';
        if (ctx.live()) alert.show(errorText(e, 'The objection could not be recorded.'));
      }
    }
    return box;
  }

  async function object(): Promise<void> {
    const r = await run<RightsReport>('Recording the objection', `/rights/${id}/object`);
    if (!r) return;
    replace(
      output,
      heading('Objection recorded'),
      h('p', null, `The requester's faces are now hidden from search and refused at ingestion. ${count(r.matches.length, 'face')} already held ${r.matches.length === 1 ? 'is' : 'are'} hidden.`),
      matchesTable(r.matches, 'Faces now hidden'),
    );
    focusOutput();
    void load();
  }

  void load();
  return h(
    'section',
    null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/rights' }, 'Rights requests')),
    h('h1', null, `Rights request ${id}`),
    alert.el,
    info,
    h(
      'div',
      { class: 'card' },
      field("Requester's photo", photo, 'Compared with every face held; the photo itself is not kept.'),
      buttons,
      busy,
    ),
    output,
  );
}
