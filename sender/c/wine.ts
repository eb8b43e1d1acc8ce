import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { defaultWinePrefix, firstExisting } from './paths.js';

/**
 * Running the Winsock sender headless under Wine on Linux. Installing Wine is not done
 * here (test/helpers/wine.ts does it for the tests; a user runs apt-get): this module
 * finds it, prepares a prefix once and starts programs in it.
 *
 * Under Wine, sockets are created by the wineserver process, so the wineserver decides
 * the network namespace a Winsock program's socket lives in: a run inside a namespace
 * uses a private clone of the prefix (clonePrefix), whose server starts in there.
 */
export interface WineRuntime {
  /** The 64-bit loader (Debian: /usr/lib/wine/wine64; its /usr/bin/wine wrapper nags about wine32). */
  loader: string;
  server: string;
  prefix: string;
  env: NodeJS.ProcessEnv;
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Wine as installed, or null when it is not (`apt-get install wine wine64`). */
export function findWine(prefix = defaultWinePrefix()): WineRuntime | null {
  const loader = firstExisting(['/usr/lib/wine/wine64']) ?? onPath('wine64') ?? onPath('wine');
  if (!loader) return null;
  const server =
    firstExisting([join(dirname(loader), 'wineserver'), '/usr/lib/wine/wineserver64', '/usr/lib/wine/wineserver']) ??
    onPath('wineserver');
  if (!server) return null;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WINEPREFIX: prefix,
    WINEARCH: 'win64',
    WINEDEBUG: '-all',
    // no Mono/Gecko download dialogs: the senders need neither .NET nor a browser engine
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
  };
  delete env.DISPLAY; // headless: console programs only
  delete env.WAYLAND_DISPLAY;
  return { loader, server, prefix, env };
}

/** wineboot writes system.reg last, so its presence means a prefix that starts fast. */
export function winePrefixReady(prefix: string): boolean {
  return existsSync(join(prefix, 'system.reg'));
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a program to its end, collecting its output. stdout and stderr go to files, not
 * pipes: a Wine program's first start leaves the wineserver and Wine's services running
 * with the program's stdio, and a pipe would then stay open for seconds after the program
 * itself exited (measured: 2.4 s per run instead of 0.03 s).
 */
export async function runProcess(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<ProcessResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ackscope-proc-'));
  const outFd = openSync(join(dir, 'stdout'), 'w');
  const errFd = openSync(join(dir, 'stderr'), 'w');
  try {
    const started = process.hrtime.bigint();
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', outFd, errFd] });
      const timer =
        options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
      child.on('error', (err) => {
        if (timer) clearTimeout(timer);
        reject(err);
      });
      child.on('exit', (exitCode, exitSignal) => {
        if (timer) clearTimeout(timer);
        resolve({ code: exitCode, signal: exitSignal });
      });
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    return {
      code,
      signal,
      stdout: readFileSync(join(dir, 'stdout'), 'utf8'),
      stderr: readFileSync(join(dir, 'stderr'), 'utf8'),
      ms,
    };
  } finally {
    closeSync(outFd);
    closeSync(errFd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Creates the prefix when missing (`wineboot --init`, then waits for the wineserver to
 * finish writing it). Measured here: ~11 s cold, nothing when warm.
 */
export async function prepareWinePrefix(rt: WineRuntime): Promise<{ created: boolean; ms: number }> {
  if (winePrefixReady(rt.prefix)) return { created: false, ms: 0 };
  const started = process.hrtime.bigint();
  mkdirSync(dirname(rt.prefix), { recursive: true });
  const boot = await runProcess(rt.loader, ['wineboot', '--init'], { env: rt.env, timeoutMs: 180_000 });
  await runProcess(rt.server, ['-w'], { env: rt.env, timeoutMs: 60_000 });
  if (!winePrefixReady(rt.prefix)) {
    throw new Error(`wineboot --init did not create ${rt.prefix} (exit ${boot.code}): ${boot.stderr.slice(-500)}`);
  }
  return { created: true, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

/**
 * A private prefix sharing the prepared one's files: its own directory (so its own
 * wineserver, which Wine keys on the prefix directory), copies of the registry files,
 * drive_c linked. Made in a few milliseconds instead of wineboot's ~11 s; a run inside a
 * network namespace gets one, so its wineserver — which creates the program's sockets —
 * starts inside that namespace and no other run ever talks to it.
 */
export function clonePrefix(base: WineRuntime, dir: string): WineRuntime {
  if (!winePrefixReady(base.prefix)) throw new Error(`prepare ${base.prefix} first (prepareWinePrefix)`);
  rmSync(dir, { recursive: true, force: true }); // a clone of an earlier run under the same name
  mkdirSync(join(dir, 'dosdevices'), { recursive: true });
  for (const file of ['system.reg', 'user.reg', 'userdef.reg', '.update-timestamp']) {
    if (existsSync(join(base.prefix, file))) copyFileSync(join(base.prefix, file), join(dir, file));
  }
  symlinkSync(join(base.prefix, 'drive_c'), join(dir, 'drive_c'));
  symlinkSync('../drive_c', join(dir, 'dosdevices', 'c:'));
  symlinkSync('/', join(dir, 'dosdevices', 'z:'));
  return { ...base, prefix: dir, env: { ...base.env, WINEPREFIX: dir } };
}

/** Where clones live: `<prefix's folder>/wine-clones/<pid>-<label>`. */
export function cloneDir(base: WineRuntime, label: string): string {
  return join(dirname(base.prefix), 'wine-clones', `${process.pid}-${label}`);
}

/** Removes clones left by processes that no longer run (killed before they cleaned up). */
export function pruneStaleClones(base: WineRuntime): void {
  const dir = join(dirname(base.prefix), 'wine-clones');
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops a clone's wineserver and removes the clone (its links, never what they point to). */
export async function removePrefixClone(clone: WineRuntime): Promise<void> {
  await stopWineServer(clone);
  rmSync(clone.prefix, { recursive: true, force: true });
}

/** Stops this prefix's wineserver (and only it) and waits until it is gone. */
export async function stopWineServer(rt: WineRuntime): Promise<void> {
  await runProcess(rt.server, ['-k'], { env: rt.env, timeoutMs: 30_000 });
  await runProcess(rt.server, ['-w'], { env: rt.env, timeoutMs: 30_000 });
}
