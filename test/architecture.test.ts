import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/**
 * The shape of the code (docs/architecture.md): each top-level folder may import only
 * the folders listed for it, all of them lower floors. Read from the import lines
 * themselves, so a new upward import fails here, not in review.
 */
const ALLOWED: Record<string, readonly string[]> = {
  core: [],
  capture: ['core'],
  correlate: ['core'],
  tracer: ['core'],
  db: ['core', 'capture', 'correlate'],
  clickhouse: ['core', 'capture', 'correlate'],
  recording: ['core', 'capture', 'tracer', 'db', 'clickhouse'],
  analysis: ['core', 'correlate', 'db', 'clickhouse'],
  fixtures: ['core', 'capture', 'correlate', 'db', 'clickhouse'],
  sender: ['core', 'capture'],
  service: ['core', 'capture', 'correlate', 'tracer', 'db', 'clickhouse', 'recording', 'analysis'],
  experiment: ['core', 'capture', 'correlate', 'tracer', 'db', 'clickhouse', 'recording', 'analysis', 'sender', 'service'],
  cli: ['core', 'capture', 'correlate', 'tracer', 'db', 'clickhouse', 'recording', 'analysis', 'sender', 'service', 'experiment'],
  bench: ['core', 'capture', 'correlate', 'tracer', 'db', 'clickhouse', 'recording', 'analysis', 'sender', 'service', 'experiment', 'cli', 'fixtures'],
  test: ['core', 'capture', 'correlate', 'tracer', 'db', 'clickhouse', 'recording', 'analysis', 'sender', 'service', 'experiment', 'cli', 'fixtures', 'bench'],
};

const root = new URL('..', import.meta.url).pathname;
const IMPORT = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'build' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts)$/.test(name)) out.push(path);
  }
  return out;
}

/** Every (file, imported path) pair between top-level folders. */
function crossFolderImports(): { file: string; from: string; to: string }[] {
  const edges: { file: string; from: string; to: string }[] = [];
  for (const folder of Object.keys(ALLOWED)) {
    let files: string[];
    try {
      files = sourceFiles(join(root, folder));
    } catch {
      continue; // a folder that does not exist yet
    }
    for (const file of files) {
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const target = relative(root, normalize(join(dirname(file), m[1]))).split('/')[0];
        if (target !== folder) edges.push({ file: relative(root, file), from: folder, to: target });
      }
    }
  }
  return edges;
}

test('no folder imports a higher floor (docs/architecture.md)', () => {
  const wrong = crossFolderImports()
    .filter((e) => !ALLOWED[e.from].includes(e.to))
    .map((e) => `${e.file} imports ${e.to}/`);
  assert.deepEqual(wrong, []);
});

test('the allowed directions form no cycle', () => {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (folder: string, path: string[]) => {
    if (state.get(folder) === 'done') return;
    assert.notEqual(state.get(folder), 'open', `cycle: ${[...path, folder].join(' → ')}`);
    state.set(folder, 'open');
    for (const next of ALLOWED[folder] ?? []) visit(next, [...path, folder]);
    state.set(folder, 'done');
  };
  for (const folder of Object.keys(ALLOWED)) visit(folder, []);
});

test('the browser bundle imports only the service (its page and API types) and the ground floor', () => {
  const web = join(root, 'service/web/src');
  const wrong: string[] = [];
  for (const file of sourceFiles(web)) {
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = relative(root, normalize(join(dirname(file), m[1])));
      if (!target.startsWith('service/') && !target.startsWith('core/')) wrong.push(`${relative(root, file)} imports ${target}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('docs/architecture.md names every floor the test knows', () => {
  const doc = readFileSync(join(root, 'docs/architecture.md'), 'utf8');
  const missing = Object.keys(ALLOWED).filter((folder) => !doc.includes(`\`${folder}/\``));
  assert.deepEqual(missing, []);
});
