// Authentication: the real service process refuses to listen beyond loopback without a
// token; with a token every route but /healthz and the page's shell needs
// `Authorization: Bearer <token>`, and the clients (ServiceClient, the CLI) send it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildApp } from '../service/app.js';
import { exposureProblem, isLoopbackHost, tokenMatches } from '../service/auth.js';
import { ServiceClient } from '../sender/service-client.js';
import { tempDir } from './helpers/app.js';
import { freePort, spawnService, waitReady } from './helpers/service-process.js';

const TOKEN = 'a'.repeat(20) + '0123456789abcdef0123';
const WRONG = 'a'.repeat(20) + '0123456789abcdef0124';

test('loopback hosts are told apart from exposed ones (pure)', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '198.18.0.1', '10.0.0.1', 'example.org', '']) assert.ok(!isLoopbackHost(h), h);
  assert.equal(exposureProblem('127.0.0.1', null), null);
  assert.equal(exposureProblem('0.0.0.0', TOKEN), null);
  assert.match(exposureProblem('0.0.0.0', null)!, /ACKSCOPE_TOKEN/);
  assert.match(exposureProblem('0.0.0.0', 'short')!, /at least 32/);
  assert.ok(tokenMatches(TOKEN, TOKEN));
  assert.ok(!tokenMatches(TOKEN, WRONG));
  assert.ok(!tokenMatches(TOKEN, TOKEN.slice(0, -1)), 'a prefix is not the token');
});

test('the real service refuses to listen on 0.0.0.0 without a token, says why and how to fix it', async () => {
  const t = tempDir();
  try {
    const port = await freePort();
    const service = spawnService({ ACKSCOPE_HOST: '0.0.0.0', ACKSCOPE_DB: join(t.dir, 'a.db') }, port);
    const { code } = await service.exited;
    assert.equal(code, 1, service.output());
    assert.match(service.output(), /ACKSCOPE_ERR_CONFIG_INVALID/);
    assert.match(service.output(), /refusing to listen on 0\.0\.0\.0 without a token/);
    assert.match(service.output(), /Set ACKSCOPE_TOKEN/);
    const answered = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      () => true,
      () => false,
    );
    assert.equal(answered, false, 'nothing listens on the port');
  } finally {
    t.cleanup();
  }
});

test('with a token file the real service listens on 0.0.0.0; clients holding the token get through', async () => {
  const t = tempDir();
  const port = await freePort();
  const tokenFile = join(t.dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const service = spawnService({ ACKSCOPE_HOST: '0.0.0.0', ACKSCOPE_TOKEN_FILE: tokenFile, ACKSCOPE_DB: join(t.dir, 'a.db') }, port);
  try {
    await waitReady(service);
    assert.equal((await fetch(`${service.url}/sessions`)).status, 401);

    const client = new ServiceClient(service.url, { ACKSCOPE_TOKEN: TOKEN });
    const created = await client.createSession('with token');
    assert.equal((await client.getSession(created.id)).name, 'with token');
    await assert.rejects(new ServiceClient(service.url, {}).getSession(created.id), (err: { code?: string }) => {
      assert.equal(err.code, 'ACKSCOPE_ERR_AUTH_REQUIRED');
      return true;
    });

    // The CLI reads ACKSCOPE_TOKEN too.
    const cli = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));
    const run = (env: Record<string, string>) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', cli, 'report', String(created.id), '--url', service.url], {
        env: { ...process.env, ...env },
      });
    await run({ ACKSCOPE_TOKEN: TOKEN });
    await assert.rejects(run({ ACKSCOPE_TOKEN: WRONG }), /ACKSCOPE_ERR_AUTH_REQUIRED/);
  } finally {
    service.child.kill('SIGTERM');
    await service.exited;
    t.cleanup();
  }
});

test('with a token: 401 without it and with a wrong one, 200 with it, for the API, the page data and /metrics', async () => {
  const t = tempDir();
  const app = await buildApp({ dbPath: join(t.dir, 'a.db'), logger: false, token: TOKEN });
  try {
    const created = await app.inject({
      method: 'POST',
      url: '/sessions',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { name: 'x', kind: 'import' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as number;

    const guarded = ['/sessions', `/sessions/${id}`, `/sessions/${id}/summary`, '/ui/data/sessions', '/metrics', '/docs/json', '/no/such/route'];
    for (const url of guarded) {
      const none = await app.inject({ url });
      assert.equal(none.statusCode, 401, `${url} without a token: ${none.body}`);
      assert.equal(none.json().error.code, 'ACKSCOPE_ERR_AUTH_REQUIRED');
      assert.match(none.json().error.message, /Authorization: Bearer/);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="ackscope"');

      const wrong = await app.inject({ url, headers: { authorization: `Bearer ${WRONG}` } });
      assert.equal(wrong.statusCode, 401, `${url} with a wrong token`);
      assert.equal(wrong.json().error.message, 'the bearer token is not accepted', 'says nothing about which part was wrong');

      const basic = await app.inject({ url, headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } });
      assert.equal(basic.statusCode, 401);
      assert.match(basic.json().error.message, /must be `Bearer <token>`/);

      const right = await app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } });
      if (url === '/no/such/route') assert.equal(right.statusCode, 404);
      else assert.equal(right.statusCode, 200, `${url} with the token: ${right.body.slice(0, 200)}`);
    }
    // Public: the liveness probe and the page's shell (no data; the page asks for the token).
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/' })).statusCode, 200);
    const bundle = await app.inject({ url: '/ui/main.js' });
    assert.ok([200, 404].includes(bundle.statusCode), 'the bundle is public (404 only when the page is not built)');
    assert.notEqual(bundle.statusCode, 401);
  } finally {
    await app.close();
    t.cleanup();
  }
});

test('without a token on loopback nothing asks for one (the default)', async () => {
  const t = tempDir();
  const app = await buildApp({ dbPath: join(t.dir, 'a.db'), logger: false });
  try {
    assert.equal(app.config.host, '127.0.0.1');
    assert.equal((await app.inject({ url: '/sessions' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/metrics' })).statusCode, 200);
  } finally {
    await app.close();
    t.cleanup();
  }
});

test('an in-process app takes its token from its options only, not from ACKSCOPE_TOKEN (benches, the experiment driver)', async () => {
  const t = tempDir();
  const saved = process.env.ACKSCOPE_TOKEN;
  process.env.ACKSCOPE_TOKEN = TOKEN;
  try {
    const app = await buildApp({ dbPath: join(t.dir, 'a.db'), logger: false });
    try {
      assert.equal(app.config.token, null);
      assert.equal((await app.inject({ url: '/sessions' })).statusCode, 200);
    } finally {
      await app.close();
    }
  } finally {
    if (saved === undefined) delete process.env.ACKSCOPE_TOKEN;
    else process.env.ACKSCOPE_TOKEN = saved;
    t.cleanup();
  }
});
