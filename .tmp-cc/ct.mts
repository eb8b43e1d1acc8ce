import { buildApp } from '../service/app.js';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const app = await buildApp({ dbPath: '/tmp/cc/ct/a.db', logger: false });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
for (const ct of ['', 'application/x-www-form-urlencoded', 'text/plain']) {
  const s = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'x', kind: 'import' } })).json();
  const out = execFileSync('curl', ['-s', '-X', 'POST', '-H', `Content-Type:${ct}`, '--data-binary', '@/tmp/cc/lo.pcap', `${url}/sessions/${s.id}/import`], { encoding: 'utf8' });
  console.log(JSON.stringify(ct), out.slice(0, 150));
}
await app.close();
