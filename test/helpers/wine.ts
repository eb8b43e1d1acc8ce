import { execFileSync } from 'node:child_process';
import {
  cloneDir,
  clonePrefix,
  findWine,
  prepareWinePrefix,
  removePrefixClone,
  runProcess,
  type WineRuntime,
} from '../../sender/c/wine.js';
import { ensureCSenderBuilt } from '../../sender/c/run.js';

/**
 * Everything the Winsock sender's tests need on a fresh Debian machine, installed by the
 * test itself (as root): the MinGW-w64 cross compiler and Debian's Wine, then a Wine
 * prefix in .cache/wine (kept between runs, so a warm run starts in well under a second).
 * Measured here (Debian 12, local mirror): each apt-get install ~8 s (MinGW 100 MB,
 * Wine 102 MB of archives, ~1.2 GB installed), the prefix ~11 s, the sender's first
 * start in a warm prefix ~0.4 s.
 */
export const WINE_PACKAGES = ['wine', 'wine64'] as const;
export const MINGW_PACKAGES = ['gcc-mingw-w64-x86-64'] as const;

export interface WineSetup {
  wine: WineRuntime;
  /** Packages this call installed (empty on a warm machine). */
  installed: string[];
  installMs: number;
  prefixCreated: boolean;
  prefixMs: number;
  buildMs: number;
}

function installedOk(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes(
      'install ok installed',
    );
  } catch {
    return false;
  }
}

/** apt-get install of what is missing; retries once after apt-get update (a stale index). */
async function aptInstall(packages: string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const args = ['install', '-y', '-q', '--no-install-recommends', ...packages];
  let r = await runProcess('apt-get', args, { env, timeoutMs: 900_000 });
  if (r.code !== 0) {
    await runProcess('apt-get', ['update', '-q'], { env, timeoutMs: 300_000 });
    r = await runProcess('apt-get', args, { env, timeoutMs: 900_000 });
  }
  if (r.code !== 0) throw new Error(`apt-get install ${packages.join(' ')} failed: ${r.stderr.slice(-800)}`);
}

let cached: WineSetup | null = null;

/** Installs what is missing, prepares the prefix, builds the .exe; once per process. */
export async function ensureWineSender(): Promise<WineSetup> {
  if (cached) return cached;
  const started = process.hrtime.bigint();
  const missing = [...WINE_PACKAGES, ...MINGW_PACKAGES].filter((p) => !installedOk(p));
  if (missing.length > 0) await aptInstall(missing);
  const installMs = Number(process.hrtime.bigint() - started) / 1e6;

  const wine = findWine();
  if (!wine) throw new Error(`Wine is installed (${WINE_PACKAGES.join(' ')}) but no wine64 loader was found`);
  const prefix = await prepareWinePrefix(wine);
  const buildStarted = process.hrtime.bigint();
  await ensureCSenderBuilt('winsock');
  const buildMs = Number(process.hrtime.bigint() - buildStarted) / 1e6;
  cached = { wine, installed: missing, installMs, prefixCreated: prefix.created, prefixMs: prefix.ms, buildMs };
  return cached;
}

/**
 * Start-up of a Windows program in the prepared prefix, with no wineserver running
 * (what each test's first run pays) and with one running (what later runs pay). Measured
 * on a private clone of the prefix, so no other process's wineserver is stopped.
 */
export async function measureWineStart(wine: WineRuntime, exe: string): Promise<{ coldServerMs: number; warmServerMs: number }> {
  const clone = clonePrefix(wine, cloneDir(wine, 'measure'));
  try {
    const cold = await runProcess(clone.loader, [exe, '--help'], { env: clone.env, timeoutMs: 120_000 });
    const warm = await runProcess(clone.loader, [exe, '--help'], { env: clone.env, timeoutMs: 120_000 });
    if (cold.code !== 0 || warm.code !== 0) throw new Error(`${exe} --help failed under Wine: ${cold.stderr}${warm.stderr}`);
    return { coldServerMs: cold.ms, warmServerMs: warm.ms };
  } finally {
    await removePrefixClone(clone);
  }
}
