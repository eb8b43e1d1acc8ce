/**
 * A real headless Chromium driven over the Chrome DevTools Protocol. The protocol runs
 * over --remote-debugging-pipe (fd 3: commands in, fd 4: replies and events out, each
 * message JSON ended by a NUL byte), so no WebSocket client is needed: Node 20 has none
 * without --experimental-websocket.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Chromium is a test-only Debian package: installed here (root) when missing, so a fresh
 * machine needs no extra set-up step. Returns why it cannot run, or null.
 */
export function ensureChromium(): string | null {
  if (existsSync(CHROMIUM)) return null;
  if (process.getuid?.() !== 0) return `${CHROMIUM} is missing: sudo apt-get install -y chromium`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['install', '-y', '-qq', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=600', 'chromium'];
  try {
    execFileSync('apt-get', install, { env, stdio: 'ignore' });
  } catch {
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
    execFileSync('apt-get', install, { env, stdio: 'ignore' });
  }
  return existsSync(CHROMIUM) ? null : `apt-get install chromium did not provide ${CHROMIUM}`;
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  method: string;
}

type Event = { method: string; params: Record<string, unknown>; sessionId?: string };

export class Chromium {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((e: Event) => void)[] = [];
  private buffered = '';
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly profileDir: string,
  ) {
    const out = child.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => this.receive(chunk));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    child.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`chromium exited during ${p.method}: ${this.stderr}`));
      this.pending.clear();
    });
  }

  static launch(): Chromium {
    const profileDir = mkdtempSync(join(tmpdir(), 'ackscope-chromium-'));
    const args = [
      '--headless',
      '--no-sandbox', // root in a container: the sandbox cannot start
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--hide-scrollbars',
      `--user-data-dir=${profileDir}`,
      '--remote-debugging-pipe',
      'about:blank',
    ];
    const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    return new Chromium(child, profileDir);
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let end: number;
    while ((end = this.buffered.indexOf('\0')) >= 0) {
      const msg = JSON.parse(this.buffered.slice(0, end)) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: { message: string };
      } & Partial<Event>;
      this.buffered = this.buffered.slice(end + 1);
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p?.resolve(msg.result ?? {});
      } else if (msg.method) {
        for (const l of this.listeners) l(msg as Event);
      }
    }
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const promise = new Promise<Record<string, unknown>>((resolve, reject) => this.pending.set(id, { resolve, reject, method }));
    (this.child.stdio[3] as Writable).write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    return promise;
  }

  on(listener: (e: Event) => void): void {
    this.listeners.push(listener);
  }

  /** A new tab of the given size, attached (flat sessions). */
  async newPage(width: number, height: number): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId);
    this.on((e) => {
      if (e.sessionId !== sessionId) return;
      if (e.method === 'Runtime.exceptionThrown') {
        const d = e.params.exceptionDetails as { text: string; exception?: { description?: string } };
        page.errors.push(`${d.text} ${d.exception?.description ?? ''}`);
      } else if (e.method === 'Runtime.consoleAPICalled' && e.params.type === 'error') {
        page.errors.push(JSON.stringify(e.params.args));
      } else if (e.method === 'Log.entryAdded') {
        const entry = e.params.entry as { level: string; text: string; url?: string };
        if (entry.level === 'error') page.errors.push(`${entry.text} ${entry.url ?? ''}`);
      }
    });
    await this.send('Runtime.enable', {}, sessionId);
    await this.send('Log.enable', {}, sessionId);
    await this.send('Page.enable', {}, sessionId);
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
    return page;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.send('Browser.close').catch(() => {});
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

export class Page {
  /** Uncaught exceptions, console.error calls and failed loads seen in the page. */
  readonly errors: string[] = [];

  constructor(
    private readonly browser: Chromium,
    private readonly sessionId: string,
  ) {}

  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) =>
      this.browser.on((e) => {
        if (e.sessionId === this.sessionId && e.method === 'Page.loadEventFired') resolve();
      }),
    );
    const r = (await this.browser.send('Page.navigate', { url }, this.sessionId)) as { errorText?: string };
    if (r.errorText) throw new Error(`navigate ${url}: ${r.errorText}`);
    await loaded;
  }

  /** Evaluates an expression in the page (promises awaited) and returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.browser.send(
      'Runtime.evaluate',
      { expression, awaitPromise: true, returnByValue: true },
      this.sessionId,
    )) as { result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } } };
    if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Polls `expression` until it is truthy (up to `tries` × 100 ms); returns whether it became so. */
  async waitFor(expression: string, tries = 300): Promise<boolean> {
    for (let i = 0; i < tries; i++) {
      if (await this.evaluate<boolean>(`Boolean(${expression})`)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  async screenshot(): Promise<Buffer> {
    const { data } = (await this.browser.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, this.sessionId)) as {
      data: string;
    };
    return Buffer.from(data, 'base64');
  }
}
