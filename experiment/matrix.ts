/**
 * The experiment matrix: which conditions to measure, as the cartesian product of a few
 * dimensions. It comes from command-line flags or a small JSON file with the same names:
 *
 *   {
 *     "senders":   ["node", "posix", "winsock",               which program makes the send calls;
 *                   {"name": "python", "command": ["python3", "client.py", "{host}", "{port}"]}],
 *                                                             any command: traced by the kernel tracer
 *     "modes":     ["serial", "overlapped:16", "vectored:4"], overlapped:WINDOW, vectored:BUFFERS
 *     "sizes":     [1024, 16384],                             bytes per send call
 *     "sndbufs":   ["default", 4608],                         SO_SNDBUF ("default": not set)
 *     "rates":     ["20mbit", "unshaped", "loopback"],        tbf bottleneck on the veth rig,
 *                                                             a veth with no tbf, or plain loopback
 *     "receivers": ["reads", "late:20", "stops:65536:800"],   reads at once; waits MS before each
 *                                                             read; stops after BYTES for MS
 *     "count": 64,              send calls per point (default: bytesPerPoint / size, 16..2000)
 *     "bytesPerPoint": 1048576,
 *     "bottleneck": { "burstBytes": 10000, "latencyMs": 100 },   tbf details (or limitBytes)
 *     "ackRate": "1mbit",       optional tbf on the receiver's egress (the ACK path)
 *     "repeat": 1               runs of every point
 *   }
 *
 * Pure: parsing, validation (errors name the field) and expansion, no I/O.
 */
import { AckscopeError } from '../core/errors.js';

export type SenderKind = 'node' | 'posix' | 'winsock';
export const SENDER_KINDS: readonly SenderKind[] = ['node', 'posix', 'winsock'];

/**
 * Any program as a sender, unchanged: its send calls become completions through the
 * kernel tracer (tracer/), not through records of its own. `command` is its argv with
 * placeholders the point fills in (COMMAND_PLACEHOLDERS).
 */
export interface CommandSender {
  name: string;
  command: string[];
}

/** A sender of the matrix: one of ackscope's own, or a command. */
export type SenderSpec = SenderKind | CommandSender;

/**
 * What a command sender's argv may name; each `{name}` is replaced wherever it appears in
 * an argument (nothing else is touched, so a script's own braces need no escaping).
 */
export const COMMAND_PLACEHOLDERS = {
  host: "the receiver's address",
  port: "the receiver's port",
  size: 'bytes per send call',
  count: 'send calls',
  bytes: 'size × count',
  mode: 'serial, overlapped:WINDOW or vectored:BUFFERS',
  sndbuf: 'SO_SNDBUF bytes, or "default"',
} as const;
export type CommandPlaceholder = keyof typeof COMMAND_PLACEHOLDERS;

export type ModeSpec =
  | { mode: 'serial' }
  | { mode: 'overlapped'; window: number }
  | { mode: 'vectored'; buffers: number };

export type ReceiverSpec =
  | { behaviour: 'reads' }
  | { behaviour: 'late'; readDelayMs: number }
  | { behaviour: 'stops'; pauseAfterBytes: number; pauseMs: number };

export type PathSpec = { kind: 'loopback' } | { kind: 'veth'; rateBps: number | null };

export interface BottleneckShape {
  burstBytes?: number;
  limitBytes?: number;
  latencyMs?: number;
}

export interface Matrix {
  senders: SenderSpec[];
  modes: ModeSpec[];
  sizes: number[];
  /** null: leave SO_SNDBUF at the system default. */
  sndbufs: (number | null)[];
  paths: PathSpec[];
  receivers: ReceiverSpec[];
  count: number | null;
  bytesPerPoint: number;
  bottleneck: BottleneckShape;
  ackRateBps: number | null;
  repeat: number;
  tag: boolean;
}

export interface MatrixPoint {
  /** 0-based position in the run. */
  index: number;
  /** Which repetition of the same conditions (0-based). */
  run: number;
  /** The sender's name: a SenderKind, or a command sender's name. */
  sender: string;
  /** A command sender's argv with placeholders (expand with commandArgv); null for ackscope's own senders. */
  command: readonly string[] | null;
  mode: ModeSpec;
  size: number;
  count: number;
  sndbuf: number | null;
  path: PathSpec;
  receiver: ReceiverSpec;
  /** Short human name, e.g. "node overlapped:16 16KiB sndbuf=default 20Mbit/s reads". */
  label: string;
  /** Name of the conditions without the sender, to compare senders side by side. */
  condition: string;
}

