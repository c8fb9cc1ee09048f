// Every page of the web UI, as each role sees it (the people pages too, with the collection's
// faces grouped by person), in English and French, light and dark:
// axe-core finds no serious or critical violation; at a phone's size (390×844) and a
// laptop's (1366×768) no page is wider than the screen (the document's scroll width against
// the viewport), with screenshots of each (and of each page in French). Also: the admin's page
// (a user created with a key shown once, granted, the key revoked, a new one, a web password,
// disabled), and a second tab of a logged-in browser that follows a review link without
// logging in again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { artifacts, gabaritAs, newPage, samples, withServer } from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Which pages each user visits (`{candidate}`, `{request}` and `{person}` filled in once known). */
const VISITS = {
  inv: ['#/search', '#/cases', '#/collections', '#/collections/press', '#/people/{person}'],
  rita: ['#/review', '#/review/{candidate}'],
  dora: ['#/rights', '#/rights/{request}', '#/audit', '#/collections/press/people'],
  cur: ['#/collections/press', '#/collections/press/people', '#/people/{person}'],
  admin: ['#/admin'],
};

const VIEWPORTS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'laptop', width: 1366, height: 768 },
];

/** A page's name for a file ("review-12"). */
const slug = (hash) => hash.replace(/^#\//, '').replace(/[^a-z0-9]+/gi, '-') || 'home';

/** Waits until the page has loaded what it shows: no "Loading…" line left, every picture shown. */
async function settled(page) {
  await page.locator('main h1').first().waitFor();
  await page.waitForFunction(() => {
    const busy = [...document.querySelectorAll('main [role="status"]')].some((s) => /…$/.test(s.textContent.trim()));
    const imgs = [...document.querySelectorAll('main img')].every((i) => i.complete && i.naturalWidth > 0);
    return !busy && imgs;
  });
}

/** axe-core's serious and critical violations on the page, as readable lines. */
async function axeViolations(page) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
  });
  return results;
}

