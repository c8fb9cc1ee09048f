// #/rights: data subjects' requests with their deadlines; open one. #/rights/{id}: run it with
// the requester's photo: access (the report of what GDPR art. 15 gives the person, with the
// faces, shown and downloadable as a self-contained HTML page and as JSON), erasure (the plan
// with the faces, then the confirmed deletion, run by the server as a job this page follows),
// objection.

import { ApiError, articleLetter, get, post, vocabulary, type ErasureJob, type Retention, type RightsMatch, type RightsReport, type RightsRequest } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status, uid, type Child } from '../dom';
import { basename, daysUntil, today } from '../format';
import { dateTime, day, lang, m, num } from '../i18n';

type Notice = RightsReport['collections'][number];

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

function errorText(e: unknown, fallback: string): string {
  return e instanceof ApiError ? e.message : fallback;
}

const faces = (n: number): string => m().rights.faces(n, num(n));

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
      submit.disabled = false;
    }
  });

  return h('section', null, h('h1', null, t.title), alert.el, list, form);
}

// ---- The faces of a report ----

/**
 * The crops of the faces a report shows (`GET /faces/{id}/crop`, JPEG; the DPO may see any
 * face), each fetched once: shown from blob: URLs (the page's Content-Security-Policy allows
 * them), embedded in the downloaded page as data: URIs.
 */
class Thumbs {
  private readonly blobs = new Map<number, Promise<Blob | null>>();
  private readonly urls: string[] = [];

  private blob(face: number): Promise<Blob | null> {
    let b = this.blobs.get(face);
    if (!b) {
      b = fetch(`/api/v1/faces/${encodeURIComponent(String(face))}/crop`, { credentials: 'same-origin', cache: 'no-store' })
        .then((r) => (r.ok ? r.blob() : null))
        .catch(() => null);
      this.blobs.set(face, b);
    }
    return b;
  }

  /** An image of the face, shown once its crop has arrived (a note if it cannot be had). */
  img(match: RightsMatch): HTMLElement {
    const img = h('img', { class: 'face-thumb', alt: m().rights.faceAlt(match.face_id, basename(match.path)), width: 72, height: 72 });
    void this.blob(match.face_id).then((b) => {
      if (!b) {
        img.replaceWith(h('span', { class: 'crop-missing' }, m().rights.noThumbnail));
        return;
      }
      const url = URL.createObjectURL(b);
      this.urls.push(url);
      img.src = url;
    });
    return img;
  }

  /** The crop as a data: URI, or null. */
  async dataUri(face: number): Promise<string | null> {
    const b = await this.blob(face);
    if (!b) return null;
    return new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : null);
      reader.onerror = () => resolve(null);
      reader.readAsDataURL(b);
    });
  }

  release(): void {
    for (const u of this.urls.splice(0)) URL.revokeObjectURL(u);
  }
}

/** The object URLs of the report shown (thumbnails, downloads), released when another replaces it. */
let shown: { thumbs: Thumbs | null; urls: string[] } = { thumbs: null, urls: [] };

function freshReport(): Thumbs {
  shown.thumbs?.release();
  for (const u of shown.urls) URL.revokeObjectURL(u);
  shown = { thumbs: new Thumbs(), urls: [] };
  return shown.thumbs!;
}

function objectUrl(blob: Blob): string {
  const url = URL.createObjectURL(blob);
  shown.urls.push(url);
  return url;
}

/** The faces of a report with their files, sources and collections; `face` gives each its picture. */
function matchesTable(matches: RightsMatch[], caption: string, face: (m: RightsMatch) => Child): HTMLElement {
  const t = m().rights;
  if (!matches.length) return h('p', { class: 'empty-report' }, t.noMatch);
  const c = t.matchCols;
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data matches' },
      h('caption', null, caption),
      h('thead', null, h('tr', null, [c.face, c.file, c.source, c.collection, c.score, c.captured, c.ingested].map((x) => h('th', { scope: 'col' }, x)))),
      h(
        'tbody',
        null,
        matches.map((x) =>
          h(
            'tr',
            { 'data-face': x.face_id },
            h('td', { class: 'thumb' }, face(x)),
            h('td', { class: 'path' }, x.path),
            h('td', { class: 'source' }, x.source || t.dash),
            h('td', null, x.collection),
            h('td', { class: 'num' }, num(x.score, 3)),
            h('td', null, dateTime(x.captured_at)),
            h('td', null, dateTime(x.ingested_at)),
          ),
        ),
      ),
    ),
  );
}

