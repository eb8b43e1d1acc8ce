import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../core/errors.js';
import { HTTP_STATUS } from '../service/http-errors.js';

test('docs/errors.md and the error registry list the same codes with the same statuses', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map(
    [...doc.matchAll(/^\| `(ACKSCOPE_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
  );
  const registered = new Map(Object.keys(ERROR_CODES).map((code) => [code, HTTP_STATUS[code as keyof typeof HTTP_STATUS]]));
  assert.deepEqual([...documented.entries()].sort(), [...registered.entries()].sort());
});
