// #/collections: the collections with their counts; a curator creates one with its
// governance fields. #/collections/{name}: its governance (a curator edits it), counts and
// ingestion with progress.

import { ApiError, get, post, put, type CollectionDetails, type CollectionSummary, type Governance, type GovernanceSaved, type Job } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status, uid, type Child } from '../dom';
import { count, when } from '../format';

const CATEGORIES: [string, string][] = [
  ['archive', 'Photo and video archives'],
  ['investigation', 'Investigations on lawfully obtained media'],
  ['event_photos', 'Event photos, with consent'],
  ['fraud_prevention', 'Identity-fraud detection'],
  ['research', 'Research and statistics'],
];
const BASES: [string, string][] = [
  ['consent', '6(1)(a) consent'],
  ['contract', '6(1)(b) contract'],
  ['legal_obligation', '6(1)(c) legal obligation'],
  ['vital_interests', '6(1)(d) vital interests'],
  ['public_task', '6(1)(e) public task'],
  ['legitimate_interests', '6(1)(f) legitimate interests'],
];
const CONDITIONS: [string, string][] = [
  ['explicit_consent', '9(2)(a) explicit consent'],
  ['employment', '9(2)(b) employment and social security law'],
  ['vital_interests', '9(2)(c) vital interests'],
  ['not_for_profit', '9(2)(d) not-for-profit body'],
  ['manifestly_public', '9(2)(e) manifestly made public'],
  ['legal_claims', '9(2)(f) legal claims'],
  ['substantial_public_interest', '9(2)(g) substantial public interest'],
  ['health_care', '9(2)(h) health care'],
  ['public_health', '9(2)(i) public health'],
  ['archiving', '9(2)(j) archiving, research, statistics'],
];

function label(options: [string, string][], value: string | null | undefined): string {
  if (!value) return 'not set';
  return options.find(([v]) => v === value)?.[1] ?? value;
}

function select(name: string, options: [string, string][]): HTMLSelectElement {
  return h('select', { name }, h('option', { value: '' }, 'Not set yet'), options.map(([v, l]) => h('option', { value: v }, l)));
}

/** The governance fields as the API names them when missing (flag names), in words. */
const FIELD_NAMES: Record<string, string> = {
  controller: 'Controller',
  'controller-contact': 'Controller contact',
  purpose: 'Purpose',
  'purpose-category': 'Kind of purpose',
  'legal-basis': 'Legal basis',
  condition: 'Condition for biometric data',
  jurisdiction: 'Jurisdictions',
  'retention-days': 'Retention',
  dpia: 'DPIA reference',
};

function fieldNames(missing: string[]): string {
  return missing.map((m) => FIELD_NAMES[m] ?? m).join(', ');
}

/** The fields a governance record still lacks (the server's rule), as flag names. */
function missingFields(g: Governance | null): string[] {
  const blank = (x: string | null | undefined): boolean => !x || !x.trim();
  const m: string[] = [];
  if (blank(g?.controller)) m.push('controller');
  if (blank(g?.controller_contact)) m.push('controller-contact');
  if (blank(g?.purpose)) m.push('purpose');
  if (!g?.purpose_category) m.push('purpose-category');
  if (!g?.legal_basis) m.push('legal-basis');
  if (!g?.condition) m.push('condition');
  if (!g?.jurisdictions?.length) m.push('jurisdiction');
  if (!g?.retention) m.push('retention-days');
  if (blank(g?.dpia)) m.push('dpia');
  return m;
}

/** The governance inputs, filled from a record and read back as one (whole) record. */
interface GovernanceInputs {
  fields: HTMLElement[];
  /** The input of each field, by its flag name (to focus what is missing). */
  byFlag: Record<string, HTMLElement>;
  fill: (g: Governance | null) => void;
  /** The record, or a message saying what to fix. */
  read: () => Governance | string;
}

