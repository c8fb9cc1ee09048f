// #/collections: the collections with their counts; a curator creates one with its
// governance fields. #/collections/{name}: its governance (a curator edits it; turning the
// grouping by person off, which erases the groups, is confirmed first), counts, a link to its
// people where grouping is on, and ingestion with progress.

import { ApiError, get, post, put, vocabulary, type CollectionDetails, type CollectionSummary, type Governance, type GovernanceSaved, type Job, type JobState, type Retention, type Term, errorText, fieldOf } from '../api';
import { PEOPLE_ROLES, allowed, type Ctx } from '../app';
import { Alert, field, h, replace, status, uid, type Child, markInvalid, clearInvalid } from '../dom';
import { dateTime, day, m, num, plural } from '../i18n';

/** A governance list's options as [code, words], in the order the server gives and the
 * language in use (a code without words in the catalogue shows as itself). */
function options(terms: Term[], words: Record<string, string>): [string, string][] {
  return terms.map((t) => [t.code, words[t.code] ?? t.code]);
}
const categories = (): [string, string][] => options(vocabulary().purpose_categories, m().collections.categories);
const bases = (): [string, string][] => options(vocabulary().legal_bases, m().collections.bases);
const conditions = (): [string, string][] => options(vocabulary().conditions, m().collections.conditions);

function label(opts: [string, string][], value: string | null | undefined): string {
  if (!value) return m().collections.notSet;
  return opts.find(([v]) => v === value)?.[1] ?? value;
}

function select(name: string, opts: [string, string][]): HTMLSelectElement {
  return h('select', { name }, h('option', { value: '' }, m().collections.notSetYet), opts.map(([v, l]) => h('option', { value: v }, l)));
}

function fieldNames(missing: string[]): string {
  const names: Record<string, string> = m().collections.fieldNames;
  return [...new Set(missing.map((f) => names[f] ?? f))].join(', ');
}

/** A retention as a person reads it ("365 days after ingestion", "until 31 Dec 2030"), in the user's language. */
export function retentionText(r: Retention | null | undefined): string {
  const t = m().collections;
  if (!r) return t.notSet;
  return 'days' in r ? t.retentionDays(r.days, num(r.days)) : t.retentionUntil(day(r.until));
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
  const t = m().collections;
  const controller = h('input', { name: 'controller', autocomplete: 'organization' });
  const contact = h('input', { name: 'controller_contact', autocomplete: 'email' });
  const purpose = h('textarea', { name: 'purpose', rows: 2 });
  const category = select('purpose_category', categories());
  const basis = select('legal_basis', bases());
  const condition = select('condition', conditions());
  const jurisdictions = h('input', { name: 'jurisdictions', placeholder: t.jurisdictionsPlaceholder, autocomplete: 'off' });
  const retention = h('input', { name: 'retention_days', type: 'number', min: 1, inputmode: 'numeric' });
  const until = h('input', { name: 'retention_until', type: 'date' });
  const dpia = h('input', { name: 'dpia', autocomplete: 'off' });
  const grouping = h('input', { name: 'grouping', type: 'checkbox', id: uid('grouping') });
  const text = (el: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement): string | null => el.value.trim() || null;
  return {
    fields: [
      field(t.controller, controller),
      field(t.controllerContact, contact),
      field(t.purpose, purpose),
      field(t.purposeCategory, category),
      field(t.legalBasisField, basis),
      field(t.conditionField, condition),
      field(t.jurisdictions, jurisdictions, t.jurisdictionsHint),
      field(t.retentionDaysField, retention),
      field(t.retentionUntilField, until, t.retentionUntilHint),
      field(t.dpiaField, dpia),
      checkField(t.groupingField, grouping, t.groupingHint),
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
      'retention-until': until,
      dpia,
      grouping,
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
      grouping.checked = g?.grouping ?? false;
    },
    read: () => {
      if (retention.value && until.value) return m().collections.retentionBoth;
      const days = Number(retention.value);
      if (retention.value && !(Number.isInteger(days) && days >= 1)) return m().collections.retentionWhole;
      return {
        controller: text(controller),
        controller_contact: text(contact),
        purpose: text(purpose),
        // The selects offer the vocabulary's codes only.
        purpose_category: text(category) as Governance['purpose_category'],
        legal_basis: text(basis) as Governance['legal_basis'],
        condition: text(condition) as Governance['condition'],
        jurisdictions: jurisdictions.value.split(/[,\s]+/).map((j) => j.trim().toUpperCase()).filter(Boolean),
        retention: retention.value ? { days } : until.value ? { until: until.value } : null,
        dpia: text(dpia),
        grouping: grouping.checked,
      };
    },
  };
}

