// #/search: choose a photo, pick a face, give the case and the purpose, search; candidates
// come as a grid for human review, each with what its score means at this gallery size (in
// the one wording every page uses). `#/search?face=<id>` starts from a stored face (a person's,
// from the people pages): its crop is the photo.

import { ApiError, apiMessage, get, post, type CollectionSummary, type Query, type QueryFace, type SearchResult } from '../api';
import type { Ctx } from '../app';
import { candidateDetail, type CandidateInfo } from '../candidate';
import { Alert, field, h, replace, status, uid } from '../dom';
import { basename, meaningView, sig, when, type ScoreFacts } from '../format';
import { m, num, plural } from '../i18n';
import { photoWithBoxes } from '../photo';

/** The most candidates a search shows. */
const TOP_K_MAX = 100;

/** A face of the query photo: as analysed (POST /queries) or as searched (a result's `faces`). */
type ShownFace = Pick<QueryFace, 'index' | 'bbox' | 'quality'>;

function usable(f: ShownFace): boolean {
  return f.quality.usable;
}

function faceName(f: ShownFace): string {
  const q = f.quality;
  return m().search.faceName(f.index + 1, usable(f), q?.size_px ? num(Math.round(q.size_px)) : null);
}

/** The number of candidates asked for, or null when it is not a whole number from 1 to the maximum. */
function topKOf(value: string): number | null {
  const v = value.trim();
  if (!/^\d+$/.test(v)) return null;
  const k = Number(v);
  return k >= 1 && k <= TOP_K_MAX ? k : null;
}

