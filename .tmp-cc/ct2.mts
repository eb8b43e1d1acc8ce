import { buildApp } from '../service/app.js';
const app = await buildApp({ dbPath: '/tmp/cc/ct2/a.db', logger: false });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(url);
const s = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'x', kind: 'import' } })).json();
console.log(s.id);
setTimeout(() => app.close(), 15000);