/** A checkbox with its label beside it, and a hint (linked by aria-describedby). */
function checkField(label: string, control: HTMLInputElement, hint: string): HTMLElement {
  const hintId = `${control.id}-hint`;
  control.setAttribute('aria-describedby', hintId);
  return h(
    'div',
    { class: 'field check-field' },
    h('div', { class: 'check' }, control, h('label', { for: control.id }, label)),
    h('p', { class: 'hint', id: hintId }, hint),
  );
}

export function collectionsPage(ctx: Ctx): HTMLElement {
  const t = m().collections;
  const alert = new Alert();
  const loading = status();
  loading.textContent = t.loadingList;
  const table = h('div', { class: 'table-wrap' }, loading);

  async function load(): Promise<void> {
    try {
      const list = await get<CollectionSummary[]>('/collections');
      if (!ctx.live()) return;
      const t = m().collections;
      replace(
        table,
        list.length === 0
          ? h('p', null, t.noneYet)
          : h(
              'table',
              { class: 'data' },
              h('caption', null, plural(list.length, t.collectionOne, t.collectionMany)),
              h(
                'thead',
                null,
                h('tr', null, [t.cols.name, t.cols.description, t.cols.images, t.cols.faces, t.cols.templates, t.cols.created].map((c) => h('th', { scope: 'col' }, c))),
              ),
              h(
                'tbody',
                null,
                list.map((c) =>
                  h(
                    'tr',
                    null,
                    h('th', { scope: 'row' }, h('a', { href: `#/collections/${encodeURIComponent(c.name)}` }, c.name)),
                    h('td', null, c.description || '—'),
                    h('td', { class: 'num' }, num(c.images)),
                    h('td', { class: 'num' }, num(c.faces)),
                    h('td', { class: 'num' }, num(c.templates)),
                    h('td', null, dateTime(c.created_at)),
                  ),
                ),
              ),
            ),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(table);
      alert.show(errorText(e, m().collections.listFailed));
    }
  }
  void load();

  return h('section', null, h('h1', null, t.title), alert.el, table, ctx.can('curator') ? createForm(ctx) : null);
}

function createForm(ctx: Ctx): HTMLElement {
  const t = m().collections;
  const alert = new Alert();
  const done = status();
  const name = h('input', { name: 'name', required: true, maxlength: 200, autocomplete: 'off' });
  const description = h('input', { name: 'description', autocomplete: 'off' });
  const inputs = governanceInputs();
  const submit = h('button', { type: 'submit' }, t.create);
  const form = h(
    'form',
    { class: 'card' },
    h('h2', null, t.newCollection),
    h('p', { class: 'hint' }, t.newHint),
    h('div', { class: 'cols' }, field(t.name, name, t.nameHint), field(t.description, description), inputs.fields),
    h('div', { class: 'actions' }, submit),
    alert.el,
    done,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = m().collections;
    alert.clear();
    clearInvalid(form);
    done.textContent = '';
    if (!name.value.trim()) {
      alert.show(t.needName);
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
      done.textContent = r.missing.length ? t.createdMissing(r.name, fieldNames(r.missing)) : t.createdReady(r.name);
      ctx.go(`#/collections/${encodeURIComponent(r.name)}`);
    } catch (err) {
      alert.show(errorText(err, t.createFailed));
      markInvalid(form, alert, fieldOf(err), inputs.byFlag);
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
  const t = m().collections;
  const alert = new Alert();
  const saved = status();
  saved.classList.add('saved');
  const inputs = governanceInputs();
  const formId = uid('governance-form');
  const titleId = uid('governance-title');
  const toggle = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': formId }, t.edit);
  const submit = h('button', { type: 'submit' }, t.save);
  const cancel = h('button', { type: 'button', class: 'secondary' }, m().common.close);
  const form = h(
    'form',
    { class: 'card governance-edit', id: formId, 'aria-labelledby': titleId, hidden: true },
    h('h3', { id: titleId, tabindex: '-1' }, t.edit),
    h('p', { class: 'hint' }, t.editHint),
    h('div', { class: 'cols' }, inputs.fields),
    h('div', { class: 'actions' }, submit, cancel),
    alert.el,
    saved,
  );
  /** Whether the curator confirmed that turning the grouping off erases the groups. */
  let offConfirmed = false;
  const open = (missing: string[] = []): void => {
    alert.clear();
    if (form.hidden) {
      inputs.fill(current());
      saved.textContent = '';
      alert.clear();
      clearInvalid(form);
    }
    form.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
    const first = missing.map((f) => inputs.byFlag[f]).find(Boolean);
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
    const t = m().collections;
    alert.clear();
    clearInvalid(form);
    saved.textContent = '';
    const governance = inputs.read();
    if (typeof governance === 'string') {
      alert.show(governance);
      return;
    }
    // Turning the grouping off erases every group, name and correction: asked once more.
    if (current()?.grouping && !governance.grouping && !offConfirmed) {
      const yes = h('button', { type: 'button', class: 'danger' }, t.groupingOffYes);
      yes.addEventListener('click', () => {
        offConfirmed = true;
        form.requestSubmit();
      });
      alert.show(t.groupingOffConfirm, ' ', yes);
      yes.focus();
      return;
    }
    offConfirmed = false;
    submit.disabled = true;
    try {
      const r = await put<GovernanceSaved>(`/collections/${encodeURIComponent(collection)}/governance`, governance);
      if (!ctx.live()) return;
      saved.classList.toggle('incomplete', r.missing.length > 0);
      saved.textContent = r.missing.length ? t.savedMissing(fieldNames(r.missing)) : t.savedComplete;
      await reload();
    } catch (err) {
      if (!ctx.live()) return;
      alert.show(errorText(err, t.saveFailed));
      markInvalid(form, alert, fieldOf(err), inputs.byFlag);
    } finally {
      submit.disabled = false;
    }
  });
  return { el: h('div', { class: 'governance-editor' }, h('div', { class: 'actions' }, toggle), form), open };
}

function governanceList(g: Governance | null, curator: boolean): HTMLElement {
  const t = m().collections;
  const v = (x: string | null | undefined): string => (x && x.trim() ? x : t.notSet);
  const rows: [string, Child][] = [
    [t.controller, v(g?.controller)],
    [t.controllerContact, v(g?.controller_contact)],
    [t.purpose, v(g?.purpose)],
    [t.purposeCategory, label(categories(), g?.purpose_category)],
    [t.legalBasis, label(bases(), g?.legal_basis)],
    [t.condition, label(conditions(), g?.condition)],
    [t.jurisdictions, g?.jurisdictions?.length ? g.jurisdictions.join(', ') : t.notSet],
    [t.retention, h('span', { class: 'retention' }, retentionText(g?.retention))],
    [t.dpia, v(g?.dpia)],
    [t.grouping, h('span', { class: 'grouping' }, g?.grouping ? t.groupingOn : t.groupingOff)],
  ];
  const missing = missingFields(g);
  return h(
    'div',
    null,
    missing.length
      ? h('p', { class: 'notice governance-missing' }, t.missingNotice(fieldNames(missing)), curator ? t.missingCurator : t.missingOthers)
      : null,
    h('dl', { class: 'facts' }, rows.map(([k, x]) => [h('dt', null, k), h('dd', null, x)])),
  );
}

export function collectionPage(ctx: Ctx, [name]: string[]): HTMLElement {
  const t = m().collections;
  const alert = new Alert();
  const loading = status();
  loading.textContent = m().common.loading;
  const body = h('div', null, loading);
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
      const t = m().collections;
      const c = d.collection;
      governance = d.governance;
      if (ctx.can('curator') && !editor) {
        editor = governanceEditor(ctx, collection, () => governance, load);
        replace(edit, editor.el);
        const ed = editor;
        ingestor = ingestion(ctx, collection, load, async () => {
          await load();
          return { missing: missingFields(governance), open: (f) => ed.open(f) };
        });
        replace(ingest, ingestor.el);
      }
      if (!missingFields(governance).length) ingestor?.governanceComplete();
      replace(
        body,
        h('p', { class: 'lede' }, c.description || t.noDescription),
        h(
          'dl',
          { class: 'counts' },
          [
            [t.cols.images, c.images],
            [t.cols.faces, c.faces],
            [t.cols.templates, c.templates],
          ].map(([k, n]) => h('div', null, h('dt', null, String(k)), h('dd', null, num(Number(n))))),
        ),
        h('p', { class: 'hint created' }, t.createdAt(dateTime(c.created_at))),
        h('p', { class: 'hint pack' }, t.madeWith(c.pack)),
        governance?.grouping && allowed(ctx.me, PEOPLE_ROLES)
          ? h('p', { class: 'people-link' }, h('a', { href: `#/collections/${encodeURIComponent(collection)}/people` }, t.people))
          : null,
        h('h2', null, t.governance),
        governanceList(d.governance, ctx.can('curator')),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(errorText(e, m().collections.loadFailed));
    }
  }
  void load();
  return h(
    'section',
    null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/collections' }, t.title)),
    h('h1', null, t.collectionTitle(collection)),
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

/**
 * Ingestion as a job: uploads or server paths (under the roots the server allows, if any),
 * then a progress bar polled every second. Each new ingestion starts from a clean slate: the
 * previous job's progress, result and failures go, so that what follows is the new job's own.
 */
function ingestion(ctx: Ctx, collection: string, reload: () => Promise<void>, governance: GovernanceCheck): Ingestion {
  const t = m().collections;
  const alert = new Alert();
  /** Whether the alert shows a refusal for incomplete governance (cleared once it is complete). */
  let refusedForGovernance = false;
  /** The folders the server lets curators ingest from by path (none: uploads only). */
  const roots = ctx.me.ingest_roots ?? [];

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
          const t = m().collections;
          const complete = h('button', { type: 'button', class: 'secondary', onclick: () => g.open(g.missing) }, t.completeGovernance);
          alert.show(t.refusedGovernance(fieldNames(g.missing)), complete);
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
  const progressLabel = h('label', { for: progress.id }, t.progress);
  const progressText = status();
  const failedList = h('div', { class: 'failures' });
  const progressBox = h('div', { class: 'progress', hidden: true }, progressLabel, progress, progressText, failedList);
  const files = h('input', { type: 'file', multiple: true, accept: 'image/*,video/*' });
  const uploadButton = h('button', { type: 'submit' }, t.upload);
  const paths = h('textarea', { rows: 3, placeholder: roots[0] ?? null, spellcheck: 'false', disabled: roots.length === 0 });
  const pathsButton = h('button', { type: 'submit', disabled: roots.length === 0 }, t.ingestPaths);
  let polling = false;
  const recent = h('div', { class: 'table-wrap' });
  /** The buttons back in use (ingestion by path only where the server allows it). */
  const ready = (): void => {
    uploadButton.disabled = false;
    pathsButton.disabled = roots.length === 0;
  };

  /** Forgets what the previous job showed: its progress, result, failures and refusal. */
  function clearPrevious(): void {
    alert.clear();
    refusedForGovernance = false;
    progressBox.hidden = true;
    progress.max = 1;
    progress.value = 0;
    progressText.textContent = '';
    replace(failedList);
  }

  /** The collection's recent jobs; follows one still queued or running (e.g. after a reload). */
  async function jobs(): Promise<void> {
    try {
      const list = (await get<{ items: Job[] }>('/jobs?limit=50')).items.filter((j) => (j.kind ?? 'ingest') === 'ingest' && j.collection === collection).slice(0, 10);
      if (!ctx.live()) return;
      const t = m().collections;
      const c = t.jobCols;
      replace(
        recent,
        list.length
          ? h(
              'table',
              { class: 'data jobs' },
              h('caption', null, t.recent),
              h('thead', null, h('tr', null, [c.job, c.state, c.files, c.faces, c.by, c.at, c.outcome].map((x) => h('th', { scope: 'col' }, x)))),
              h(
                'tbody',
                null,
                list.map((j) =>
                  h(
                    'tr',
                    { 'data-job': j.id },
                    h('td', { class: 'num' }, j.part ? `${j.id} (${t.part(j.part.index, j.part.of)})` : String(j.id)),
                    h('td', { class: 'state' }, t.states[j.state as JobState]),
                    h('td', { class: 'num' }, j.total == null ? num(j.done) : `${num(j.done)} / ${num(j.total)}`),
                    h('td', { class: 'num' }, num(j.report?.faces ?? j.faces)),
                    h('td', null, j.requested_by ?? ''),
                    h('td', null, dateTime(j.created_at)),
                    h(
                      'td',
                      { class: 'outcome' },
                      j.error ??
                        (j.report ? t.outcome(num(j.report.ingested ?? 0), num(j.report.duplicates ?? 0), num(j.report.failed?.length ?? 0)) : '—'),
                    ),
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
    const t = m().collections;
    progressBox.hidden = false;
    if (job.total == null) {
      // Not listed yet: an indeterminate bar.
      progress.removeAttribute('value');
    } else {
      progress.max = Math.max(1, job.total);
      progress.value = job.state === 'done' ? progress.max : job.done;
    }
    const r = job.report;
    const failures = r?.failed ?? [];
    const fileCount = (n: number): string => plural(n, t.fileOne, t.fileMany);
    const filesText = job.total == null ? t.listing : t.filesOf(num(job.done), fileCount(job.total));
    let text: string;
    if (job.state === 'queued') text = t.queued(String(job.id));
    else if (job.state === 'running') text = t.running(filesText, job.faces, num(job.faces));
    else if (job.state === 'done') {
      const refusedCount = r?.erased_on_request ?? 0;
      const faces = r?.faces ?? job.faces;
      text = t.done(
        fileCount(r?.files ?? job.total ?? job.done),
        num(r?.ingested ?? 0),
        num(r?.duplicates ?? 0),
        t.facesStored(faces, num(faces)),
        refusedCount ? num(refusedCount) : null,
        num(failures.length - refusedCount),
      );
      // The people grouping that follows an ingestion where the collection groups faces.
      const grouping = r?.grouping;
      if (grouping && 'not_run' in grouping) text += ` ${t.peopleNotRun(grouping.not_run)}`;
      else if (grouping) {
        const p = m().people;
        text += ` ${t.peopleGrouped(
          plural(grouping.faces, p.faceOne, p.faceMany),
          plural(grouping.persons, p.personOne, p.personMany),
          num(grouping.new_persons),
        )}`;
      }
    } else text = t.failedLine(job.error ?? t.noReason);
    progressText.textContent = text;
    // The message names the file first ("<file>: why"): the file is shown apart, the reason after it.
    const why = (f: { uri: string; message: string }): string =>
      f.message.startsWith(`${f.uri}: `) ? f.message.slice(f.uri.length + 2) : f.message;
    replace(
      failedList,
      failures.length
        ? [
            h('p', null, t.notIngested),
            h(
              'ul',
              { class: 'failed-files' },
              failures.map((f) =>
                h('li', { 'data-code': f.code }, h('span', { class: 'path' }, f.uri), f.code === 'erased_on_request' ? t.refusedFile : ' — ', why(f)),
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
      if (current.state === 'failed') {
        // The failure shows alone, in the alert (the bar would only repeat it).
        progressBox.hidden = true;
        await refused(m().collections.ingestionFailed(current.error ?? null), true);
      } else await reload();
      await jobs();
    } catch (e) {
      if (ctx.live()) alert.show(errorText(e, m().collections.progressUnreadable));
    } finally {
      polling = false;
      ready();
    }
  }

  const uploadForm = h(
    'form',
    { class: 'card' },
    h('h3', null, t.uploadTitle),
    field(t.files, files, t.filesHint),
    h('div', { class: 'actions' }, uploadButton),
  );
  uploadForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (polling) return;
    clearPrevious();
    const chosen = [...(files.files ?? [])];
    if (!chosen.length) {
      alert.show(m().collections.chooseFile);
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
      ready();
      await refusal(err, m().collections.uploadFailed);
    }
  });

  const pathsForm = h(
    'form',
    { class: 'card paths' },
    h('h3', null, t.pathsTitle),
    field(t.paths, paths, roots.length ? `${t.pathsHint} ${t.roots(roots.join(', '))}` : t.noRoots),
    h('div', { class: 'actions' }, pathsButton),
  );
  pathsForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (polling || roots.length === 0) return;
    clearPrevious();
    const list = paths.value.split('\n').map((p) => p.trim()).filter(Boolean);
    if (!list.length) {
      alert.show(m().collections.givePath);
      paths.focus();
      return;
    }
    pathsButton.disabled = true;
    try {
      const job = await post<Job>('/jobs', { collection, paths: list });
      await follow(job);
    } catch (err) {
      ready();
      await refusal(err, m().collections.startFailed);
    }
  });

  void jobs();
  const el = h(
    'section',
    { class: 'ingest', 'aria-labelledby': 'ingest-title' },
    h('h2', { id: 'ingest-title' }, t.ingestion),
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
