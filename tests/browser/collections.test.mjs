// The collections pages end to end, in headless Chromium against a real `gabarit serve`:
// - a new ingestion starts from a clean slate: the previous job's progress, result and failures
//   go, and a refusal (or a check of the form) shows alone;
// - dates are written in the user's language (never an ISO string);
// - the paths form shows the folders the server allows (the first as the placeholder), and is
//   disabled, saying so, on a server that allows none (uploads only);
// - an uploaded file the ingestion does not read (a document, an archive) is reported in the
//   job's list of files not ingested, never dropped unseen;
// - the retention reads as a person reads it ("3,650 days after ingestion", "1 day…",
//   "until 31 Dec 2030");
// - the same pages in French (the browser's language), with screenshots of each.
// Screenshots go to test-artifacts/collections-*.png and collections-fr-*.png. The pages must
// log no error (expected refusals aside) and request nothing outside the server.
//
// Needs what ui.test.mjs needs: the release binary with the UI built in, the models, the
// sample photos and Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newPage, samples, withServer } from './harness.mjs';

/** A date and time as the UI writes it in English ("9 Sept 2009, 20:27:09"). */
const EN_DATE_TIME = /^\d{1,2} [A-Z][a-z]{2,4} \d{4}, \d{2}:\d{2}:\d{2}$/;
const ISO_DATE = /\d{4}-\d{2}-\d{2}/;

