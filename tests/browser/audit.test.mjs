// The audit page end to end, in headless Chromium against a real `gabarit serve`: the log
// reads newest first (and oldest first on demand); the action filter offers every action the
// log holds, with "any action"; a reversed period is refused with the server's words; turning
// pages neither records another reading (`audit_view`) nor repeats an entry written since the
// reading began; the page in French. Screenshots go to test-artifacts/audit-*.png.
//
// Needs what ui.test.mjs needs (see harness.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gabaritAs, newPage, withServer } from './harness.mjs';

const PAGE = 50;

test('the audit page: newest first, actions to choose from, a reversed period refused, reading recorded once', { timeout: 600_000 }, async () => {
  // More than two pages of entries: the DPO verifies the chain from the command line (each
  // verification is on the record).
  const manyEntries = (dir) => {
    const cli = (user, args) => gabaritAs(dir, user, args);
    const count = () => cli('dora', ['audit', 'export']).split('\n').filter((l) => l.trim()).length;
    while (count() < 2 * PAGE + 20) for (let i = 0; i < 10; i += 1) cli('dora', ['audit', 'verify']);
  };
  await withServer('audit', { prepare: manyEntries }, async ({ base, browser }) => {
    const { page, errors, screenshot, login, menu, expectRefusal } = await newPage(browser, base, 'audit');
    const requests = [];
    page.on('request', (r) => { if (r.url().startsWith(`${base}/api/v1/audit?`)) requests.push(new URL(r.url()).searchParams); });

    await page.goto(`${base}/`);
    await login('dora');
    const [first] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${base}/api/v1/audit?`)),
      menu('Audit').click(),
    ]);
    const answer = await first.json();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.locator('table.audit').waitFor();

    // --- Newest first by default.
    const seqs = async () => (await page.locator('table.audit tbody td:nth-child(1)').allInnerTexts()).map(Number);
    const newest = await seqs();
    assert.equal(newest.length, PAGE);
    assert.deepEqual(newest, [...newest].sort((a, b) => b - a), `newest first: ${newest}`);
    assert.equal(newest[0], answer.total, 'the first entry shown is the last one written');
    assert.equal(await page.locator('table.audit caption').innerText(), 'Audit entries, newest first');
    assert.equal(requests[0].get('order'), 'newest');
    await screenshot('newest-first');

    // --- The action filter: a choice of every action the log holds, and "any action".
    const action = page.getByLabel('Action', { exact: true });
    assert.equal(await action.evaluate((s) => s.tagName), 'SELECT');
    const offered = await action.locator('option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
    assert.deepEqual(offered[0], ['', 'any action']);
    assert.deepEqual(offered.slice(1).map(([v]) => v), [...answer.actions].sort());
    for (const a of ['audit_verify', 'ingest', 'search'].filter((x) => answer.actions.includes(x))) assert.ok(offered.some(([v]) => v === a), a);
    assert.ok(answer.actions.includes('audit_verify'), `the log's actions: ${answer.actions}`);
    await action.selectOption('audit_verify');
    const [filtered] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(`${base}/api/v1/audit?`)),
      page.getByRole('button', { name: 'Show' }).click(),
    ]);
    assert.equal(new URL(filtered.url()).searchParams.get('action'), 'audit_verify');
    await page.getByText(/matching\.$/).waitFor();
    const shownActions = await page.locator('table.audit tbody td:nth-child(4)').allInnerTexts();
    assert.ok(shownActions.length > 0 && shownActions.every((a) => a === 'audit_verify'), `${shownActions}`);
    await action.selectOption('');

    // --- The other way round, on demand.
    await page.getByLabel('Order').selectOption('oldest');
    await page.locator('table.audit caption').getByText('Audit entries, oldest first').waitFor();
    const oldest = await seqs();
    assert.deepEqual(oldest.slice(0, 3), [1, 2, 3], `oldest first: ${oldest}`);
    assert.equal(requests.at(-1).get('order'), 'oldest');
    await page.getByLabel('Order').selectOption('newest');
    await page.locator('table.audit caption').getByText('Audit entries, newest first').waitFor();

    // --- A period that ends before it starts: refused with the server's words, not "No entry".
    const asked = requests.length;
    await page.getByLabel('From').fill('2026-05-03');
    await page.getByLabel('To (inclusive)').fill('2026-05-01');
    await page.getByRole('button', { name: 'Show' }).click();
    const refusal = page.locator('form.filters').getByRole('alert');
    await refusal.getByText('The period starts (3 May 2026) after it ends (1 May 2026): swap them.').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'from', 'the period to fix has the focus');
    assert.equal(await page.getByText(/^No entry/).count(), 0, 'not "No entry"');
    assert.equal(await page.locator('table.audit').count(), 0, 'no entries of other filters stay');
    assert.equal(requests.length, asked, 'nothing asked of the server');
    // The server says the same (for a client that asks anyway).
    const before = errors.length;
    const server422 = await page.evaluate(() => fetch('/api/v1/audit?from=2026-05-03&to=2026-05-01').then(async (r) => { const e = (await r.json()).error; return [r.status, e.message, e.field]; }));
    assert.ok(server422[0] === 400 || server422[0] === 422, `${server422}`);
    assert.match(server422[1], /^from: the period starts \(2026-05-03\) after it ends \(2026-05-01\): swap them$/);
    assert.equal(server422[2], 'from', 'the field at fault is named');
    await expectRefusal(before, server422[0], 'the reversed period asked of the server');
    await screenshot('reversed-period');
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.locator('table.audit').waitFor();
    assert.ok(await refusal.isHidden(), 'the refusal goes with its cause');

    // --- Reading is recorded once, not once per page turned.
    const readings = async () => {
      await action.selectOption('audit_view');
      await page.getByRole('button', { name: 'Show' }).click();
      const text = await page.getByText(/^(Entries \d+–\d+ of \d+ matching|No entry matches)\.$/).innerText();
      const m = /of (\d+) matching/.exec(text);
      await action.selectOption('');
      return m ? Number(m[1]) : 0;
    };
    const r0 = await readings();
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText(`Entries 1–${PAGE} of`).waitFor();
    const page1 = await seqs();
    const offsets = requests.length;
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText(`Entries ${PAGE + 1}–`).waitFor();
    const page2 = await seqs();
    // The reading's own entry (written after its first page) does not shift the pages.
    assert.equal(page2[0], page1.at(-1) - 1, `page 2 follows page 1: ${page1.at(-1)} then ${page2[0]}`);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText(`Entries ${2 * PAGE + 1}–`).waitFor();
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.getByText(`Entries ${PAGE + 1}–`).waitFor();
    await page.getByRole('button', { name: 'First' }).click();
    await page.getByText(`Entries 1–${PAGE} of`).waitFor();
    assert.deepEqual(await seqs(), page1, 'the first page as the reading found it');
    await page.getByRole('button', { name: 'Last' }).click();
    await page.getByText(/^Entries \d+–\d+ of \d+\.$/).waitFor();
    await screenshot('last-page');
    assert.ok(requests.slice(offsets).every((q) => q.get('offset') !== '0'), `no first page asked again: ${requests.slice(offsets).map((q) => q.toString())}`);
    const r1 = await readings();
    // Two readings since: the count of audit_view entries, and the unfiltered one.
    assert.equal(r1, r0 + 2, `audit_view entries: ${r0} then ${r1}`);

    // --- In French.
    const fr = await newPage(browser, base, 'audit-fr', { locale: 'fr-FR' });
    await fr.page.goto(`${base}/`);
    // A refusal by the API is told in French (the code's words), the server's message as detail.
    await fr.page.getByLabel('Nom d’utilisateur').fill('dora');
    await fr.page.getByLabel('Mot de passe').fill('not the password at all');
    await fr.page.getByRole('button', { name: 'Se connecter' }).click();
    await fr.page.getByRole('alert').getByText('Nom ou mot de passe incorrect. Détail (en anglais) : unknown user or wrong password').waitFor();
    assert.ok(fr.errors.length > 0 && fr.errors.every((e) => /401/.test(e)), `only the refused login: ${fr.errors}`);
    fr.errors.length = 0;
    await fr.login('dora');
    await fr.page.getByRole('navigation', { name: 'Principal' }).getByRole('link', { name: 'Journal', exact: true }).click();
    await fr.page.getByRole('heading', { name: 'Journal d’audit' }).waitFor();
    await fr.page.locator('table.audit').waitFor();
    assert.equal(await fr.page.locator('table.audit caption').innerText(), 'Entrées du journal, les plus récentes d’abord');
    assert.equal(await fr.page.getByLabel('Action', { exact: true }).locator('option').first().innerText(), 'toute action');
    assert.match(await fr.page.getByRole('status').filter({ hasText: 'Entrées' }).innerText(), /^Entrées 1 à 50 sur \d[\d\s\u202f]*\.$/);
    await fr.page.getByRole('button', { name: 'Vérifier la chaîne' }).click();
    await fr.page.locator('.verify-result').getByText(/^La chaîne est intacte : [\d\s\u202f]+ entrées vérifiées\.$/).waitFor();
    await fr.screenshot('table');
    await fr.page.getByLabel('Du', { exact: true }).fill('2026-05-03');
    await fr.page.getByLabel('Au (inclus)').fill('2026-05-01');
    await fr.page.getByRole('button', { name: 'Afficher' }).click();
    await fr.page.locator('form.filters').getByRole('alert').getByText('La période commence (3 mai 2026) après sa fin (1 mai 2026) : inversez les dates.').waitFor();
    await fr.screenshot('reversed-period');
    assert.deepEqual(fr.errors, []);

    assert.deepEqual(errors, [], 'no console error, page error, failed or outside request');
  });
});