function governanceInputs(): GovernanceInputs {
  const controller = h('input', { name: 'controller', autocomplete: 'organization' });
  const contact = h('input', { name: 'controller_contact', autocomplete: 'email' });
  const purpose = h('textarea', { name: 'purpose', rows: 2 });
  const category = select('purpose_category', CATEGORIES);
  const basis = select('legal_basis', BASES);
  const condition = select('condition', CONDITIONS);
  const jurisdictions = h('input', { name: 'jurisdictions', placeholder: 'FR, BE', autocomplete: 'off' });
  const retention = h('input', { name: 'retention_days', type: 'number', min: 1, inputmode: 'numeric' });
  const until = h('input', { name: 'retention_until', type: 'date' });
  const dpia = h('input', { name: 'dpia', autocomplete: 'off' });
  const text = (el: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement): string | null => el.value.trim() || null;
  return {
    fields: [
      field('Controller', controller),
      field('Controller contact', contact),
      field('Purpose', purpose),
      field('Kind of purpose', category),
      field('Legal basis (GDPR art. 6)', basis),
      field('Condition for biometric data (art. 9(2))', condition),
      field('Jurisdictions', jurisdictions, 'ISO country codes, separated by commas.'),
      field('Retention, days after ingestion', retention),
      field('Or kept until (date)', until, 'Instead of a number of days: kept until this date, inclusive.'),
      field('DPIA reference', dpia),
    ],
    byFlag: {
      controller,
      'controller-contact': contact,
      purpose,
      'purpose-category': category,
      'legal-basis': basis,
      condition,
      jurisdiction: jurisdictions,
      'retention-days': retention,
      dpia,
    },
    fill: (g) => {
      controller.value = g?.controller ?? '';
      contact.value = g?.controller_contact ?? '';
      purpose.value = g?.purpose ?? '';
      category.value = g?.purpose_category ?? '';
      basis.value = g?.legal_basis ?? '';
      condition.value = g?.condition ?? '';
      jurisdictions.value = (g?.jurisdictions ?? []).join(', ');
      retention.value = g?.retention && 'days' in g.retention ? String(g.retention.days) : '';
      until.value = g?.retention && 'until' in g.retention ? g.retention.until : '';
      dpia.value = g?.dpia ?? '';
    },
    read: () => {
      if (retention.value && until.value) return 'Give the retention as a number of days or as a date, not both.';
      const days = Number(retention.value);
      if (retention.value && !(Number.isInteger(days) && days >= 1)) return 'The retention is a whole number of days, at least 1.';
      return {
        controller: text(controller),
        controller_contact: text(contact),
        purpose: text(purpose),
        purpose_category: text(category),
        legal_basis: text(basis),
        condition: text(condition),
        jurisdictions: jurisdictions.value.split(/[,\s]+/).map((j) => j.trim().toUpperCase()).filter(Boolean),
        retention: retention.value ? { days } : until.value ? { until: until.value } : null,
        dpia: text(dpia),
      };
    },
  };
}

function errorText(e: unknown, fallback: string): string {
  return e instanceof ApiError ? e.message : fallback;
}

