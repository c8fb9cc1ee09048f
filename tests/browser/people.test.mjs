// The people pages end to end, in headless Chromium against a real `gabarit serve`: the
// collection "press" (the gallery, plus obama.jpg: three photos of one man) with grouping turned
// on by the CLI. A curator sees grouping in the governance (view and form; refused by the server
// for event photos), groups the faces with "Group now" (the bar, then the job's report), and
// sees the persons `gabarit people list --json` lists, with their counts and faces; names a
// person (shown, kept after a reload, the same in the CLI; never in the URL, title or console);
// says "not this person" of a face (one face less, as the CLI says); splits a face off and
// merges it back; moves a face to another person and back. The pages in French. An
// investigator searches with a person's face (the search page takes its crop as the photo); a
// reviewer gets the forbidden page. Last, the curator turns grouping off (asked to confirm):
// the groups are gone. Screenshots go to test-artifacts/people-*.png and people-fr-*.png.
//
// Needs what ui.test.mjs needs (see harness.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { gabaritAs, newPage, samples, withServer } from './harness.mjs';

/** A person's name, which must never leave the page (URL, title, console). */
const NAME = 'Barack Obama';
const en = (n) => n.toLocaleString('en-GB');
const facesEn = (n) => `${en(n)} ${n === 1 ? 'face' : 'faces'}`;
const personsEn = (n) => `${en(n)} ${n === 1 ? 'person' : 'persons'}`;

