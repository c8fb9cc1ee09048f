// #/collections/{name}/people: a collection's faces grouped by person (where its governance
// has grouping on; curators, investigators granted the collection and the DPO), each person
// with a face, its name and counts; a grouping run as a job, with its progress and report.
// #/people/{id}: one person's faces, its name, and the corrections: not this person, move a
// face to another person, split faces off, merge another person in. A person's name is
// personal data: it never goes in a URL, the page's title or the console.

import { ApiError, del, get, post, put, type CollectionSummary, type GroupJob, type Job, type PersonId, type PeoplePage, type PersonRecord, type PersonView, errorText, fieldOf } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status, uid, type Child, markInvalid, clearInvalid } from '../dom';
import { m, num, plural } from '../i18n';

/** How often a running grouping is polled. */
const POLL_MS = 1000;

const facesText = (n: number): string => plural(n, m().people.faceOne, m().people.faceMany);
const personsText = (n: number): string => plural(n, m().people.personOne, m().people.personMany);
const cropUrl = (face: number): string => `/api/v1/faces/${encodeURIComponent(String(face))}/crop`;
const collectionHash = (collection: string): string => `#/collections/${encodeURIComponent(collection)}`;
const peopleHash = (collection: string): string => `${collectionHash(collection)}/people`;
const personHash = (id: number): string => `#/people/${encodeURIComponent(String(id))}`;
/** Persons per page of the list. */
const PAGE = 100;
const running = (j: Job<unknown>): boolean => j.state === 'queued' || j.state === 'running';

/** "Collections › Collection press › People of press" (the last two once known). */
function crumbs(collection: string | null, people: boolean): Child[] {
  const c = m().collections;
  return [
    h('a', { href: '#/collections' }, c.title),
    collection ? [' › ', h('a', { href: collectionHash(collection) }, c.collectionTitle(collection))] : null,
    collection && people ? [' › ', h('a', { href: peopleHash(collection) }, m().people.title(collection))] : null,
  ];
}

