// The container, as far as it can be tried without a Docker engine: Debian's
// docker-compose validates docker/compose.yml, and the runtime stage's file list
// (docker/Dockerfile's COPY --from=build lines) is laid out in a temporary folder and run
// the way the image runs it: as an unprivileged user whose node binary holds only
// cap_net_raw, on 0.0.0.0 with a token, capturing on lo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { tempDir } from './helpers/app.js';
import { freePort } from './helpers/service-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

test('docker-compose validates docker/compose.yml: host network, NET_RAW, a named volume, the token as a secret, a /healthz check', async () => {
  const { stdout } = await run('docker-compose', ['-f', join(ROOT, 'docker/compose.yml'), 'config']);
  assert.match(stdout, /network_mode: host/);
  assert.match(stdout, /cap_add:\n\s+- NET_RAW\n\s+- NET_ADMIN/);
  assert.match(stdout, /cap_drop:\n\s+- ALL/);
  assert.match(stdout, /ACKSCOPE_HOST: 0\.0\.0\.0/);
  assert.match(stdout, /ACKSCOPE_TOKEN_FILE: \/run\/secrets\/ackscope_token/);
  assert.match(stdout, /secrets:\n\s+- source: ackscope_token/);
  assert.match(stdout, /- ackscope-data:\/data/);
  assert.match(stdout, /volumes:\n\s+ackscope-data: \{\}/);
  assert.match(stdout, /healthz/);
});

/** The runtime stage's COPY --from=build sources, relative to the project root. */
function runtimeFiles(): string[] {
  const dockerfile = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8');
  return [...dockerfile.matchAll(/^COPY --from=build \/app\/(\S+) \S+$/gm)].map((m) => m[1]);
}

test('the runtime stage file list runs the service as a non-root user holding only cap_net_raw, on 0.0.0.0 with a token', async () => {
  assert.equal(process.getuid?.(), 0, 'setcap and switching users need root');
  const files = runtimeFiles();
  assert.ok(files.includes('dist') && files.includes('migrations') && files.includes('node_modules'), files.join(' '));
  const t = tempDir('ackscope-image-');
  chmodSync(t.dir, 0o755);
  const app = join(t.dir, 'app');
  const data = join(t.dir, 'data');
  try {
    for (const f of files) {
      const to = join(app, f);
      mkdirSync(dirname(to), { recursive: true });
      // node_modules: the shared one (the image prunes dev dependencies; nothing here may change it)
      if (f === 'node_modules') symlinkSync(join(ROOT, 'node_modules'), to);
      else cpSync(join(ROOT, f), to, { recursive: true });
    }
    const node = join(t.dir, 'node');
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
    execFileSync('setcap', ['cap_net_raw+ep', node]);
    mkdirSync(data);
    execFileSync('chown', ['nobody:nogroup', data]);

    const port = await freePort();
    const serve = (env: Record<string, string>) => {
      const child = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', node, 'bin/ackscope.js', 'serve'], {
        cwd: app,
        env: { PATH: process.env.PATH ?? '', ACKSCOPE_HOST: '0.0.0.0', ACKSCOPE_PORT: String(port), ACKSCOPE_DB: join(data, 'ackscope.db'), ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      return { child, output: () => out };
    };

    const refused = serve({});
    const [code] = (await once(refused.child, 'exit')) as [number];
    assert.equal(code, 1, refused.output());
    assert.match(refused.output(), /refusing to listen on 0\.0\.0\.0 without a token/);

    const token = 'f'.repeat(64);
    const service = serve({ ACKSCOPE_TOKEN: token });
    try {
      const url = `http://127.0.0.1:${port}`;
      let healthy = false;
      for (let i = 0; i < 200 && !healthy; i++) {
        healthy = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
        if (!healthy) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(healthy, service.output());
      const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      assert.equal((await fetch(`${url}/`)).status, 200, 'the page shell is served from the image layout');
      const created = await fetch(`${url}/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'x', kind: 'live', interface: 'lo', filter: 'tcp port 9' }) });
      assert.equal(created.status, 201);
      const id = ((await created.json()) as { id: number }).id;
      const started = await fetch(`${url}/sessions/${id}/start`, { method: 'POST', headers: { authorization: auth.authorization } });
      assert.equal(started.status, 200, `capture as nobody with cap_net_raw: ${await started.clone().text()}`);
      const stopped = await fetch(`${url}/sessions/${id}/stop`, { method: 'POST', headers: { authorization: auth.authorization } });
      assert.equal(((await stopped.json()) as { state: string }).state, 'stopped');
      const owner = execFileSync('stat', ['-c', '%U', join(data, 'ackscope.db')], { encoding: 'utf8' }).trim();
      assert.equal(owner, 'nobody', 'the service ran as the unprivileged user');
    } finally {
      service.child.kill('SIGTERM');
      await once(service.child, 'exit');
    }
  } finally {
    t.cleanup();
  }
});
