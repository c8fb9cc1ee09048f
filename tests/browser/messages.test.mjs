// The UI's two catalogues hold the same messages: every key of every area's `en` is in its
// `fr` and the other way round (TypeScript checks it too, at build: `fr: typeof en`), every
// message the pages use exists, and French is French (a long English text copied into `fr`
// is reported). Reads web/src/i18n/*.ts and web/src/**/*.ts as text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './harness.mjs';

const i18n = join(root, 'web/src/i18n');

/**
 * Loads a catalogue file: the TypeScript of a catalogue is JavaScript but for the types of
 * its functions' parameters (`(n: number) =>`), `as …` casts and `fr`'s `: typeof en`, which are removed.
 */
async function load(file) {
  const ts = readFileSync(join(i18n, file), 'utf8');
  const js = ts
    .replace(/^import .*$/gm, '')
    .replace(/export const fr: typeof en =/, 'export const fr =')
    .replace(/\s+(as|satisfies)\s+[A-Za-z_]\w*(<[^>]*>)?(\[\])*/g, '')
    .replace(/\(([^()]*)\)(\s*:\s*[\w<>[\]| ]+)?\s*=>/g, (_, params) =>
      `(${params.split(',').map((p) => p.split(':')[0].trim()).filter(Boolean).join(', ')}) =>`);
  const out = join(mkdtempSync(join(tmpdir(), 'gabarit-messages-')), file.replace(/\.ts$/, '.mjs'));
  writeFileSync(out, js);
  return import(pathToFileURL(out).href);
}

/** Every key path of a catalogue, with its value. */
function flatten(obj, prefix = '') {
  return Object.entries(obj).flatMap(([k, v]) =>
    v && typeof v === 'object' ? flatten(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]]);
}

/** A message's text: a function is called with sample arguments (numbers and words, else lists). */
function text(v) {
  if (typeof v !== 'function') return String(v);
  for (const sample of [(i) => (i % 2 ? 'x' : 2), () => 'x', () => ['x', 'y'], () => 2]) {
    try {
      return String(v(...Array.from({ length: v.length }, (_, i) => sample(i))));
    } catch {
      // another kind of argument
    }
  }
  return 'called with arguments of its own';
}

test('every message is in both catalogues, every message used exists, and French is translated', async () => {
  const areas = readdirSync(i18n).filter((f) => f.endsWith('.ts') && f !== 'index.ts');
  assert.ok(areas.length >= 8, `the catalogues: ${areas}`);
  assert.ok(areas.includes('people.ts'), `the people pages' catalogue: ${areas}`);
  const all = new Set();
  const untranslated = [];
  for (const file of areas) {
    const { en, fr } = await load(file);
    const area = file.replace(/\.ts$/, '');
    const enKeys = new Map(flatten(en));
    const frKeys = new Map(flatten(fr));
    const onlyEn = [...enKeys.keys()].filter((k) => !frKeys.has(k));
    const onlyFr = [...frKeys.keys()].filter((k) => !enKeys.has(k));
    assert.deepEqual([onlyEn, onlyFr], [[], []], `${file}: keys in one catalogue only (en only, fr only)`);
    for (const [k, v] of enKeys) {
      all.add(`${area}.${k}`);
      const [e, f] = [text(v), text(frKeys.get(k))];
      assert.ok(e.length > 0 && f.length > 0, `${area}.${k}: an empty message`);
      assert.equal(typeof v, typeof frKeys.get(k), `${area}.${k}: a function in one language, a text in the other`);
      if (e.replace(/[\d\sx]/g, '').length > 24 && e === f) untranslated.push(`${area}.${k}`);
    }
  }
  assert.deepEqual(untranslated, [], 'long English texts copied into the French catalogue');
  // Every m().<area>.<key> the sources use exists.
  const used = new Set();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.ts') && !d.endsWith('i18n')) {
        for (const match of readFileSync(join(d, e.name), 'utf8').matchAll(/\bm\(\)\.(\w+)\.(\w+)/g)) used.add(`${match[1]}.${match[2]}`);
      }
    }
  };
  walk(join(root, 'web/src'));
  const tops = new Set([...all].map((k) => k.split('.').slice(0, 2).join('.')));
  const missing = [...used].filter((k) => !tops.has(k));
  assert.deepEqual(missing, [], 'messages used by the pages but in no catalogue');
  assert.ok(used.size > 20, `the pages use the catalogues: ${used.size} messages`);
});
