// #/review/{candidate}/{face}/{image}: a reviewer opens a candidate from the link an
// investigator sent, sees the source image with the face boxed, and confirms or rejects it.

import { ApiError, get, type ImageView } from '../api';
import type { Ctx } from '../app';
import { candidateDetail } from '../candidate';
import { Alert, h, replace, status } from '../dom';

export function reviewPage(ctx: Ctx, [candidate, face, image]: string[]): HTMLElement {
  const alert = new Alert();
  const loading = status();
  loading.textContent = 'Loading the candidate…';
  const body = h('div', null, loading);
  const candidateId = Number(candidate);
  const faceId = Number(face);
  const imageId = Number(image);
  const t = new URLSearchParams(location.hash.split('?')[1] ?? '').get('t');
  void (async () => {
    try {
      const view = await get<ImageView>(`/images/${imageId}`);
      if (!ctx.live()) return;
      const f = view.faces.find((x) => x.face_id === faceId);
      const time = t !== null ? Number(t) : f?.moment?.time_s;
      replace(
        body,
        candidateDetail(ctx, {
          candidateId,
          faceId,
          imageId,
          bbox: f?.bbox ?? null,
          collection: view.image.collection,
          path: view.image.uri,
          source: view.image.source,
          capturedAt: view.image.captured_at,
          video: view.image.video && time !== undefined ? { time_s: time, frame_width: view.image.width, frame_height: view.image.height } : null,
        }),
      );
    } catch (e) {
      if (!ctx.live()) return;
      replace(body);
      alert.show(e instanceof ApiError ? e.message : 'The candidate could not be loaded.');
    }
  })();
  return h('section', null, h('h1', null, `Candidate ${candidateId}`), alert.el, body);
}
