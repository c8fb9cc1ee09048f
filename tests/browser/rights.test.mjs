// The rights pages end to end, in headless Chromium against a real `gabarit serve`: a DPO
// answers an access request with obama.jpg and the report is what GDPR art. 15 gives the
// person: each face with its thumbnail and source, and per collection the controller, the
// purposes, the legal basis, the categories of data, the recipients (who may see the faces),
// the retention in words, the supervisory authority of the collection's jurisdiction (the
// CNIL for FR), the person's rights and that matching is automated with human review. The
// report downloads as a self-contained HTML page (faces as data: URIs, no resource from
// anywhere; opened in a page of its own, it loads nothing) holding the same faces, and as
// JSON; once in English and once in French. The erasure plan shows the faces too.
// Screenshots go to test-artifacts/rights-{en,fr}-*.png. The pages must log no error and
// request nothing outside the server.
//
// Needs what ui.test.mjs needs (see harness.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { artifacts, newPage, withServer } from './harness.mjs';

/** Every label the test reads, in each language. */
const UI = {
  en: {
    menu: 'Rights requests', kind: 'Kind', requester: 'Requester',
    verification: 'Identity verified by', open: 'Open the request', title: /^Rights request \d+$/, photo: "Requester's photo",
    runAccess: 'Run access', accessTitle: /^Access report: \d+ faces?$/, planErasure: 'Plan the erasure', planTitle: /^Erasure plan: \d+ faces?$/,
    html: 'Download the report (HTML)', json: 'Download the report (JSON)',
  },
  fr: {
    menu: 'Demandes de droits', kind: 'Type', requester: 'Demandeur',
    verification: 'Identité vérifiée par', open: 'Ouvrir la demande', title: /^Demande de droits \d+$/, photo: 'Photo du demandeur',
    runAccess: 'Lancer l’accès', accessTitle: /^Rapport d’accès : \d+ visages?$/, planErasure: 'Préparer l’effacement', planTitle: /^Plan d’effacement : \d+ visages?$/,
    html: 'Télécharger le rapport (HTML)', json: 'Télécharger le rapport (JSON)',
  },
};