function summary(r: RightsReport): string {
  return m().rights.summary(faces(r.matches.length), faces(r.templates_searched), num(r.threshold, 2));
}

/** A retention as a person reads it ("3,650 days after the photo was ingested", "until 31 Dec 2030"). */
function retentionWords(r: Retention | null): string {
  const t = m().rights;
  if (!r) return t.notSet;
  if ('days' in r) return t.retentionDays(r.days, num(r.days));
  return t.retentionUntil(day(r.until));
}

function list(items: Child[], empty: string): HTMLElement {
  return items.length ? h('ul', null, items.map((i) => h('li', null, i))) : h('p', null, empty);
}

/** What GDPR art. 15(1)(a)–(g) tells the person about one collection, addressed to them. */
function noticeSection(n: Notice, heading: 'h2' | 'h3'): HTMLElement {
  const t = m().rights;
  const controller =
    n.controller && n.controller_contact ? t.controllerContact(n.controller, n.controller_contact) : (n.controller ?? n.controller_contact ?? t.notSet);
  const category = n.purpose_category ? t.purposeCategories[n.purpose_category] ?? n.purpose_category : null;
  const purpose = n.purpose ? (category ? t.purposeWithCategory(n.purpose, category) : n.purpose) : t.notSet;
  const basis = n.legal_basis
    ? t.basisArticle(t.legalBases[n.legal_basis] ?? n.legal_basis, articleLetter(vocabulary().legal_bases, n.legal_basis))
    : t.notSet;
  const condition = n.condition
    ? t.conditionArticle(t.conditions[n.condition] ?? n.condition, articleLetter(vocabulary().conditions, n.condition))
    : t.notSet;
  const recipients = n.recipients.map((u) => t.recipient(u.name, u.roles.map((r) => t.roles[r] ?? r).join('; ')));
  const authorities = n.jurisdictions.map((j): Child =>
    j.authority
      ? [t.authority(j.code, j.authority.name), h('a', { href: j.authority.website, rel: 'noreferrer' }, j.authority.website)]
      : t.noAuthority(j.code, n.controller_contact ?? n.controller ?? t.theController),
  );
  const facts: [string, string, Child][] = [
    ['controller', t.controller, controller],
    ['purposes', t.purposes, purpose],
    ['legal-basis', t.legalBasis, basis],
    ['condition', t.condition, condition],
    ['categories', t.dataCategories, list(n.data_categories.map((c) => t.categories[c.code] ?? c.description), t.notSet)],
    ['recipients', t.recipients, list(recipients, t.noRecipient)],
    ['retention', t.retention, retentionWords(n.retention)],
    ['source', t.source, t.sourceText],
    ['complaint', t.complaint, list(authorities, t.notSet)],
  ];
  return h(
    'section',
    { class: 'art15', 'data-collection': n.collection },
    h(heading, null, t.collectionTitle(n.collection, faces(n.faces))),
    h('dl', { class: 'art15-facts' }, facts.map(([key, k, v]) => [h('dt', null, k), h('dd', { 'data-fact': key }, v)])),
  );
}

/** Art. 15(1)(e) and (h): the person's rights, and that matching is automated with human review. */
function rightsAndMatching(r: RightsReport, heading: 'h2' | 'h3'): HTMLElement[] {
  const t = m().rights;
  return [
    h(
      'section',
      { class: 'subject-rights' },
      h(heading, null, t.rightsTitle),
      h('p', null, t.rightsLede),
      h('ul', null, r.subject_rights.map((s) => h('li', { 'data-right': s.right }, t.rightArticle(t.subjectRights[s.right] ?? s.description, s.article)))),
      h('p', null, t.rightsHow),
    ),
    h('section', { class: 'automated-matching' }, h(heading, null, t.automatedTitle), h('p', null, t.automated)),
  ];
}