/** Defaults of the receiver behaviours when given without numbers. */
export const DEFAULT_READ_DELAY_MS = 20;
export const DEFAULT_PAUSE_AFTER_BYTES = 65_536;
export const DEFAULT_PAUSE_MS = 800;

/**
 * The first thing a newcomer runs: 12 points, well under two minutes. Slow bottleneck with
 * the default and a small send buffer, a receiver that reads and one that stops for a
 * while, and the three call patterns.
 */
export const DEFAULT_MATRIX_INPUT = {
  senders: ['node'],
  modes: ['serial', 'overlapped:16', 'vectored:4'],
  sizes: [16384],
  sndbufs: ['default', 4608],
  rates: ['20mbit'],
  receivers: ['reads', 'stops'],
  bytesPerPoint: 1_048_576,
} as const;

function invalid(field: string, message: string): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_VALIDATION', `matrix.${field}: ${message}`, { field: `matrix.${field}` });
}

function positiveInt(value: unknown, field: string, min = 1): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) {
    throw invalid(field, `expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9, bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9 };

/** "20mbit" → 20e6 bit/s (tc's units: bit, kbit, mbit, gbit; bps… are bytes per second). */
export function parseRate(text: string, field = 'rate'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = (m?.[2] || 'bit').toLowerCase();
  if (!m || !(unit in RATE_UNITS)) {
    throw invalid(field, `"${text}" is not a rate; write e.g. 20mbit, 500kbit, 1gbit`);
  }
  const bps = Number(m[1]) * RATE_UNITS[unit];
  if (bps < 8000) throw invalid(field, `"${text}" is below 8kbit, too slow to measure anything`);
  return bps;
}

export function parsePath(value: unknown, field: string): PathSpec {
  if (typeof value === 'number') return { kind: 'veth', rateBps: parseRate(`${value}bit`, field) };
  if (typeof value !== 'string') throw invalid(field, `expected a rate, "unshaped" or "loopback", got ${JSON.stringify(value)}`);
  const v = value.trim().toLowerCase();
  if (v === 'loopback' || v === 'lo') return { kind: 'loopback' };
  if (v === 'unshaped' || v === 'none') return { kind: 'veth', rateBps: null };
  return { kind: 'veth', rateBps: parseRate(v, field) };
}

export function parseMode(value: unknown, field: string): ModeSpec {
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.mode === 'serial') return { mode: 'serial' };
    if (o.mode === 'overlapped') return { mode: 'overlapped', window: positiveInt(o.window ?? 16, `${field}.window`) };
    if (o.mode === 'vectored') return { mode: 'vectored', buffers: positiveInt(o.buffers ?? 4, `${field}.buffers`, 2) };
    throw invalid(`${field}.mode`, `expected serial, overlapped or vectored, got ${JSON.stringify(o.mode)}`);
  }
  if (typeof value !== 'string') throw invalid(field, `expected a mode, got ${JSON.stringify(value)}`);
  const [name, arg, extra] = value.trim().split(':');
  if (extra !== undefined) throw invalid(field, `"${value}" has too many parts`);
  if (name === 'serial' && arg === undefined) return { mode: 'serial' };
  if (name === 'overlapped') return { mode: 'overlapped', window: positiveInt(arg ?? 16, field) };
  if (name === 'vectored') return { mode: 'vectored', buffers: positiveInt(arg ?? 4, field, 2) };
  throw invalid(field, `"${value}" is not a mode; write serial, overlapped:WINDOW or vectored:BUFFERS`);
}

export function parseReceiver(value: unknown, field: string): ReceiverSpec {
  if (typeof value !== 'string') throw invalid(field, `expected a receiver behaviour, got ${JSON.stringify(value)}`);
  const [name, a, b, extra] = value.trim().split(':');
  if (extra !== undefined) throw invalid(field, `"${value}" has too many parts`);
  if (name === 'reads' && a === undefined) return { behaviour: 'reads' };
  if (name === 'late' && b === undefined) {
    return { behaviour: 'late', readDelayMs: positiveInt(a ?? DEFAULT_READ_DELAY_MS, field) };
  }
  if (name === 'stops') {
    return {
      behaviour: 'stops',
      pauseAfterBytes: positiveInt(a ?? DEFAULT_PAUSE_AFTER_BYTES, field, 0),
      pauseMs: positiveInt(b ?? DEFAULT_PAUSE_MS, field),
    };
  }
  throw invalid(field, `"${value}" is not a receiver; write reads, late:MS or stops:AFTER_BYTES:PAUSE_MS`);
}

function parseSndbuf(value: unknown, field: string): number | null {
  if (value === null || value === 'default') return null;
  return positiveInt(value, field, 0);
}

const COMMAND_SENDER_KEYS = new Set(['name', 'command']);
const SENDER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

/** The name a command sender gets when none is given: its program's file name. */
function defaultSenderName(argv0: string): string {
  const base = argv0.split('/').filter(Boolean).at(-1) ?? 'command';
  const cleaned = base.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 32);
  return cleaned || 'command';
}

function parseCommandSender(o: Record<string, unknown>, field: string): CommandSender & { named: boolean } {
  for (const key of Object.keys(o)) {
    if (!COMMAND_SENDER_KEYS.has(key)) throw invalid(`${field}.${key}`, 'unknown key; a command sender has "command" and an optional "name"');
  }
  const argv = o.command;
  if (!Array.isArray(argv) || argv.length === 0) throw invalid(`${field}.command`, 'expected a non-empty list of strings (the program and its arguments)');
  for (const [i, arg] of argv.entries()) {
    if (typeof arg !== 'string') throw invalid(`${field}.command[${i}]`, `expected a string, got ${JSON.stringify(arg)}`);
  }
  if (argv[0] === '') throw invalid(`${field}.command[0]`, 'expected the program to run, got an empty string');
  const command = argv as string[];
  for (const needed of ['host', 'port'] as const) {
    if (!command.some((arg) => arg.includes(`{${needed}}`))) {
      throw invalid(`${field}.command`, `no argument names {${needed}}: ${COMMAND_PLACEHOLDERS[needed]} is known only when the point runs`);
    }
  }
  if (o.name === undefined) return { name: defaultSenderName(command[0]), command, named: false };
  if (typeof o.name !== 'string' || !SENDER_NAME.test(o.name)) {
    throw invalid(`${field}.name`, `expected 1-32 letters, digits, ".", "_" or "-", got ${JSON.stringify(o.name)}`);
  }
  if ((SENDER_KINDS as readonly string[]).includes(o.name)) throw invalid(`${field}.name`, `"${o.name}" is one of ackscope's own senders; choose another name`);
  return { name: o.name, command, named: true };
}

function parseSender(value: unknown, field: string): SenderKind | (CommandSender & { named: boolean }) {
  if (typeof value === 'string' && (SENDER_KINDS as readonly string[]).includes(value)) return value as SenderKind;
  if (value && typeof value === 'object' && !Array.isArray(value)) return parseCommandSender(value as Record<string, unknown>, field);
  throw invalid(field, `expected one of ${SENDER_KINDS.join(', ')} or {"command": [...], "name": ...}, got ${JSON.stringify(value)}`);
}

/**
 * The senders of a matrix, each once. A command sender named explicitly must be unique;
 * one named after its program gets "-2", "-3"… when that name is taken.
 */
function parseSenders(values: unknown[]): SenderSpec[] {
  const parsed = values.map((v, i) => ({ field: `senders[${i}]`, sender: parseSender(v, `senders[${i}]`) }));
  const out: SenderSpec[] = [];
  const taken = new Set<string>();
  for (const { field, sender } of parsed.filter((p) => typeof p.sender === 'string' || p.sender.named)) {
    const name = typeof sender === 'string' ? sender : sender.name;
    if (taken.has(name)) {
      if (typeof sender === 'string') continue; // "node" twice is the same sender
      throw invalid(`${field}.name`, `"${name}" names two senders`);
    }
    taken.add(name);
  }
  for (const { sender } of parsed) {
    if (typeof sender === 'string') {
      if (!out.includes(sender)) out.push(sender);
      continue;
    }
    let name = sender.name;
    if (!sender.named) {
      for (let n = 2; taken.has(name); n++) name = `${sender.name}-${n}`;
      taken.add(name);
    }
    out.push({ name, command: sender.command });
  }
  return out;
}

export function senderName(sender: SenderSpec): string {
  return typeof sender === 'string' ? sender : sender.name;
}

/** A command sender's argv for one point: every placeholder replaced (pure). */
export function commandArgv(template: readonly string[], values: Record<CommandPlaceholder, string | number>): string[] {
  const names = Object.keys(COMMAND_PLACEHOLDERS).join('|');
  const pattern = new RegExp(`\\{(${names})\\}`, 'g');
  return template.map((arg) => arg.replace(pattern, (_, name: CommandPlaceholder) => String(values[name])));
}

/**
 * A command line as a shell would split it into words (pure): blanks separate words,
 * '…' keeps everything literal, "…" keeps everything but \" and \\, a backslash outside
 * quotes escapes the next character. No variables, globs or pipes.
 */
export function splitCommandLine(text: string, field: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw invalid(field, `unterminated ' in ${JSON.stringify(text)}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j++;
        word += text[j];
      }
      if (j >= text.length) throw invalid(field, `unterminated " in ${JSON.stringify(text)}`);
      inWord = true;
      i = j;
    } else if (c === '\\') {
      if (i + 1 < text.length) word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) throw invalid(field, 'an empty command');
  return words;
}

function list(input: Record<string, unknown>, key: string, fallback: readonly unknown[]): unknown[] {
  const v = input[key] ?? fallback;
  const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
  if (!Array.isArray(items) || items.length === 0) throw invalid(key, 'expected a non-empty list');
  return items;
}

const KNOWN_KEYS = new Set([
  'senders', 'modes', 'sizes', 'sndbufs', 'rates', 'receivers', 'count', 'bytesPerPoint', 'bottleneck', 'ackRate', 'repeat', 'tag',
]);

/**
 * A matrix from its JSON form (or the same keys from flags, where lists may be
 * comma-separated strings). Missing keys take the default matrix's values.
 */
export function parseMatrix(input: unknown): Matrix {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw invalid('', 'expected a JSON object');
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN_KEYS.has(key)) throw invalid(key, `unknown key; known keys: ${[...KNOWN_KEYS].join(', ')}`);
  }
  const d = DEFAULT_MATRIX_INPUT;
  const bottleneck = (o.bottleneck ?? {}) as Record<string, unknown>;
  if (typeof bottleneck !== 'object' || Array.isArray(bottleneck)) throw invalid('bottleneck', 'expected an object');
  const shape: BottleneckShape = {};
  if (bottleneck.burstBytes !== undefined) shape.burstBytes = positiveInt(bottleneck.burstBytes, 'bottleneck.burstBytes');
  if (bottleneck.limitBytes !== undefined) shape.limitBytes = positiveInt(bottleneck.limitBytes, 'bottleneck.limitBytes');
  if (bottleneck.latencyMs !== undefined) shape.latencyMs = positiveInt(bottleneck.latencyMs, 'bottleneck.latencyMs');
  if (shape.limitBytes !== undefined && shape.latencyMs !== undefined) {
    throw invalid('bottleneck', 'give limitBytes or latencyMs, not both');
  }
  const matrix: Matrix = {
    senders: parseSenders(list(o, 'senders', d.senders)),
    modes: list(o, 'modes', d.modes).map((v, i) => parseMode(v, `modes[${i}]`)),
    sizes: list(o, 'sizes', d.sizes).map((v, i) => positiveInt(v, `sizes[${i}]`, 1)),
    sndbufs: list(o, 'sndbufs', d.sndbufs).map((v, i) => parseSndbuf(v, `sndbufs[${i}]`)),
    paths: list(o, 'rates', d.rates).map((v, i) => parsePath(v, `rates[${i}]`)),
    receivers: list(o, 'receivers', d.receivers).map((v, i) => parseReceiver(v, `receivers[${i}]`)),
    count: o.count === undefined ? null : positiveInt(o.count, 'count'),
    bytesPerPoint: o.bytesPerPoint === undefined ? d.bytesPerPoint : positiveInt(o.bytesPerPoint, 'bytesPerPoint'),
    bottleneck: shape,
    ackRateBps: o.ackRate === undefined || o.ackRate === null ? null : parseRate(String(o.ackRate), 'ackRate'),
    repeat: o.repeat === undefined ? 1 : positiveInt(o.repeat, 'repeat'),
    tag: o.tag === undefined ? true : Boolean(o.tag),
  };
  const tagged = matrix.tag && matrix.senders.some((sender) => typeof sender === 'string'); // commands write their own bytes
  for (const [i, size] of matrix.sizes.entries()) {
    if (tagged && size < 24) throw invalid(`sizes[${i}]`, `${size} B cannot hold the 24-byte write tag; use ≥ 24 or "tag": false`);
  }
  return matrix;
}