/** What the report must say, in each language. */
const SAYS = {
  en: {
    retention: /^3,650 days after the photo was ingested$/,
    recipients: [/^inv \(investigator: searches the collection\)$/, /^rita \(reviewer: /, /^raoul \(reviewer: /, /^cur \(curator: /, /^dora \(data protection officer: /],
    basis: /^the legitimate interests pursued by the controller \(GDPR art\. 6\(1\)\(f\)\)$/,
    rights: { rectification: /rectified \(GDPR art\. 16\)$/, erasure: /erased.*\(GDPR art\. 17\)$/, restriction: /restriction.*\(GDPR art\. 18\)$/, objection: /object.*\(GDPR art\. 21\)$/ },
    automated: /^Faces are matched automatically.*reviewed by people, who confirm or reject it/,
    headings: ['Your rights', 'Automated matching, human review'],
    h1: /^Rights request \d+: access report$/,
    complaint: 'Right to lodge a complaint with a supervisory authority (GDPR art. 77)',
  },
  fr: {
    retention: /^3\s650 jours après l’intégration de la photo$/,
    recipients: [/^inv \(enquêteur : effectue des recherches dans la collection\)$/, /^rita \(vérificateur : /, /^raoul \(vérificateur : /, /^cur \(gestionnaire : /, /^dora \(délégué à la protection des données : /],
    basis: /^les intérêts légitimes poursuivis par le responsable du traitement \(article 6\.1\.f du RGPD\)$/,
    rights: { rectification: /rectification.*\(article 16 du RGPD\)$/, erasure: /effacement.*\(article 17 du RGPD\)$/, restriction: /limitation.*\(article 18 du RGPD\)$/, objection: /opposition.*\(article 21 du RGPD\)$/ },
    automated: /^Les visages sont comparés automatiquement.*examiné par des personnes, qui le confirment ou le rejettent/,
    headings: ['Vos droits', 'Comparaison automatisée, examen humain'],
    h1: /^Demande de droits \d+ : rapport d’accès$/,
    complaint: 'Droit d’introduire une réclamation auprès d’une autorité de contrôle (article 77 du RGPD)',
  },
};

const CNIL = 'Commission nationale de l\'informatique et des libertés (CNIL)';
const CNIL_SITE = 'https://www.cnil.fr';

/** Every picture of `scope` shown (loaded, with pixels). */
async function thumbnailsShown(page, scope) {
  await page.waitForFunction((sel) => [...document.querySelectorAll(sel)].every((i) => i.complete && i.naturalWidth > 0), `${scope} img`);
  return page.locator(`${scope} img`).count();
}

/** Checks the art. 15 sections of a page or a downloaded report (`root` locator) in `lang`. */
async function checkArt15(root, lang) {
  const says = SAYS[lang];
  const section = root.locator('section.art15[data-collection="press"]');
  assert.equal(await section.count(), 1, 'one art. 15 section, for the press collection');
  const fact = (name) => section.locator(`dd[data-fact="${name}"]`);
  assert.match((await fact('complaint').innerText()).trim(), new RegExp(`^FR ?: ${CNIL.replace(/[()]/g, '\\$&')} — ${CNIL_SITE.replace(/\./g, '\\.')}$`));
  assert.equal(await fact('complaint').locator('a').getAttribute('href'), CNIL_SITE, 'the authority is linked');
  assert.equal(await section.locator('dt', { hasText: says.complaint }).count(), 1, 'the right to complain is named');
  const recipients = (await fact('recipients').locator('li').allInnerTexts()).map((s) => s.trim());
  for (const r of says.recipients) assert.ok(recipients.some((x) => r.test(x)), `recipient ${r} in ${JSON.stringify(recipients)}`);
  assert.ok(!recipients.some((x) => x.startsWith('admin ')), `the admin cannot see faces: ${recipients}`);
  assert.match((await fact('retention').innerText()).trim(), says.retention);
  assert.match((await fact('legal-basis').innerText()).trim(), says.basis);
  assert.match(await fact('controller').innerText(), /Agence Exemple, dpo@agence\.example/);
  assert.match(await fact('purposes').innerText(), /press photo archive/);
  assert.equal(await fact('categories').locator('li').count(), 4, 'the categories of data');
  for (const [right, re] of Object.entries(says.rights)) {
    assert.match((await root.locator(`section.subject-rights li[data-right="${right}"]`).innerText()).trim(), re);
  }
  assert.match((await root.locator('section.automated-matching p').innerText()).trim(), says.automated);
  for (const heading of says.headings) assert.equal(await root.getByRole('heading', { name: heading, exact: true }).count(), 1, heading);
}

async function openRequest(p, lang, kind, requester) {
  const { page, sample } = p;
  const ui = UI[lang];
  await page.getByRole('navigation').getByRole('link', { name: ui.menu, exact: true }).click();
  await page.getByRole('heading', { name: ui.menu }).waitFor();
  await page.getByLabel(ui.kind, { exact: true }).selectOption(kind);
  await page.getByLabel(ui.requester, { exact: true }).fill(requester);
  await page.getByLabel(ui.verification).fill('ID card checked at the desk');
  await page.getByRole('button', { name: ui.open }).click();
  await page.getByRole('heading', { name: ui.title }).waitFor();
  await page.getByLabel(ui.photo).setInputFiles(sample('obama.jpg'));
}

/**
 * Opens the downloaded report in a page of its own (its own context, nothing else loaded) and
 * checks it stands alone: no script, no resource but data: pictures, no http(s) address but the
 * authority's link; returns the page to check its content.
 */
async function openDownloaded(browser, html, lang) {
  assert.ok(!/<script|<link|<iframe|<object|<embed|@import|url\(/i.test(html), 'no script, stylesheet link, frame or url() in the report');
  const addresses = [...html.matchAll(/https?:\/\/[^\s"'<>)]*/g)].map((m) => m[0]);
  assert.ok(addresses.length > 0 && addresses.every((a) => a === CNIL_SITE), `only the authority's address: ${addresses}`);
  const srcs = [...html.matchAll(/\ssrc="([^"]*)"/g)].map((m) => m[1]);
  assert.ok(srcs.length > 0 && srcs.every((s) => s.startsWith('data:image/jpeg;base64,')), 'every picture is a data: URI');
  const context = await browser.newContext({ locale: lang === 'fr' ? 'fr-FR' : 'en-GB' });
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  page.on('request', (r) => { if (!r.url().startsWith('data:') && r.url() !== 'about:blank') requests.push(r.url()); });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.setContent(html, { waitUntil: 'load' });
  const pictures = await thumbnailsShown(page, 'table.matches');
  assert.equal(pictures, await page.locator('table.matches tbody tr').count(), 'a picture of each face');
  assert.equal(await page.locator('html').getAttribute('lang'), lang);
  assert.deepEqual(requests, [], 'the report loads nothing');
  assert.deepEqual(errors, [], 'the report opens without an error');
  return { page, context };
}

async function accessReport(browser, base, lang) {
  const p = await newPage(browser, base, `rights-${lang}`, lang === 'fr' ? { locale: 'fr-FR' } : {});
  const { page, errors, screenshot, login } = p;
  const ui = UI[lang];
  await page.goto(`${base}/`);
  await login('dora');
  await openRequest(p, lang, 'access', `REQ-${lang}-001`);
  await page.getByRole('button', { name: ui.runAccess }).click();
  await page.getByRole('heading', { name: ui.accessTitle }).waitFor();
  const output = page.locator('.rights-output');

  // Each face with its thumbnail and the source of its photo.
  const rows = await output.locator('table.matches tbody tr').count();
  assert.ok(rows >= 2, `obama2.jpg and obama3.jpg at least: ${rows}`);
  assert.equal(await thumbnailsShown(page, '.rights-output table.matches'), rows, 'a thumbnail for each face');
  const paths = await output.locator('table.matches td.path').allInnerTexts();
  assert.ok(paths.some((x) => x.endsWith('/obama2.jpg')) && paths.some((x) => x.endsWith('/obama3.jpg')), `${paths}`);
  const sources = await output.locator('table.matches td.source').allInnerTexts();
  assert.ok(sources.every((s) => s.endsWith('/gallery')), `the source of each photo (the folder ingested): ${sources}`);
  await checkArt15(output, lang);
  await screenshot('access');

  // The JSON: the same report, with art. 15 as data.
  const [json] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: ui.json }).click()]);
  const report = JSON.parse(readFileSync(await json.path(), 'utf8'));
  const press = report.collections.find((c) => c.collection === 'press');
  assert.equal(press.jurisdictions[0].authority.website, CNIL_SITE);
  assert.equal(press.retention_text, '3650 days after ingestion');
  assert.ok(press.recipients.some((r) => r.name === 'inv' && r.roles.includes('investigator')), JSON.stringify(press.recipients));

  // The HTML: a page of its own in the language in use, holding the same faces.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: ui.html }).click()]);
  assert.equal(download.suggestedFilename(), `gabarit-rights-${report.request.id}-access.html`);
  const html = readFileSync(await download.path(), 'utf8');
  const doc = await openDownloaded(browser, html, lang);
  assert.match(await doc.page.locator('h1').innerText(), SAYS[lang].h1);
  const docPaths = await doc.page.locator('table.matches td.path').allInnerTexts();
  assert.deepEqual(docPaths.map((x) => basename(x)).sort(), paths.map((x) => basename(x)).sort(), 'the download holds the faces shown');
  assert.deepEqual(report.matches.map((m) => basename(m.path)).sort(), docPaths.map((x) => basename(x)).sort(), 'and those of the JSON');
  await checkArt15(doc.page.locator('body'), lang);
  await doc.page.screenshot({ path: join(artifacts, `rights-${lang}-report-download.png`), fullPage: true });
  await doc.context.close();
  return p;
}

test('the rights pages: the access report gives what GDPR art. 15 lists, with the faces, downloadable in English and French; the erasure plan shows the faces', { timeout: 600_000 }, async () => {
  await withServer('rights', async ({ base, browser }) => {
    // In English, then the erasure plan with its faces (nothing is erased).
    const en = await accessReport(browser, base, 'en');
    await openRequest(en, 'en', 'erasure', 'REQ-en-002');
    await en.page.getByRole('button', { name: UI.en.planErasure }).click();
    await en.page.getByRole('heading', { name: UI.en.planTitle }).waitFor();
    const planned = await en.page.locator('.rights-output table.matches tbody tr').count();
    assert.ok(planned >= 2, `the plan lists obama's faces: ${planned}`);
    assert.equal(await thumbnailsShown(en.page, '.rights-output table.matches'), planned, 'a thumbnail for each face to erase');
    await en.screenshot('erasure-plan');
    assert.deepEqual(en.errors, [], 'no console error, page error, failed or outside request (English)');

    // In French.
    const fr = await accessReport(browser, base, 'fr');
    await openRequest(fr, 'fr', 'erasure', 'REQ-fr-002');
    await fr.page.getByRole('button', { name: UI.fr.planErasure }).click();
    await fr.page.getByRole('heading', { name: UI.fr.planTitle }).waitFor();
    assert.equal(
      await thumbnailsShown(fr.page, '.rights-output table.matches'),
      await fr.page.locator('.rights-output table.matches tbody tr').count(),
      'a thumbnail for each face to erase',
    );
    await fr.screenshot('erasure-plan');

    const errors = [...en.errors, ...fr.errors];
    assert.deepEqual(errors, []);
  });
});
