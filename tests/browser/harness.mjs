// What the browser tests share: the binary, models and samples they need (a missing one is a
// failure naming what to run, never a silent skip), a data directory set up with the CLI
// (users with passwords and keys, a governed collection, the gallery ingested), `gabarit
// serve` on a free loopback port, and a page in headless Chromium that records every error,
// failed request and request leaving the server, with helpers to log in and out (in any of
// the UI's languages). `withServer` runs a test's body with all of it set up, and cleans up.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const fromEnv = (name, fallback) => resolve(process.env[name] ?? fallback);
export const bin = fromEnv('GABARIT_BIN', join(root, 'target/release/gabarit'));
export const models = fromEnv('GABARIT_MODELS', join(root, '.gabarit/models'));
export const samples = fromEnv('GABARIT_SAMPLES', join(root, '.gabarit/samples'));
export const artifacts = fromEnv('GABARIT_ARTIFACTS', join(root, 'test-artifacts'));
export const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

export const GALLERY = ['obama2.jpg', 'obama3.jpg', 'biden.jpg', 'players.jpg', 'yaoming.jpg', 'gdp.jpg'];
export const PASSWORD = 'correct horse battery staple';
export const GOVERNANCE = [
  '--controller', 'Agence Exemple', '--controller-contact', 'dpo@agence.example',
  '--purpose', 'press photo archive: find every photo of a person for editorial and rights work',
  '--purpose-category', 'archive', '--legal-basis', 'f', '--condition', 'j', '--jurisdiction', 'FR',
  '--retention-days', '3650', '--dpia', 'DPIA-2026-007',
];

/** Fails with what to do when something the test needs is missing (never a silent skip). */
export function preconditions() {
  const missing = [];
  if (!existsSync(bin)) missing.push(`no gabarit binary at ${bin}: run scripts/web-build.sh then cargo build --release -p gabarit (or set GABARIT_BIN)`);
  if (!existsSync(join(models, 'w600k_mbf.onnx'))) missing.push(`no models in ${models}: run gabarit models install (scripts/test.sh does), or set GABARIT_MODELS`);
  for (const n of ['obama.jpg', ...GALLERY]) {
    if (!existsSync(join(samples, n))) missing.push(`sample ${n} missing in ${samples}: run gabarit samples install (scripts/test.sh does), or set GABARIT_SAMPLES`);
  }
  if (!existsSync(executablePath)) missing.push(`no Chromium at ${executablePath}: run scripts/browser-setup.sh (or set CHROMIUM)`);
  assert.deepEqual(missing, [], missing.join('\n'));
}

/** The environment of the CLI and the server for the data directory in `dir`. */
function environment(dir) {
  const env = { ...process.env, GABARIT_DATA: join(dir, 'data'), GABARIT_KEK_FILE: join(dir, 'data.kek'), GABARIT_MODELS: models };
  delete env.GABARIT_KEK;
  delete env.GABARIT_PACK;
  return env;
}

/** Where `user`'s API key is kept (a file only its owner reads). */
export const keyFile = (dir, user) => join(dir, `${user}.key`);

/** Runs `gabarit args…` as `user` (with their key file) on the data directory in `dir`; its output. */
export function gabaritAs(dir, user, args, extra = {}) {
  const out = spawnSync(bin, args, { env: { ...environment(dir), GABARIT_KEY_FILE: keyFile(dir, user), ...extra }, encoding: 'utf8' });
  assert.equal(out.status, 0, `gabarit ${args.join(' ')} (as ${user}) failed:\n${out.stdout}\n${out.stderr}`);
  return out.stdout;
}

/** A data directory in `dir`: users with passwords (the admin's too), one governed collection, the gallery ingested. */
export function setUp(dir) {
  const gabarit = (user, args, extra) => gabaritAs(dir, user, args, extra);
  gabarit('admin', ['init', '--admin', 'admin', '--key-out', keyFile(dir, 'admin')]);
  gabarit('admin', ['user', 'password', 'admin'], { GABARIT_PASSWORD: PASSWORD });
  for (const [user, role] of [['cur', 'curator'], ['inv', 'investigator'], ['rita', 'reviewer'], ['raoul', 'reviewer'], ['dora', 'dpo']]) {
    gabarit('admin', ['user', 'add', user, '--role', role]);
    gabarit('admin', ['user', 'key', 'issue', user, '--out', keyFile(dir, user)]);
    gabarit('admin', ['user', 'password', user], { GABARIT_PASSWORD: PASSWORD });
  }
  gabarit('cur', ['collection', 'create', 'press', ...GOVERNANCE]);
  for (const user of ['inv', 'rita', 'raoul']) gabarit('admin', ['user', 'grant', user, 'press']);
  const gallery = join(dir, 'gallery');
  mkdirSync(gallery);
  for (const n of GALLERY) copyFileSync(join(samples, n), join(gallery, n));
  gabarit('cur', ['ingest', '--quiet', '--collection', 'press', gallery]);
  return environment(dir);
}

/**
 * Starts `gabarit serve` on a free loopback port, with `incoming` as its ingestion root (none
 * when it is undefined: ingestion by upload only); the server, and its base URL (a promise).
 */
