/**
 * The network rig: where experiments and live tests send traffic.
 *
 *   kind 'veth'      two fresh network namespaces, `<sender>` and `<receiver>`, joined by a veth
 *                    pair addressed from the benchmarking range 198.18.0.0/15 (one random /30 per
 *                    rig), a `tbf` bottleneck on the sender's egress and, optionally, one on the
 *                    receiver's egress (the ACK path). netem is not available on these kernels.
 *   kind 'loopback'  the zero-configuration fallback: 127.0.0.1 on `lo` in the current namespace,
 *                    no shaping, nothing to create or remove.
 *
 * Where the capture runs. libpcap opens an interface by name in the network namespace of the
 * process that opens it, and the sender's veth end exists only inside the sender's namespace:
 * a capture started from the root namespace cannot see it. Node cannot switch namespaces
 * (setns needs native code and affects the whole process), so everything that must see the
 * sender's interface runs as a child process started with `ip netns exec <sender> …`: the
 * capture worker (inside an ackscope service process on the same SQLite file, WAL lets several
 * processes share it) and the sender itself. The receiver (`ackscope sink`) runs the same way
 * in the receiver's namespace. `spawnNode`/`command` below build those command lines.
 *
 * Lifetime. A rig removes everything it created when `down()` is called, and also when the
 * process ends: on SIGINT/SIGTERM/SIGHUP (tear down, then exit 128+signal) and on 'exit'. Tear-down
 * is synchronous so it works inside an 'exit' handler. Processes left inside a rig's
 * namespaces (all started by this rig, the namespaces being its own) are killed first, since
 * a namespace with a live process outlives `ip netns del`. Namespaces carry the creating
 * process id, so a rig left by a killed process (SIGKILL) is removed by the next rig.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { extname } from 'node:path';
import { promisify } from 'node:util';
import { AckscopeError } from '../core/errors.js';

const execFileAsync = promisify(execFile);

export type RigSide = 'sender' | 'receiver';
export type RigKind = 'veth' | 'loopback';

/** A `tbf` token bucket on one direction of the veth pair. */
export interface Shaper {
  /** Sustained rate, bits per second. */
  rateBps: number;
  /** Bucket size, bytes. Default: 4 ms at the rate, at least two full-size frames. */
  burstBytes?: number;
  /** Queue limit in bytes; give this or latencyMs. Default: latencyMs 100. */
  limitBytes?: number;
  /** Longest time a packet may wait in the queue (tc computes the byte limit). */
  latencyMs?: number;
}

export interface RigOptions {
  kind?: RigKind;
  /** Shaping of the data path (sender's egress). veth only. */
  bottleneck?: Shaper;
  /** Shaping of the ACK path (receiver's egress). veth only. */
  ackPath?: Shaper;
  /** Link MTU (veth only); default 1500. */
  mtu?: number;
}

export interface RigEndpoint {
  /** Network namespace, or null for the current one (loopback). */
  netns: string | null;
  /** Interface carrying the rig's traffic on this side (capture here). */
  iface: string;
  addr: string;
}

export interface QdiscStats {
  kind: string;
  bytes: number;
  packets: number;
  drops: number;
  overlimits: number;
  backlog: number;
}