export function searchPage(ctx: Ctx): HTMLElement {
  const t = m().search;
  const faces = (n: number): string => plural(n, t.face, t.faces);
  // Errors of the photo, beside it; errors of the search, beside the Search button.
  const photoAlert = new Alert();
  const searchAlert = new Alert();
  const photoStatus = status();
  const fileInput = h('input', { type: 'file', accept: 'image/*', id: uid('photo'), class: 'file' });
  const photoArea = h('div', { class: 'query-photo' });
  const drop = h(
    'div',
    { class: 'dropzone' },
    h('label', { for: fileInput.id }, t.choosePhoto),
    fileInput,
    h('span', { class: 'hint' }, t.dropHint),
  );
  const caseRef = h('input', { name: 'case_ref', required: true, autocomplete: 'off', placeholder: t.caseRefPlaceholder });
  const purpose = h('textarea', { name: 'purpose', required: true, rows: 2, placeholder: t.purposePlaceholder });
  const topK = h('input', { name: 'top_k', type: 'number', min: 1, max: TOP_K_MAX, step: 1, value: 10, inputmode: 'numeric' });
  const collectionsBox = h('fieldset', { class: 'collections-choice', hidden: true }, h('legend', null, t.collections));
  const submit = h('button', { type: 'submit' }, t.submit);
  const results = h('section', { class: 'results', 'aria-labelledby': 'results-title', hidden: true });
  const dialogTitle = h('h2', { id: uid('dlg-title') });
  const dialogBody = h('div');
  const dialog = h(
    'dialog',
    { class: 'candidate-dialog', 'aria-labelledby': dialogTitle.id },
    h('div', { class: 'dialog-head' }, dialogTitle, h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, m().common.close)),
    dialogBody,
  );

  let file: File | null = null;
  let objectUrl: string | null = null;
  let query: Query | null = null;
  let found: ShownFace[] = [];
  let selected: number | null = null;
  let analysing = 0;
  let pending = false;

  const form = h(
    'form',
    { class: 'search-form', novalidate: true },
    h('fieldset', { class: 'photo-step' }, h('legend', null, t.photoStep), drop, photoStatus, photoAlert.el, photoArea),
    h(
      'fieldset',
      { class: 'case-step' },
      h('legend', null, t.caseStep),
      field(t.caseRef, caseRef, t.caseRefHint),
      field(t.purpose, purpose, t.purposeHint),
      field(t.topK, topK, t.topKHint),
      collectionsBox,
      h('div', { class: 'actions' }, submit, searchAlert.el),
    ),
  );

  function drawPhoto(): void {
    if (!objectUrl) {
      replace(photoArea);
      return;
    }
    const ref = query?.width && query.height ? { width: query.width, height: query.height } : undefined;
    const view = photoWithBoxes(
      objectUrl,
      t.photoAlt(file ? file.name : null, found.length, faces(found.length)),
      found.map((f) => ({
        box: f.bbox,
        label: String(f.index + 1),
        name: faceName(f),
        selected: selected === f.index,
        dim: !usable(f),
        onSelect: () => {
          selected = f.index;
          drawPhoto();
          const again = photoArea.querySelector<HTMLButtonElement>(`button.face-box[data-index="${f.index}"]`);
          again?.focus();
        },
      })),
      ref,
      // Before the server has read it, a file the browser cannot show says nothing: the
      // server's answer will.
      query ? t.notShown : null,
    );
    view.boxes.forEach((b, i) => b.setAttribute('data-index', String(found[i]!.index)));
    const chosen = found.find((f) => f.index === selected);
    const pick = found.length === 0 ? null : h('p', { class: 'face-choice' }, chosen ? t.faceChosen(faceName(chosen)) : t.pickFace);
    replace(photoArea, h('div', { class: 'face-picker', role: 'group', 'aria-label': t.facesFound }, view.el), pick);
  }

  function forgetPhoto(): void {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    replace(photoArea);
  }

  async function analyse(f: File): Promise<void> {
    const mine = ++analysing;
    photoAlert.clear();
    searchAlert.clear();
    file = f;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(f);
    query = null;
    found = [];
    selected = null;
    results.hidden = true;
    drawPhoto();
    photoStatus.textContent = t.analysing;
    pending = true;
    const body = new FormData();
    body.append('image', f, f.name);
    try {
      const q = await post<Query>('/queries', body);
      if (!ctx.live() || mine !== analysing) return;
      pending = false;
      query = q;
      found = q.faces;
      const good = found.filter(usable);
      selected = found.length === 1 ? found[0]!.index : good.length === 1 ? good[0]!.index : null;
      photoStatus.textContent = found.length === 0 ? t.noFace : t.found(found.length, faces(found.length));
      drawPhoto();
    } catch (e) {
      if (!ctx.live() || mine !== analysing) return;
      pending = false;
      photoStatus.textContent = '';
      // A file the server does not read as a photo (415, 422): only its message, no photo.
      if (e instanceof ApiError && (e.status === 415 || e.status === 422)) forgetPhoto();
      photoAlert.show(e instanceof ApiError ? apiMessage(e) : t.analysisFailed);
    }
  }

  fileInput.addEventListener('change', () => {
    const f = fileInput.files?.[0];
    if (f) void analyse(f);
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) void analyse(f);
  });
  topK.addEventListener('input', () => topK.removeAttribute('aria-invalid'));

  /** Refuses the search with `message` beside the Search button, and moves to what to fix. */
  function refuse(message: string, fix?: HTMLElement | null): void {
    searchAlert.show(message);
    fix?.focus();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    searchAlert.clear();
    topK.removeAttribute('aria-invalid');
    const missing: string[] = [];
    if (!file) missing.push(t.needPhoto);
    if (!caseRef.value.trim()) missing.push(t.needCase);
    if (!purpose.value.trim()) missing.push(t.needPurpose);
    if (missing.length) {
      refuse(t.needs(missing), !file ? fileInput : !caseRef.value.trim() ? caseRef : purpose);
      return;
    }
    // The number asked for is searched, or refused: never silently changed.
    const k = topKOf(topK.value);
    if (k === null) {
      topK.setAttribute('aria-invalid', 'true');
      refuse(t.topKInvalid(topK.value.trim()), topK);
      return;
    }
    if (!query) {
      refuse(pending ? t.stillAnalysing : t.analyseAgain);
      return;
    }
    if (found.length === 0) {
      refuse(t.noFace);
      return;
    }
    if (found.length > 1 && selected === null) {
      refuse(t.pickFaceFirst, photoArea.querySelector<HTMLButtonElement>('button.face-box'));
      return;
    }
    const chosen = [...collectionsBox.querySelectorAll<HTMLInputElement>('input:checked')].map((i) => i.value);
    // The previous results go as soon as a new search starts: they do not answer it.
    results.hidden = true;
    replace(results);
    submit.disabled = true;
    submit.textContent = t.searching;
    try {
      const ask = {
        case_ref: caseRef.value.trim(),
        purpose: purpose.value.trim(),
        face: selected ?? found[0]!.index,
        top_k: k,
        collections: chosen,
      };
      const searchWith = (q: Query): Promise<SearchResult> => post<SearchResult>(`/queries/${encodeURIComponent(q.query_id)}/search`, ask);
      let r: SearchResult;
      try {
        r = await searchWith(query);
      } catch (err) {
        // The server keeps an analysed photo 15 minutes: past that, analyse it again (same
        // photo, same faces in the same order) and search once more.
        if (!(err instanceof ApiError && err.status === 404 && err.code === 'not_found')) throw err;
        const body = new FormData();
        body.append('image', file!, file!.name);
        query = await post<Query>('/queries', body);
        r = await searchWith(query);
      }
      if (!ctx.live()) return;
      showResults(r);
    } catch (err) {
      if (!ctx.live()) return;
      searchAlert.show(err instanceof ApiError ? apiMessage(err) : t.searchFailed);
    } finally {
      submit.disabled = false;
      submit.textContent = t.submit;
    }
  });

  function open(info: CandidateInfo, title: string): void {
    dialogTitle.textContent = title;
    replace(dialogBody, candidateDetail(ctx, info));
    dialog.showModal();
  }

  function showResults(r: SearchResult): void {
    const face = selected ?? r.faces[0]?.index ?? 0;
    const mine = r.candidates.map((c, i) => ({ c, id: r.candidate_ids[i]! })).filter(({ c }) => c.query_face === face || r.faces.length <= 1);
    const titleText = mine.length ? t.toReview(plural(mine.length, t.candidate, t.candidates)) : t.noCandidate;
    const summary =
      t.summary(r.case_ref, r.search_id, face + 1, faces(r.gallery_size), r.collections.join(', ') || t.noCollection, num(r.threshold, 2)) +
      (r.exhaustive ? t.exhaustive : t.approximate);
    const fpir =
      r.fpir_threshold !== null && r.fpir_threshold !== undefined && r.target_fpir > 0
        ? h('p', { class: 'hint fpir' }, t.fpir(num(r.fpir_threshold, 2), sig(1 / r.target_fpir)))
        : null;
    const lag =
      r.replica_lag_s !== null && r.replica_lag_s !== undefined
        ? h('p', { class: 'notice replica-lag', role: 'status' }, t.replicaLag(num(r.replica_lag_s, 1)))
        : null;
    const cards = mine.map(({ c, id }) => {
      const facts: ScoreFacts = { fmr: c.false_match_rate, comparisons: r.calibration_comparisons, gallery: r.gallery_size };
      const info: CandidateInfo = {
        candidateId: id,
        faceId: c.face_id,
        imageId: c.image_id,
        video: c.video,
        bbox: c.bbox,
        collection: c.collection,
        path: c.path,
        source: c.source,
        capturedAt: c.captured_at,
        score: c.score,
        facts,
        rank: c.rank,
      };
      const name = basename(c.path);
      const title = t.cardTitle(c.rank, name);
      return h(
        'li',
        { class: 'candidate', 'data-candidate': id },
        h('img', { class: 'crop', src: `/api/v1/faces/${c.face_id}/crop`, alt: t.cardAlt(c.rank), width: 160, height: 160 }),
        h('p', { class: 'score' }, h('span', { class: 'rank' }, `#${c.rank}`), ` ${m().common.score.label(num(c.score, 3))}`),
        meaningView(facts),
        h('p', { class: 'where' }, h('strong', { class: 'name' }, name), h('br'), h('span', { class: 'path' }, c.path)),
        h('p', { class: 'meta' }, t.collection(c.collection), h('br'), t.captured(when(c.captured_at)), c.video ? [h('br'), t.inVideo(c.video.timestamp)] : null),
        h('button', { type: 'button', class: 'open', 'aria-label': t.openLabel(c.rank, name), onclick: () => open(info, title) }, t.open),
      );
    });
    replace(
      results,
      h('h2', { id: 'results-title' }, titleText),
      h('p', { class: 'summary' }, summary),
      h('p', { class: 'notice strong' }, t.notice),
      lag,
      fpir,
      mine.length ? h('ul', { class: 'grid', 'aria-label': t.grid }, cards) : h('p', null, t.noneAbove),
    );
    results.hidden = false;
    results.querySelector('h2')?.setAttribute('tabindex', '-1');
    results.querySelector<HTMLElement>('h2')?.focus();
  }

  /**
   * A stored face as the photo (`#/search?face=<id>`, from a person's page): its crop, fetched
   * with the session, analysed as if chosen.
   */
  async function storedFace(id: string): Promise<void> {
    photoStatus.textContent = t.loadingFace;
    try {
      const resp = await fetch(`/api/v1/faces/${encodeURIComponent(id)}/crop`, { credentials: 'same-origin', cache: 'no-store' });
      if (!resp.ok) {
        const err = ((await resp.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null)?.error;
        throw new ApiError(resp.status, err?.code ?? `http_${resp.status}`, err?.message ?? t.faceFailed);
      }
      const blob = await resp.blob();
      if (!ctx.live() || file) return;
      await analyse(new File([blob], t.faceFile(id), { type: blob.type || 'image/jpeg' }));
    } catch (e) {
      if (!ctx.live() || file) return;
      photoStatus.textContent = '';
      photoAlert.show(e instanceof ApiError ? apiMessage(e) : t.faceFailed);
    }
  }
  const wantedFace = new URLSearchParams(location.hash.split('?')[1] ?? '').get('face');
  if (wantedFace && /^\d+$/.test(wantedFace)) void storedFace(wantedFace);

  // The collections granted to the user (the server lists only those), to restrict the
  // search to (default: all of them).
  void get<CollectionSummary[]>('/collections')
    .then((list) => {
      if (!ctx.live() || list.length < 2) return;
      collectionsBox.hidden = false;
      replace(
        collectionsBox,
        h('legend', null, t.collectionsAll),
        list.map((c) => {
          const box = h('input', { type: 'checkbox', value: c.name, id: uid('col') });
          return h('div', { class: 'check' }, box, h('label', { for: box.id }, t.collectionOption(c.name, faces(c.templates))));
        }),
      );
    })
    .catch(() => {});

  return h(
    'section',
    { class: 'search' },
    h('h1', null, t.title),
    h('p', { class: 'lede' }, t.lede),
    form,
    results,
    dialog,
  );
}