/** Send calls for one point: the explicit count, else about bytesPerPoint, within 16..2000. */
export function pointCount(matrix: Matrix, size: number): number {
  if (matrix.count !== null) return matrix.count;
  return Math.min(2000, Math.max(16, Math.round(matrix.bytesPerPoint / size)));
}

export function formatMode(mode: ModeSpec): string {
  if (mode.mode === 'overlapped') return `overlapped:${mode.window}`;
  if (mode.mode === 'vectored') return `vectored:${mode.buffers}`;
  return 'serial';
}

export function formatSize(bytes: number): string {
  if (bytes % 1048576 === 0) return `${bytes / 1048576}MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}

export function formatRate(bps: number): string {
  if (bps >= 1e9 && bps % 1e8 === 0) return `${bps / 1e9}Gbit/s`;
  if (bps >= 1e6 && bps % 1e5 === 0) return `${bps / 1e6}Mbit/s`;
  if (bps >= 1e3) return `${Math.round(bps / 100) / 10}kbit/s`;
  return `${bps}bit/s`;
}

export function formatPath(path: PathSpec): string {
  if (path.kind === 'loopback') return 'loopback';
  return path.rateBps === null ? 'veth unshaped' : formatRate(path.rateBps);
}

export function formatReceiver(r: ReceiverSpec): string {
  if (r.behaviour === 'late') return `late:${r.readDelayMs}ms`;
  if (r.behaviour === 'stops') return `stops:${formatSize(r.pauseAfterBytes)}:${r.pauseMs}ms`;
  return 'reads';
}

export function formatSndbuf(sndbuf: number | null): string {
  return sndbuf === null ? 'default' : String(sndbuf);
}

/** Every point of the matrix, in a stable order (sender varies fastest, so senders sit side by side). */
export function expandMatrix(matrix: Matrix): MatrixPoint[] {
  const points: MatrixPoint[] = [];
  for (let run = 0; run < matrix.repeat; run++) {
    for (const path of matrix.paths) {
      for (const receiver of matrix.receivers) {
        for (const sndbuf of matrix.sndbufs) {
          for (const mode of matrix.modes) {
            for (const size of matrix.sizes) {
              const condition = [
                formatMode(mode),
                formatSize(size),
                `sndbuf=${formatSndbuf(sndbuf)}`,
                formatPath(path),
                formatReceiver(receiver),
              ].join(' ');
              for (const sender of matrix.senders) {
                points.push({
                  index: points.length,
                  run,
                  sender: senderName(sender),
                  command: typeof sender === 'string' ? null : sender.command,
                  mode,
                  size,
                  count: pointCount(matrix, size),
                  sndbuf,
                  path,
                  receiver,
                  label: `${senderName(sender)} ${condition}${matrix.repeat > 1 ? ` #${run + 1}` : ''}`,
                  condition,
                });
              }
            }
          }
        }
      }
    }
  }
  return points;
}

/**
 * Flag values (strings as commander hands them) merged over a JSON matrix (or the
 * default). Only flags that were given override. Each `--command` line adds a command
 * sender to the senders of --senders or the matrix file; with neither, the commands are
 * the only senders (the default `node` is not added).
 */
export function matrixFromFlags(
  flags: Partial<Record<'senders' | 'modes' | 'sizes' | 'sndbufs' | 'rates' | 'receivers' | 'count' | 'bytesPerPoint' | 'ackRate' | 'repeat', string>> & {
    commands?: readonly string[];
  },
  base: Record<string, unknown> = {},
): Matrix {
  const merged: Record<string, unknown> = { ...base };
  const { commands = [], ...lists } = flags;
  for (const [key, value] of Object.entries(lists)) {
    if (value !== undefined) merged[key] = value;
  }
  if (commands.length > 0) {
    const given = merged.senders === undefined ? [] : list(merged, 'senders', []);
    merged.senders = [...given, ...commands.map((line, i) => ({ command: splitCommandLine(line, `command[${i}]`) }))];
  }
  return parseMatrix(merged);
}
