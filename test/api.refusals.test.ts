// Refusals that help: every bad field of a request named at once, an enum error listing
// what is allowed, a live session that could never start refused when it is created,
// and no file path ever taken from a request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { testApp } from './helpers/app.js';
import { fieldProblems } from '../service/validation-message.js';
import { listInterfaces } from '../capture/native/index.js';

test('an enum error lists the allowed values', async () => {
  const { app, close } = await testApp();
  try {
    const res = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'x', kind: 'bogus' } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'ACKSCOPE_ERR_VALIDATION');
    assert.equal(res.json().error.message, 'body.kind: must be one of: "live", "import"');
  } finally {
    await close();
  }
});

test('a request with several bad fields names every one of them', async () => {
  const { app, close } = await testApp();
  try {
    const res = await app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name: '', kind: 'sideways', snaplen: 10, colour: 'red' },
    });
    assert.equal(res.statusCode, 400);
    const { message, details } = res.json().error;
    for (const field of ['body.name', 'body.kind', 'body.snaplen', 'body.colour']) assert.match(message, new RegExp(`${field}: `), message);
    assert.deepEqual(
      details.fields.map((f: { field: string }) => f.field).sort(),
      ['body.colour', 'body.kind', 'body.name', 'body.snaplen'],
    );
    assert.match(message, /body\.snaplen: must be >= 64/);
    assert.match(message, /body\.colour: is not a field of this request/);

    const query = await app.inject({ url: '/sessions?limit=0&cursor=' });
    assert.equal(query.statusCode, 400);
    assert.match(query.json().error.message, /^querystring\.limit: must be >= 1/);
  } finally {
    await close();
  }
});

test('fieldProblems groups a union by field and keeps request order (pure)', () => {
  const problems = fieldProblems('body', [
    { instancePath: '', schemaPath: '#/required', keyword: 'required', params: { missingProperty: 'name' } },
    { instancePath: '/kind', schemaPath: '#/properties/kind/anyOf/0/const', keyword: 'const', params: { allowedValue: 'a' } },
    { instancePath: '/kind', schemaPath: '#/properties/kind/anyOf/1/const', keyword: 'const', params: { allowedValue: 'b' } },
    { instancePath: '/kind', schemaPath: '#/properties/kind/anyOf', keyword: 'anyOf', params: {}, message: 'must match a schema in anyOf' },
    { instancePath: '/n', schemaPath: '#/properties/n/anyOf/0/pattern', keyword: 'pattern', params: {}, message: 'must match pattern "^[0-9]+$"' },
    { instancePath: '/n', schemaPath: '#/properties/n/anyOf/1/type', keyword: 'type', params: {}, message: 'must be integer' },
    { instancePath: '/n', schemaPath: '#/properties/n/anyOf', keyword: 'anyOf', params: {}, message: 'must match a schema in anyOf' },
    { instancePath: '/e', schemaPath: '#/properties/e/enum', keyword: 'enum', params: { allowedValues: [1, 2] } },
  ]);
  assert.deepEqual(problems, [
    { field: 'body.name', message: 'is required' },
    { field: 'body.kind', message: 'must be one of: "a", "b"' },
    { field: 'body.n', message: 'must match pattern "^[0-9]+$", or must be integer' },
    { field: 'body.e', message: 'must be one of: 1, 2' },
  ]);
});

test('a live session on an unknown interface or with a filter libpcap cannot compile is refused at creation', async () => {
  const { app, close } = await testApp();
  try {
    const create = (fields: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: '/sessions', payload: { name: 'live', kind: 'live', ...fields } });

    const known = listInterfaces().map((i) => i.name);
    assert.ok(known.includes('lo'));
    const noSuch = await create({ interface: 'acks-none0' });
    assert.equal(noSuch.statusCode, 400);
    assert.equal(noSuch.json().error.code, 'ACKSCOPE_ERR_CAPTURE_INTERFACE');
    assert.match(noSuch.json().error.message, /^body\.interface: libpcap knows no interface "acks-none0"/);
    assert.match(noSuch.json().error.message, /it knows: .*\blo\b/, 'names the interfaces there are');

    const badFilter = await create({ interface: 'lo', filter: 'tcp port eighty' });
    assert.equal(badFilter.statusCode, 400);
    assert.equal(badFilter.json().error.code, 'ACKSCOPE_ERR_CAPTURE_FILTER');
    // libpcap's own words for an unknown port name
    assert.match(badFilter.json().error.message, /^body\.filter: filter "tcp port eighty" does not compile: .*eighty/);

    const slash = await create({ interface: 'lo', filter: 'ip host 1.2.3.4/33' });
    assert.equal(slash.statusCode, 400);
    assert.equal(slash.json().error.code, 'ACKSCOPE_ERR_CAPTURE_FILTER');

    assert.equal((await app.inject({ url: '/sessions' })).json().items.length, 0, 'nothing was stored');
    const good = await create({ interface: 'lo', filter: 'tcp port 80' });
    assert.equal(good.statusCode, 201, good.body);
    const any = await create({ interface: 'any', filter: 'tcp' });
    assert.equal(any.statusCode, 201, any.body);
  } finally {
    await close();
  }
});

test('no file path is taken from a request: an import keeps its file under the data folder whatever the name says', async () => {
  const { app, dir, close } = await testApp();
  try {
    const created = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'import', kind: 'import' } });
    const id = created.json().id as number;
    // an empty but valid pcap: the 24-byte global header (magic a1b2c3d4, v2.4, snaplen 65535, Ethernet)
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(65535, 16);
    header.writeUInt32LE(1, 20);
    const target = resolve(dir, '..', `ackscope-escaped-${process.pid}.pcapng`);
    const res = await app.inject({
      method: 'POST',
      url: `/sessions/${id}/import?filename=${encodeURIComponent(`../${target}`)}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: header,
    });
    assert.equal(res.statusCode, 200, res.body);
    const session = res.json().session;
    assert.equal(session.captureFile, join('sessions', String(id), 'capture.pcapng'), 'relative to the data folder');
    assert.equal(session.sourceFile, `../${target}`, 'the name is kept as a label only');
    assert.ok(!existsSync(target));
    assert.deepEqual(readdirSync(join(dir, 'sessions', String(id))), ['capture.pcapng']);
  } finally {
    await close();
  }
});
