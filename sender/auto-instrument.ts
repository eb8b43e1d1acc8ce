/**
 * What `node --import ackscope/register app.js` does (sender/register.ts runs it):
 * `node --import ackscope/register app.js` (or NODE_OPTIONS="--import ackscope/register"):
 * every TCP socket the program opens or accepts is instrumented, with no change to the
 * program, and its completion records go to the session named in the environment:
 *
 *   ACKSCOPE_SESSION  the session id (required; without it this module only warns)
 *   ACKSCOPE_URL      the service (default http://127.0.0.1:7878)
 *   ACKSCOPE_TCP_INFO TCP_INFO policy: burst (default), every or off
 *
 * Records are posted while the program runs (a batch every 500 ms or 1,000 records) so a
 * long-running service can be watched live, and the rest before the process exits on its
 * own. A program that calls process.exit() skips 'beforeExit': records not yet posted are
 * lost then, and counted in the warning this module prints at exit.
 */
import net from 'node:net';
import { instrument, TCP_INFO_POLICIES, type Instrumented, type InstrumentOptions, type TcpInfoPolicy } from './instrument.js';
import { ServiceDestination } from './destinations.js';
import { ServiceClient, serviceUrl } from './service-client.js';
import type { CompletionDestination, CompletionRecord } from '../core/completion.js';

const FLUSH_EVERY_MS = 500;
const BATCH_RECORDS = 1000;

/**
 * Where a `connect()` call goes: a TCP port and host, or null for a Unix socket or named
 * pipe. Pure. net.connect() passes its normalised arguments as one array [options, cb].
 */
export function tcpConnectTarget(args: readonly unknown[]): { port: number; host: string } | null {
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  const hostArg = typeof args[1] === 'string' ? args[1] : 'localhost';
  if (typeof first === 'number') return { port: first, host: hostArg };
  if (typeof first === 'string') return /^[0-9]+$/.test(first) ? { port: Number(first), host: hostArg } : null;
  if (first && typeof first === 'object') {
    const o = first as { path?: unknown; port?: unknown; host?: unknown };
    if (typeof o.path === 'string') return null;
    return { port: Number(o.port), host: typeof o.host === 'string' ? o.host : 'localhost' };
  }
  return null;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** Is this connection the one the records themselves are posted on? (Never record those.) */
export function isServiceConnection(target: { port: number; host: string }, service: URL): boolean {
  const port = Number(service.port || (service.protocol === 'https:' ? 443 : 80));
  if (target.port !== port) return false;
  const host = service.hostname.replace(/^\[|\]$/g, '');
  return target.host === host || (LOOPBACK_NAMES.has(target.host) && LOOPBACK_NAMES.has(host));
}

/** Counts what went where, for the warning at exit. */
class CountingDestination implements CompletionDestination {
  made = 0;
  constructor(readonly inner: ServiceDestination) {}
  add(record: CompletionRecord): void {
    this.made++;
    this.inner.add(record);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
}

/** Instruments every TCP socket of this process from now on (see the top of this file). */
export function autoInstrument(env: NodeJS.ProcessEnv): void {
  const sessionText = env.ACKSCOPE_SESSION;
  const session = Number(sessionText);
  if (!sessionText || !Number.isSafeInteger(session) || session < 1) {
    process.emitWarning(`ackscope/register: ACKSCOPE_SESSION is not a session id (got "${sessionText ?? ''}"); sockets are not instrumented`);
    return;
  }
  const url = serviceUrl(undefined, env);
  const service = new URL(url);
  const destination = new CountingDestination(new ServiceDestination(new ServiceClient(url), session, BATCH_RECORDS));
  const policy = env.ACKSCOPE_TCP_INFO;
  if (policy && !(TCP_INFO_POLICIES as readonly string[]).includes(policy)) {
    process.emitWarning(`ackscope/register: ACKSCOPE_TCP_INFO must be one of ${TCP_INFO_POLICIES.join(', ')} (got "${policy}"); using the default`);
  }
  const options: InstrumentOptions = {
    destination,
    tcpInfo: policy && (TCP_INFO_POLICIES as readonly string[]).includes(policy) ? (policy as TcpInfoPolicy) : undefined,
  };
  const seen = new WeakSet<net.Socket>();
  // Open sockets, so the periodic flush can hand over the records they hold in blocks.
  const open = new Set<Instrumented>();
  const adopt = (socket: net.Socket) => {
    if (seen.has(socket)) return;
    seen.add(socket);
    const probe = instrument(socket, options);
    open.add(probe);
    socket.once('close', () => open.delete(probe));
  };

  // Outgoing connections: right after connect() starts, before the program can write.
  // Not before it: connect() puts Socket.prototype.write back on the socket.
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const socket = (connect as (...a: unknown[]) => net.Socket).apply(this, args);
    const target = tcpConnectTarget(args);
    if (target && !isServiceConnection(target, service)) adopt(this);
    return socket;
  } as typeof connect;

  // Accepted connections: before any 'connection' listener can write (http servers too).
  const emit = net.Server.prototype.emit;
  net.Server.prototype.emit = function (this: net.Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'connection') {
      const socket = args[0] as net.Socket;
      if (socket.remoteFamily === 'IPv4' || socket.remoteFamily === 'IPv6') adopt(socket);
    }
    return (emit as (this: net.Server, e: string | symbol, ...a: unknown[]) => boolean).call(this, event, ...args);
  } as typeof emit;

  let failure: unknown;
  const flush = () =>
    Promise.all([...open].map((probe) => probe.flush()))
      .then(() => destination.flush())
      .catch((err) => (failure ??= err));
  setInterval(flush, FLUSH_EVERY_MS).unref();
  // 'beforeExit' comes again after every flush that did I/O: flush only while records wait,
  // or the process would never exit.
  let flushedAtExit = -1;
  process.on('beforeExit', () => {
    if (destination.made === flushedAtExit) return;
    flushedAtExit = destination.made;
    void flush();
  });
  process.on('exit', () => {
    const posted = destination.inner.posted;
    if (failure) process.stderr.write(`ackscope/register: posting records to session ${session} failed: ${(failure as Error).message}\n`);
    if (posted < destination.made) process.stderr.write(`ackscope/register: ${destination.made - posted} of ${destination.made} records were not posted before exit\n`);
  });
}