export interface Rig {
  readonly kind: RigKind;
  /** Short unique id of this rig (part of every name it creates). */
  readonly id: string;
  readonly sender: RigEndpoint;
  readonly receiver: RigEndpoint;
  readonly options: Readonly<RigOptions>;
  /** The command line that runs `file args` on one side (wrapped in `ip netns exec` for veth). */
  command(side: RigSide, file: string, args: readonly string[]): { file: string; args: string[] };
  /** Runs a command on one side to completion; rejects with ACKSCOPE_ERR_RIG_FAILED on failure. */
  run(side: RigSide, file: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
  /** Starts a process on one side; it is killed at tear-down if still running. */
  spawn(side: RigSide, file: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Starts a Node program (a .ts file runs through tsx) on one side; killed at tear-down. */
  spawnNode(side: RigSide, entry: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Counters of the root qdisc on one side's interface (tc -s). */
  qdiscStats(side: RigSide): Promise<QdiscStats>;
  /** Removes everything the rig created. Idempotent. */
  down(): void;
}

/** Names of everything a veth rig creates, derived from its id and the creating process. */
export function rigNames(id: string, pid = process.pid): { senderNs: string; receiverNs: string; senderIf: string; receiverIf: string } {
  return {
    senderNs: `ackscope-${pid}-${id}-snd`,
    receiverNs: `ackscope-${pid}-${id}-rcv`,
    // interface names are limited to 15 characters
    senderIf: `aks${id}s`,
    receiverIf: `aks${id}r`,
  };
}

/** The two addresses of the /30 with index `block` (0..32767) inside 198.18.0.0/15. */
export function rigAddresses(block: number): { sender: string; receiver: string } {
  if (!Number.isInteger(block) || block < 0 || block >= 32768) throw new RangeError(`block ${block} outside 0..32767`);
  const base = 198 * 2 ** 24 + 18 * 2 ** 16 + block * 4; // plain numbers: << would go negative
  const dotted = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
  return { sender: dotted(base + 1), receiver: dotted(base + 2) };
}

/** The `tc qdisc add … tbf …` arguments for a shaper (pure, tested). */
export function tbfArgs(shaper: Shaper, mtu = 1500): string[] {
  const { rateBps } = shaper;
  if (!Number.isFinite(rateBps) || rateBps < 8000) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `bottleneck rate ${rateBps} bit/s: give at least 8000 bit/s`, {
      field: 'rateBps',
    });
  }
  const frame = mtu + 14;
  const burst = shaper.burstBytes ?? Math.max(2 * frame, Math.round((rateBps / 8) * 0.004));
  if (burst < frame) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_VALIDATION',
      `bottleneck burst ${burst} B is smaller than one ${frame}-byte frame: tbf would never send a full frame`,
      { field: 'burstBytes' },
    );
  }
  if (shaper.limitBytes !== undefined && shaper.latencyMs !== undefined) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'bottleneck: give limitBytes or latencyMs, not both', {
      field: 'limitBytes',
    });
  }
  const queue =
    shaper.limitBytes !== undefined
      ? ['limit', String(Math.max(shaper.limitBytes, burst))]
      : ['latency', `${shaper.latencyMs ?? 100}ms`];
  return ['tbf', 'rate', `${Math.round(rateBps)}bit`, 'burst', String(burst), ...queue];
}

// ---------------------------------------------------------------------------------------
// Tear-down on every way out

const activeRigs = new Set<VethRig | LoopbackRig>();
let handlersInstalled = false;

function onSignal(signal: NodeJS.Signals): void {
  for (const rig of [...activeRigs]) rig.down();
  process.exit(128 + (osConstants.signals[signal] ?? 0));
}
const onSigint = () => onSignal('SIGINT');
const onSigterm = () => onSignal('SIGTERM');
const onSighup = () => onSignal('SIGHUP'); // the terminal went away
const onExit = () => {
  for (const rig of [...activeRigs]) rig.down();
};

function track(rig: VethRig | LoopbackRig): void {
  activeRigs.add(rig);
  if (!handlersInstalled) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    process.on('SIGHUP', onSighup);
    process.on('exit', onExit);
    handlersInstalled = true;
  }
}

function untrack(rig: VethRig | LoopbackRig): void {
  activeRigs.delete(rig);
  if (activeRigs.size === 0 && handlersInstalled) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    process.off('SIGHUP', onSighup);
    process.off('exit', onExit);
    handlersInstalled = false;
  }
}

// ---------------------------------------------------------------------------------------
// Commands

/** Entry of the Node runtime for a program file: .ts files go through tsx (tests, dev). */
export function nodeCommand(entry: string, args: readonly string[]): { file: string; args: string[] } {
  const loader = ['.ts', '.mts', '.cts'].includes(extname(entry)) ? ['--import', 'tsx'] : [];
  return { file: process.execPath, args: [...loader, entry, ...args] };
}

/** The ackscope CLI next to this module (cli/ackscope.ts under tsx, dist/cli/ackscope.js built). */
export function cliEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`../cli/ackscope${extname(self)}`, import.meta.url));
}

/** Project root (where `--import tsx` resolves from). */
export function projectRoot(): string {
  const self = fileURLToPath(import.meta.url);
  // experiment/rig.ts → root; dist/experiment/rig.js → root
  return fileURLToPath(new URL(extname(self) === '.ts' ? '..' : '../..', import.meta.url));
}

function ipSync(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw commandError('ip', args, err);
  }
}

function commandError(file: string, args: readonly string[], err: unknown): AckscopeError {
  // execFileSync puts the exit code in `status`, execFile in `code`; ENOENT is a string code
  const e = err as { code?: string | number; stderr?: string | Buffer; status?: number; message?: string };
  if (e.code === 'ENOENT') {
    return new AckscopeError(
      'ACKSCOPE_ERR_RIG_FAILED',
      `\`${file}\` is not installed; the rig needs iproute2 (apt-get install -y iproute2)`,
      { command: file },
    );
  }
  const stderr = String(e.stderr ?? '').trim() || e.message || 'failed';
  return new AckscopeError('ACKSCOPE_ERR_RIG_FAILED', `\`${file} ${args.join(' ')}\` failed: ${stderr}`, {
    command: [file, ...args].join(' '),
    exitCode: e.status ?? (typeof e.code === 'number' ? e.code : undefined),
  });
}

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_RIG_PERMISSION',
      'the veth rig creates network namespaces and qdiscs, which needs root: run as root (sudo), ' +
        'or use the loopback rig (no bottleneck) instead',
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  return ipSync(['netns', 'list'])
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((n) => n);
}

