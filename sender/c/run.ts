import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { AckscopeError } from '../../core/errors.js';
import type { CompletionInput } from '../../core/completion.js';
import { C_SENDER_DIR, cSenderBinary, type CSenderKind } from './paths.js';
import {
  cloneDir,
  clonePrefix,
  findWine,
  prepareWinePrefix,
  pruneStaleClones,
  removePrefixClone,
  runProcess,
  type ProcessResult,
} from './wine.js';

export type { CSenderKind } from './paths.js';

/**
 * Runs one of the C senders (sender/c: ackscope-send-posix, or ackscope-send-winsock.exe
 * under Wine) and returns its completion records. This is what `ackscope experiment
 * --sender posix|winsock` calls; the records are the NDJSON of docs/completions.md,
 * ready for POST /sessions/:id/completions or `ackscope ingest`.
 */
export interface CSenderOptions {
  kind: CSenderKind;
  /** HOST:PORT as the sender dials it. */
  target: string;
  count: number;
  /** Bytes per write; a list is cycled. */
  size: number | readonly number[];
  mode: 'serial' | 'overlapped';
  /** Overlapped: most calls outstanding (Winsock: WSASend in flight). Default 8. */
  window?: number;
  /** Buffers per call (iovec / WSABUF). Default 1. */
  buffers?: number;
  /** SO_SNDBUF before connect; 0 allowed. Unset: the system's default. */
  sndbuf?: number;
  nodelay?: boolean;
  /** Start every write with the 24-byte write tag (capture/decode/tag.ts). */
  tag?: boolean;
  /** Run inside this network namespace (`ip netns exec`), e.g. an experiment rig's sender side. */
  netns?: string;
  /** Where the NDJSON goes. Default: a new temporary folder (the caller removes it when done). */
  outPath?: string;
  /** Kill the sender after this long. Default 120 s. */
  timeoutMs?: number;
}

/** The sender's own summary line on stderr. */
export interface CSenderTotals {
  records: number;
  bytes: number;
  /** Completions with bytesReported < offsetEnd − offsetStart. */
  partial: number;
  /** Completions with a status other than "ok". */
  errors: number;
}

export interface CSenderRun {
  outPath: string;
  records: CompletionInput[];
  /** 0: every write ok; 3: a send failed mid-run (its record and those before are kept). */
  exitCode: 0 | 3;
  totals: CSenderTotals;
  stderr: string;
  /** Wall time of the process, Wine's start included. */
  ms: number;
}

const EXIT_SENT = 0;
const EXIT_USAGE = 2;
const EXIT_SEND_ERROR = 3;

/** The command-line arguments for the options (pure). */
export function cSenderArgs(o: CSenderOptions, outArg: string): string[] {
  const sizes = typeof o.size === 'number' ? [o.size] : [...o.size];
  const args = [o.target, '--count', String(o.count), '--size', sizes.join(','), '--mode', o.mode];
  if (o.window !== undefined) args.push('--window', String(o.window));
  if (o.buffers !== undefined) args.push('--buffers', String(o.buffers));
  if (o.sndbuf !== undefined) args.push('--sndbuf', String(o.sndbuf));
  if (o.nodelay) args.push('--nodelay');
  if (o.tag) args.push('--tag');
  args.push('--out', outArg);
  return args;
}

/** Reads `records=N bytes=N partial=N errors=N` from the sender's stderr (pure). */
export function parseTotals(stderr: string): CSenderTotals | null {
  const m = /records=(\d+) bytes=(\d+) partial=(\d+) errors=(\d+)/.exec(stderr);
  if (!m) return null;
  return { records: Number(m[1]), bytes: Number(m[2]), partial: Number(m[3]), errors: Number(m[4]) };
}

/** Parses an NDJSON file of completion records (blank lines skipped). */
export function readCompletionFile(path: string): CompletionInput[] {
  const text = readFileSync(path, 'utf8');
  const records: CompletionInput[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() !== '') records.push(JSON.parse(line) as CompletionInput);
  }
  return records;
}

