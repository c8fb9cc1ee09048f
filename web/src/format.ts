// Numbers, dates and the plain-language meaning of a score, in the user's language.

import { h } from './dom';
import { dateTime, locale, m, num } from './i18n';

/** Two significant digits, plain notation ("0.00031", "1.2", "35", "14,000,000"). */
export function sig(x: number): string {
  if (x === 0) return '0';
  if (x >= 10) return num(Number(x.toPrecision(2)));
  return Number(x.toPrecision(2)).toLocaleString(locale(), { maximumSignificantDigits: 2, maximumFractionDigits: 20 });
}

/** A score with three decimals, as the user's language writes it ("0.716", "0,716"). */
export function score(s: number): string {
  return num(s, 3);
}

/** How strongly a score stands out from look-alikes in the gallery searched. */
export type Band = 'strong' | 'moderate' | 'weak' | 'unknown';

/** What a score is read from: its false-match rate, the calibration's comparisons, the gallery's size. */
export interface ScoreFacts {
  /** Share of pairs of different people scoring at least as high (null: no calibration). */
  fmr: number | null | undefined;
  /** Pairs of different people the calibration measured (below one in that many it cannot tell). */
  comparisons: number | null | undefined;
  /** Faces the search compared against. */
  gallery: number;
}

/**
 * What a score means, in one wording for every page: how often different people score this
 * high (or, past the calibration, fewer than one pair in all it measured), how many faces of
 * someone else this close the gallery searched should hold, and a band.
 */
export function scoreMeaning(f: ScoreFacts): { band: Band; text: string } {
  const s = m().common.score;
  if (f.fmr === null || f.fmr === undefined) return { band: 'unknown', text: s.uncalibrated };
  const faces = s.faces(num(f.gallery), f.gallery === 1);
  const beyond = f.fmr <= 0;
  const pairs = f.comparisons && f.comparisons > 0 ? f.comparisons : null;
  // Past the calibration, the rate is only known to be below one in all the pairs measured.
  const rate = beyond ? (pairs ? 1 / pairs : 0) : f.fmr;
  const expected = rate * f.gallery;
  const band: Band = expected < 0.01 ? 'strong' : expected < 1 ? 'moderate' : 'weak';
  const first = beyond ? (pairs ? s.beyond(num(pairs)) : s.beyond('?')) : s.measured(sig(1 / f.fmr));
  let second: string;
  if (expected < 0.01) second = s.unlikely(faces);
  else if (beyond) second = s.expectAtMost(faces, s.faces(sig(expected), expected <= 1));
  else second = s.expect(faces, s.faces(sig(expected), expected < 1.5));
  return { band, text: `${first} ${second}` };
}

/** A score's meaning as shown on every page: the band (three bars and its name), then the words. */
export function meaningView(f: ScoreFacts): HTMLElement {
  const { band, text } = scoreMeaning(f);
  const label = m().common.score.bands[band];
  const level = { strong: 3, moderate: 2, weak: 1, unknown: 0 }[band];
  return h(
    'p',
    { class: 'meaning', 'data-band': band },
    h(
      'span',
      { class: `band band-${band}`, role: 'img', 'aria-label': m().common.score.band(label) },
      [1, 2, 3].map((i) => h('i', { class: i <= level ? 'on' : null })),
    ),
    ' ',
    h('strong', { class: 'band-label' }, label),
    h('span', { class: 'meaning-text' }, ` — ${text}`),
  );
}

/** A date and time as the user's language writes it. */
export function when(iso: string | null | undefined): string {
  return dateTime(iso);
}

/** Whole days from today (UTC) to a YYYY-MM-DD date. */
export function daysUntil(date: string, now = new Date()): number {
  const [y, mo, d] = date.split('-').map(Number);
  const target = Date.UTC(y ?? 1970, (mo ?? 1) - 1, d ?? 1);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return Math.round((target - today) / 86_400_000);
}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** The last part of a path or URI. */
export function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
