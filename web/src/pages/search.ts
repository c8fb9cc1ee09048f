// #/search: choose a photo, pick a face, give the case and the purpose, search; candidates
// come as a grid for human review, each with what its score means at this gallery size.

import { ApiError, get, post, type CollectionSummary, type Query, type QueryFace, type SearchResult } from '../api';
import type { Ctx } from '../app';
import { candidateDetail, type CandidateInfo } from '../candidate';
import { Alert, field, h, replace, status, uid } from '../dom';
import { basename, count, scoreMeaning, score, sig, when } from '../format';
import { photoWithBoxes } from '../photo';

function usable(f: QueryFace): boolean {
  return f.usable ?? f.quality?.usable ?? true;
}

function faceName(f: QueryFace): string {
  const q = f.quality;
  const size = q?.size_px ? `, ${Math.round(q.size_px)} px` : '';
  return `Face ${f.index + 1}${usable(f) ? '' : ' (low quality)'}${size}`;
}

export function searchPage(ctx: Ctx): HTMLElement {
  const alert = new Alert();
  const photoStatus = status();
  const fileInput = h('input', { type: 'file', accept: 'image/*', id: uid('photo'), class: 'file' });
  const photoArea = h('div', { class: 'query-photo' });
  const drop = h(
    'div',
    { class: 'dropzone' },
    h('label', { for: fileInput.id }, 'Choose a photo'),
    fileInput,
    h('span', { class: 'hint' }, 'or drop one here. The server analyses it without storing it; the audit log keeps only its SHA-256.'),
  );
  const caseRef = h('input', { name: 'case_ref', required: true, autocomplete: 'off', placeholder: 'e.g. CASE-2026-014' });
  const purpose = h('textarea', { name: 'purpose', required: true, rows: 2, placeholder: 'Why this search is needed, in plain words' });
  const topK = h('input', { name: 'top_k', type: 'number', min: 1, max: 100, value: 10, inputmode: 'numeric' });
  const collectionsBox = h('fieldset', { class: 'collections-choice', hidden: true }, h('legend', null, 'Collections'));
  const submit = h('button', { type: 'submit' }, 'Search');
  const results = h('section', { class: 'results', 'aria-labelledby': 'results-title', hidden: true });
  const dialogTitle = h('h2', { id: uid('dlg-title') });
  const dialogBody = h('div');
  const dialog = h(
    'dialog',
    { class: 'candidate-dialog', 'aria-labelledby': dialogTitle.id },
    h('div', { class: 'dialog-head' }, dialogTitle, h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Close')),
    dialogBody,
  );

  let file: File | null = null;
  let objectUrl: string | null = null;
  let query: Query | null = null;
  let faces: QueryFace[] = [];
  let selected: number | null = null;
  let analysing = 0;
  let pending = false;

  const form = h(
    'form',
    { class: 'search-form', novalidate: true },
    h('fieldset', { class: 'photo-step' }, h('legend', null, '1. Query photo'), drop, photoStatus, photoArea),
    h(
      'fieldset',
      { class: 'case-step' },
      h('legend', null, '2. Case'),
      field('Case reference', caseRef, 'Required. Recorded with the search in the audit log.'),
      field('Purpose', purpose, 'Required. What the search is for.'),
      field('Candidates to show', topK),
      collectionsBox,
      h('div', { class: 'actions' }, submit),
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
      `The query photo${file ? ` ${file.name}` : ''}${faces.length ? `, ${count(faces.length, 'face')} boxed` : ''}`,
      faces.map((f) => ({
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
    );
    view.boxes.forEach((b, i) => b.setAttribute('data-index', String(faces[i]!.index)));
    const chosen = faces.find((f) => f.index === selected);
    const pick =
      faces.length === 0
        ? null
        : h(
            'p',
            { class: 'face-choice' },
            chosen ? `Face to search: ${faceName(chosen)}.` : 'Pick the face to search: select its box (Tab to reach it, Enter or Space to choose).',
          );
    replace(photoArea, h('div', { class: 'face-picker', role: 'group', 'aria-label': 'Faces found in the query photo' }, view.el), pick);
  }

  async function analyse(f: File): Promise<void> {
    const mine = ++analysing;
    alert.clear();
    file = f;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(f);
    query = null;
    faces = [];
    selected = null;
    results.hidden = true;
    drawPhoto();
    photoStatus.textContent = 'Finding the faces in the photo…';
    pending = true;
    const body = new FormData();
    body.append('image', f, f.name);
    try {
      const q = await post<Query>('/queries', body);
      if (!ctx.live() || mine !== analysing) return;
      pending = false;
      query = q;
      faces = q.faces;
      const good = faces.filter(usable);
      selected = faces.length === 1 ? faces[0]!.index : good.length === 1 ? good[0]!.index : null;
      photoStatus.textContent =
        faces.length === 0
          ? 'No face was found in this photo: choose another.'
          : `${count(faces.length, 'face')} found${faces.length > 1 ? ': pick the one to search.' : '.'}`;
      drawPhoto();
    } catch (e) {
      if (!ctx.live() || mine !== analysing) return;
      pending = false;
      photoStatus.textContent = '';
      alert.show(e instanceof ApiError ? e.message : 'The photo could not be analysed.');
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

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.clear();
    const missing: string[] = [];
    if (!file) missing.push('a query photo');
    if (!caseRef.value.trim()) missing.push('a case reference');
    if (!purpose.value.trim()) missing.push('a purpose');
    if (missing.length) {
      alert.show(`A search needs ${missing.join(', ')}.`);
      (!file ? fileInput : !caseRef.value.trim() ? caseRef : purpose).focus();
      return;
    }
    if (!query) {
      alert.show(pending ? 'The photo is still being analysed: wait a moment.' : 'The photo could not be analysed: choose it again or another one.');
      return;
    }
    if (faces.length === 0) {
      alert.show('No face was found in this photo: choose another.');
      return;
    }
    if (faces.length > 1 && selected === null) {
      alert.show('Pick the face to search: select its box on the photo.');
      photoArea.querySelector<HTMLButtonElement>('button.face-box')?.focus();
      return;
    }
    const k = Math.min(100, Math.max(1, Number(topK.value) || 10));
    const chosen = [...collectionsBox.querySelectorAll<HTMLInputElement>('input:checked')].map((i) => i.value);
    submit.disabled = true;
    submit.textContent = 'Searching…';
    try {
      const ask = {
        case_ref: caseRef.value.trim(),
        purpose: purpose.value.trim(),
        face: selected ?? faces[0]!.index,
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
      alert.show(err instanceof ApiError ? err.message : 'The search failed.');
    } finally {
      submit.disabled = false;
      submit.textContent = 'Search';
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
    const titleText = mine.length ? `${count(mine.length, 'candidate')} to review` : 'No candidate';
    const summary = `Case ${r.case_ref}, search ${r.search_id}: face ${face + 1} of the query photo against the ${count(r.gallery_size, 'face')} of ${r.collections.join(', ') || 'no collection'}, score threshold ${r.threshold.toFixed(2)}${r.exhaustive ? ', every face compared' : ' (graph index: a few close faces may be missed)'}.`;
    const fpir =
      r.fpir_threshold !== null && r.fpir_threshold !== undefined
        ? h(
            'p',
            { class: 'hint' },
            `At this gallery size, a threshold of ${r.fpir_threshold.toFixed(2)} would keep the chance that a search for someone absent from the gallery returns anyone at about ${sig(r.target_fpir)}.`,
          )
        : null;
    const cards = mine.map(({ c, id }) => {
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
        meaning: scoreMeaning({ fmr: c.false_match_rate, comparisons: r.calibration_comparisons, gallery: r.gallery_size }).text,
        rank: c.rank,
      };
      const name = basename(c.path);
      const title = `Candidate ${c.rank}: ${name}`;
      return h(
        'li',
        { class: 'candidate', 'data-candidate': id },
        h('img', { class: 'crop', src: `/api/v1/faces/${c.face_id}/crop`, alt: `Face of candidate ${c.rank}`, width: 160, height: 160 }),
        h('p', { class: 'score' }, h('span', { class: 'rank' }, `#${c.rank}`), ` Score ${score(c.score)}`),
        h('p', { class: 'meaning' }, info.meaning!),
        h('p', { class: 'where' }, h('strong', { class: 'name' }, name), h('br'), h('span', { class: 'path' }, c.path)),
        h('p', { class: 'meta' }, `Collection ${c.collection}`, h('br'), `Captured ${when(c.captured_at)}`, c.video ? [h('br'), `At ${c.video.timestamp} in the video`] : null),
        h('button', { type: 'button', class: 'open', 'aria-label': `Open candidate ${c.rank} (${name})`, onclick: () => open(info, title) }, 'Open'),
      );
    });
    replace(
      results,
      h('h2', { id: 'results-title' }, titleText),
      h('p', { class: 'summary' }, summary),
      h(
        'p',
        { class: 'notice strong' },
        'These are candidates for human review, not identifications: a score never says who someone is. Two different reviewers must confirm a candidate before it is treated as a match.',
      ),
      fpir,
      mine.length
        ? h('ul', { class: 'grid', 'aria-label': 'Candidates' }, cards)
        : h('p', null, 'No face in the searched collections scored above the threshold.'),
    );
    results.hidden = false;
    results.querySelector('h2')?.setAttribute('tabindex', '-1');
    results.querySelector<HTMLElement>('h2')?.focus();
  }

  // The collections the user may restrict the search to (default: all granted).
  void get<CollectionSummary[]>('/collections')
    .then((list) => {
      if (!ctx.live() || list.length < 2) return;
      collectionsBox.hidden = false;
      replace(
        collectionsBox,
        h('legend', null, 'Collections (none ticked: every collection granted to you)'),
        list.map((c) => {
          const box = h('input', { type: 'checkbox', value: c.name, id: uid('col') });
          return h('div', { class: 'check' }, box, h('label', { for: box.id }, `${c.name} (${count(c.templates, 'face')})`));
        }),
      );
    })
    .catch(() => {});

  return h(
    'section',
    { class: 'search' },
    h('h1', null, 'Search'),
    h('p', { class: 'lede' }, 'Every search is bound to a case and a purpose, and recorded in the audit log with its candidates.'),
    alert.el,
    form,
    results,
    dialog,
  );
}
