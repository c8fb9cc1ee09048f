// The evaluation report opened in headless Chromium: the DET curve and the score histograms
// are drawn, and the page logs no error. Screenshot saved in test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';

const report = resolve(process.env.GABARIT_REPORT ?? '../../test-artifacts/eval-samples/report.html');
const artifacts = resolve(process.env.GABARIT_ARTIFACTS ?? '../../test-artifacts');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

test('the evaluation report shows its DET curve without console errors', async () => {
  assert.ok(existsSync(report), `no report at ${report}: run scripts/test.sh`);
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) errors.push(`external request: ${r.url()}`); });
    await page.goto('file://' + report);
    const det = page.locator('#det-curve svg');
    assert.equal(await det.count(), 1, 'one DET curve');
    const box = await det.boundingBox();
    assert.ok(box && box.width >= 400 && box.height >= 300, `DET curve rendered at ${JSON.stringify(box)}`);
    assert.ok(await page.locator('#det-curve svg polyline').count() >= 1, 'the curve is drawn');
    assert.ok(await page.locator('#score-histograms svg polyline').count() >= 2, 'genuine and impostor histograms');
    assert.match(await page.locator('h1').innerText(), /Gabarit evaluation/);
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: resolve(artifacts, 'eval-report.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
