// The report of a rights request as the DPO sees it and as the person receives it: the faces
// (crops fetched once, shown from blob: URLs), the notice of each collection (GDPR art. 15),
// and the downloads: a self-contained HTML page and the JSON.

import { articleLetter, vocabulary, type Retention, type RightsMatch, type RightsReport } from '../api';
import { h, type Child } from '../dom';
import { basename } from '../format';
import { dateTime, day, lang, m, num } from '../i18n';

type Notice = RightsReport['collections'][number];

export const faces = (n: number): string => m().rights.faces(n, num(n));

/**
 * The crops of the faces a report shows (`GET /faces/{id}/crop`, JPEG; the DPO may see any
 * face), each fetched once: shown from blob: URLs (the page's Content-Security-Policy allows
 * them), embedded in the downloaded page as data: URIs.
 */
class Thumbs {
  private readonly blobs = new Map<number, Promise<Blob | null>>();
  private readonly urls: string[] = [];

  private blob(face: number): Promise<Blob | null> {
    let b = this.blobs.get(face);
    if (!b) {
      b = fetch(`/api/v1/faces/${encodeURIComponent(String(face))}/crop`, { credentials: 'same-origin', cache: 'no-store' })
        .then((r) => (r.ok ? r.blob() : null))
        .catch(() => null);
      this.blobs.set(face, b);
    }
    return b;
  }

  /** An image of the face, shown once its crop has arrived (a note if it cannot be had). */
  img(match: RightsMatch): HTMLElement {
    const img = h('img', { class: 'face-thumb', alt: m().rights.faceAlt(match.face_id, basename(match.path)), width: 72, height: 72 });
    void this.blob(match.face_id).then((b) => {
      if (!b) {
        img.replaceWith(h('span', { class: 'crop-missing' }, m().rights.noThumbnail));
        return;
      }
      const url = URL.createObjectURL(b);
      this.urls.push(url);
      img.src = url;
    });
    return img;
  }

  /** The crop as a data: URI, or null. */
  async dataUri(face: number): Promise<string | null> {
    const b = await this.blob(face);
    if (!b) return null;
    return new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : null);
      reader.onerror = () => resolve(null);
      reader.readAsDataURL(b);
    });
  }

  release(): void {
    for (const u of this.urls.splice(0)) URL.revokeObjectURL(u);
  }
}

/** The object URLs of the report shown (thumbnails, downloads), released when another replaces it. */
let shown: { thumbs: Thumbs | null; urls: string[] } = { thumbs: null, urls: [] };

export function freshReport(): Thumbs {
  shown.thumbs?.release();
  for (const u of shown.urls) URL.revokeObjectURL(u);
  shown = { thumbs: new Thumbs(), urls: [] };
  return shown.thumbs!;
}

function objectUrl(blob: Blob): string {
  const url = URL.createObjectURL(blob);
  shown.urls.push(url);
  return url;
}

/** The faces of a report with their files, sources and collections; `face` gives each its picture. */
export function matchesTable(matches: RightsMatch[], caption: string, face: (m: RightsMatch) => Child): HTMLElement {
  const t = m().rights;
  if (!matches.length) return h('p', { class: 'empty-report' }, t.noMatch);
  const c = t.matchCols;
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'data matches' },
      h('caption', null, caption),
      h('thead', null, h('tr', null, [c.face, c.file, c.source, c.collection, c.score, c.captured, c.ingested].map((x) => h('th', { scope: 'col' }, x)))),
      h(
        'tbody',
        null,
        matches.map((x) =>
          h(
            'tr',
            { 'data-face': x.face_id },
            h('td', { class: 'thumb' }, face(x)),
            h('td', { class: 'path' }, x.path),
            h('td', { class: 'source' }, x.source || t.dash),
            h('td', null, x.collection),
            h('td', { class: 'num' }, num(x.score, 3)),
            h('td', null, dateTime(x.captured_at)),
            h('td', null, dateTime(x.ingested_at)),
          ),
        ),
      ),
    ),
  );
}

