import { DEFAULT_SERVICE_URL } from '../core/api-reply.js';
import { Command, Option } from '@commander-js/extra-typings';
import { AckscopeError } from '../core/errors.js';

/**
 * `ackscope send HOST:PORT`: the built-in workload sender. Makes --count send calls in
 * the chosen mode on one TCP connection, records a completion for each (sender/), and
 * reports them to a session on the service (joined with --session, else created), or
 * straight into a local database with --db. Prints a one-line summary.
 */

/** HOST:PORT, with [v6]:PORT for IPv6 (pure). */
export function parseTarget(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:\s]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `target: expected HOST:PORT (or [IPv6]:PORT), got "${text}"`, {
      field: 'target',
    });
  }
  return { host: m[1], port };
}

/** A byte count: 1024, 4k (KiB), 1m (MiB) (pure). */
export function parseBytes(text: string, field: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(text.trim());
  if (!m) throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `${field}: expected a byte count like 1024, 4k or 1m, got "${text}"`, { field });
  const unit = m[2].toLowerCase() === 'k' ? 1024 : m[2].toLowerCase() === 'm' ? 1024 * 1024 : 1;
  return Number(m[1]) * unit;
}

/** --size: one size or a comma-separated list, cycled through (pure). */
export function parseSizes(text: string): number[] {
  return text.split(',').map((s) => parseBytes(s, 'size'));
}

export function parsePositiveInt(text: string, field: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `${field}: expected a whole number ≥ 1, got "${text}"`, { field });
  }
  return n;
}

export function sendCommand() {
  return new Command('send')
    .description('send a workload to HOST:PORT and report a completion record per send call to a session')
    .argument('<target>', 'HOST:PORT of a receiver (e.g. `ackscope sink --port 7000`)')
    .option('--count <n>', 'send calls to make', '1000')
    .option('--size <bytes>', 'bytes per call: a size (1024, 4k) or a list cycled through (512,1024,64k)', '1024')
    .addOption(
      new Option('--mode <mode>', 'serial: wait for each completion; overlapped: up to --window outstanding; vectored: --buffers per call (writev)')
        .choices(['serial', 'overlapped', 'vectored'] as const)
        .default('overlapped' as const),
    )
    .option('--window <n>', 'calls outstanding at most (overlapped, vectored)', '16')
    .option('--buffers <n>', 'buffers per vectored call (the call size is split among them)', '4')
    .option('--sndbuf <bytes>', 'SO_SNDBUF to request (Linux reports back twice this)')
    .option('--nodelay', 'set TCP_NODELAY (no Nagle)')
    .option('--rate <calls/s>', 'pace the calls (default: as fast as the window allows)')
    .option('--tag', 'start each call with the 24-byte write tag (writeId, length, stream offset) for the capture to check')
    .option('--session <id>', 'session to report to (default: create one)')
    .option('--url <url>', `the service (default ACKSCOPE_URL, else ${DEFAULT_SERVICE_URL})`)
    .option('--db <file>', 'write completions straight into this local database instead of the service')
    .addOption(
      new Option(
        '--tcp-info <policy>',
        'when to read TCP_INFO: every completion (one getsockopt each, ~0.8 µs), once per burst of completions ' +
          'Node calls back together (shared reading, marked tcpInfoFrom), or off (docs/completions.md)',
      )
        .choices(['every', 'burst', 'off'] as const)
        .default('burst' as const),
    )
    .option('--no-tcp-info', 'the same as --tcp-info off')
    .option('--json', 'print the summary as JSON instead of one line')
    .action(async (target, o) => {
      const { host, port } = parseTarget(target);
      const count = parsePositiveInt(o.count, 'count');
      const sizes = parseSizes(o.size);
      const window = parsePositiveInt(o.window, 'window');
      const buffers = parsePositiveInt(o.buffers, 'buffers');
      const sndbuf = o.sndbuf === undefined ? undefined : parseBytes(o.sndbuf, 'sndbuf');
      const rate = o.rate === undefined ? undefined : Number(o.rate);
      if (rate !== undefined && !(rate > 0)) {
        throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `rate: expected calls per second > 0, got "${o.rate}"`, { field: 'rate' });
      }
      let sessionId = o.session === undefined ? undefined : parsePositiveInt(o.session, 'session');
      const name = `send ${target} ${o.mode} ×${count}`;

      const sender = await import('../sender/index.js');
      let destination: import('../sender/index.js').DestinationSpec;
      let closeDb = () => {};
      if (o.db) {
        const { openDatabase } = await import('../db/connection.js');
        const { createSession } = await import('../db/sessions.js');
        const db = openDatabase(o.db);
        closeDb = () => db.close();
        sessionId ??= createSession(db, { name, kind: 'import' }).id;
        const { DatabaseDestination } = await import('../db/completion-destination.js');
        destination = new DatabaseDestination(db, sessionId);
      } else {
        const client = new sender.ServiceClient(sender.serviceUrl(o.url));
        if (sessionId === undefined) sessionId = (await client.createSession(name)).id;
        else await client.getSession(sessionId); // fail before sending if the session is not there
        destination = { url: client.baseUrl, session: sessionId };
      }
      try {
        const { summary } = await sender.runWorkload({
          host,
          port,
          count,
          sizes,
          mode: o.mode,
          window,
          buffers,
          sndbuf,
          nodelay: o.nodelay ?? false,
          rate,
          tag: o.tag ?? false,
          tcpInfo: o.tcpInfo === false ? 'off' : o.tcpInfo,
          destination,
          keepRecords: false,
        });
        console.log(o.json ? JSON.stringify({ sessionId, ...summary }) : sender.formatSummary(summary, sessionId));
        if (summary.socketError) process.exitCode = 1;
      } finally {
        closeDb();
      }
    });
}