function killProcessesIn(netns: string): void {
  let out = '';
  try {
    out = execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return; // namespace already gone
  }
  for (const pid of out.split(/\s+/).filter(Boolean).map(Number)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already exited */
    }
  }
}

function deleteNamespace(netns: string): void {
  killProcessesIn(netns);
  try {
    execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
  } catch {
    /* not there */
  }
}

function deleteLinkInRoot(iface: string): void {
  try {
    execFileSync('ip', ['link', 'del', iface], { stdio: 'ignore' });
  } catch {
    /* not there, or moved into a namespace (deleted with it) */
  }
}

/** Removes namespaces left by rigs whose creating process no longer exists (e.g. SIGKILLed). */
export function removeStaleRigs(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = /^ackscope-(\d+)-([0-9a-f]+)-(snd|rcv)$/.exec(ns);
    if (!m || isAlive(Number(m[1]))) continue;
    deleteNamespace(ns);
    const names = rigNames(m[2], Number(m[1]));
    deleteLinkInRoot(names.senderIf);
    removed.push(ns);
  }
  return removed;
}

// ---------------------------------------------------------------------------------------
// The two kinds

abstract class BaseRig {
  protected readonly children = new Set<ChildProcess>();
  abstract readonly sender: RigEndpoint;
  abstract readonly receiver: RigEndpoint;

  protected endpoint(side: RigSide): RigEndpoint {
    return side === 'sender' ? this.sender : this.receiver;
  }

  command(side: RigSide, file: string, args: readonly string[]): { file: string; args: string[] } {
    const ns = this.endpoint(side).netns;
    return ns ? { file: 'ip', args: ['netns', 'exec', ns, file, ...args] } : { file, args: [...args] };
  }

  async run(side: RigSide, file: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
    const cmd = this.command(side, file, args);
    try {
      const { stdout, stderr } = await execFileAsync(cmd.file, cmd.args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      return { stdout, stderr };
    } catch (err) {
      throw commandError(cmd.file, cmd.args, err);
    }
  }

  spawn(side: RigSide, file: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const cmd = this.command(side, file, args);
    // Its own process group, so tear-down also reaches what it starts (a point driver's
    // sender): on loopback there is no namespace to empty.
    const child = spawn(cmd.file, cmd.args, { cwd: projectRoot(), ...options, detached: true });
    this.children.add(child);
    return child;
  }

  spawnNode(side: RigSide, entry: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const node = nodeCommand(entry, args);
    return this.spawn(side, node.file, node.args, options);
  }

  async qdiscStats(side: RigSide): Promise<QdiscStats> {
    const { iface } = this.endpoint(side);
    const { stdout } = await this.run(side, 'tc', ['-s', '-j', 'qdisc', 'show', 'dev', iface]);
    const all = JSON.parse(stdout) as Array<Record<string, unknown>>;
    const root = all.find((q) => q.root === true) ?? all[0];
    if (!root) throw new AckscopeError('ACKSCOPE_ERR_RIG_FAILED', `no qdisc on ${iface}`);
    const num = (k: string) => Number(root[k] ?? 0);
    return {
      kind: String(root.kind),
      bytes: num('bytes'),
      packets: num('packets'),
      drops: num('drops'),
      overlimits: num('overlimits'),
      backlog: num('backlog'),
    };
  }

  /** Kills each child's process group (the child and whatever it started). */
  protected killChildren(): void {
    for (const child of this.children) {
      if (!child.pid) continue;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* the group is gone */
      }
    }
    this.children.clear();
  }
}

class LoopbackRig extends BaseRig implements Rig {
  readonly kind = 'loopback' as const;
  readonly id = randomBytes(3).toString('hex');
  readonly sender: RigEndpoint = { netns: null, iface: 'lo', addr: '127.0.0.1' };
  readonly receiver: RigEndpoint = { netns: null, iface: 'lo', addr: '127.0.0.1' };
  private isDown = false;

  constructor(readonly options: Readonly<RigOptions>) {
    super();
    track(this);
  }

  down(): void {
    if (this.isDown) return;
    this.isDown = true;
    this.killChildren();
    untrack(this);
  }
}

