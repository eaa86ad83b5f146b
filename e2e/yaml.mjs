// The flow editor's YAML reader and writer (internal/studio/assets/yaml.js)
// on the example flows and on what it must refuse: node e2e/yaml.mjs.
// scripts/studio-e2e.sh runs it before the browser test.
import { parseYAML, toYAML, YAMLError } from '../internal/studio/assets/yaml.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const dir = new URL('../examples/', import.meta.url).pathname;
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
assert.ok(files.length >= 4, 'the examples are missing');
for (const f of files) {
  const doc = parseYAML(readFileSync(join(dir, f), 'utf8'));
  assert.equal(typeof doc.name, 'string', f);
  assert.ok(Array.isArray(doc.steps) && doc.steps.length, f);
  // What the editor writes reads back as the same document.
  assert.deepEqual(parseYAML(toYAML(doc)), doc, f);
}

const ar = parseYAML(readFileSync(join(dir, 'archive-reports.yaml'), 'utf8'));
assert.deepEqual(ar.inputs.date, { type: 'string', required: true, description: 'the day, e.g. 2026-11-24' });
assert.equal(ar.steps[2].with.condition, "{{ steps.list.key endsWith '.csv' }}");
assert.deepEqual(ar.steps[4].on_error, { retry: { attempts: 3, backoff: '2s' } });
assert.deepEqual(ar.steps[4].with.headers, { 'Content-Type': 'text/csv' });
assert.equal(ar.steps[6].with.file, "{{ file.text('manifest.csv', csv(steps.all.items)) }}");

const cases = [
  ['comments, quotes, block text', 'name: x # the name\n# a comment\ndescription: |\n  two\n  lines\nsteps:\n- id: "a # b"\n  module: \'it\'\'s\'\n  with: {n: 3, ok: true, v: ~, l: [a, "b, c"]}\n',
    { name: 'x', description: 'two\nlines\n', steps: [{ id: 'a # b', module: "it's", with: { n: 3, ok: true, v: null, l: ['a', 'b, c'] } }] }],
  ['folded text, escapes', 'a: >-\n  one\n  two\nb: "tab\\there \\u00e9"\nc: 1.5\nd: "007"\ne: 007x\n',
    { a: 'one two', b: 'tab\there é', c: 1.5, d: '007', e: '007x' }],
];
for (const [what, text, want] of cases) assert.deepEqual(parseYAML(text), want, what);

// Strings that YAML would read as something else are written quoted.
const tricky = { a: 'true', b: '3', c: 'x: y', d: '{{ inputs.x }}', e: ' lead', f: 'no', g: '', h: 'a #b', i: '-x', j: 'plain words' };
assert.deepEqual(parseYAML(toYAML(tricky)), tricky);
assert.match(toYAML(tricky), /^j: plain words$/m);

for (const bad of ['a: &x 1\nb: *x\n', 'a: !!str 1\n', 'a: {b: 1,\n  c: 2}\n', 'a: 1\na: 2\n', 'a:\n    b: 1\n  c: 2\n']) {
  assert.throws(() => parseYAML(bad), YAMLError, JSON.stringify(bad));
}
console.log(`ok - yaml.js: ${files.length} example flows read and written back; ${cases.length} cases; refusals`);