/** The stylesheet of the downloaded report (inline: the page stands alone). */
const REPORT_CSS = `body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#1a1a1a}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;font-size:90%}
caption{text-align:left;font-weight:bold;padding:4px 0}.path{font-family:monospace;word-break:break-all}
img{width:96px;height:96px;object-fit:cover;border-radius:4px}dt{font-weight:bold;margin-top:.7em}dd{margin-left:1.5em}
dd ul{margin:.2em 0;padding-left:1.2em}section{margin-top:1.5em}footer{margin-top:2em;color:#555;font-size:85%}`;

/**
 * The access report as a page of its own, in the language in use: every text is a text node
 * (serialised escaped), the faces are data: URIs, nothing is fetched from anywhere (its own
 * Content-Security-Policy forbids it). Built in an inert document, so that no picture loads
 * under the app's policy.
 */
async function reportDocument(r: RightsReport, thumbs: Thumbs): Promise<string> {
  const t = m().rights;
  const uris = new Map<number, string | null>();
  await Promise.all(r.matches.map(async (x) => uris.set(x.face_id, await thumbs.dataUri(x.face_id))));
  const body = h(
    'div',
    null,
    h('h1', null, t.docTitle(r.request.id)),
    h('p', null, t.docRequest(r.request.requester, r.request.verification, day(r.request.received_on), day(r.request.deadline))),
    h('p', null, summary(r)),
    matchesTable(r.matches, t.accessCaption(dateTime(r.generated_at)), (x) =>
      uris.get(x.face_id) ? h('img', { 'data-face-src': String(x.face_id), alt: t.faceAlt(x.face_id, basename(x.path)) }) : t.noThumbnail,
    ),
    r.collections.map((n) => noticeSection(n, 'h2')),
    rightsAndMatching(r, 'h2'),
    h('footer', null, h('p', null, t.generated(dateTime(r.generated_at)))),
  );
  const doc = document.implementation.createHTMLDocument(t.docTitle(r.request.id));
  const meta = (attrs: Record<string, string>): void => {
    const el = doc.createElement('meta');
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    doc.head.prepend(el);
  };
  meta({ name: 'viewport', content: 'width=device-width, initial-scale=1' });
  meta({ 'http-equiv': 'Content-Security-Policy', content: "default-src 'none'; img-src data:; style-src 'unsafe-inline'" });
  meta({ charset: 'utf-8' });
  doc.body.append(...[...doc.importNode(body, true).childNodes]);
  for (const img of doc.querySelectorAll('img[data-face-src]')) {
    img.setAttribute('src', uris.get(Number(img.getAttribute('data-face-src'))) ?? '');
    img.removeAttribute('data-face-src');
  }
  // The stylesheet goes in as text: a <style> element made here would break the app's own
  // policy (no inline style), even in an inert document. REPORT_CSS is a constant.
  return `<!doctype html>\n<html lang="${lang()}"><head>${doc.head.innerHTML}<style>${REPORT_CSS}</style></head><body>${doc.body.innerHTML}</body></html>\n`;
}

/** The link downloading the report as JSON, made in the page (no second request). */
function jsonLink(r: RightsReport, name: string): HTMLElement {
  const url = objectUrl(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' }));
  return h('a', { class: 'button-like download', href: url, download: name }, m().rights.downloadJson);
}

/** The link downloading the report as an HTML page; a link once the faces are in it. */
function htmlLink(r: RightsReport, thumbs: Thumbs, name: string): HTMLElement {
  const a = h('a', { class: 'button-like download download-html', download: name, 'aria-disabled': 'true' }, m().rights.downloadHtml);
  void reportDocument(r, thumbs).then((html) => {
    a.setAttribute('href', objectUrl(new Blob([html], { type: 'text/html;charset=utf-8' })));
    a.removeAttribute('aria-disabled');
  });
  return a;
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
            ...(r.runs.length > 1 ? [[f.laterRuns, r.runs.slice(1).map((run) => `${dateTime(run.at)}: ${run.outcome}`).join('; ')]] : []),
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
            req && req.status !== 'open' ? t.closed(id, statusName(req.status), req.outcome) : t.stillOpen(id, statusName(req?.status ?? 'open')),
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
