// The web UI end to end, in headless Chromium against a real `gabarit serve` on loopback: a
// refused login shows the API's message; a curator creates a collection and ingests into it
// (uploads, then a server path) with a progress bar, then edits its governance (a cleared field
// is listed as missing and makes ingestion refused, with a pointer to the form; restored, all is
// set again); an investigator searches with obama.jpg and finds obama2.jpg and obama3.jpg; two
// different reviewers confirm a candidate (the first by the investigator's link, the second
// from the "To review" list, seeing the score, its meaning and the first confirmation before
// deciding), after which it leaves the list; a DPO runs access for a requester, erases their
// faces (plan, then confirmation; the erasure runs as a job the page follows to its end) and
// finds nothing left; the audit chain verifies and the log
// is filtered by action on the server. Screenshots of each step go to test-artifacts/ui-*.png. The page
// must log no error and request nothing outside the server.
//
// Needs the release binary with the UI built in (scripts/web-build.sh, then cargo build
// --release -p gabarit), the models and the sample photos (scripts/test.sh installs both).
// Environment: GABARIT_BIN, GABARIT_MODELS, GABARIT_SAMPLES, GABARIT_ARTIFACTS, CHROMIUM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { newPage, withServer } from './harness.mjs';

/** What a score means, in the one wording every page uses (the band's name may precede it). */
const MEANING = /(About 1 pair of different people in [\d,.]+ scores this high|Higher than any of the [\d,]+ pairs of different people measured)/;