test('people pages: grouping, the persons as the CLI lists them, naming, corrections, French, roles', { timeout: 900_000 }, async () => {
  // A third photo of the man of obama2.jpg and obama3.jpg, ingested before grouping is on
  // (nothing is grouped yet: the page's "Group now" does it).
  const prepare = (dir) => {
    gabaritAs(dir, 'cur', ['ingest', '--quiet', '--collection', 'press', join(samples, 'obama.jpg')]);
    gabaritAs(dir, 'cur', ['collection', 'update', 'press', '--grouping', 'on']);
  };
  await withServer('people', { prepare }, async ({ dir, base, browser }) => {
    const json = (args) => JSON.parse(gabaritAs(dir, 'cur', [...args, '--json']));
    /** The collection's governance (`collection show` prints JSON). */
    const governanceOf = () => JSON.parse(gabaritAs(dir, 'cur', ['collection', 'show', 'press'])).governance;
    const listed = () => json(['people', 'list', 'press']).items;
    const shown = (id) => json(['people', 'show', String(id)]);
    const faceIds = (id) => shown(id).members.map((f) => f.face_id).sort((a, b) => a - b);
    assert.deepEqual(listed(), [], 'nothing grouped before the page groups');

    const { page, errors, screenshot, login, logout, imagesLoaded, expectRefusal } = await newPage(browser, base, 'people');
    const said = [];
    page.on('console', (m) => said.push(m.text()));
    const jobs = [];
    page.on('response', async (r) => {
      if (/\/api\/v1\/jobs\/\d+$/.test(r.url()) && r.ok()) jobs.push(await r.json());
    });
    await page.goto(`${base}/`);
    await login('cur');
    await page.getByRole('heading', { name: 'Collections', exact: true }).waitFor();
    await page.getByRole('link', { name: 'press', exact: true }).click();
    await page.getByRole('heading', { name: 'Collection press' }).waitFor();

    // --- Grouping in the governance: shown, in the form, refused for event photos.
    const facts = page.locator('dl.facts');
    await facts.waitFor();
    assert.equal(await facts.locator('.grouping').innerText(), 'on');
    await page.getByRole('button', { name: 'Edit governance' }).click();
    const governance = page.locator('form.governance-edit');
    const groupingBox = governance.getByLabel('Group faces by person');
    assert.ok(await groupingBox.isChecked(), 'the form is filled with grouping on');
    const hintId = await groupingBox.getAttribute('aria-describedby');
    assert.match(await page.locator(`[id="${hintId}"]`).innerText(), /Refused for event photos, and without a DPIA reference.*Turning it off erases every group, name and correction\./);
    let before = errors.length;
    await governance.getByLabel('Kind of purpose').selectOption('event_photos');
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    const govAlert = governance.getByRole('alert');
    await govAlert.waitFor();
    assert.match(await govAlert.innerText(), /grouping/i, 'the server says why');
    await expectRefusal(before, 422, 'grouping for event photos');
    // The field the server names is marked, points at the message, and has the focus.
    assert.equal(await groupingBox.getAttribute('aria-invalid'), 'true');
    assert.equal(await groupingBox.getAttribute('aria-errormessage'), await govAlert.getAttribute('id'));
    assert.ok(await groupingBox.evaluate((el) => el === document.activeElement), 'the field at fault has the focus');
    assert.equal(await governance.locator('[aria-invalid="true"]').count(), 1, 'only that field');
    assert.equal(governanceOf().purpose_category, 'archive', 'nothing was saved');
    await governance.getByRole('button', { name: 'Close' }).click();
    await screenshot('governance');

    // --- The people page: nothing yet, then "Group now".
    await page.locator('.people-link').getByRole('link', { name: 'People of this collection: its faces grouped by person' }).click();
    await page.getByRole('heading', { name: 'People of press', level: 1 }).waitFor();
    assert.equal(await page.title(), 'People of press · Gabarit');
    await page.locator('.people-list').getByText('No person yet: group the faces.', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Group now' }).click();
    const outcome = page.locator('section.grouping [role="status"]');
    await outcome.getByText(/^Done: /).waitFor();
    const cards = page.locator('li.person-card');
    await cards.first().waitFor();
    const report = jobs.filter((j) => j.kind === 'group' && j.state === 'done').at(-1)?.report;
    assert.ok(report, `the job's report was read: ${JSON.stringify(jobs)}`);
    assert.equal(
      await outcome.innerText(),
      `Done: ${facesEn(report.faces)} grouped into ${personsEn(report.persons)}, ${en(report.new_persons)} new.` +
        (report.refused ? ` ${en(report.refused)} merges refused by photos or corrections.` : ''),
    );
    assert.ok(await page.getByRole('button', { name: 'Group now' }).isEnabled(), 'the button is back');

    // The persons as the CLI lists them: same order, counts, faces shown, no name yet.
    const checkList = async () => {
      const persons = listed();
      assert.ok(persons.length >= 1, 'at least one person');
      await page.locator('#people-count').getByText(personsEn(persons.length), { exact: true }).waitFor();
      assert.equal(await cards.count(), persons.length);
      // One page holds them all: the line says so and no "more" button shows.
      const n = en(persons.length);
      await page.locator('#people-shown').getByText(`${n} of ${n} shown, most faces first.`, { exact: true }).waitFor();
      assert.equal(await page.locator('.people-list button.more').isVisible(), false);
      const rows = await cards.evaluateAll((ls) => ls.map((l) => ({
        id: Number(l.dataset.person),
        name: l.querySelector('a.person-name').textContent,
        faces: l.querySelector('.faces').textContent,
        confirmed: l.querySelector('.confirmed').textContent,
        cover: l.querySelector('img').getAttribute('src'),
      })));
      assert.deepEqual(rows, persons.map((p) => ({
        id: p.id,
        name: p.label ?? 'Unnamed',
        faces: facesEn(p.faces),
        confirmed: `${en(p.confirmed)} confirmed`,
        cover: `/api/v1/faces/${p.cover_face}/crop`,
      })));
      await imagesLoaded();
      return persons;
    };
    let persons = await checkList();
    assert.equal(persons.length, report.persons, 'the report counts the persons listed');
    // The man of the three photos: the person with the most faces, first.
    const man = persons[0];
    assert.equal(man.faces, 3, `the three photos of one man: ${JSON.stringify(persons)}`);
    const other = persons[1];
    assert.ok(other, 'another person to move a face to');
    await screenshot('list');

    // --- One person: its faces as the CLI shows them.
    await cards.filter({ has: page.locator(`a[href="#/people/${man.id}"]`) }).getByRole('link').click();
    await page.getByRole('heading', { name: `Person ${man.id}`, level: 1 }).waitFor();
    const faceCards = page.locator('li.face-card');
    const shownFaces = async () => (await faceCards.evaluateAll((ls) => ls.map((l) => Number(l.dataset.face)))).sort((a, b) => a - b);
    await faceCards.first().waitFor();
    assert.deepEqual(await shownFaces(), faceIds(man.id));
    assert.equal(await page.locator('dd.person-name').innerText(), 'Unnamed');
    assert.equal(await page.locator('dd.person-faces').innerText(), '3');
    assert.equal(await page.locator('dd.person-confirmed').innerText(), '0');
    await page.locator('.crumbs').getByRole('link', { name: 'People of press' }).waitFor();
    await imagesLoaded();

    // Named: shown, its faces confirmed, kept after a reload, the same in the CLI.
    const done = page.locator('.outcome [role="status"]');
    await page.getByLabel('Name', { exact: true }).fill(NAME);
    await page.getByRole('button', { name: 'Save the name' }).click();
    await done.getByText('Name saved; the faces of this person are confirmed.', { exact: true }).waitFor();
    await page.locator('dd.person-name').getByText(NAME, { exact: true }).waitFor();
    assert.equal(await page.locator('dd.person-confirmed').innerText(), '3');
    assert.equal(await faceCards.locator('.confirmed').count(), 3, 'each face marked confirmed');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Save the name', 'the focus stays on the button used');
    assert.deepEqual([shown(man.id).label, shown(man.id).confirmed], [NAME, 3]);
    await screenshot('named');
    await page.reload();
    await page.getByRole('heading', { name: `Person ${man.id}`, level: 1 }).waitFor();
    await page.locator('dd.person-name').getByText(NAME, { exact: true }).waitFor();
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), NAME);

    // "Not this person": one face less, here and in the CLI.
    const [a, b, c] = await shownFaces();
    await page.locator(`li.face-card[data-face="${c}"]`).getByRole('button', { name: 'Not this person' }).click();
    await done.getByText(`Face ${c} left this person; later groupings keep it apart.`, { exact: true }).waitFor();
    await page.locator('dd.person-faces').getByText('2', { exact: true }).waitFor();
    assert.deepEqual(await shownFaces(), [a, b]);
    assert.deepEqual(faceIds(man.id), [a, b]);
    assert.equal(listed().find((p) => p.id === man.id).faces, 2);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'faces-title', 'the focus goes to the faces, not lost');
    await screenshot('not-this-person');

    // Split one face off, then merge it back.
    await page.getByLabel(`Select face ${b}`).check();
    await page.getByRole('button', { name: 'Split off the selected faces' }).click();
    await done.getByText(/^The selected faces are now person \d+\./).waitFor();
    const split = Number(/person (\d+)\./.exec(await done.innerText())[1]);
    await done.getByRole('link', { name: `Open person ${split}` }).waitFor();
    assert.deepEqual(await shownFaces(), [a]);
    assert.deepEqual([faceIds(man.id), faceIds(split)], [[a], [b]]);
    const mergeForm = page.locator('form.merge');
    // The list offers it; a person beyond the list is reached by its number: merged that way.
    const offered = await mergeForm.getByLabel('Person to merge into this one').locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(offered.includes(String(split)), `the list offers person ${split}: ${offered}`);
    await mergeForm.getByLabel('Or its number').fill(String(split));
    await mergeForm.getByRole('button', { name: 'Merge into this one' }).click();
    await done.getByText(`Person ${split} merged into this one.`, { exact: true }).waitFor();
    await page.locator('dd.person-faces').getByText('2', { exact: true }).waitFor();
    assert.deepEqual(faceIds(man.id), [a, b]);
    assert.ok(!listed().some((p) => p.id === split), 'the person merged in is gone');

    // Move a face to the other person, then back from that person's page.
    const card = page.locator(`li.face-card[data-face="${b}"]`);
    await card.getByLabel('Move to person').selectOption(String(other.id));
    await card.getByRole('button', { name: 'Move' }).click();
    await done.getByText(`Face ${b} moved to person ${other.id}.`, { exact: true }).waitFor();
    assert.deepEqual(await shownFaces(), [a]);
    assert.ok(faceIds(other.id).includes(b), 'the CLI shows the face moved');
    await page.evaluate((h) => { location.hash = h; }, `#/people/${other.id}`);
    await page.getByRole('heading', { name: `Person ${other.id}`, level: 1 }).waitFor();
    const moved = page.locator(`li.face-card[data-face="${b}"]`);
    await moved.waitFor();
    // The other persons are offered by name.
    assert.ok((await moved.getByLabel('Move to person').locator('option').allInnerTexts()).includes(`${NAME} — person ${man.id}, 1 face`));
    await moved.getByLabel('Move to person').selectOption(String(man.id));
    await moved.getByRole('button', { name: 'Move' }).click();
    await done.getByText(`Face ${b} moved to person ${man.id}.`, { exact: true }).waitFor();
    assert.deepEqual(faceIds(man.id), [a, b]);
    assert.ok(!faceIds(other.id).includes(b));

    // Back to the list: the name and the counts as the CLI lists them.
    await page.evaluate((h) => { location.hash = h; }, '#/collections/press/people');
    await page.getByRole('heading', { name: 'People of press', level: 1 }).waitFor();
    await cards.first().waitFor();
    persons = await checkList();
    assert.equal(persons.find((p) => p.id === man.id).label, NAME);
    await cards.locator(`a[href="#/people/${man.id}"]`).getByText(NAME, { exact: true }).waitFor();
    await screenshot('list-named');
    // Found by name: a part of it in another letter case; then everyone again.
    await page.getByLabel('Find a person by name').fill('obAMA');
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    await page.locator('#people-count').getByText('1 person found by name', { exact: true }).waitFor();
    assert.deepEqual(await cards.evaluateAll((ls) => ls.map((l) => Number(l.dataset.person))), [man.id]);
    assert.ok(!page.url().toLowerCase().includes('obama'), 'the name is not in the address');
    await page.getByRole('button', { name: 'Show every person' }).click();
    await page.locator('#people-count').getByText(personsEn(persons.length), { exact: true }).waitFor();
    assert.equal(await cards.count(), persons.length);
    // Only the named: the one person named; then everyone again.
    await page.getByLabel('Only the persons someone named').check();
    await page.locator('#people-count').getByText('1 person', { exact: true }).waitFor();
    assert.deepEqual(await cards.evaluateAll((ls) => ls.map((l) => Number(l.dataset.person))), [man.id]);
    await page.getByLabel('Only the persons someone named').uncheck();
    await page.locator('#people-count').getByText(personsEn(persons.length), { exact: true }).waitFor();
    assert.equal(await cards.count(), persons.length);
    assert.deepEqual(errors, [], 'no console error, page error, failed or outside request');

    // --- French: the list and a person.
    await page.locator('button.lang-switch').click();
    await page.getByRole('heading', { name: 'Personnes de press', level: 1 }).waitFor();
    assert.equal(await page.title(), 'Personnes de press · Gabarit');
    assert.equal(await page.locator('#grouping-title').innerText(), 'Regroupement');
    await page.getByRole('button', { name: 'Regrouper maintenant' }).waitFor();
    await cards.first().waitFor();
    const frMan = cards.filter({ has: page.locator(`a[href="#/people/${man.id}"]`) });
    assert.equal(await frMan.locator('.faces').innerText(), '2 visages');
    assert.equal(await frMan.locator('.confirmed').innerText(), `confirmés : ${shown(man.id).confirmed}`);
    assert.equal(await cards.filter({ has: page.locator(`a[href="#/people/${other.id}"]`) }).locator('a.person-name').innerText(), 'Sans nom');
    await imagesLoaded();
    await screenshot('list-fr');
    const fr = await newPage(browser, base, 'people-fr', { locale: 'fr-FR' });
    await fr.page.goto(`${base}/#/people/${man.id}`);
    await fr.login('cur');
    await fr.page.getByRole('heading', { name: `Personne ${man.id}`, level: 1 }).waitFor();
    await fr.page.locator('li.face-card').first().waitFor();
    assert.equal(await fr.page.title(), `Personne ${man.id} · Gabarit`);
    for (const name of ['Enregistrer le nom', 'Retirer le nom', 'Séparer les visages sélectionnés', 'Fusionner avec celle-ci']) {
      await fr.page.getByRole('button', { name, exact: true }).waitFor();
    }
    assert.equal(await fr.page.getByRole('button', { name: 'Pas cette personne', exact: true }).count(), 2);
    assert.equal(await fr.page.getByRole('heading', { name: 'Ses visages' }).count(), 1);
    assert.deepEqual(await fr.page.locator('.person-facts dt').allInnerTexts(), ['Nom', 'Visages', 'Visages confirmés']);
    await fr.imagesLoaded();
    await fr.screenshot('personne');
    assert.deepEqual(fr.errors, [], 'no error in French');
    await fr.context.close();

    // The name never left the page: not in a URL, the title or the console.
    assert.ok(!said.some((s) => s.includes(NAME)), 'the name is never in the console');
    assert.ok(!page.url().includes('Obama') && !(await page.title()).includes('Obama'));

    // --- An investigator (granted press): the link from the collection, and a search with a face.
    await page.locator('button.lang-switch').click();
    await logout();
    await login('inv');
    await page.evaluate(() => { location.hash = '#/collections/press'; });
    await page.locator('.people-link').getByRole('link').waitFor();
    await page.locator('.people-link').getByRole('link').click();
    await page.getByRole('heading', { name: 'People of press', level: 1 }).waitFor();
    await cards.first().waitFor();
    assert.equal(await cards.count(), persons.length, 'the investigator sees the same persons');
    await cards.locator(`a[href="#/people/${man.id}"]`).click();
    await page.locator(`li.face-card[data-face="${a}"]`).getByRole('link', { name: 'Search with this face' }).click();
    await page.getByRole('heading', { name: 'Search', exact: true }).waitFor();
    assert.ok(page.url().endsWith(`#/search?face=${a}`), page.url());
    await page.getByRole('button', { name: /^Face 1/ }).waitFor();
    assert.equal(await page.locator('fieldset.photo-step [role="status"]').innerText(), '1 face found.');
    await screenshot('search-with-face');
    assert.deepEqual(errors, [], 'no error for the investigator');
    await logout();

    // --- A reviewer: the forbidden page, and no link to it.
    await login('rita');
    for (const hash of ['#/collections/press/people', `#/people/${man.id}`]) {
      await page.evaluate((h) => { location.hash = h; }, hash);
      await page.getByRole('heading', { name: 'Not available', level: 1 }).waitFor();
      assert.equal(
        await page.locator('main [role="alert"]').innerText(),
        'This page is for the curator or investigator or DPO role; you are logged in as rita.',
      );
    }
    await page.evaluate(() => { location.hash = '#/collections/press'; });
    await page.locator('dl.facts .grouping').getByText('on', { exact: true }).waitFor();
    assert.equal(await page.locator('.people-link').count(), 0, 'no link for a reviewer');
    assert.deepEqual(errors, [], 'the reviewer asked the server for no person');
    await screenshot('reviewer-forbidden');
    await logout();

    // --- The curator turns grouping off: asked to confirm, then every group goes.
    await login('cur');
    await page.evaluate(() => { location.hash = '#/collections/press'; });
    await page.getByRole('button', { name: 'Edit governance' }).click();
    await governance.getByLabel('Group faces by person').uncheck();
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    await govAlert.getByText('Turning the grouping off erases every group, name and correction of this collection, for good.').waitFor();
    assert.equal(governanceOf().grouping, true, 'nothing saved before the confirmation');
    await govAlert.getByRole('button', { name: 'Turn it off and erase the groups' }).click();
    await governance.getByRole('status').getByText(/^Saved/).waitFor();
    await facts.locator('.grouping').getByText('off', { exact: true }).waitFor();
    assert.equal(await page.locator('.people-link').count(), 0, 'no link once grouping is off');
    assert.equal(governanceOf().grouping, false);
    before = errors.length;
    await page.evaluate(() => { location.hash = '#/collections/press/people'; });
    const refusal = page.locator('section.people > [role="alert"]');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /grouping is off/);
    assert.ok(await page.locator('section.grouping').isHidden(), 'nothing to group either');
    await expectRefusal(before, 422, 'the people of a collection without grouping');
    await screenshot('grouping-off');
    assert.deepEqual(errors, [], 'no other error');
  });
});