class VethRig extends BaseRig implements Rig {
  readonly kind = 'veth' as const;
  readonly sender: RigEndpoint;
  readonly receiver: RigEndpoint;
  private readonly names: ReturnType<typeof rigNames>;
  private isDown = false;

  constructor(
    readonly id: string,
    block: number,
    readonly options: Readonly<RigOptions>,
  ) {
    super();
    this.names = rigNames(id);
    const addrs = rigAddresses(block);
    this.sender = { netns: this.names.senderNs, iface: this.names.senderIf, addr: addrs.sender };
    this.receiver = { netns: this.names.receiverNs, iface: this.names.receiverIf, addr: addrs.receiver };
  }

  /** Creates namespaces, link, addresses and qdiscs; on any failure removes what exists. */
  async up(): Promise<void> {
    track(this);
    const { senderNs, receiverNs, senderIf, receiverIf } = this.names;
    const mtu = String(this.options.mtu ?? 1500);
    const steps: string[][] = [
      ['ip', 'netns', 'add', senderNs],
      ['ip', 'netns', 'add', receiverNs],
      ['ip', 'link', 'add', senderIf, 'mtu', mtu, 'netns', senderNs, 'type', 'veth', 'peer', 'name', receiverIf, 'mtu', mtu, 'netns', receiverNs],
      ['ip', '-n', senderNs, 'addr', 'add', `${this.sender.addr}/30`, 'dev', senderIf],
      ['ip', '-n', receiverNs, 'addr', 'add', `${this.receiver.addr}/30`, 'dev', receiverIf],
      // no IPv6 link-local address: no router solicitations or DAD in the qdisc counters
      ['ip', '-n', senderNs, 'link', 'set', senderIf, 'addrgenmode', 'none'],
      ['ip', '-n', receiverNs, 'link', 'set', receiverIf, 'addrgenmode', 'none'],
      ['ip', '-n', senderNs, 'link', 'set', 'lo', 'up'],
      ['ip', '-n', receiverNs, 'link', 'set', 'lo', 'up'],
      ['ip', '-n', senderNs, 'link', 'set', senderIf, 'up'],
      ['ip', '-n', receiverNs, 'link', 'set', receiverIf, 'up'],
    ];
    if (this.options.bottleneck) {
      steps.push(['tc', '-n', senderNs, 'qdisc', 'add', 'dev', senderIf, 'root', ...tbfArgs(this.options.bottleneck, Number(mtu))]);
    }
    if (this.options.ackPath) {
      steps.push(['tc', '-n', receiverNs, 'qdisc', 'add', 'dev', receiverIf, 'root', ...tbfArgs(this.options.ackPath, Number(mtu))]);
    }
    try {
      for (const [file, ...args] of steps) {
        try {
          await execFileAsync(file, args, { encoding: 'utf8' });
        } catch (err) {
          throw commandError(file, args, err);
        }
      }
    } catch (err) {
      this.down();
      throw err;
    }
  }

  down(): void {
    if (this.isDown) return;
    this.isDown = true;
    this.killChildren();
    deleteNamespace(this.names.senderNs);
    deleteNamespace(this.names.receiverNs);
    // only exists here if creation failed half-way before the ends moved into the namespaces
    deleteLinkInRoot(this.names.senderIf);
    deleteLinkInRoot(this.names.receiverIf);
    untrack(this);
  }
}

/**
 * Brings a rig up. veth (default) needs root; a bottleneck with kind 'loopback' is refused
 * rather than silently ignored, because `lo` is shared with everything else on the host.
 */
export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const kind = options.kind ?? 'veth';
  if (kind === 'loopback') {
    if (options.bottleneck || options.ackPath) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_VALIDATION',
        'the loopback rig has no bottleneck (lo is shared with the whole host): use the veth rig for a rate limit',
        { field: 'bottleneck' },
      );
    }
    return new LoopbackRig(options);
  }
  requireRoot();
  if (options.bottleneck) tbfArgs(options.bottleneck, options.mtu);
  if (options.ackPath) tbfArgs(options.ackPath, options.mtu);
  removeStaleRigs();
  const existing = new Set(listNamespaces());
  let id = randomBytes(3).toString('hex');
  while (existing.has(rigNames(id).senderNs) || existing.has(rigNames(id).receiverNs)) id = randomBytes(3).toString('hex');
  const block = randomBytes(2).readUInt16BE(0) % 32768;
  const rig = new VethRig(id, block, options);
  await rig.up();
  return rig;
}

/** Runs `fn` with a rig that is torn down afterwards, whether `fn` returns or throws. */
export async function withRig<T>(options: RigOptions, fn: (rig: Rig) => Promise<T>): Promise<T> {
  const rig = await startRig(options);
  try {
    return await fn(rig);
  } finally {
    rig.down();
  }
}