test('collections pages: clean slate per ingestion, dates, ingestion roots, unread uploads reported, retention, French', { timeout: 900_000 }, async () => {
  await withServer('collections', { incoming: ['gdp.jpg'] }, async ({ dir, base, browser, incoming, restart }) => {
    // What a curator might pick besides photos: a document and an archive.
    const notes = join(dir, 'notes.txt');
    writeFileSync(notes, 'not a photo\n');
    const archive = join(dir, 'photos.zip');
    writeFileSync(archive, 'PK\u0005\u0006' + '\u0000'.repeat(18));

    // ---------------------------------------------------------------- English, with a root
    const { page, errors, screenshot, login, expectRefusal } = await newPage(browser, base, 'collections');
    await page.goto(`${base}/`);
    await login('cur');
    await page.getByRole('heading', { name: 'Collections', exact: true }).waitFor();
    // The list: dates in words, counts, never an ISO date.
    const created = await page.locator('table.data tbody tr td:nth-child(6)').allInnerTexts();
    assert.ok(created.length === 1 && created.every((d) => EN_DATE_TIME.test(d)), `created dates in words: ${created}`);
    assert.equal(await page.locator('table.data caption').innerText(), '1 collection');
    assert.doesNotMatch(await page.locator('main').innerText(), ISO_DATE);
    await screenshot('list');

    await page.getByRole('link', { name: 'press', exact: true }).click();
    await page.getByRole('heading', { name: 'Collection press' }).waitFor();
    const facts = page.locator('dl.facts');
    await facts.waitFor();
    // Retention as a person reads it, the creation date in words.
    assert.equal(await facts.locator('.retention').innerText(), '3,650 days after ingestion');
    assert.match(await page.locator('p.created').innerText(), /^Created \d{1,2} [A-Z][a-z]{2,4} \d{4}, \d{2}:\d{2}:\d{2}\.$/);
    // The server's default pack, which a collection records when created.
    assert.match(await page.locator('p.pack').innerText(), /^Templates made with the model pack open:/);
    // The paths form names the folder the server allows, and offers it as the example.
    const paths = page.getByLabel('Paths on the server');
    assert.equal(await paths.getAttribute('placeholder'), incoming);
    assert.ok(await paths.isEnabled(), 'ingestion by path is enabled');
    assert.equal(
      await page.locator('form.paths .hint').innerText(),
      `One folder, file or archive per line, as the server sees them. Allowed folders: ${incoming}.`,
    );
    // The upload picker offers photos and videos only (archives are read by path).
    const picker = page.getByLabel('Photos or videos');
    assert.equal(await picker.getAttribute('accept'), 'image/*,video/*');

    // An upload with a new photo, one already held, a document and an archive: the two the
    // ingestion does not read are reported, with why.
    await picker.setInputFiles([join(samples, 'obama.jpg'), join(samples, 'biden.jpg'), notes, archive]);
    await page.getByRole('button', { name: 'Upload and ingest' }).click();
    const progress = page.locator('.ingest .progress');
    const state = progress.getByRole('status');
    await state.getByText(/^Done: /).waitFor();
    assert.match(await state.innerText(), /^Done: 4 files, 1 new, 1 already held, [1-9]\d* faces? stored, 2 failed\.$/);
    const failed = await page.locator('.failed-files li').allInnerTexts();
    assert.equal(failed.length, 2, `${failed}`);
    assert.match(failed[0], /notes\.txt — not a photo or video by its name/);
    assert.match(failed[1], /photos\.zip — an archive is not read from an upload/);
    assert.deepEqual(await page.locator('.failed-files li').evaluateAll((l) => l.map((li) => li.dataset.code)), ['not_a_photo_or_video', 'not_a_photo_or_video']);
    // The recent jobs: states and dates in words.
    const jobRow = page.locator('table.jobs tbody tr').first();
    await jobRow.waitFor();
    assert.equal(await jobRow.locator('td.state').innerText(), 'done');
    assert.match(await jobRow.locator('td:nth-child(6)').innerText(), EN_DATE_TIME);
    assert.equal(await jobRow.locator('td.outcome').innerText(), '1 new, 1 already held, 2 failed');
    await screenshot('upload-unread-reported');

    // A new ingestion refused (a path outside the allowed folder): the refusal shows alone,
    // without the previous job's bar, result or failures.
    let before = errors.length;
    await paths.fill(join(dir, 'gallery'));
    await page.getByRole('button', { name: 'Ingest these paths' }).click();
    await page.locator('.ingest .alert').getByText(/not under an ingestion root/).waitFor();
    await expectRefusal(before, 422, 'the path outside the ingestion roots');
    assert.ok(await progress.isHidden(), 'the previous job\'s progress is gone');
    assert.equal(await progress.locator('.status').textContent(), '', 'the previous job\'s result is gone');
    assert.equal(await page.locator('.failed-files li').count(), 0, 'the previous job\'s failures are gone');
    await screenshot('refusal-alone');

    // A check of the form shows alone too.
    await paths.fill('');
    await page.getByRole('button', { name: 'Ingest these paths' }).click();
    await page.locator('.ingest .alert').getByText('Give at least one path.', { exact: true }).waitFor();
    assert.equal(await page.locator('.ingest .alert').innerText(), 'Give at least one path.');

    // A new job that succeeds: its own result, no refusal left, no failure of a job before.
    await paths.fill(incoming);
    await page.getByRole('button', { name: 'Ingest these paths' }).click();
    await state.getByText(/^Done: 1 file, 0 new, 1 already held, 0 faces stored, 0 failed\.$/).waitFor();
    assert.ok(await page.locator('.ingest .alert').isHidden(), 'the refusal is gone');
    assert.equal(await page.locator('.failed-files li').count(), 0);

    // After a job with failures, a refused upload (the governance incomplete) shows alone.
    await picker.setInputFiles([notes]);
    await page.getByRole('button', { name: 'Upload and ingest' }).click();
    await state.getByText(/^Done: 1 file, 0 new, 0 already held, 0 faces stored, 1 failed\.$/).waitFor();
    assert.equal(await page.locator('.failed-files li').count(), 1);
    await page.getByRole('button', { name: 'Edit governance' }).click();
    const governance = page.locator('form.governance-edit');
    await governance.getByLabel('DPIA reference').fill('');
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    await governance.getByRole('status').getByText('Saved. Still missing before ingestion: DPIA reference.').waitFor();
    before = errors.length;
    await picker.setInputFiles([join(samples, 'yaoming.jpg')]);
    await page.getByRole('button', { name: 'Upload and ingest' }).click();
    await page.locator('.ingest .alert').getByText(/governance of this collection is incomplete \(missing: DPIA reference\)/).waitFor();
    await expectRefusal(before, 403, 'the upload refused for incomplete governance');
    assert.ok(await progress.isHidden(), 'no bar of the job before beside the refusal');
    assert.equal(await page.locator('.failed-files li').count(), 0, 'no failure of the job before beside the refusal');

    // The retention, as a date and as one day, then back; the governance complete again.
    await governance.getByLabel('DPIA reference').fill('DPIA-2026-007');
    await governance.getByLabel(/^Retention/).fill('');
    await governance.getByLabel('Or kept until (date)').fill('2030-12-31');
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    await governance.getByRole('status').getByText('Saved: every governance field is set, ingestion is allowed.').waitFor();
    await facts.locator('.retention').getByText('until 31 Dec 2030', { exact: true }).waitFor();
    assert.ok(await page.locator('.ingest .alert').isHidden(), 'the refusal went with its cause');
    assert.doesNotMatch(await page.locator('main').innerText(), ISO_DATE);
    await screenshot('retention-until');
    await governance.getByLabel('Or kept until (date)').fill('');
    await governance.getByLabel(/^Retention/).fill('1');
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    await facts.locator('.retention').getByText('1 day after ingestion', { exact: true }).waitFor();
    await governance.getByLabel(/^Retention/).fill('3650');
    await governance.getByRole('button', { name: 'Save the governance' }).click();
    await facts.locator('.retention').getByText('3,650 days after ingestion', { exact: true }).waitFor();
    assert.deepEqual(errors, [], 'no console error, page error, failed or outside request');

    // ---------------------------------------------------------------- French
    const fr = await newPage(browser, base, 'collections-fr', { locale: 'fr-FR' });
    const p = fr.page;
    await p.goto(`${base}/`);
    await p.getByRole('heading', { name: 'Connexion à Gabarit' }).waitFor();
    await fr.login('cur');
    await p.getByRole('heading', { name: 'Collections', exact: true }).waitFor();
    await p.locator('table.data').waitFor();
    assert.equal(await p.locator('table.data caption').innerText(), '1 collection');
    assert.deepEqual(await p.locator('table.data thead th').allInnerTexts(), ['Nom', 'Description', 'Images', 'Visages', 'Gabarits', 'Créée le']);
    assert.doesNotMatch(await p.locator('main').innerText(), ISO_DATE);
    const newForm = p.locator('form', { has: p.getByRole('heading', { name: 'Nouvelle collection' }) });
    await newForm.getByLabel('Responsable du traitement', { exact: true }).waitFor();
    assert.deepEqual(
      await newForm.getByLabel('Base légale (RGPD, art. 6)').locator('option').allInnerTexts(),
      ['Pas encore renseigné', '6.1.a consentement', '6.1.b contrat', '6.1.c obligation légale', '6.1.d sauvegarde des intérêts vitaux', '6.1.e mission d’intérêt public', '6.1.f intérêts légitimes'],
    );
    await newForm.getByLabel('Référence de l’AIPD').waitFor();
    // A check of the form in French (nothing is sent).
    await newForm.getByLabel('Nom', { exact: true }).fill('essai');
    await newForm.getByLabel(/^Durée de conservation/).fill('30');
    await newForm.getByLabel('Ou conservées jusqu’au (date)').fill('2030-12-31');
    await newForm.getByRole('button', { name: 'Créer la collection' }).click();
    await newForm.getByRole('alert').getByText('Indiquez la durée de conservation en jours ou par une date, pas les deux.', { exact: true }).waitFor();
    await fr.screenshot('liste');

    await p.getByRole('link', { name: 'press', exact: true }).click();
    await p.getByRole('heading', { name: 'Collection press' }).waitFor();
    const frFacts = p.locator('dl.facts');
    await frFacts.waitFor();
    assert.match(await frFacts.locator('.retention').innerText(), /^3\s650 jours après l’intégration$/u);
    const factText = await frFacts.innerText();
    for (const words of ['Responsable du traitement', 'Finalité', 'Base légale', '6.1.f intérêts légitimes', '9.2.j archives, recherche, statistiques', 'Durée de conservation', 'AIPD']) {
      assert.ok(factText.includes(words), `${words} in ${factText}`);
    }
    assert.match(await p.locator('p.created').innerText(), /^Créée le \d{1,2} [a-zéû]+\.? \d{4}/u);
    assert.match(await p.locator('p.pack').innerText(), /^Gabarits calculés avec le modèle open :/u);
    assert.equal(await p.locator('#ingest-title').innerText(), 'Intégration');
    assert.equal(
      await p.locator('form.paths .hint').innerText(),
      `Un dossier, fichier ou archive par ligne, tels que le serveur les voit. Dossiers autorisés : ${incoming}.`,
    );
    const frJob = p.locator('table.jobs tbody tr').first();
    await frJob.waitFor();
    assert.equal(await frJob.locator('td.state').innerText(), 'terminée');
    assert.doesNotMatch(await p.locator('main').innerText(), ISO_DATE);
    await fr.screenshot('collection');
    // An upload in French, with a file not read.
    await p.getByLabel('Photos ou vidéos').setInputFiles([join(samples, 'biden.jpg'), notes]);
    await p.getByRole('button', { name: 'Téléverser et intégrer' }).click();
    const frState = p.locator('.ingest .progress').getByRole('status');
    await frState.getByText(/^Terminé : /).waitFor();
    assert.equal(await frState.innerText(), 'Terminé : 2 fichiers (nouveaux : 0, déjà détenus : 1, en échec : 1), 0 visage enregistré.');
    await p.locator('.failures').getByText('Fichiers non intégrés (les autres l’ont été) :').waitFor();
    await fr.screenshot('televersement');
    // The governance editor in French, and the retention as a date.
    await p.getByRole('button', { name: 'Modifier la gouvernance' }).click();
    const frGov = p.locator('form.governance-edit');
    await frGov.getByLabel(/^Durée de conservation/).fill('');
    await frGov.getByLabel('Ou conservées jusqu’au (date)').fill('2030-12-31');
    await frGov.getByRole('button', { name: 'Enregistrer la gouvernance' }).click();
    await frGov.getByRole('status').getByText('Enregistré : tous les champs de gouvernance sont renseignés, l’intégration est permise.').waitFor();
    await frFacts.locator('.retention').getByText('jusqu’au 31 déc. 2030', { exact: true }).waitFor();
    await fr.screenshot('gouvernance');
    await frGov.getByLabel('Ou conservées jusqu’au (date)').fill('');
    await frGov.getByLabel(/^Durée de conservation/).fill('1');
    await frGov.getByRole('button', { name: 'Enregistrer la gouvernance' }).click();
    await frFacts.locator('.retention').getByText('1 jour après l’intégration', { exact: true }).waitFor();
    assert.deepEqual(fr.errors, [], 'no console error, page error, failed or outside request (French)');
    await fr.context.close();
    await page.context().close();

    // ---------------------------------------------------------------- No ingestion root
    const base2 = await restart({ uploadsOnly: true });
    const only = await newPage(browser, base2, 'collections-uploads-only');
    await only.page.goto(`${base2}/#/collections/press`);
    await only.login('cur');
    await only.page.getByRole('heading', { name: 'Collection press' }).waitFor();
    const noPaths = only.page.getByLabel('Paths on the server');
    assert.ok(await noPaths.isDisabled(), 'no path can be typed');
    assert.ok(await only.page.getByRole('button', { name: 'Ingest these paths' }).isDisabled(), 'nor sent');
    assert.equal(await noPaths.getAttribute('placeholder'), null);
    assert.equal(await only.page.locator('form.paths .hint').innerText(), 'Ingestion by path is not enabled on this server: uploads only.');
    // Uploads still work, and the paths form stays disabled after the job.
    await only.page.getByLabel('Photos or videos').setInputFiles([join(samples, 'players.jpg')]);
    await only.page.getByRole('button', { name: 'Upload and ingest' }).click();
    await only.page.locator('.ingest .progress').getByRole('status').getByText(/^Done: 1 file, 0 new, 1 already held/).waitFor();
    assert.ok(await only.page.getByRole('button', { name: 'Upload and ingest' }).isEnabled());
    assert.ok(await only.page.getByRole('button', { name: 'Ingest these paths' }).isDisabled());
    await only.screenshot('no-root');
    assert.deepEqual(only.errors, [], 'no console error, page error, failed or outside request (uploads only)');
  });
});