export function summary(r: RightsReport): string {
  return m().rights.summary(faces(r.matches.length), faces(r.templates_searched), num(r.threshold, 2));
}

/** A retention as a person reads it ("3,650 days after the photo was ingested", "until 31 Dec 2030"). */
function retentionWords(r: Retention | null): string {
  const t = m().rights;
  if (!r) return t.notSet;
  if ('days' in r) return t.retentionDays(r.days, num(r.days));
  return t.retentionUntil(day(r.until));
}

function list(items: Child[], empty: string): HTMLElement {
  return items.length ? h('ul', null, items.map((i) => h('li', null, i))) : h('p', null, empty);
}

/** What GDPR art. 15(1)(a)–(g) tells the person about one collection, addressed to them. */
export function noticeSection(n: Notice, heading: 'h2' | 'h3'): HTMLElement {
  const t = m().rights;
  const controller =
    n.controller && n.controller_contact ? t.controllerContact(n.controller, n.controller_contact) : (n.controller ?? n.controller_contact ?? t.notSet);
  const category = n.purpose_category ? t.purposeCategories[n.purpose_category] ?? n.purpose_category : null;
  const purpose = n.purpose ? (category ? t.purposeWithCategory(n.purpose, category) : n.purpose) : t.notSet;
  const basis = n.legal_basis
    ? t.basisArticle(t.legalBases[n.legal_basis] ?? n.legal_basis, articleLetter(vocabulary().legal_bases, n.legal_basis))
    : t.notSet;
  const condition = n.condition
    ? t.conditionArticle(t.conditions[n.condition] ?? n.condition, articleLetter(vocabulary().conditions, n.condition))
    : t.notSet;
  const recipients = n.recipients.map((u) => t.recipient(u.name, u.roles.map((r) => t.roles[r] ?? r).join('; ')));
  const authorities = n.jurisdictions.map((j): Child =>
    j.authority
      ? [t.authority(j.code, j.authority.name), h('a', { href: j.authority.website, rel: 'noreferrer' }, j.authority.website)]
      : t.noAuthority(j.code, n.controller_contact ?? n.controller ?? t.theController),
  );
  const facts: [string, string, Child][] = [
    ['controller', t.controller, controller],
    ['purposes', t.purposes, purpose],
    ['legal-basis', t.legalBasis, basis],
    ['condition', t.condition, condition],
    ['categories', t.dataCategories, list(n.data_categories.map((c) => t.categories[c.code] ?? c.description), t.notSet)],
    ['recipients', t.recipients, list(recipients, t.noRecipient)],
    ['retention', t.retention, retentionWords(n.retention ?? null)],
    ['source', t.source, t.sourceText],
    ['complaint', t.complaint, list(authorities, t.notSet)],
  ];
  return h(
    'section',
    { class: 'art15', 'data-collection': n.collection },
    h(heading, null, t.collectionTitle(n.collection, faces(n.faces))),
    h('dl', { class: 'art15-facts' }, facts.map(([key, k, v]) => [h('dt', null, k), h('dd', { 'data-fact': key }, v)])),
  );
}

/** Art. 15(1)(e) and (h): the person's rights, and that matching is automated with human review. */
export function rightsAndMatching(r: RightsReport, heading: 'h2' | 'h3'): HTMLElement[] {
  const t = m().rights;
  return [
    h(
      'section',
      { class: 'subject-rights' },
      h(heading, null, t.rightsTitle),
      h('p', null, t.rightsLede),
      h('ul', null, r.subject_rights.map((s) => h('li', { 'data-right': s.right }, t.rightArticle(t.subjectRights[s.right] ?? s.description, s.article)))),
      h('p', null, t.rightsHow),
    ),
    h('section', { class: 'automated-matching' }, h(heading, null, t.automatedTitle), h('p', null, t.automated)),
  ];
}