test('every page: accessible in both languages and themes, no wider than a phone or a laptop; admin; a second tab', { timeout: 900_000 }, async () => {
  // Something on every page: a search with candidates (and its kept query face), a request.
  const somethingOnEveryPage = (dir) => {
    const searched = JSON.parse(gabaritAs(dir, 'inv', ['search', join(samples, 'obama.jpg'), '--case', 'CASE-7', '--purpose', 'check the pages', '--json']));
    const candidate = searched.candidate_ids[0];
    assert.ok(candidate, `a candidate to review: ${JSON.stringify(searched).slice(0, 300)}`);
    const opened = gabaritAs(dir, 'dora', ['rights', 'open', '--kind', 'access', '--requester', 'R-7', '--verification', 'ID card', '--received', '2026-11-30']);
    const request = /request (\d+)/.exec(opened)?.[1];
    assert.ok(request, opened);
    // The collection's faces grouped by person, one of them named.
    gabaritAs(dir, 'cur', ['collection', 'update', 'press', '--grouping', 'on']);
    gabaritAs(dir, 'cur', ['people', 'group', 'press', '--quiet']);
    const person = JSON.parse(gabaritAs(dir, 'cur', ['people', 'list', 'press', '--json'])).items[0]?.id;
    assert.ok(person, 'a person to show');
    gabaritAs(dir, 'cur', ['people', 'name', String(person), 'Ann Example']);
    return { candidate, request, person };
  };
  const options = { incoming: ['gdp.jpg'], prepare: somethingOnEveryPage };
  await withServer(['pages', 'admin', 'fr'], options, async ({ base, browser, prepared: { candidate, request, person } }) => {
    const failures = [];
    let checked = 0;
    for (const lang of ['en', 'fr']) {
      for (const scheme of ['light', 'dark']) {
        const locale = lang === 'fr' ? 'fr-FR' : 'en-GB';
        const s = await newPage(browser, base, `pages-${lang}-${scheme}`, { locale, colorScheme: scheme, bypassCSP: true });
        const { page, errors } = s;
        await page.goto(`${base}/`);
        await page.locator('#login-title').waitFor();
        // The login page (logged out).
        const loginViolations = await axeViolations(page);
        if (loginViolations.length) failures.push(`login ${lang} ${scheme}:\n  ${loginViolations.join('\n  ')}`);
        for (const [user, hashes] of Object.entries(VISITS)) {
          await s.login(user);
          for (const raw of hashes) {
            const hash = raw.replace('{candidate}', candidate).replace('{request}', request).replace('{person}', person);
            await page.evaluate((h) => { location.hash = h; }, hash);
            await settled(page);
            const violations = await axeViolations(page);
            if (violations.length) failures.push(`${hash} as ${user}, ${lang} ${scheme}:\n  ${violations.join('\n  ')}`);
            checked += 1;
            if (scheme === 'light') {
              for (const v of VIEWPORTS) {
                await page.setViewportSize({ width: v.width, height: v.height });
                await settled(page);
                const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
                if (scroll > client) failures.push(`${hash} as ${user}, ${lang}, ${v.name}: ${scroll} px wide in a ${client} px viewport`);
                // A reviewer decides without scrolling, on a phone too: both faces and the buttons in view.
                if (hash.startsWith('#/review/')) {
                  await page.evaluate(() => window.scrollTo(0, 0));
                  const bottom = await page.evaluate(() => Math.max(...['.compare', '.decision button.confirm', '.decision button.reject'].map((q) => document.querySelector(q).getBoundingClientRect().bottom)));
                  if (bottom > v.height) failures.push(`${hash}, ${lang}, ${v.name}: the faces and Confirm / Reject end at ${Math.round(bottom)} px, below the ${v.height} px screen`);
                }
                await page.screenshot({ path: join(artifacts, `${lang === 'fr' ? 'fr' : 'pages'}-${v.name}-${user}-${slug(hash)}.png`), fullPage: true });
              }
              await page.setViewportSize({ width: 1280, height: 900 });
            }
          }
          await s.logout();
        }
        // French is French: the shell and a page's heading.
        if (lang === 'fr') assert.equal(await page.locator('#login-title').innerText(), 'Connexion à Gabarit');
        assert.deepEqual(errors, [], `${lang} ${scheme}: no console error, failed or outside request`);
        await s.context.close();
      }
    }
    assert.equal(checked, 4 * Object.values(VISITS).flat().length, "every page in every combination");
    assert.deepEqual(failures, [], `accessibility or width problems:\n${failures.join('\n')}`);

    // --- The admin's page.
    const a = await newPage(browser, base, 'admin');
    const { page } = a;
    await page.goto(`${base}/`);
    await a.login('admin');
    await page.getByRole('heading', { name: 'Users', exact: true }).waitFor();
    const form = page.locator('form.new-user');
    await form.getByLabel('Name', { exact: true }).fill('newbie');
    await form.getByLabel('reviewer', { exact: true }).check();
    await form.getByRole('button', { name: 'Create the user' }).click();
    const firstKey = (await form.locator('output.api-key').innerText()).trim();
    assert.match(firstKey, /^gbk_[0-9a-f]+_[0-9a-f]+$/, 'the key is shown once');
    const meWith = async (key) => {
      const r = await fetch(`${base}/api/v1/me`, { headers: { 'X-Api-Key': key } });
      return [r.status, r.status === 200 ? (await r.json()).name : (await r.text(), null)];
    };
    assert.deepEqual(await meWith(firstKey), [200, 'newbie'], 'the key shown works');
    const card = page.locator('section.user[data-user="newbie"]');
    await card.waitFor();
    await card.getByLabel('Collection to grant').selectOption('press');
    await card.getByRole('button', { name: 'Grant', exact: true }).click();
    await card.getByRole('button', { name: 'Withdraw press' }).waitFor();
    const prefix = firstKey.split('_')[1];
    await card.getByRole('button', { name: `Revoke key ${prefix}` }).click();
    await card.getByText(`Key ${prefix} revoked: it stops working at once.`).waitFor();
    assert.equal((await meWith(firstKey))[0], 401, 'a revoked key stops at once');
    await card.getByRole('button', { name: 'Issue a new key' }).click();
    const secondKey = (await card.locator('output.api-key').innerText()).trim();
    assert.notEqual(secondKey, firstKey);
    assert.deepEqual(await meWith(secondKey), [200, 'newbie']);
    await card.getByLabel('Web password').fill('a long enough password');
    await card.getByRole('button', { name: 'Set the password' }).click();
    await card.getByText('Password set; the user’s sessions ended.').waitFor();
    await a.screenshot('user-managed');
    await card.getByRole('button', { name: 'Disable this user' }).click();
    await page.getByRole('button', { name: 'Yes, disable newbie' }).click();
    await page.getByText('newbie disabled.').waitFor();
    assert.equal((await meWith(secondKey))[0], 401, 'a disabled user’s keys stop at once');
    // The admin cannot disable themself (the button is off).
    assert.ok(await page.locator('section.user[data-user="admin"]').getByRole('button', { name: 'Disable this user' }).isDisabled());
    await a.screenshot('user-disabled');
    assert.deepEqual(a.errors, [], 'no error on the admin page');
    await a.context.close();

    // --- A second tab of a logged-in browser follows a review link without logging in again.
    const r = await newPage(browser, base, 'tabs');
    await r.page.goto(`${base}/`);
    await r.login('rita');
    const second = await r.context.newPage();
    await second.goto(`${base}/#/review/${candidate}`);
    await second.getByRole('heading', { name: `Candidate ${candidate}` }).waitFor();
    await second.locator('#who-am-i').getByText('rita', { exact: true }).waitFor();
    // And it acts: the decision needs the session's CSRF token, which the new tab got.
    await second.keyboard.press('c');
    await second.locator('.review-verdict').getByText('Confirmed by rita only', { exact: false }).waitFor();
    assert.deepEqual(r.errors, []);
    await r.context.close();
  });
});