export function collectionsPage(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const table = h('div', { class: 'table-wrap' }, status());
  (table.firstChild as HTMLElement).textContent = 'Loading the collections…';

  async function load(): Promise<void> {
    try {
      const list = await get<CollectionSummary[]>('/collections');
      if (!ctx.live()) return;
      replace(
        table,
        list.length === 0
          ? h('p', null, 'No collection yet.')
          : h(
              'table',
              { class: 'data' },
              h('caption', null, count(list.length, 'collection')),
              h('thead', null, h('tr', null, ['Name', 'Description', 'Images', 'Faces', 'Templates', 'Created'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                null,
                list.map((c) =>
                  h(
                    'tr',
                    null,
                    h('th', { scope: 'row' }, h('a', { href: `#/collections/${encodeURIComponent(c.name)}` }, c.name)),
                    h('td', null, c.description || '—'),
                    h('td', { class: 'num' }, String(c.images)),
                    h('td', { class: 'num' }, String(c.faces)),
                    h('td', { class: 'num' }, String(c.templates)),
                    h('td', null, when(c.created_at)),
                  ),
                ),
              ),
            ),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(table);
      alert.show(errorText(e, 'The collections could not be loaded.'));
    }
  }
  void load();

  return h(
    'section',
    null,
    h('h1', null, 'Collections'),
    alert.el,
    table,
    ctx.can('curator') ? createForm(ctx) : null,
  );
}

function createForm(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const done = status();
  const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const description = h('input', { name: 'description', autocomplete: 'off' });
  const inputs = governanceInputs();
  const submit = h('button', { type: 'submit' }, 'Create the collection');
  const form = h(
    'form',
    { class: 'card' },
    h('h2', null, 'New collection'),
    h('p', { class: 'hint' }, 'Nothing can be ingested until every governance field is set.'),
    h('div', { class: 'cols' },
      field('Name', name, 'Up to 200 characters; used in links and on the command line.'),
      field('Description', description),
      inputs.fields,
    ),
    h('div', { class: 'actions' }, submit),
    alert.el,
    done,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.clear();
    done.textContent = '';
    if (!name.value.trim()) {
      alert.show('A collection needs a name.');
      name.focus();
      return;
    }
    const governance = inputs.read();
    if (typeof governance === 'string') {
      alert.show(governance);
      return;
    }
    submit.disabled = true;
    try {
      const r = await post<GovernanceSaved>('/collections', { name: name.value.trim(), description: description.value.trim(), governance });
      if (!ctx.live()) return;
      done.textContent = r.missing.length
        ? `Collection ${r.name} created. Still missing before ingestion: ${fieldNames(r.missing)}.`
        : `Collection ${r.name} created, ready for ingestion.`;
      ctx.go(`#/collections/${encodeURIComponent(r.name)}`);
    } catch (err) {
      alert.show(errorText(err, 'The collection could not be created.'));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** The curator's form editing a collection's whole governance record, hidden until asked for. */
interface GovernanceEditor {
  el: HTMLElement;
  /** Opens the form filled from `g` and focuses the first of `missing` (flag names), if any. */
  open: (missing?: string[]) => void;
}

function governanceEditor(ctx: Ctx, collection: string, current: () => Governance | null, reload: () => Promise<void>): GovernanceEditor {
  const alert = new Alert();
  const saved = status();
  saved.classList.add('saved');
  const inputs = governanceInputs();
  const formId = uid('governance-form');
  const titleId = uid('governance-title');
  const toggle = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': formId }, 'Edit governance');
  const submit = h('button', { type: 'submit' }, 'Save the governance');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Close');
  const form = h(
    'form',
    { class: 'card governance-edit', id: formId, 'aria-labelledby': titleId, hidden: true },
    h('h3', { id: titleId, tabindex: '-1' }, 'Edit governance'),
    h('p', { class: 'hint' }, 'The whole record is replaced by what is below. Ingestion is refused while a field is empty. The change is logged with the record before and after.'),
    h('div', { class: 'cols' }, inputs.fields),
    h('div', { class: 'actions' }, submit, cancel),
    alert.el,
    saved,
  );
  const open = (missing: string[] = []): void => {
    alert.clear();
    if (form.hidden) {
      inputs.fill(current());
      saved.textContent = '';
    }
    form.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
    const first = missing.map((m) => inputs.byFlag[m]).find(Boolean);
    (first ?? form.querySelector<HTMLElement>('h3'))?.focus();
  };
  const close = (): void => {
    form.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
    toggle.focus();
  };
  toggle.addEventListener('click', () => (form.hidden ? open() : close()));
  cancel.addEventListener('click', close);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.clear();
    saved.textContent = '';
    const governance = inputs.read();
    if (typeof governance === 'string') {
      alert.show(governance);
      return;
    }
    submit.disabled = true;
    try {
      const r = await put<GovernanceSaved>(`/collections/${encodeURIComponent(collection)}/governance`, governance);
      if (!ctx.live()) return;
      saved.classList.toggle('incomplete', r.missing.length > 0);
      saved.textContent = r.missing.length
        ? `Saved. Still missing before ingestion: ${fieldNames(r.missing)}.`
        : 'Saved: every governance field is set, ingestion is allowed.';
      await reload();
    } catch (err) {
      if (!ctx.live()) return;
      alert.show(errorText(err, 'The governance could not be saved.'));
    } finally {
      submit.disabled = false;
    }
  });
  return { el: h('div', { class: 'governance-editor' }, h('div', { class: 'actions' }, toggle), form), open };
}

function governanceList(g: Governance | null, curator: boolean): HTMLElement {
  const v = (x: string | null | undefined): string => (x && x.trim() ? x : 'not set');
  const retention = !g?.retention ? 'not set' : 'days' in g.retention ? `${g.retention.days} days after ingestion` : `until ${g.retention.until}`;
  const rows: [string, Child][] = [
    ['Controller', v(g?.controller)],
    ['Controller contact', v(g?.controller_contact)],
    ['Purpose', v(g?.purpose)],
    ['Kind of purpose', label(CATEGORIES, g?.purpose_category)],
    ['Legal basis', label(BASES, g?.legal_basis)],
    ['Condition (art. 9(2))', label(CONDITIONS, g?.condition)],
    ['Jurisdictions', g?.jurisdictions?.length ? g.jurisdictions.join(', ') : 'not set'],
    ['Retention', retention],
    ['DPIA', v(g?.dpia)],
  ];
  const missing = missingFields(g);
  return h(
    'div',
    null,
    missing.length
      ? h(
          'p',
          { class: 'notice governance-missing' },
          `Ingestion is refused until every field is set. Missing: ${fieldNames(missing)}.`,
          curator ? ' Set them with “Edit governance” below.' : ' A curator sets them.',
        )
      : null,
    h('dl', { class: 'facts' }, rows.map(([k, x]) => [h('dt', null, k), h('dd', null, x)])),
  );
}

export function collectionPage(ctx: Ctx, [name]: string[]): HTMLElement {
  const alert = new Alert();
  const body = h('div', null, status());
  (body.firstChild as HTMLElement).textContent = 'Loading…';
  const collection = name!;
  // The governance form and ingestion stay in place (with what was typed and the progress)
  // while the counts and governance above them are refreshed.
  const edit = h('div');
  const ingest = h('div');
  let governance: Governance | null = null;
  let editor: GovernanceEditor | null = null;
  let ingestor: Ingestion | null = null;

  async function load(): Promise<void> {
    try {
      const d = await get<CollectionDetails>(`/collections/${encodeURIComponent(collection)}`);
      if (!ctx.live()) return;
      const c = d.collection;
      governance = d.governance;
      if (ctx.can('curator') && !editor) {
        editor = governanceEditor(ctx, collection, () => governance, load);
        replace(edit, editor.el);
        const ed = editor;
        ingestor = ingestion(ctx, collection, load, async () => {
          await load();
          return { missing: missingFields(governance), open: (m) => ed.open(m) };
        });
        replace(ingest, ingestor.el);
      }
      if (!missingFields(governance).length) ingestor?.governanceComplete();
      replace(
        body,
        h('p', { class: 'lede' }, c.description || 'No description.'),
        h(
          'dl',
          { class: 'counts' },
          [
            ['Images', c.images],
            ['Faces', c.faces],
            ['Templates', c.templates],
          ].map(([k, n]) => h('div', null, h('dt', null, String(k)), h('dd', null, String(n)))),
        ),
        h('p', { class: 'hint' }, `Created ${when(c.created_at)}.`),
        h('h2', null, 'Governance'),
        governanceList(d.governance, ctx.can('curator')),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(errorText(e, 'The collection could not be loaded.'));
    }
  }
  void load();
  return h(
    'section',
    null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/collections' }, 'Collections')),
    h('h1', null, `Collection ${collection}`),
    alert.el,
    body,
    edit,
    ingest,
  );
}

interface Ingestion {
  el: HTMLElement;
  /** The governance became complete: a refusal shown for it no longer holds. */
  governanceComplete: () => void;
}

/** What the ingestion needs to know of the governance when the server refuses it. */
type GovernanceCheck = () => Promise<{ missing: string[]; open: (missing: string[]) => void }>;

/** Ingestion as a job: uploads or server paths, then a progress bar polled every second. */
function ingestion(ctx: Ctx, collection: string, reload: () => Promise<void>, governance: GovernanceCheck): Ingestion {
  const alert = new Alert();
  /** Whether the alert shows a refusal for incomplete governance (cleared once it is complete). */
  let refusedForGovernance = false;

  /**
   * Shows why an ingestion was refused or failed. Incomplete governance (the server answers
   * 403 before queuing anything) leads to the form that completes it.
   */
  async function refused(message: string, maybeGovernance: boolean): Promise<void> {
    if (maybeGovernance) {
      try {
        const g = await governance();
        if (!ctx.live()) return;
        if (g.missing.length) {
          const complete = h('button', { type: 'button', class: 'secondary', onclick: () => g.open(g.missing) }, 'Complete the governance');
          alert.show(
            `Ingestion refused: the governance of this collection is incomplete (missing: ${fieldNames(g.missing)}). Complete it with “Edit governance” above, then ingest again. `,
            complete,
          );
          refusedForGovernance = true;
          return;
        }
      } catch {
        // Then the server's own message says what is wrong.
      }
    }
    if (ctx.live()) {
      alert.show(message);
      refusedForGovernance = false;
    }
  }
  const refusal = (err: unknown, fallback: string): Promise<void> =>
    refused(errorText(err, fallback), err instanceof ApiError && err.status === 403);
  const progress = h('progress', { max: 1, value: 0, id: uid('progress') });
  const progressLabel = h('label', { for: progress.id }, 'Ingestion progress');
  const progressText = status();
  const failedList = h('div', { class: 'failures' });
  const progressBox = h('div', { class: 'progress', hidden: true }, progressLabel, progress, progressText, failedList);
  const files = h('input', { type: 'file', multiple: true, accept: 'image/*,video/*,.zip,.tar,.tar.gz,.tgz' });
  const uploadButton = h('button', { type: 'submit' }, 'Upload and ingest');
  const paths = h('textarea', { rows: 3, placeholder: '/srv/photos/2026-archive', spellcheck: 'false' });
  const pathsButton = h('button', { type: 'submit' }, 'Ingest these paths');
  let polling = false;
  const recent = h('div', { class: 'table-wrap' });

  /** The collection's recent jobs; follows one still queued or running (e.g. after a reload). */
  async function jobs(): Promise<void> {
    try {
      const list = (await get<{ items: Job[] }>('/jobs?limit=50')).items.filter((j) => (j.kind ?? 'ingest') === 'ingest' && j.collection === collection).slice(0, 10);
      if (!ctx.live()) return;
      replace(
        recent,
        list.length
          ? h(
              'table',
              { class: 'data jobs' },
              h('caption', null, 'Recent ingestion jobs of this collection, newest first'),
              h('thead', null, h('tr', null, ['Job', 'State', 'Files', 'Faces', 'Asked by', 'Asked at', 'Outcome'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                null,
                list.map((j) =>
                  h(
                    'tr',
                    null,
                    h('td', { class: 'num' }, String(j.id)),
                    h('td', null, j.state),
                    h('td', { class: 'num' }, j.total === null ? String(j.done) : `${j.done} / ${j.total}`),
                    h('td', { class: 'num' }, String(j.report?.faces ?? j.faces)),
                    h('td', null, j.requested_by ?? ''),
                    h('td', null, when(j.created_at)),
                    h('td', null, j.error ?? (j.report ? `${j.report.ingested ?? 0} new, ${j.report.duplicates ?? 0} already held, ${j.report.failed?.length ?? 0} failed` : '—')),
                  ),
                ),
              ),
            )
          : null,
      );
      const active = list.find((j) => j.state === 'queued' || j.state === 'running');
      if (active && !polling) void follow(active);
    } catch {
      // The list is a convenience: the forms work without it.
    }
  }

  function show(job: Job): void {
    progressBox.hidden = false;
    if (job.total === null) {
      // Not listed yet: an indeterminate bar.
      progress.removeAttribute('value');
    } else {
      progress.max = Math.max(1, job.total);
      progress.value = job.state === 'done' ? progress.max : job.done;
    }
    const r = job.report;
    const failures = r?.failed ?? [];
    const files = job.total === null ? 'files being listed' : `${job.done} of ${count(job.total, 'file')}`;
    let text: string;
    if (job.state === 'queued') text = `Job ${job.id} waiting to start.`;
    else if (job.state === 'running') text = `Ingesting: ${files}, ${count(job.faces, 'face')} found so far.`;
    else if (job.state === 'done') {
      const refused = r?.erased_on_request ?? 0;
      text = `Done: ${count(r?.files ?? job.total ?? job.done, 'file')}, ${r?.ingested ?? 0} new, ${r?.duplicates ?? 0} already held, ${count(r?.faces ?? job.faces, 'face')} stored, ${refused ? `${refused} refused (erased on request), ` : ''}${failures.length - refused} failed.`;
    } else text = `Failed: ${job.error ?? 'no reason given'}.`;
    progressText.textContent = text;
    // The message names the file first ("<file>: why"): the file is shown apart, the reason after it.
    const why = (f: { uri: string; message: string }): string =>
      f.message.startsWith(`${f.uri}: `) ? f.message.slice(f.uri.length + 2) : f.message;
    replace(
      failedList,
      failures.length
        ? [
            h('p', null, 'Files not ingested (the others were):'),
            h(
              'ul',
              { class: 'failed-files' },
              failures.map((f) =>
                h('li', { 'data-code': f.code }, h('span', { class: 'path' }, f.uri), f.code === 'erased_on_request' ? ' — refused: ' : ' — ', why(f)),
              ),
            ),
          ]
        : null,
    );
  }

  async function follow(job: Job): Promise<void> {
    polling = true;
    uploadButton.disabled = pathsButton.disabled = true;
    show(job);
    try {
      let current = job;
      while (current.state === 'queued' || current.state === 'running') {
        await new Promise((r) => setTimeout(r, 1000));
        if (!ctx.live()) return;
        current = await get<Job>(`/jobs/${encodeURIComponent(String(job.id))}`);
        if (!ctx.live()) return;
        show(current);
      }
      if (current.state === 'failed') await refused(`The ingestion failed${current.error ? `: ${current.error}` : '.'}`, true);
      else await reload();
      await jobs();
    } catch (e) {
      if (ctx.live()) alert.show(errorText(e, 'The progress of the ingestion could not be read.'));
    } finally {
      polling = false;
      uploadButton.disabled = pathsButton.disabled = false;
    }
  }

  const uploadForm = h('form', { class: 'card' }, h('h3', null, 'Upload files'), field('Photos, videos or archives', files), h('div', { class: 'actions' }, uploadButton));
  uploadForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.clear();
    if (polling) return;
    const chosen = [...(files.files ?? [])];
    if (!chosen.length) {
      alert.show('Choose at least one file to upload.');
      files.focus();
      return;
    }
    const body = new FormData();
    for (const f of chosen) body.append('file', f, f.name);
    uploadButton.disabled = true;
    try {
      const job = await post<Job>(`/collections/${encodeURIComponent(collection)}/uploads`, body);
      files.value = '';
      await follow(job);
    } catch (err) {
      uploadButton.disabled = false;
      await refusal(err, 'The upload failed.');
    }
  });

  const pathsForm = h(
    'form',
    { class: 'card' },
    h('h3', null, 'Ingest files on the server'),
    field('Paths on the server', paths, 'One folder, file or archive per line, as the server sees them.'),
    h('div', { class: 'actions' }, pathsButton),
  );
  pathsForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.clear();
    if (polling) return;
    const list = paths.value.split('\n').map((p) => p.trim()).filter(Boolean);
    if (!list.length) {
      alert.show('Give at least one path.');
      paths.focus();
      return;
    }
    pathsButton.disabled = true;
    try {
      const job = await post<Job>('/jobs', { collection, paths: list });
      await follow(job);
    } catch (err) {
      pathsButton.disabled = false;
      await refusal(err, 'The ingestion could not start.');
    }
  });

  void jobs();
  const el = h(
    'section',
    { class: 'ingest', 'aria-labelledby': 'ingest-title' },
    h('h2', { id: 'ingest-title' }, 'Ingestion'),
    alert.el,
    progressBox,
    h('div', { class: 'cols' }, uploadForm, pathsForm),
    recent,
  );
  return {
    el,
    governanceComplete: () => {
      if (refusedForGovernance) alert.clear();
      refusedForGovernance = false;
    },
  };
}
