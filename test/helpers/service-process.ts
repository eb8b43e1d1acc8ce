import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * The real service as its own process (`ackscope serve` from the TypeScript sources), for
 * what only a process shows: refusing to start, being killed with SIGKILL, starting again.
 */
const CLI = fileURLToPath(new URL('../../cli/ackscope.ts', import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  /** stdout and stderr so far (pino's JSON lines and any crash). */
  output(): string;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A TCP port free right now on 127.0.0.1 (the service binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts `ackscope serve` with `env` added to this process's environment (no ACKSCOPE_TOKEN inherited). */
export function spawnService(env: Record<string, string>, port: number): ServiceProcess {
  const base = { ...process.env };
  delete base.ACKSCOPE_TOKEN;
  delete base.ACKSCOPE_TOKEN_FILE;
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    env: { ...base, ACKSCOPE_PORT: String(port), ACKSCOPE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (text += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, url: `http://127.0.0.1:${port}`, output: () => text, exited };
}

/** Waits until GET /healthz answers 200, or the process exits (throws with its output). */
export async function waitReady(service: ServiceProcess, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  let gone = false;
  void service.exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the service exited before it was ready:\n${service.output()}`);
    try {
      const res = await fetch(`${service.url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the service did not answer /healthz within ${limitMs} ms:\n${service.output()}`);
}