export function serve(env, incoming) {
  const roots = incoming === undefined ? [] : ['--ingest-root', incoming];
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--workers', '1', ...roots], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (l) => {
    stderr.push(l);
    if (stderr.length > 200) stderr.shift();
  });
  const base = new Promise((resolveBase, reject) => {
    const timer = setTimeout(() => reject(new Error(`gabarit serve printed no address in 120 s:\n${stderr.join('\n')}`)), 120_000);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line.trim());
      if (m) resolveBase(m[1]);
      else reject(new Error(`unexpected first line from gabarit serve: ${line}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gabarit serve exited (${code}) before listening:\n${stderr.join('\n')}`));
    });
  });
  return { child, base, stderr };
}

export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}


/** Headless Chromium as the tests run it (Debian's, no sandbox in CI containers). */
export function launch() {
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A page of `browser` on the server at `base`, recording errors, with helpers. Screenshots go
 * to `<artifacts>/<prefix>-NN-<name>.png`. `options` are the browser context's (viewport,
 * locale, colorScheme…).
 */
export async function newPage(browser, base, prefix, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, locale: 'en-GB', ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`${base}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) errors.push(`request leaving the server: ${url}`);
  });
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} for ${r.request().method()} ${r.url()}`); });
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} (${r.failure()?.errorText}) on ${page.url()}`));

  let shot = 0;
  const screenshot = async (name) => {
    shot += 1;
    await page.screenshot({ path: join(artifacts, `${prefix}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  };
  // Logging in and out by the fields' names and the buttons' places, not their words: the
  // same in every language of the UI.
  const login = async (name) => {
    await page.locator('input[name="name"]').fill(name);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.locator('form:has(input[name="password"]) button[type="submit"]').click();
    await page.locator('#who-am-i').getByText(name, { exact: true }).waitFor();
  };
  const logout = async () => {
    await page.locator('#who-am-i + button').click();
    await page.locator('#login-title').waitFor();
  };
  const sample = (n) => join(samples, n);
  /** Waits until every picture of the page is shown (leaving earlier would abort its request). */
  const imagesLoaded = () => page.waitForFunction(() => [...document.querySelectorAll('main img')].every((i) => i.complete && i.naturalWidth > 0));
  const menu = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  /** Waits for the errors an expected refusal causes (its response, the browser's console
   * line), checks they are only those, and removes them from `errors`. */
  const expectRefusal = async (since, status, what) => {
    const deadline = Date.now() + 10_000;
    const fresh = () => errors.slice(since);
    while (Date.now() < deadline && !(fresh().some((e) => e.startsWith('console:')) && fresh().some((e) => e.startsWith(`${status} for`)))) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const got = errors.splice(since);
    assert.ok(got.length > 0 && got.every((e) => e.includes(String(status))), `only the ${status} of ${what}: ${got}`);
  };
  return { context, page, errors, screenshot, login, logout, sample, imagesLoaded, menu, expectRefusal };
}

/**
 * `withServer(prefixes, [options,] body)`: runs `body` against a server of its own, and cleans
 * up whatever happens. First the preconditions; then the screenshots of earlier runs whose
 * names start with one of `prefixes` (a name or a list; "audit" takes audit-NN-… and
 * audit-fr-NN-…) are removed, so that only this run's are left (their numbering shifts when
 * steps are added). A temporary folder holds the data directory (`setUp`) and `incoming`, the
 * folder the server may ingest from by path, into which the samples named in
 * `options.incoming` are copied. `options.prepare(dir, env)` runs next, before the server
 * starts (set-up with the CLI: `gabaritAs`); what it returns is given to `body` as `prepared`.
 * Then `gabarit serve` and Chromium start, and `body` gets
 * `{ dir, env, incoming, base, browser, prepared, restart }`: `restart({ uploadsOnly })` stops
 * the server and starts it again on the same data (with no ingestion root when `uploadsOnly`)
 * and resolves to its new base URL. At the end the browser is closed, the server stopped and
 * the folder removed.
 */
export async function withServer(prefixes, options, body) {
  if (typeof options === 'function') [options, body] = [{}, options];
  const names = [prefixes].flat();
  preconditions();
  mkdirSync(artifacts, { recursive: true });
  const earlier = (f) => f.endsWith('.png') && names.some((n) => f.startsWith(`${n}-`));
  for (const f of readdirSync(artifacts)) if (earlier(f)) rmSync(join(artifacts, f));
  const dir = mkdtempSync(join(tmpdir(), `gabarit-${names[0]}-`));
  let server;
  let browser;
  try {
    const incoming = join(dir, 'incoming');
    mkdirSync(incoming);
    for (const n of options.incoming ?? []) copyFileSync(join(samples, n), join(incoming, n));
    const env = setUp(dir);
    const prepared = await options.prepare?.(dir, env);
    server = serve(env, incoming);
    const base = await server.base;
    browser = await launch();
    const restart = async ({ uploadsOnly = false } = {}) => {
      await stop(server.child);
      server = serve(env, uploadsOnly ? undefined : incoming);
      return server.base;
    };
    return await body({ dir, env, incoming, base, browser, prepared, restart });
  } finally {
    await browser?.close();
    if (server) await stop(server.child);
    rmSync(dir, { recursive: true, force: true });
  }
}
