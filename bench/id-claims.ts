/**
 * What taking ids without collision costs on ClickHouse (clickhouse/id-claims.ts): a
 * session id taken the old way (one past the highest: one query) against a claim (the
 * highest, a claim written, the overlapping claims read), each followed by the session
 * row's insert as the service does; then two clients claiming at once, and how many
 * rounds they lost to each other. One ClickHouse 18.16 node started by the bench (or two
 * shards with --shards 2). Prints figures; asserts nothing about time.
 *
 *   node --import tsx bench/id-claims.ts [--n 200] [--shards 1]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { migrateClickHouse } from '../clickhouse/migrate.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { newSessionRow, nextSessionId, writeSessionRow } from '../clickhouse/sessions.js';
import { SESSION_IDS, claimIds } from '../clickhouse/id-claims.js';
import { identifier, sql } from '../clickhouse/sql.js';
import { startClickHouse } from '../fixtures/clickhouse-server.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '200' }, shards: { type: 'string', default: '1' } } });
const n = Number(values.n);
const shards = values.shards === '2' ? 2 : 1;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const server = await startClickHouse({ shards });
try {
  const client = new ClickHouseClient(parseClickHouseUrl(server.url('bench_claims')));
  const rival = new ClickHouseClient(parseClickHouseUrl(server.url('bench_claims')));
  await migrateClickHouse(client);
  console.log(`ClickHouse 18.16, ${shards === 2 ? 'two shards' : 'one node'}; ${n} sessions per way  [load ${load()}]`);

  const time = async (label: string, create: () => Promise<void>) => {
    const wall = performance.now();
    const cpu = cpuMs();
    for (let i = 0; i < n; i++) await create();
    const ms = performance.now() - wall;
    console.log(`  ${label}: ${(ms / n).toFixed(2)} ms per session wall, ${((cpuMs() - cpu) / n).toFixed(2)} ms client CPU  [load ${load()}]`);
    return ms / n;
  };
  const anchor = await time('one past the highest (the anchor)', async () => {
    await writeSessionRow(client, newSessionRow(await nextSessionId(client), { name: 'x', kind: 'import' }), 'bench');
  });
  const claimed = await time('claimed', async () => {
    const id = await claimIds(client, SESSION_IDS, 1, 'bench', async () => (await nextSessionId(client)) - 1);
    await writeSessionRow(client, newSessionRow(id, { name: 'x', kind: 'import' }), 'bench');
  });
  console.log(`  claim / anchor: ${(claimed / anchor).toFixed(2)}×`);

  // two clients at once: every id taken once, and the rounds lost (ids left as gaps)
  const before = Number((await client.rows(sql`SELECT count() FROM ${identifier('id_claims')} WHERE session_id = 0`))[0][0]);
  const wall = performance.now();
  const ids = await Promise.all(
    [client, rival].map(async (c, k) => {
      const taken: number[] = [];
      for (let i = 0; i < n / 2; i++) taken.push(await claimIds(c, SESSION_IDS, 1, `host-${k}`, async () => (await nextSessionId(c)) - 1));
      return taken;
    }),
  );
  const ms = performance.now() - wall;
  const all = ids.flat();
  const claims = Number((await client.rows(sql`SELECT count() FROM ${identifier('id_claims')} WHERE session_id = 0`))[0][0]) - before;
  console.log(
    `  two clients racing: ${all.length} ids, ${new Set(all).size} distinct; ${claims - all.length} rounds lost; ${(ms / all.length).toFixed(2)} ms per id wall  [load ${load()}]`,
  );
  client.close();
  rival.close();
} finally {
  await server.stop();
}
