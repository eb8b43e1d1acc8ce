import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_NAME_MAX, checkHostName, hostNameProblem } from '../core/host-name.js';
import { AckscopeError } from '../core/errors.js';

test('host names: what a machine, a container or an address is called passes', () => {
  for (const name of ['host-a', 'test-host', 'capture01.lab.example.com', '10.0.0.1', 'pod_7', 'A', '0', 'x'.repeat(HOST_NAME_MAX)]) {
    assert.equal(hostNameProblem(name), null, name);
    assert.equal(checkHostName(name, 'params.host'), name);
  }
});

test('host names: empty, too long, a bad first character or any other character are refused with the reason', () => {
  const cases: [string, RegExp][] = [
    ['', /is empty/],
    ['x'.repeat(HOST_NAME_MAX + 1), /254 characters long, at most 253/],
    ['-host', /must start with a letter or a digit/],
    ['.host', /must start with a letter or a digit/],
    ['_host', /must start with a letter or a digit/],
    ['host a', /only letters, digits/],
    ['host/a', /only letters, digits/],
    ['host%2Fa', /only letters, digits/],
    ['fe80::1', /only letters, digits/],
    ["host'a", /only letters, digits/],
    ['host\na', /only letters, digits/],
    ['host\u0000', /only letters, digits/],
    ['hôte', /only letters, digits/],
  ];
  for (const [name, reason] of cases) {
    assert.match(hostNameProblem(name) ?? 'accepted', reason, JSON.stringify(name));
    assert.throws(
      () => checkHostName(name, 'params.host'),
      (err: unknown) => err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_VALIDATION' && err.message.startsWith('params.host: host name ') && err.details?.field === 'params.host',
      JSON.stringify(name),
    );
  }
  // a control character is shown escaped, never as itself
  assert.throws(() => checkHostName('a\nb', 'f'), (err: unknown) => (err as Error).message.includes('"a\\nb"') && !(err as Error).message.includes('a\nb'));
  // a setting's refusal carries the setting's code
  assert.throws(() => checkHostName('bad host', 'ACKSCOPE_STORE_HOST', 'ACKSCOPE_ERR_CONFIG_INVALID'), (err: unknown) => (err as AckscopeError).code === 'ACKSCOPE_ERR_CONFIG_INVALID');
});