export function peoplePage(ctx: Ctx, [name]: string[]): HTMLElement {
  const t = m().people;
  const collection = name!;
  const alert = new Alert();
  const loading = status();
  loading.textContent = t.loadingList;
  const list = h('div', { class: 'people-list' }, loading);

  function card(p: PersonRecord): HTMLElement {
    const t = m().people;
    return h(
      'li',
      { class: 'person-card', 'data-person': p.id },
      h('img', { class: 'crop', src: cropUrl(p.cover_face), alt: t.coverAlt(p.id), width: 160, height: 160 }),
      h('h3', null, h('a', { class: 'person-name', href: personHash(p.id) }, p.label ?? t.unnamed)),
      h('p', { class: 'meta' }, t.personTitle(p.id)),
      h('p', { class: 'person-counts' }, h('span', { class: 'faces' }, facesText(p.faces)), ', ', h('span', { class: 'confirmed' }, t.confirmed(num(p.confirmed)))),
    );
  }

  // Only the named persons, when asked (the box is in the search form below).
  const namedOnly = h('input', { name: 'named', type: 'checkbox', id: uid('named') });
  /** The cards of `persons`, under the count heading (`#people-count`). */
  const personGrid = (persons: PersonRecord[]): HTMLElement =>
    h('ul', { class: 'grid people', 'aria-labelledby': 'people-count' }, persons.map(card));
  const peopleUrl = (offset: number, limit: number): string =>
    `/collections/${encodeURIComponent(collection)}/people?offset=${offset}&limit=${limit}&named=${namedOnly.checked}`;

  async function load(): Promise<void> {
    try {
      const first = await get<PeoplePage>(peopleUrl(0, PAGE));
      if (!ctx.live()) return;
      alert.clear();
      groupCard.hidden = false;
      findForm.hidden = false;
      if (first.items.length === 0) {
        replace(list, h('p', { class: 'none' }, namedOnly.checked ? m().people.noneNamed : m().people.noneYet));
        return;
      }
      // The persons a page at a time: a large collection has hundreds of thousands.
      const grid = personGrid(first.items);
      const shown = h('p', { class: 'meta', id: 'people-shown' });
      const more = h('button', { type: 'button', class: 'more' });
      let count = first.items.length;
      const update = (): void => {
        shown.textContent = m().people.shownOf(num(count), num(first.total));
        const next = Math.min(PAGE, first.total - count);
        more.textContent = m().people.showMore(num(next));
        more.hidden = next <= 0;
      };
      more.addEventListener('click', async () => {
        more.disabled = true;
        try {
          const page = await get<PeoplePage>(peopleUrl(count, PAGE));
          if (!ctx.live()) return;
          grid.append(...page.items.map(card));
          count += page.items.length;
          update();
        } catch (e) {
          if (ctx.live()) alert.show(errorText(e, m().people.listFailed));
        } finally {
          more.disabled = false;
        }
      });
      update();
      replace(list, [h('h2', { id: 'people-count' }, personsText(first.total)), shown, grid, more]);
    } catch (e) {
      if (!ctx.live()) return;
      replace(list);
      // Grouping off (or the collection out of reach): nothing to group either.
      groupCard.hidden = true;
      findForm.hidden = true;
      alert.show(errorText(e, m().people.listFailed));
    }
  }

  // A grouping run: a job, its bar while it runs, then its report.
  const groupAlert = new Alert();
  const outcome = status();
  const progress = h('progress', { max: 1, value: 0, id: uid('progress') });
  const progressBox = h('div', { class: 'progress', hidden: true }, h('label', { for: progress.id }, t.progress), progress);
  const groupButton = h('button', { type: 'button' }, t.groupNow);
  let polling = false;

  function show(job: GroupJob): void {
    const t = m().people;
    progressBox.hidden = false;
    const total = job.total ?? 0;
    if (job.state === 'done') {
      progress.max = 1;
      progress.value = 1;
      const r = job.report;
      outcome.textContent = r
        ? t.done(facesText(r.faces), personsText(r.persons), num(r.new_persons)) + (r.refused ? t.refused(num(r.refused)) : '')
        : t.done(facesText(job.done), personsText(0), num(0));
    } else if (job.state === 'running' && total > 0) {
      progress.max = total;
      progress.value = job.done;
      outcome.textContent = t.running(num(job.done), num(total));
    } else {
      // Queued, or the faces to compare not listed yet: an indeterminate bar.
      progress.removeAttribute('value');
      outcome.textContent = job.state === 'queued' ? t.queued(String(job.id)) : t.starting;
    }
  }

  async function follow(job: GroupJob): Promise<void> {
    polling = true;
    groupButton.disabled = true;
    show(job);
    try {
      let current = job;
      while (running(current)) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if (!ctx.live()) return;
        current = await get<GroupJob>(`/jobs/${encodeURIComponent(String(job.id))}`);
        if (!ctx.live()) return;
        show(current);
      }
      if (current.state === 'failed') {
        // The failure shows alone, in the alert.
        progressBox.hidden = true;
        outcome.textContent = '';
        groupAlert.show(m().people.failed(current.error ?? m().people.noReason));
      }
      await load();
    } catch (e) {
      if (ctx.live()) groupAlert.show(errorText(e, m().people.progressUnreadable));
    } finally {
      polling = false;
      groupButton.disabled = false;
    }
  }

  groupButton.addEventListener('click', async () => {
    if (polling) return;
    groupAlert.clear();
    outcome.textContent = '';
    groupButton.disabled = true;
    try {
      const job = await post<GroupJob>(`/collections/${encodeURIComponent(collection)}/people/jobs`);
      if (!ctx.live()) return;
      await follow(job);
    } catch (e) {
      groupButton.disabled = false;
      if (ctx.live()) groupAlert.show(errorText(e, m().people.startFailed));
    }
  });

  /** Follows a grouping of this collection the user started and is still running (e.g. after a reload). */
  async function resume(): Promise<void> {
    try {
      const jobs = (await get<{ items: GroupJob[] }>('/jobs?limit=50')).items;
      const active = jobs.find((j) => j.kind === 'group' && j.collection === collection && running(j));
      if (active && ctx.live() && !polling) await follow(active);
    } catch {
      // The button works without it.
    }
  }

  const groupCard = h(
    'section',
    { class: 'card grouping', 'aria-labelledby': 'grouping-title' },
    h('h2', { id: 'grouping-title' }, t.grouping),
    h('p', { class: 'hint' }, t.groupHint),
    h('div', { class: 'actions' }, groupButton),
    progressBox,
    outcome,
    groupAlert.el,
  );
  // Finding named persons by a part of their name (sent in a request body, never in the
  // address; letter case and accents aside).
  const findAlert = new Alert();
  const nameInput = h('input', { name: 'name', type: 'search', autocomplete: 'off', maxlength: 200 });
  const findForm = h(
    'form',
    { class: 'find-person', role: 'search', hidden: true },
    field(t.findLabel, nameInput, t.findHint),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t.find)),
    h('p', { class: 'check' }, namedOnly, ' ', h('label', { for: namedOnly.id }, t.namedOnly)),
    findAlert.el,
  );
  namedOnly.addEventListener('change', () => {
    nameInput.value = '';
    findAlert.clear();
    void load();
  });
  findForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    findAlert.clear();
    clearInvalid(findForm);
    const text = nameInput.value.trim();
    if (!text) {
      await load();
      return;
    }
    try {
      const found = await post<PeoplePage>(`/collections/${encodeURIComponent(collection)}/people/search`, { name: text, limit: 1000 });
      if (!ctx.live()) return;
      const everyone = h('button', { type: 'button', class: 'show-everyone' }, m().people.showEveryone);
      everyone.addEventListener('click', () => {
        nameInput.value = '';
        void load();
      });
      replace(
        list,
        h('h2', { id: 'people-count' }, m().people.foundByName(personsText(found.total))),
        found.items.length ? personGrid(found.items) : null,
        h('div', { class: 'actions' }, everyone),
      );
    } catch (err) {
      if (!ctx.live()) return;
      findAlert.show(errorText(err, m().people.listFailed));
      markInvalid(findForm, findAlert, fieldOf(err));
    }
  });

  void load().then(resume);
  return h(
    'section',
    { class: 'people' },
    h('p', { class: 'crumbs' }, crumbs(collection, false)),
    h('h1', null, t.title(collection)),
    h('p', { class: 'lede' }, t.lede),
    h('p', { class: 'hint' }, t.namesArePersonal),
    alert.el,
    groupCard,
    findForm,
    list,
  );
}

