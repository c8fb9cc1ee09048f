// A photo with face boxes drawn over it, in percent of the photo so they follow its size.

import { box as toBox, type RawBox } from './api';
import { h } from './dom';
import { m } from './i18n';

export interface Marked {
  box: RawBox;
  /** Shown on the box. */
  label: string;
  /** Makes the box a button (keyboard and mouse) that calls this. */
  onSelect?: () => void;
  /** Accessible name of the button. */
  name?: string;
  selected?: boolean;
  dim?: boolean;
}

export interface PhotoView {
  el: HTMLElement;
  img: HTMLImageElement;
  boxes: HTMLElement[];
}

/**
 * The photo at `src` with `marks` over it. Boxes are in pixels of a reference size: `ref` when
 * given (a video's sampled frames), otherwise the photo's own size once loaded (an <img>
 * shows photos upright, as the API's boxes are). If the photo cannot be shown, `missing` is
 * shown instead (by default: why an image of the server may not be shown; null: nothing).
 */
export function photoWithBoxes(
  src: string,
  alt: string,
  marks: Marked[],
  ref?: { width: number; height: number },
  missing?: string | null,
): PhotoView {
  const img = h('img', { src, alt, decoding: 'async' });
  const boxes = marks.map((m) => {
    const el = m.onSelect
      ? h('button', { type: 'button', class: 'face-box', 'aria-pressed': m.selected ? 'true' : 'false', 'aria-label': m.name ?? m.label, onclick: m.onSelect }, h('span', { class: 'face-label', 'aria-hidden': 'true' }, m.label))
      : h('div', { class: 'face-box static', 'aria-hidden': 'true' }, h('span', { class: 'face-label' }, m.label));
    if (m.dim) el.classList.add('dim');
    el.hidden = true;
    return el;
  });
  const place = (): void => {
    const width = ref?.width || img.naturalWidth;
    const height = ref?.height || img.naturalHeight;
    if (!width || !height) return;
    marks.forEach((m, i) => {
      const b = toBox(m.box);
      const el = boxes[i]!;
      el.style.left = `${(100 * Math.max(0, b.x1)) / width}%`;
      el.style.top = `${(100 * Math.max(0, b.y1)) / height}%`;
      el.style.width = `${(100 * (Math.min(width, b.x2) - Math.max(0, b.x1))) / width}%`;
      el.style.height = `${(100 * (Math.min(height, b.y2) - Math.max(0, b.y1))) / height}%`;
      el.hidden = false;
    });
  };
  img.addEventListener('load', place);
  if (img.complete) place();
  const el = h('div', { class: 'photo-frame' }, img, boxes);
  img.addEventListener('error', () => {
    const text = missing === undefined ? m().search.photoMissing : missing;
    if (text === null) el.hidden = true;
    else el.replaceWith(h('p', { class: 'photo-missing' }, text));
  });
  return { el, img, boxes };
}
