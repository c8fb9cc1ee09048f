// The UI's languages: English and French. Each area of the UI has its catalogue
// (`i18n/<area>.ts`: `en`, and `fr` typed as `en`, so that a key missing in either fails the
// build); `m()` is the catalogue of the language in use. The language comes from the user's
// choice (kept in localStorage), else the browser's; numbers and dates follow it. The CLI
// stays in English.

import * as admin from './admin';
import * as audit from './audit';
import * as collections from './collections';
import * as common from './common';
import * as people from './people';
import * as review from './review';
import * as rights from './rights';
import * as search from './search';

export type Lang = 'en' | 'fr';
export const LANGS: Lang[] = ['en', 'fr'];

/** Every catalogue, by language (exported for the test that compares them). */
export const catalogs = {
  en: { common: common.en, review: review.en, search: search.en, collections: collections.en, rights: rights.en, audit: audit.en, admin: admin.en, people: people.en },
  fr: { common: common.fr, review: review.fr, search: search.fr, collections: collections.fr, rights: rights.fr, audit: audit.fr, admin: admin.fr, people: people.fr },
} satisfies Record<Lang, unknown>;

export type Messages = (typeof catalogs)['en'];

const LANG_KEY = 'gabarit.lang';

function initial(): Lang {
  const chosen = localStorage.getItem(LANG_KEY);
  if (chosen === 'en' || chosen === 'fr') return chosen;
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const l of wanted) {
    const base = l.toLowerCase().split('-')[0];
    if (base === 'fr' || base === 'en') return base;
  }
  return 'en';
}

let current: Lang = initial();
document.documentElement.lang = current;

/** The language in use. */
export function lang(): Lang {
  return current;
}

/** Switches the language (kept for the next visits). */
export function setLang(l: Lang): void {
  current = l;
  localStorage.setItem(LANG_KEY, l);
  document.documentElement.lang = l;
}

/** The messages of the language in use. */
export function m(): Messages {
  return catalogs[current];
}

/** The locale numbers and dates are written in. */
export function locale(): string {
  return current === 'fr' ? 'fr-FR' : 'en-GB';
}

/** An integer or a decimal as the language writes it ("1,234.5", "1 234,5"). */
export function num(n: number, digits = 0): string {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n);
}

/** A count with its noun, singular or plural as the language says ("1 face", "0 visage"). */
export function plural(n: number, one: string, many: string): string {
  const single = current === 'fr' ? n === 0 || n === 1 : n === 1;
  return `${num(n)} ${single ? one : many}`;
}

/** A date and time in the user's language ("9 Sept 2009, 20:27:09", "9 sept. 2009, 20:27:09"). */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return m().common.unknown;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A calendar date (YYYY-MM-DD) in the user's language ("2 Dec 2026", "2 déc. 2026"). */
export function day(date: string | null | undefined): string {
  if (!date) return m().common.unknown;
  const [y, mo, d] = date.slice(0, 10).split('-').map(Number);
  if (!y || !mo || !d) return date;
  return new Date(Date.UTC(y, mo - 1, d)).toLocaleDateString(locale(), { dateStyle: 'medium', timeZone: 'UTC' });
}