/** A Unix path as Wine's Z: drive (mapped to / in every prefix) names it. */
export function wineDrivePath(unixPath: string): string {
  return `Z:${unixPath.replace(/\//g, '\\')}`;
}

function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, name)));
}

const builtThisProcess = new Set<CSenderKind>();
let cloneCount = 0;

/** Builds the sender with make when missing or stale; returns the binary's path. */
export async function ensureCSenderBuilt(kind: CSenderKind): Promise<string> {
  const binary = cSenderBinary(kind);
  if (builtThisProcess.has(kind) && existsSync(binary)) return binary;
  if (kind === 'winsock' && !onPath('x86_64-w64-mingw32-gcc')) {
    if (existsSync(binary)) return binary; // built earlier; nothing to rebuild it with
    throw new AckscopeError(
      'ACKSCOPE_ERR_NATIVE_UNSUPPORTED',
      'the Winsock sender needs the MinGW-w64 cross compiler: apt-get install gcc-mingw-w64-x86-64 ' +
        '(bash scripts/setup.sh --test installs it)',
    );
  }
  const made = await runProcess('make', ['-s', '-C', C_SENDER_DIR, kind], { timeoutMs: 120_000 });
  if (made.code !== 0 || !existsSync(binary)) {
    throw new AckscopeError('ACKSCOPE_ERR_SENDER_FAILED', `make -C sender/c ${kind} failed: ${made.stderr.slice(-800)}`);
  }
  builtThisProcess.add(kind);
  return binary;
}

export async function runCSender(o: CSenderOptions): Promise<CSenderRun> {
  const binary = await ensureCSenderBuilt(o.kind);
  const outPath = o.outPath ?? join(mkdtempSync(join(tmpdir(), `ackscope-${o.kind}-`)), 'completions.ndjson');
  const timeoutMs = o.timeoutMs ?? 120_000;

  let result: ProcessResult;
  if (o.kind === 'posix') {
    const args = cSenderArgs(o, outPath);
    result = o.netns
      ? await runProcess('ip', ['netns', 'exec', o.netns, binary, ...args], { timeoutMs })
      : await runProcess(binary, args, { timeoutMs });
  } else {
    const wine = findWine();
    if (!wine) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_NATIVE_UNSUPPORTED',
        'the Winsock sender runs under Wine on Linux: apt-get install wine wine64 (the tests install it themselves)',
      );
    }
    await prepareWinePrefix(wine);
    const args = [binary, ...cSenderArgs(o, wineDrivePath(outPath))];
    if (o.netns) {
      // Wine's sockets are made by the wineserver: a private prefix clone gets a server of
      // its own, started inside the namespace; the shared prefix's server is left alone.
      pruneStaleClones(wine);
      const clone = clonePrefix(wine, cloneDir(wine, String(++cloneCount)));
      try {
        result = await runProcess('ip', ['netns', 'exec', o.netns, clone.loader, ...args], { env: clone.env, timeoutMs });
      } finally {
        await removePrefixClone(clone);
      }
    } else {
      result = await runProcess(wine.loader, args, { env: wine.env, timeoutMs });
    }
  }

  if (result.code !== EXIT_SENT && result.code !== EXIT_SEND_ERROR) {
    const code = result.code === EXIT_USAGE ? 'ACKSCOPE_ERR_VALIDATION' : 'ACKSCOPE_ERR_SENDER_FAILED';
    const how = result.signal ? `was killed by ${result.signal}` : `exited ${result.code}`;
    throw new AckscopeError(code, `the ${o.kind} sender ${how}: ${result.stderr.trim().slice(-800)}`, {
      exitCode: result.code,
    });
  }
  const records = readCompletionFile(outPath);
  const totals = parseTotals(result.stderr);
  if (!totals || totals.records !== records.length) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_SENDER_FAILED',
      `the ${o.kind} sender reported ${totals ? totals.records : 'no'} records but ${outPath} holds ${records.length}`,
    );
  }
  return { outPath, records, exitCode: result.code, totals, stderr: result.stderr, ms: result.ms };
}
