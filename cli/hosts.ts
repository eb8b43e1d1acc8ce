/**
 * `ackscope hosts SESSION` lists a session's hosts (what each claims of its clock, the
 * frames and completions it wrote); `ackscope hosts SESSION HOST --clock-error-ns N`
 * states the clock error HOST claims (docs/scale-out.md, "Each host's clock"). Over
 * HTTP, as `report` and `ingest` are: the same on either store.
 */
import { Command } from '@commander-js/extra-typings';
import Table from 'cli-table3';
import { DEFAULT_SERVICE_URL } from '../core/api-reply.js';
import { AckscopeError } from '../core/errors.js';
import { checkHostName } from '../core/host-name.js';
import { ServiceClient } from '../sender/service-client.js';
import type { SessionHostApiT } from '../service/schemas/hosts.js';
import { defaultServiceUrl, parseSessionId } from './ingest.js';
import { formatNs } from './report.js';

/** `--clock-error-ns` as the API takes it: a whole number of ns, as a decimal string (pure). */
export function parseClockErrorNs(text: string): string {
  if (!/^[0-9]+$/.test(text) || BigInt(text) > 9223372036854775807n) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `--clock-error-ns must be a whole number of nanoseconds ≥ 0, got "${text}"`, {
      field: 'clock-error-ns',
    });
  }
  return text;
}

/** The hosts as a table: a host that stated nothing shows "0 (not stated)". */
export function renderHosts(sessionId: number, hosts: readonly SessionHostApiT[]): string {
  if (hosts.length === 0) return `session ${sessionId}: no host has stated a clock error, captured or posted yet\n`;
  // no colours: the table is read by people and by scripts alike
  const table = new Table({ head: ['host', 'clock error', 'frames', 'completions'], style: { head: [], border: [] } });
  for (const h of hosts) table.push([h.host, h.clockErrorNs === null ? '0 (not stated)' : formatNs(h.clockErrorNs), h.frames, h.completions]);
  return `session ${sessionId}\n${table.toString()}\n`;
}

export function hostsCommand() {
  return new Command('hosts')
    .description("list a session's hosts, or state the clock error one of them claims (stages decided across two hosts inside both errors are uncertain)")
    .argument('<session>', 'session id')
    .argument('[host]', 'the host to state a clock error for (its ACKSCOPE_STORE_HOST)')
    .option('--clock-error-ns <ns>', "the host's claimed clock error, ns (with HOST)")
    .option('--url <url>', `the service (default ACKSCOPE_URL, else ${DEFAULT_SERVICE_URL})`)
    .action(async (session, host, options) => {
      const id = parseSessionId(session);
      const client = new ServiceClient(options.url ?? defaultServiceUrl());
      if (host !== undefined) {
        if (options.clockErrorNs === undefined) {
          throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'give --clock-error-ns N with a host (or no host to list them)', { field: 'clock-error-ns' });
        }
        checkHostName(host, 'host');
        await client.json('PUT', `/sessions/${id}/hosts/${encodeURIComponent(host)}`, { clockErrorNs: parseClockErrorNs(options.clockErrorNs) });
      } else if (options.clockErrorNs !== undefined) {
        throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', '--clock-error-ns needs the host it is for', { field: 'host' });
      }
      const { items } = await client.json<{ items: SessionHostApiT[] }>('GET', `/sessions/${id}/hosts`);
      process.stdout.write(renderHosts(id, items));
    });
}