export function personPage(ctx: Ctx, [id]: string[]): HTMLElement {
  const t = m().people;
  const personId = Number(id);
  const alert = new Alert();
  /** The outcome of the last change (success), or why it was refused. */
  const done = status();
  const refused = new Alert();
  const loading = status();
  loading.textContent = m().common.loading;
  const body = h('div', null, loading);
  const trail = h('p', { class: 'crumbs' }, crumbs(null, false));
  let collection: string | null = null;
  let shown = false;
  let working = false;

  async function load(): Promise<void> {
    try {
      const p = await get<PersonView>(`/people/${encodeURIComponent(String(personId))}`);
      if (!ctx.live()) return;
      collection ??= (await get<CollectionSummary[]>('/collections')).find((c) => c.id === p.collection_id)?.name ?? null;
      let others: PersonRecord[] | null = [];
      if (collection) {
        try {
          // The persons with the most faces (a page of the largest size) to move to or merge with.
          const page = await get<PeoplePage>(`/collections/${encodeURIComponent(collection)}/people?limit=1000`);
          others = page.items.filter((o) => o.id !== p.id);
        } catch {
          others = null;
        }
      }
      if (!ctx.live()) return;
      alert.clear();
      replace(trail, crumbs(collection, true));
      render(p, others);
      shown = true;
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      const t = m().people;
      // After a change took its last face, the person is gone: say so, not "not found".
      const gone = shown && e instanceof ApiError && e.status === 404;
      alert.show(gone ? t.gone : errorText(e, t.loadFailed), collection ? [' ', h('a', { href: peopleHash(collection) }, t.peopleOf(collection))] : null);
    }
  }

  /** Runs a change, shows its outcome (or the API's refusal), and reloads the person. */
  async function act<T>(change: () => Promise<T>, success: (r: T) => Child): Promise<void> {
    if (working) return;
    working = true;
    refused.clear();
    replace(done);
    // The control in use, found again after the reload (which draws the person anew).
    const key = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.key : undefined;
    try {
      const r = await change();
      if (!ctx.live()) return;
      // The outcome shows with the person as it is now.
      await load();
      if (!ctx.live()) return;
      replace(done, success(r));
    } catch (e) {
      if (!ctx.live()) return;
      refused.show(errorText(e, m().people.actionFailed));
    } finally {
      working = false;
      // The control used gets the focus back; if it went (its face left), the faces' heading.
      if (ctx.live() && (!document.activeElement || document.activeElement === document.body)) {
        const again = key ? body.querySelector<HTMLElement>(`[data-key="${key}"]:not(:disabled)`) : null;
        (again ?? body.querySelector<HTMLElement>('#faces-title'))?.focus();
      }
    }
  }

  /** Refuses a change before sending it. */
  function refuse(message: string, fix?: HTMLElement | null): void {
    replace(done);
    refused.show(message);
    fix?.focus();
  }

  function otherOptions(others: PersonRecord[]): HTMLOptionElement[] {
    const t = m().people;
    return others.map((o) => h('option', { value: o.id }, t.otherPerson(o.label ?? t.unnamed, o.id, facesText(o.faces))));
  }

  function nameForm(p: PersonView): HTMLElement {
    const t = m().people;
    const input = h('input', { name: 'label', 'data-key': 'label', maxlength: 200, autocomplete: 'off', spellcheck: 'false', value: p.label ?? '' });
    const save = h('button', { type: 'submit', 'data-key': 'save-name' }, t.saveName);
    const clear = h('button', { type: 'button', class: 'secondary', 'data-key': 'clear-name', disabled: p.label == null }, t.clearName);
    const form = h('form', { class: 'card name-form' }, field(t.nameField, input, t.nameHint), h('div', { class: 'actions' }, save, clear));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const label = input.value.trim();
      if (!label) return refuse(m().people.needName, input);
      if ([...label].length > 200) return refuse(m().people.nameTooLong, input);
      void act(() => put<PersonView>(`/people/${encodeURIComponent(String(p.id))}/label`, { label }), () => m().people.named);
    });
    clear.addEventListener('click', () => {
      void act(() => put<PersonView>(`/people/${encodeURIComponent(String(p.id))}/label`, { label: null }), () => m().people.unnamedDone);
    });
    return form;
  }

  function faceCard(faceId: number, confirmed: boolean, others: PersonRecord[] | null): HTMLElement {
    const t = m().people;
    const caption = uid('face');
    const pick = h('input', { type: 'checkbox', class: 'pick', value: faceId, id: uid('pick') });
    const notThis = h('button', { type: 'button', class: 'reject not-this', 'data-key': `not-${faceId}`, 'aria-describedby': caption }, t.notThis);
    notThis.addEventListener('click', () => {
      void act(() => del<PersonId>(`/faces/${encodeURIComponent(String(faceId))}/person`), () => m().people.notDone(faceId));
    });
    let move: HTMLElement | null = null;
    if (others?.length) {
      const target = h('select', { id: uid('move'), class: 'move-to' }, h('option', { value: '' }, t.choosePerson), otherOptions(others));
      const moveButton = h('button', { type: 'button', class: 'secondary', 'data-key': `move-${faceId}`, 'aria-describedby': caption }, t.move);
      moveButton.addEventListener('click', () => {
        if (!target.value) return refuse(m().people.needPerson, target);
        const to = Number(target.value);
        void act(
          () => put<PersonId>(`/faces/${encodeURIComponent(String(faceId))}/person`, { person: to }),
          (r) => m().people.moved(faceId, r.person),
        );
      });
      move = h('div', { class: 'move' }, h('label', { for: target.id }, t.moveTo), h('div', { class: 'move-row' }, target, moveButton));
    }
    // Searching is the investigators' (the search page takes the face's crop as its photo).
    const search = ctx.can('investigator')
      ? h('a', { class: 'search-with', href: `#/search?face=${encodeURIComponent(String(faceId))}`, 'aria-describedby': caption }, t.search)
      : null;
    return h(
      'li',
      { class: 'face-card', 'data-face': faceId },
      h(
        'figure',
        null,
        h('img', { class: 'crop', src: cropUrl(faceId), alt: t.faceAlt(faceId), width: 160, height: 160 }),
        h('figcaption', { id: caption }, t.faceLabel(faceId), confirmed ? [' · ', h('span', { class: 'confirmed' }, t.faceConfirmed)] : null),
      ),
      h('div', { class: 'check' }, pick, h('label', { for: pick.id }, t.select(faceId))),
      h('div', { class: 'actions' }, notThis, search),
      move,
    );
  }

  function splitSection(p: PersonView): HTMLElement {
    const t = m().people;
    const split = h('button', { type: 'button', class: 'secondary', 'data-key': 'split' }, t.split);
    split.addEventListener('click', () => {
      const chosen = [...body.querySelectorAll<HTMLInputElement>('input.pick:checked')].map((i) => Number(i.value));
      const first = body.querySelector<HTMLInputElement>('input.pick');
      if (!chosen.length) return refuse(m().people.needSelection, first);
      if (chosen.length >= p.members.length) return refuse(m().people.notAll, first);
      void act(
        () => post<PersonId>(`/people/${encodeURIComponent(String(p.id))}/split`, { faces: chosen }),
        (r) => [m().people.splitDone(r.person), ' ', h('a', { href: personHash(r.person) }, m().people.openNew(r.person))],
      );
    });
    return h(
      'section',
      { class: 'card split', 'aria-labelledby': 'split-title' },
      h('h2', { id: 'split-title' }, t.splitTitle),
      h('p', { class: 'hint' }, t.splitHint),
      h('div', { class: 'actions' }, split),
    );
  }

  function mergeSection(p: PersonView, others: PersonRecord[] | null): HTMLElement {
    const t = m().people;
    const title = h('h2', { id: 'merge-title' }, t.mergeTitle);
    if (others === null) return h('section', { class: 'card merge', 'aria-labelledby': 'merge-title' }, title, h('p', null, t.othersFailed));
    if (!others.length) return h('section', { class: 'card merge', 'aria-labelledby': 'merge-title' }, title, h('p', null, t.noOther));
    const from = h('select', { name: 'from' }, h('option', { value: '' }, t.choosePerson), otherOptions(others));
    // The list offers the persons with the most faces; any other is reached by its number.
    const fromId = h('input', { name: 'from_id', type: 'number', min: 1, step: 1, inputmode: 'numeric', autocomplete: 'off' });
    const form = h(
      'form',
      { class: 'card merge', 'aria-labelledby': 'merge-title' },
      title,
      h('p', { class: 'hint' }, t.mergeHint),
      field(t.mergeFrom, from),
      field(t.mergeFromId, fromId, t.mergeFromIdHint),
      h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-key': 'merge' }, t.merge)),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const typed = fromId.value.trim();
      if (typed && !(Number.isInteger(Number(typed)) && Number(typed) > 0)) return refuse(m().people.needMerge, fromId);
      if (!typed && !from.value) return refuse(m().people.needMerge, from);
      const other = Number(typed || from.value);
      void act(() => post<PersonView>(`/people/${encodeURIComponent(String(p.id))}/merge`, { from: other }), () => m().people.merged(other));
    });
    return form;
  }

  function render(p: PersonView, others: PersonRecord[] | null): void {
    const t = m().people;
    replace(
      body,
      h(
        'dl',
        { class: 'facts person-facts' },
        h('dt', null, t.nameShown),
        h('dd', { class: 'person-name' }, p.label ?? t.unnamed),
        h('dt', null, t.facesShown),
        h('dd', { class: 'person-faces' }, num(p.members.length)),
        h('dt', null, t.confirmedShown),
        h('dd', { class: 'person-confirmed' }, num(p.confirmed)),
      ),
      nameForm(p),
      h('h2', { id: 'faces-title', tabindex: '-1' }, t.facesTitle),
      h('ul', { class: 'grid faces', 'aria-labelledby': 'faces-title' }, p.members.map((f) => faceCard(f.face_id, f.confirmed, others))),
      p.members.length > 1 ? splitSection(p) : null,
      mergeSection(p, others),
    );
  }

  void load();
  return h(
    'section',
    { class: 'person' },
    trail,
    h('h1', null, t.personTitle(personId)),
    alert.el,
    h('div', { class: 'outcome' }, done, refused.el),
    body,
  );
}
