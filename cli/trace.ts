/**
 * `sudo ackscope trace [-i IFACE] [--session ID] -- COMMAND ARGS…` (or `--pid PID`): one
 * command to measure a user's own program, unchanged. It creates a live session capturing
 * IFACE, starts the kernel tracer on the command (or PID), posts every send call as a
 * completion record and its kernel witness while the program runs, stops both when the
 * program ends (or on Ctrl-C), prints the summary and the session's page, and exits with
 * the program's own exit code.
 */
import { execFileSync } from 'node:child_process';
import { Command, Option } from '@commander-js/extra-typings';
import { DEFAULT_SERVICE_URL, serviceUrl } from '../core/api-reply.js';
import { AckscopeError } from '../core/errors.js';
import { ServiceClient } from '../sender/service-client.js';
import type { CompletionRecord } from '../core/completion.js';
import { TraceFeed, startTrace, traceStats, type TraceTarget } from '../tracer/index.js';
import { fetchSummary, renderSummary } from './report.js';

const POST_EVERY_MS = 1000;
const WITNESSES_PER_POST = 20_000;

/** The interface the kernel routes `address` through (`ip route get`), or null. */
export function routeInterface(address: string): string | null {
  try {
    const out = execFileSync('ip', ['-o', 'route', 'get', address], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return / dev (\S+)/.exec(out)?.[1] ?? null;
  } catch {
    return null;
  }
}

export function traceCommand() {
  return new Command('trace')
    .description('run (or attach to) your own program unchanged: capture its interface, trace every send call in the kernel, report where the bytes were at each completion')
    .usage('[options] -- COMMAND [ARGS...]')
    .argument('[command...]', 'the program to run and trace (after --)')
    .addOption(new Option('-i, --interface <iface>', 'interface the program talks over').default('lo'))
    .option('--pid <pid>', 'trace a running process instead of starting one')
    .option('--follow-children', 'with --pid: also its children')
    .option('--filter <bpf>', 'capture filter (default: tcp)', 'tcp')
    .option('--session <id>', 'an existing live session to use (created otherwise)')
    .option('--url <url>', `the service (default ACKSCOPE_URL, else ${DEFAULT_SERVICE_URL})`)
    .action(async (command, o) => {
      const target: TraceTarget =
        o.pid !== undefined ? { pid: Number(o.pid), followChildren: o.followChildren ?? false } : { command };
      if ('command' in target && target.command.length === 0) {
        throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'nothing to trace: give a command after -- or --pid PID', { field: 'command' });
      }
      if ('pid' in target && !(Number.isSafeInteger(target.pid) && target.pid > 0)) {
        throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `--pid must be a process id, got "${o.pid}"`, { field: 'pid' });
      }
      const url = serviceUrl(o.url);
      const client = new ServiceClient(url);
      const label = 'command' in target ? target.command.join(' ') : `pid ${target.pid}`;
      const session =
        o.session !== undefined
          ? Number(o.session)
          : (
              await client.json<{ id: number }>('POST', '/sessions', {
                name: `trace ${label}`.slice(0, 200),
                kind: 'live',
                interface: o.interface,
                filter: o.filter,
              })
            ).id;
      await client.json('POST', `/sessions/${session}/start`);
      process.stderr.write(`ackscope: session ${session} capturing ${o.interface}; tracing ${label}\n`);

      const feed = new TraceFeed();
      const peersSeen = new Set<string>();
      let posting = Promise.resolve();
      let postError: unknown;
      const post = () => {
        const taken = feed.take();
        posting = posting.then(async () => {
          if (postError) return;
          try {
            if (taken.records.length > 0) await client.postCompletions(session, taken.records as unknown as CompletionRecord[]);
            for (let i = 0; i < taken.witnesses.length; i += WITNESSES_PER_POST) {
              await client.json('POST', `/sessions/${session}/kernel-witness`, {
                witnesses: taken.witnesses.slice(i, i + WITNESSES_PER_POST),
              });
            }
          } catch (err) {
            postError = err;
          }
        });
        for (const r of taken.records) peersSeen.add(r.flow.dstAddr);
        return taken;
      };
      // Ctrl-C reaches the traced command (same process group); the tracer ends with it.
      const ignore = () => {};
      process.on('SIGINT', ignore);
      const run = startTrace(target, { commandStdio: 'inherit' });
      const timer = setInterval(post, POST_EVERY_MS);
      let exitCode = 0;
      try {
        const reading = (async () => {
          for await (const batch of run.batches) for (const e of batch) feed.add(e);
        })();
        const result = await run.done.finally(() => reading);
        await reading;
        exitCode = result.exit?.exitCode ?? (result.exit?.signal ? 128 : 0);
      } finally {
        clearInterval(timer);
        process.off('SIGINT', ignore);
        const last = post();
        await posting;
        await client.json('POST', `/sessions/${session}/kernel-witness`, {
          witnesses: [],
          trace: traceStats(last, label, exitCode),
        }).catch((err) => (postError ??= err));
        await client.json('POST', `/sessions/${session}/stop`).catch(() => undefined);
      }
      if (postError) throw postError;
      for (const address of peersSeen) {
        const via = routeInterface(address);
        if (via && via !== o.interface) {
          process.stderr.write(`ackscope: traffic to ${address} goes through ${via}, not ${o.interface}: run again with -i ${via} to capture it\n`);
        }
      }
      process.stdout.write(renderSummary(await fetchSummary(url, session)));
      process.stdout.write(`session page: ${url}/#/sessions/${session}\n`);
      process.exitCode = exitCode;
    });
}