/** The stylesheet of the downloaded report (inline: the page stands alone). */
const REPORT_CSS = `body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#1a1a1a}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;font-size:90%}
caption{text-align:left;font-weight:bold;padding:4px 0}.path{font-family:monospace;word-break:break-all}
img{width:96px;height:96px;object-fit:cover;border-radius:4px}dt{font-weight:bold;margin-top:.7em}dd{margin-left:1.5em}
dd ul{margin:.2em 0;padding-left:1.2em}section{margin-top:1.5em}footer{margin-top:2em;color:#555;font-size:85%}`;

/**
 * The access report as a page of its own, in the language in use: every text is a text node
 * (serialised escaped), the faces are data: URIs, nothing is fetched from anywhere (its own
 * Content-Security-Policy forbids it). Built in an inert document, so that no picture loads
 * under the app's policy.
 */
async function reportDocument(r: RightsReport, thumbs: Thumbs): Promise<string> {
  const t = m().rights;
  const uris = new Map<number, string | null>();
  await Promise.all(r.matches.map(async (x) => uris.set(x.face_id, await thumbs.dataUri(x.face_id))));
  const body = h(
    'div',
    null,
    h('h1', null, t.docTitle(r.request.id)),
    h('p', null, t.docRequest(r.request.requester, r.request.verification, day(r.request.received_on), day(r.request.deadline))),
    h('p', null, summary(r)),
    matchesTable(r.matches, t.accessCaption(dateTime(r.generated_at)), (x) =>
      uris.get(x.face_id) ? h('img', { 'data-face-src': String(x.face_id), alt: t.faceAlt(x.face_id, basename(x.path)) }) : t.noThumbnail,
    ),
    r.collections.map((n) => noticeSection(n, 'h2')),
    rightsAndMatching(r, 'h2'),
    h('footer', null, h('p', null, t.generated(dateTime(r.generated_at)))),
  );
  const doc = document.implementation.createHTMLDocument(t.docTitle(r.request.id));
  const meta = (attrs: Record<string, string>): void => {
    const el = doc.createElement('meta');
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    doc.head.prepend(el);
  };
  meta({ name: 'viewport', content: 'width=device-width, initial-scale=1' });
  meta({ 'http-equiv': 'Content-Security-Policy', content: "default-src 'none'; img-src data:; style-src 'unsafe-inline'" });
  meta({ charset: 'utf-8' });
  doc.body.append(...[...doc.importNode(body, true).childNodes]);
  for (const img of doc.querySelectorAll('img[data-face-src]')) {
    img.setAttribute('src', uris.get(Number(img.getAttribute('data-face-src'))) ?? '');
    img.removeAttribute('data-face-src');
  }
  // The stylesheet goes in as text: a <style> element made here would break the app's own
  // policy (no inline style), even in an inert document. REPORT_CSS is a constant.
  return `<!doctype html>\n<html lang="${lang()}"><head>${doc.head.innerHTML}<style>${REPORT_CSS}</style></head><body>${doc.body.innerHTML}</body></html>\n`;
}

/** The link downloading the report as JSON, made in the page (no second request). */
export function jsonLink(r: RightsReport, name: string): HTMLElement {
  const url = objectUrl(new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' }));
  return h('a', { class: 'button-like download', href: url, download: name }, m().rights.downloadJson);
}

/** The link downloading the report as an HTML page; a link once the faces are in it. */
export function htmlLink(r: RightsReport, thumbs: Thumbs, name: string): HTMLElement {
  const a = h('a', { class: 'button-like download download-html', download: name, 'aria-disabled': 'true' }, m().rights.downloadHtml);
  void reportDocument(r, thumbs).then((html) => {
    a.setAttribute('href', objectUrl(new Blob([html], { type: 'text/html;charset=utf-8' })));
    a.removeAttribute('aria-disabled');
  });
  return a;
}