test('the web UI: collections and ingestion, search, two-reviewer confirmation, access and erasure, audit', { timeout: 600_000 }, async () => {
  // A folder curators may ingest from by path (incoming), with one photo in it.
  await withServer('ui', { incoming: ['gdp.jpg'] }, async ({ base, browser, incoming }) => {
    const home = await fetch(`${base}/`);
    const html = await home.text();
    assert.equal(home.status, 200, `GET / answered ${home.status}: ${html.slice(0, 300)}\n(the binary has no UI built in? run scripts/web-build.sh, then cargo build --release -p gabarit)`);
    assert.match(html, /<div id="app">/, 'GET / serves the UI');

    const { page, errors, screenshot, login, logout, sample, imagesLoaded, menu, expectRefusal } = await newPage(browser, base, 'ui');

    // --- A wrong password: the API's message is shown in the page (role="alert").
    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Log in to Gabarit' }).waitFor();
    await page.getByLabel('User name').fill('inv');
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').getByText('unknown user or wrong password').waitFor();
    await screenshot('login-refused');
    // The only errors so far are the browser's report of that 401.
    assert.ok(errors.length > 0 && errors.every((e) => /401/.test(e)), `only the refused login: ${errors}`);
    errors.length = 0;

    // --- A curator creates a collection with its governance fields and ingests into it:
    // uploaded photos, then a file on the server; the progress bar follows each job.
    await login('cur');
    await page.getByRole('heading', { name: 'Collections', exact: true }).waitFor();
    assert.ok((await page.locator('table.data').innerText()).includes('press'), 'the collections are listed');
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'New collection' }) });
    await form.getByLabel('Name', { exact: true }).fill('events');
    await form.getByLabel('Description').fill('Event photos found by participants');
    await form.getByLabel('Controller', { exact: true }).fill('Agence Exemple');
    await form.getByLabel('Controller contact').fill('dpo@agence.example');
    await form.getByLabel('Purpose', { exact: true }).fill('participants find the photos they appear in');
    await form.getByLabel('Kind of purpose').selectOption('event_photos');
    await form.getByLabel(/Legal basis/).selectOption('consent');
    await form.getByLabel(/Condition for biometric data/).selectOption('explicit_consent');
    await form.getByLabel('Jurisdictions').fill('FR');
    await form.getByLabel(/Retention/).fill('365');
    await form.getByLabel('DPIA reference').fill('DPIA-2026-011');
    await form.getByRole('button', { name: 'Create the collection' }).click();
    await page.getByRole('heading', { name: 'Collection events' }).waitFor();
    assert.match(await page.locator('dl.facts').innerText(), /9\(2\)\(a\) explicit consent/);
    await page.getByLabel('Photos or videos').setInputFiles([sample('yaoming.jpg'), sample('biden.jpg')]);
    await page.getByRole('button', { name: 'Upload and ingest' }).click();
    await page.getByRole('status').getByText(/^Done: 2 files, 2 new/).waitFor();
    assert.equal(await page.locator('.progress progress').evaluate((p) => p.value === p.max), true, 'the bar is full');
    const images = page.locator('dl.counts div', { hasText: 'Images' }).locator('dd');
    await images.getByText('2', { exact: true }).waitFor();
    await page.getByLabel('Paths on the server').fill(incoming);
    await page.getByRole('button', { name: 'Ingest these paths' }).click();
    await page.getByRole('status').getByText(/^Done: 1 file, 1 new/).waitFor();
    await images.getByText('3', { exact: true }).waitFor();
    await screenshot('collection-ingested');

    // The curator edits the governance: the form comes filled with the record; a cleared
    // field is listed as missing, ingestion is then refused with a pointer to the form, and
    // the record restored allows it again.
    await page.getByRole('button', { name: 'Edit governance' }).click();
    const governance = page.locator('form.governance-edit');
    await governance.waitFor();
    const dpia = governance.getByLabel('DPIA reference');
    assert.equal(await dpia.inputValue(), 'DPIA-2026-011', 'the form is filled with the governance');
    assert.equal(await governance.getByLabel(/^Retention/).inputValue(), '365');
    assert.equal(await governance.getByLabel(/Legal basis/).inputValue(), 'consent');
    await dpia.fill('');
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    await governance.getByRole('status').getByText('Saved. Still missing before ingestion: DPIA reference.').waitFor();
    await page.locator('.governance-missing').getByText(/Missing: DPIA reference\./).waitFor();
    const beforeRefusal = errors.length;
    await page.getByRole('button', { name: 'Ingest these paths' }).click();
    await page.getByRole('alert').getByText(/governance of this collection is incomplete \(missing: DPIA reference\)\. Complete it with “Edit governance”/).waitFor();
    await expectRefusal(beforeRefusal, 403, 'the ingestion refused');
    await screenshot('governance-incomplete');
    await page.getByRole('button', { name: 'Complete the governance' }).click();
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'dpia');
    await page.keyboard.type('DPIA-2026-011');
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    await governance.getByRole('status').getByText('Saved: every governance field is set, ingestion is allowed.').waitFor();
    await page.locator('.governance-missing').waitFor({ state: 'detached' });
    assert.ok(!(await page.locator('.ingest .alert').isVisible()), 'the refusal is gone with its cause');
    assert.match(await page.locator('dl.facts').innerText(), /DPIA-2026-011/);
    await logout();

    // --- An investigator searches with obama.jpg.
    await login('inv');
    await page.getByRole('heading', { name: 'Search', exact: true }).waitFor();
    await page.getByLabel('Choose a photo').setInputFiles(sample('obama.jpg'));
    const face = page.getByRole('button', { name: /^Face 1/ });
    await face.waitFor();
    // Picking the face by keyboard.
    await face.focus();
    await page.keyboard.press('Space');
    assert.equal(await page.getByRole('button', { name: /^Face 1/ }).getAttribute('aria-pressed'), 'true', 'face 1 picked');
    assert.ok(await page.locator('.face-box').first().isVisible(), 'the face is boxed on the photo');
    await page.getByLabel('Case reference').fill('CASE-2026-014');
    await page.getByLabel('Purpose').fill('Find the press photos of a person for a rights check');
    await screenshot('search-face');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#results-title').waitFor();
    const paths = await page.locator('.candidate .path').allInnerTexts();
    assert.ok(paths.some((p) => p.endsWith('/obama2.jpg')), `obama2.jpg among the candidates: ${paths}`);
    assert.ok(paths.some((p) => p.endsWith('/obama3.jpg')), `obama3.jpg among the candidates: ${paths}`);
    assert.ok(!paths.some((p) => p.endsWith('/biden.jpg')), `biden.jpg is not a candidate: ${paths}`);
    const meanings = await page.locator('.candidate .meaning').allInnerTexts();
    assert.ok(meanings.every((m) => MEANING.test(m)), `each score in plain words: ${meanings}`);
    assert.match(await page.locator('.results').innerText(), /candidates for human review, not identifications/);
    // Every face crop is shown.
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('.candidate img.crop')];
      return imgs.length >= 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    });
    await screenshot('search-results');

    // Opening a candidate: its source image with the face boxed; the link for the reviewers.
    await page.getByRole('button', { name: /Open candidate \d+ \(obama2\.jpg\)/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await dialog.locator('.detail-photo .face-box').waitFor();
    assert.ok(await dialog.locator('.detail-photo img').evaluate((i) => i.complete && i.naturalWidth > 0), 'the source image is shown');
    assert.match(await dialog.innerText(), /obama2\.jpg/);
    const link = await dialog.locator('a.review-link').getAttribute('href');
    assert.match(link, /^#\/review\/\d+$/);
    const candidate = link.split('/').pop();
    await screenshot('candidate');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    // "My cases": the search, the face searched for (kept for the reviewers), each candidate awaiting review.
    await menu('My cases').click();
    const myCase = page.locator('section.case').first();
    await myCase.getByRole('heading', { name: /^Case CASE-2026-014 · search \d+$/ }).waitFor();
    const searchId = await myCase.getAttribute('data-search');
    await page.waitForFunction(() => { const i = document.querySelector('section.case img.query-thumb'); return i && i.complete && i.naturalWidth > 0; });
    const states = await myCase.locator('td.state').allInnerTexts();
    assert.ok(states.length === paths.length && states.every((t) => t === 'Awaiting review'), `every candidate awaits review: ${states}`);
    await screenshot('my-cases');
    await logout();

    // --- Two different reviewers confirm it (the first follows the link while logged out).
    await page.goto(`${base}/${link}`);
    await page.getByRole('heading', { name: 'Log in to Gabarit' }).waitFor();
    await login('rita');
    await page.getByRole('heading', { name: `Candidate ${candidate}` }).waitFor();
    // The face searched for beside the candidate's face, both shown, at the same size; the
    // case, its purpose, the score in words and the state before the decision.
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('.compare img.face')];
      return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
    });
    const [queryBox, foundBox] = await Promise.all(['.compare .query .face-frame', '.compare .found .face-frame'].map((sel) => page.locator(sel).boundingBox()));
    assert.ok(queryBox.width > 100 && Math.abs(queryBox.width - foundBox.width) < 1 && Math.abs(queryBox.height - foundBox.height) < 1, `same size: ${JSON.stringify([queryBox, foundBox])}`);
    assert.ok(Math.abs(queryBox.y - foundBox.y) < 1, 'side by side');
    assert.match(await page.locator('.case-line').innerText(), /Case CASE-2026-014 · search \d+\s+Purpose: Find the press photos of a person for a rights check/);
    assert.match(await page.locator('.decision .score').innerText(), /^Score \d\.\d{3}$/);
    assert.match(await page.locator('.decision .meaning').innerText(), MEANING);
    assert.match(await page.locator('.shortcuts').innerText(), /C confirm · R reject · N next candidate · F show or hide the full photo/);
    await page.locator('.review-verdict').getByText('Not reviewed yet.').waitFor();
    // The full photo on demand (F), with the face boxed.
    await page.keyboard.press('f');
    await page.locator('.full-photo .face-box').waitFor();
    await screenshot('review-compare');
    // Confirmed from the keyboard.
    await page.keyboard.press('c');
    await page.locator('.review-verdict').getByText('Confirmed by rita only', { exact: false }).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Confirm' }).isDisabled(), 'a reviewer confirms once');
    await screenshot('review-first');
    await logout();

    // The second reviewer finds it in the list of candidates awaiting review.
    await login('raoul');
    await menu('To review').click();
    await page.getByRole('heading', { name: 'To review' }).waitFor();
    const card = page.locator(`li.to-review[data-candidate="${candidate}"]`);
    await card.waitFor();
    // Grouped by case and search; the filter narrows the list.
    await page.locator(`section.search-group[data-search="${searchId}"]`).getByRole('heading', { name: `Case CASE-2026-014 · search ${searchId}` }).waitFor();
    const cards = await page.locator('li.to-review').count();
    await page.getByLabel('Filter').fill('obama2');
    assert.equal(await page.locator('li.to-review:visible').count(), 1, 'the filter keeps obama2.jpg only');
    await page.getByLabel('Filter').fill('');
    assert.equal(await page.locator('li.to-review:visible').count(), cards);
    const cardText = await card.innerText();
    assert.match(cardText, /Score \d\.\d{3}/, `the score: ${cardText}`);
    assert.match(await card.locator('.meaning').innerText(), MEANING);
    assert.match(cardText, /Case CASE-2026-014/);
    assert.match(cardText, /obama2\.jpg/);
    assert.match(await card.locator('.review-summary').innerText(), /^Confirmed by rita, waiting for a second reviewer/);
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('li.to-review img.crop')];
      const thumbs = [...document.querySelectorAll('.search-group img.query-thumb')];
      return imgs.length >= 1 && thumbs.length === 1 && [...imgs, ...thumbs].every((i) => i.complete && i.naturalWidth > 0);
    });
    await screenshot('review-list');
    await card.getByRole('link', { name: new RegExp(`^Review candidate ${candidate} \\(obama2\\.jpg`) }).click();
    await page.getByRole('heading', { name: `Candidate ${candidate}` }).waitFor();
    await page.locator('.review-verdict').getByText('Confirmed by rita only', { exact: false }).waitFor();
    assert.match(await page.locator('.decision .score').innerText(), /^Score \d\.\d{3}$/);
    assert.match(await page.locator('.decision .meaning').innerText(), MEANING);
    assert.match(await page.locator('.review-detail').innerText(), /Confirmed by: rita\./);
    // With the Confirm button this time (Enter on it).
    await page.getByRole('button', { name: 'Confirm' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('.review-verdict').getByText('Confirmed by two different reviewers', { exact: false }).waitFor();
    assert.match(await page.locator('.review-detail').innerText(), /Confirmed by: rita, raoul/);
    await imagesLoaded();
    await screenshot('review-confirmed');
    // Confirmed, it has left the list (the other candidates of the search are still there).
    await menu('To review').click();
    await page.getByRole('heading', { name: 'To review' }).waitFor();
    await page.locator('li.to-review').first().waitFor();
    assert.equal(await page.locator(`li.to-review[data-candidate="${candidate}"]`).count(), 0, 'the confirmed candidate is no longer awaiting review');
    // The others are rejected from the keyboard, moving on with N: R, then N, until none is left.
    await imagesLoaded();
    await page.locator('li.to-review a.open').first().click();
    for (let left = cards - 1; left > 0; left -= 1) {
      await page.locator('.review-verdict').getByText('Not reviewed yet.').waitFor();
      await page.waitForFunction(() => {
        const imgs = [...document.querySelectorAll('.compare img.face')];
        return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
      });
      await page.keyboard.press('r');
      await page.locator('.review-verdict').getByText('Rejected by raoul', { exact: false }).waitFor();
      await imagesLoaded();
      const here = page.url();
      await page.keyboard.press('n');
      await page.waitForURL((u) => u.toString() !== here);
    }
    await page.getByText('No candidate is awaiting review.').waitFor();
    // Every candidate decided: the face searched for is gone (404 from the API).
    const before = errors.length;
    // (The body is read: an unread answer is aborted, and reported as failed, at the next page load.)
    const gone = await page.evaluate((id) => fetch(`/api/v1/searches/${id}/query-faces/0`).then(async (r) => (await r.text(), r.status)), searchId);
    assert.equal(gone, 404, 'the query face is deleted with the last decision');
    await expectRefusal(before, 404, 'the query face asked for after the last decision');
    await logout();

    // The investigator's cases show the decisions, and no query face any more.
    await login('inv');
    await menu('My cases').click();
    await page.locator(`section.case[data-search="${searchId}"] td.state`).first().waitFor();
    const decided = await page.locator(`section.case[data-search="${searchId}"] td.state`).allInnerTexts();
    assert.equal(decided.filter((t) => t === 'Confirmed by two reviewers').length, 1, `${decided}`);
    assert.equal(decided.filter((t) => t === 'Rejected').length, cards - 1, `${decided}`);
    assert.equal(await page.locator(`section.case[data-search="${searchId}"] img.query-thumb`).count(), 0, 'no query face kept');
    await screenshot('my-cases-decided');
    await logout();

    // --- A DPO answers an access request, then an erasure request of the same person.
    await login('dora');
    const openRequest = async (kind, requester) => {
      await menu('Rights requests').click();
      await page.getByRole('heading', { name: 'Rights requests' }).waitFor();
      await page.getByLabel('Kind', { exact: true }).selectOption(kind);
      await page.getByLabel('Requester', { exact: true }).fill(requester);
      await page.getByLabel('Identity verified by').fill('ID card checked at the desk');
      await page.getByRole('button', { name: 'Open the request' }).click();
      await page.getByRole('heading', { name: /^Rights request \d+$/ }).waitFor();
      await page.getByLabel("Requester's photo").setInputFiles(sample('obama.jpg'));
    };
    await openRequest('access', 'REQ-2026-001');
    assert.equal(await page.getByRole('button', { name: 'Plan the erasure' }).count(), 0, 'an access request is answered by access only');
    await page.getByRole('button', { name: 'Run access' }).click();
    await page.getByRole('heading', { name: /^Access report/ }).waitFor();
    const reported = await page.locator('table.matches td.path').allInnerTexts();
    assert.ok(reported.some((p) => p.endsWith('/obama2.jpg')) && reported.some((p) => p.endsWith('/obama3.jpg')), `the report lists obama's photos: ${reported}`);
    assert.ok(!reported.some((p) => p.endsWith('/biden.jpg')), `and not biden's: ${reported}`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the report (JSON)' }).click()]);
    const report = JSON.parse(readFileSync(await download.path(), 'utf8'));
    assert.deepEqual(report.matches.map((m) => basename(m.path)).sort(), reported.map((p) => basename(p)).sort(), 'the download is the report shown');
    await screenshot('rights-access');

    await openRequest('erasure', 'REQ-2026-002');
    assert.equal(await page.getByRole('button', { name: 'Run access' }).count(), 0, 'an erasure request is not answered by access');
    await page.getByRole('button', { name: 'Plan the erasure' }).click();
    await page.getByRole('heading', { name: /^Erasure plan: \d+ faces?$/ }).waitFor();
    // The counts erased must be what the plan listed (not a fixed number: the threshold decides).
    const planned = await page.locator('table.matches tbody tr').count();
    const faces = (k) => `${k} ${k === 1 ? 'face' : 'faces'}`;
    assert.ok(planned > 0, 'the plan lists faces to erase');
    assert.equal(planned, reported.length, 'the plan lists the faces access reported');
    await page.getByRole('heading', { name: `Erasure plan: ${faces(planned)}` }).waitFor();
    const erase = page.getByRole('button', { name: `Erase ${faces(planned)}` });
    assert.ok(await erase.isDisabled(), 'nothing is erased before the confirmation');
    await page.getByLabel(/I have checked the \d+ faces? listed above/).check();
    await screenshot('rights-erasure-plan');
    await erase.click();
    // The erasure runs as a job: the page shows it at work, then done (polled every 500 ms).
    await page.getByRole('status').getByText(/^Erasure job \d+ (queued|running)/).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Plan the erasure' }).isDisabled(), 'no other action while the erasure runs');
    await page.getByRole('status').getByText(/^Done: erasure job \d+ finished/).waitFor({ timeout: 120_000 });
    await page.getByRole('heading', { name: 'Erased' }).waitFor();
    const erased = page.locator('.erased');
    assert.match(await erased.innerText(), new RegExp(`^Erased ${faces(planned)}, \\d+ templates? and \\d+ images? left without faces\\.$`));
    assert.equal(Number(await erased.getAttribute('data-faces')), planned, 'the faces erased are those the plan listed');
    assert.ok(Number(await erased.getAttribute('data-templates')) >= planned, 'the templates of every face erased');
    assert.ok(Number(await erased.getAttribute('data-images')) <= planned, 'at most one image per face left without faces');
    assert.match(await page.locator('.request-closed').innerText(), /^Request \d+ is closed \(done\)/);
    assert.match(await page.locator('dl.facts').innerText(), /Status\s+done/, 'the request is shown closed');
    await screenshot('rights-erased');

    // The erasure offers an objection for the same person, with the same photo.
    await page.getByRole('button', { name: 'Record an objection too' }).click();
    const objection = await page.locator('.objection-recorded').innerText();
    assert.match(objection, /^Objection recorded as request \d+: from now on, faces of this person are refused at ingestion/);
    const erasureRequest = page.url().split('/').pop();

    await page.getByRole('button', { name: 'Plan the erasure' }).click();
    await page.getByRole('heading', { name: 'Erasure plan: nothing to erase' }).waitFor();
    await screenshot('rights-access-empty');

    // --- The audit chain, verified with one click.
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.locator('table.audit').waitFor();
    await page.getByRole('button', { name: 'Verify the chain' }).click();
    await page.locator('.verify-result').getByText('The chain is intact', { exact: false }).waitFor();
    // Each look at a source image is in the log.
    await page.getByLabel('Action', { exact: true }).selectOption('image_view');
    const [filtered] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(`${base}/api/v1/audit?`)),
      page.getByRole('button', { name: 'Show' }).click(),
    ]);
    assert.equal(new URL(filtered.url()).searchParams.get('action'), 'image_view', `filtered by the server: ${filtered.url()}`);
    await page.getByText(/matching\.$/).waitFor();
    const shown = await page.locator('table.audit tbody tr td:nth-child(4)').allInnerTexts();
    assert.ok(shown.length > 0 && shown.every((a) => a === 'image_view'), `only image_view entries: ${shown}`);
    const viewers = await page.locator('table.audit tbody tr td:nth-child(3)').allInnerTexts();
    for (const user of ['inv', 'rita']) assert.ok(viewers.includes(user), `${user}'s image view is audited: ${viewers}`);
    // raoul decided on the two faces and never asked for the full photo: it was not loaded.
    assert.ok(!viewers.includes('raoul'), `the full photo is loaded on demand only: ${viewers}`);
    await screenshot('audit');

    await logout();

    // --- An erased photo uploaded again, into another collection: refused, the request named.
    await login('cur');
    await page.getByRole('link', { name: 'events', exact: true }).click();
    await page.getByRole('heading', { name: 'Collection events' }).waitFor();
    await page.getByLabel('Photos or videos').setInputFiles([sample('obama2.jpg')]);
    await page.getByRole('button', { name: 'Upload and ingest' }).click();
    await page.getByRole('status').getByText(/^Done: 1 file, 0 new, 0 already held, 0 faces stored, 1 refused \(erased on request\), 0 failed\.$/).waitFor();
    const refusedLine = await page.locator('.failed-files li[data-code="erased_on_request"]').innerText();
    assert.match(refusedLine, new RegExp(`obama2\\.jpg — refused: a photo with this content was erased on request ${erasureRequest}; not ingested again`));
    await screenshot('erased-refused');
    await logout();

    // --- The reviewer's link to the erased candidate says what happened, not a raw error.
    const beforeGone = errors.length;
    await page.goto(`${base}/#/review/${candidate}`);
    await login('rita');
    await page.getByRole('alert').getByText(`Candidate ${candidate} cannot be shown: its face has been erased since the search`, { exact: false }).waitFor();
    await expectRefusal(beforeGone, 404, 'the erased candidate');
    await screenshot('erased-candidate');

    assert.deepEqual(errors, [], 'no console error, page error, failed or outside request');
  });
});
