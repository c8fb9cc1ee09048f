// Numbers, dates and the plain-language meaning of a score.

import type { Candidate } from './api';

const int = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

export function count(n: number, one: string, many = `${one}s`): string {
  return `${int.format(n)} ${n === 1 ? one : many}`;
}

/** Two significant digits, plain notation ("0.00031", "1.2", "35"). */
export function sig(x: number): string {
  if (x === 0) return '0';
  if (x >= 10) return int.format(Number(x.toPrecision(2)));
  return Number(x.toPrecision(2)).toLocaleString('en', { maximumSignificantDigits: 2, maximumFractionDigits: 20 });
}

export function score(s: number): string {
  return s.toFixed(3);
}

/** What a candidate's score means at this gallery size, in words; never a verdict. */
export function meaning(c: Pick<Candidate, 'expected_false_candidates' | 'false_match_rate'>, gallery: number): string {
  const searched = `Among the ${count(gallery, 'face')} searched`;
  const x = c.expected_false_candidates;
  if (x === null || x === undefined) {
    return 'The model pack has no calibration: what this score means at this gallery size is not known.';
  }
  if (x === 0) {
    return `${searched}, practically no face of another person would score this high (none did in the model's calibration).`;
  }
  if (x >= 0.95) {
    return `${searched}, about ${sig(x)} ${x < 1.5 ? 'face' : 'faces'} of other people would score this high.`;
  }
  return `${searched}, about ${sig(x)} faces of other people would score this high: about 1 search in ${sig(1 / x)} like this one would show someone else this close.`;
}

/**
 * What a score means from its false-match rate alone (the gallery size of the search is not
 * known here): how often two different people score this high; never a verdict.
 */
export function rateMeaning(fmr: number | null | undefined): string {
  if (fmr === null || fmr === undefined) {
    return 'The model pack has no calibration: what this score means is not known.';
  }
  if (fmr <= 0) {
    return 'Two different people practically never score this high (no pair did in the model’s calibration). A search compares many faces: this is a lead, not an identification.';
  }
  const n = 1 / fmr;
  return `About 1 comparison in ${sig(n)} between two different people scores this high: searching ${sig(Math.max(n, 1))} faces, expect about one face of someone else this close.`;
}

/** A date and time as the browser's locale writes it, with the original beside it in a tooltip. */
export function when(iso: string | null | undefined): string {
  if (!iso) return 'unknown';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** Whole days from today (UTC) to a YYYY-MM-DD date. */
export function daysUntil(date: string, now = new Date()): number {
  const [y, m, d] = date.split('-').map(Number);
  const target = Date.UTC(y ?? 1970, (m ?? 1) - 1, d ?? 1);
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
