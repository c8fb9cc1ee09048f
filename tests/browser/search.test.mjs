// The search page end to end, in headless Chromium against a real `gabarit serve`: only the
// collections granted are offered; a file that is not a photo is refused with the server's
// words alone; a number of candidates out of range is refused, not capped; the summary says
// plainly how the gallery was searched and what the suggested threshold means; each candidate
// reads as on the reviewer's page (card, dialog and review page alike); a failed search is
// shown beside the Search button and the previous results go; the page in French.
// Screenshots go to test-artifacts/search-*.png.
//
// Needs what ui.test.mjs needs (see harness.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GOVERNANCE, gabaritAs, newPage, withServer } from './harness.mjs';

/** Whether an element is wholly inside the window (not scrolled out of view). */
const inView = (el) => {
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
};

test('the search page: granted collections, refusals beside their cause, scores worded as for reviewers', { timeout: 600_000 }, async () => {
  // Two more collections of the curator: "events" granted to inv, "archive" not.
  const moreCollections = (dir) => {
    const cli = (user, args) => gabaritAs(dir, user, args);
    cli('cur', ['collection', 'create', 'archive', ...GOVERNANCE]);
    cli('cur', ['collection', 'create', 'events', ...GOVERNANCE]);
    cli('admin', ['user', 'grant', 'inv', 'events']);
  };
  await withServer('search', { prepare: moreCollections }, async ({ base, browser }) => {
    const { page, errors, screenshot, login, logout, sample, imagesLoaded, expectRefusal } = await newPage(browser, base, 'search');
    const searches = [];
    page.on('request', (r) => { if (/\/api\/v1\/queries\/[^/]+\/search$/.test(r.url())) searches.push(r.postDataJSON()); });

    await page.goto(`${base}/`);
    await login('inv');
    await page.getByRole('heading', { name: 'Search', exact: true }).waitFor();

    // --- Only the collections granted to inv are offered ("archive" is not).
    const choice = page.locator('fieldset.collections-choice');
    await choice.getByRole('checkbox').first().waitFor();
    const offered = await choice.getByRole('checkbox').evaluateAll((bs) => bs.map((b) => b.value).sort());
    assert.deepEqual(offered, ['events', 'press'], `collections offered: ${offered}`);
    assert.equal(await choice.getByText('archive').count(), 0);
    const listed = await page.evaluate(() => fetch('/api/v1/collections').then((r) => r.json()));
    assert.deepEqual(listed.map((c) => c.name).sort(), ['events', 'press'], 'the server lists only the collections granted');

    // --- A file that is not a photo: the server's words, not "the image could not be shown".
    const photoAlert = page.locator('fieldset.photo-step').getByRole('alert');
    let before = errors.length;
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/api/v1/queries` && r.request().method() === 'POST'),
      page.getByLabel('Choose a photo').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('These are notes, not a photo.\n') }),
    ]);
    assert.ok([415, 422].includes(refused.status()), `a text file is refused: ${refused.status()}`);
    const apiMessage = (await refused.json()).error.message;
    await photoAlert.waitFor();
    assert.equal(await photoAlert.innerText(), apiMessage);
    assert.equal(await page.locator('.photo-missing').count(), 0, 'no "could not be shown" text');
    assert.equal(await page.locator('.query-photo img').count(), 0, 'no broken photo');
    assert.equal(await page.getByText(/could not be shown/).count(), 0);
    await expectRefusal(before, refused.status(), 'the text file analysed');
    await screenshot('not-a-photo');

    // --- A photo; the case; a number of candidates above the maximum is refused, not capped.
    await page.getByLabel('Choose a photo').setInputFiles(sample('obama.jpg'));
    await page.getByRole('button', { name: /^Face 1/ }).waitFor();
    assert.ok(await photoAlert.isHidden(), 'the refusal of the other file is gone');
    await page.getByLabel('Case reference').fill('CASE-2026-020');
    await page.getByLabel('Purpose').fill('Find the press photos of a person for a rights check');
    const topK = page.getByLabel('Candidates to show');
    const searchButton = page.getByRole('button', { name: 'Search', exact: true });
    const searchAlert = page.locator('.actions', { has: searchButton }).getByRole('alert');
    for (const wrong of ['500', '0', '2.5']) {
      await topK.fill(wrong);
      await searchButton.click();
      await searchAlert.waitFor();
      const said = await searchAlert.innerText();
      assert.match(said, /^Candidates to show: give a whole number from 1 to 100/, said);
      assert.ok(said.includes(`(not ${wrong})`), said);
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'top_k', 'the field to fix has the focus');
      assert.equal(await topK.getAttribute('aria-invalid'), 'true');
      assert.equal(await topK.inputValue(), wrong, 'the number is left as given');
    }
    assert.equal(searches.length, 0, 'no search made');
    await screenshot('top-k-refused');

    await topK.fill('5');
    await searchButton.click();
    await page.locator('#results-title').waitFor();
    assert.ok(await searchAlert.isHidden(), 'the refusal is gone');
    assert.equal(searches.length, 1);
    assert.equal(searches[0].top_k, 5, 'the number asked for is the one searched');
    const cards = page.locator('.results li.candidate');
    const n = await cards.count();
    assert.ok(n >= 2 && n <= 5, `at most 5 candidates: ${n}`);

    // --- The summary, plainly: the gallery is small, every face is compared.
    const summary = await page.locator('.results .summary').innerText();
    assert.match(summary, /^Case CASE-2026-020, search \d+: face 1 of the query photo against the \d+ faces of (press, events|events, press), score threshold \d\.\d\d, every face compared\.$/, summary);
    assert.ok(!/graph index|may be missed/.test(await page.locator('.results').innerText()));
    const fpir = await page.locator('.results .fpir').innerText();
    assert.match(fpir, /^Suggested threshold for this gallery size: \d\.\d\d\. With it, a search for someone who is not in these collections would show a candidate about once in 1,000 searches\.$/, fpir);

    // --- Each candidate in the one wording of what a score means (band and words), not one
    // sentence for all.
    const meanings = await page.locator('.results li.candidate .meaning').allInnerTexts();
    assert.equal(meanings.length, n);
    for (const m of meanings) assert.match(m, /^\s*(Few look-alikes expected|Look-alikes possible|Look-alikes likely) — (About 1 pair of different people in [\d,.]+ scores this high|Higher than any of the [\d,]+ pairs of different people measured)/, m);
    assert.equal(await page.locator('.results li.candidate .meaning .band[role="img"]').count(), n);
    const obama2 = cards.filter({ hasText: 'obama2.jpg' });
    const candidate = await obama2.getAttribute('data-candidate');
    const cardMeaning = await obama2.locator('.meaning').innerText();
    await imagesLoaded();
    await screenshot('results');
    // The dialog says the same.
    await obama2.getByRole('button', { name: /^Open candidate \d+ \(obama2\.jpg\)$/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('.detail-photo .face-box').waitFor();
    assert.equal(await dialog.locator('.meaning').innerText(), cardMeaning);
    await screenshot('dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    // --- A failed search: its message beside the Search button, in view; the previous
    // results are gone.
    await page.getByLabel('Case reference').fill(`CASE-${'9'.repeat(300)}`);
    before = errors.length;
    await searchButton.click();
    await searchAlert.waitFor();
    const failure = await searchAlert.innerText();
    assert.match(failure, /case/i, failure);
    assert.ok(await searchAlert.evaluate(inView), 'the message is in view');
    assert.ok(await page.locator('.results').isHidden(), 'the previous results are gone');
    assert.equal(await page.locator('.results li.candidate').count(), 0);
    await expectRefusal(before, 422, 'the search with a case reference too long');
    await screenshot('search-failed');
    await logout();

    // --- The reviewer's page words the same candidate the same way.
    await login('rita');
    await page.goto(`${base}/#/review/${candidate}`);
    await page.getByRole('heading', { name: `Candidate ${candidate}` }).waitFor();
    assert.equal(await page.locator('.decision .meaning').innerText(), cardMeaning, 'the review page reads as the search page');
    await page.waitForFunction(() => [...document.querySelectorAll('.compare img.face')].every((i) => i.complete && i.naturalWidth > 0));
    await logout();

    // --- In French.
    const fr = await newPage(browser, base, 'search-fr', { locale: 'fr-FR' });
    await fr.page.goto(`${base}/`);
    await fr.login('inv');
    await fr.page.getByRole('heading', { name: 'Recherche', exact: true }).waitFor();
    assert.match(await fr.page.locator('.lede').innerText(), /^Chaque recherche est liée à un dossier et à une finalité/);
    await fr.page.getByLabel('Choisir une photo').setInputFiles(fr.sample('obama.jpg'));
    await fr.page.getByRole('button', { name: /^Visage 1/ }).waitFor();
    assert.match(await fr.page.locator('.photo-step .status').innerText(), /^1 visage trouvé\.$/);
    await fr.page.getByLabel('Référence du dossier').fill('CASE-2026-021');
    await fr.page.getByLabel('Finalité').fill('Retrouver les photos de presse d’une personne');
    await fr.page.getByLabel('Candidats à afficher').fill('101');
    await fr.page.getByRole('button', { name: 'Rechercher', exact: true }).click();
    await fr.page.getByRole('alert').getByText('Candidats à afficher : indiquez un nombre entier de 1 à 100 (et non 101).').waitFor();
    await fr.page.getByLabel('Candidats à afficher').fill('10');
    await fr.page.getByRole('button', { name: 'Rechercher', exact: true }).click();
    await fr.page.locator('#results-title').waitFor();
    assert.match(await fr.page.locator('#results-title').innerText(), /^\d+ candidats à vérifier$/);
    assert.match(await fr.page.locator('.results .summary').innerText(), /^Dossier CASE-2026-021, recherche \d+ : visage 1 de la photo de recherche comparé aux \d+ visages de (press, events|events, press), seuil de score \d,\d\d, chaque visage comparé\.$/);
    assert.match(await fr.page.locator('.results .fpir').innerText(), /^Seuil conseillé pour cette taille de galerie : \d,\d\d\. Avec ce seuil, une recherche portant sur une personne absente de ces collections afficherait un candidat environ une fois sur 1\s000 recherches\.$/);
    assert.match(await fr.page.locator('.results li.candidate .score').first().innerText(), /^#1 Score 0,\d{3}$/, 'a score as French writes it');
    const frMeaning = await fr.page.locator('.results li.candidate .meaning').first().innerText();
    assert.match(frMeaning, /^\s*(Peu de sosies attendus|Sosies possibles|Sosies probables) — /, frMeaning);
    await fr.imagesLoaded();
    await fr.screenshot('results');
    assert.deepEqual(fr.errors, []);

    assert.deepEqual(errors, [], 'no console error, page error, failed or outside request');
  });
});
