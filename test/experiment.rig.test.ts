/**
 * The network rig, as root: it comes up, traffic flows through its tbf bottleneck, and it
 * goes down leaving nothing behind — after success, after a failure inside the run, on
 * SIGINT/SIGTERM, on process.exit, and (via the next rig) after SIGKILL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { removeStaleRigs, rigAddresses, startRig, tbfArgs, withRig, type Rig } from '../experiment/rig.js';
import { nodeCommand } from '../experiment/rig.js';
import { requireRoot } from './helpers/require.js';

const notRoot = typeof process.getuid === 'function' && process.getuid() !== 0;

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}
function links(): string {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
}
function rootQdiscs(): string {
  return execFileSync('tc', ['qdisc', 'show'], { encoding: 'utf8' });
}

function assertGone(names: { netns: (string | null)[]; ifaces: string[] }): void {
  const ns = namespaces();
  for (const n of names.netns) assert.ok(n && !ns.includes(n), `namespace ${n} is still there`);
  const l = links();
  const q = rootQdiscs();
  for (const i of names.ifaces) {
    assert.ok(!l.includes(i), `link ${i} is still there`);
    assert.ok(!q.includes(i), `a qdisc on ${i} is still there`);
  }
}

function namesOf(rig: Rig) {
  return { netns: [rig.sender.netns, rig.receiver.netns], ifaces: [rig.sender.iface, rig.receiver.iface] };
}

async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) return line;
  throw new Error('no output');
}

test('pure helpers: addresses from 198.18.0.0/15, tbf arguments', () => {
  assert.deepEqual(rigAddresses(0), { sender: '198.18.0.1', receiver: '198.18.0.2' });
  assert.deepEqual(rigAddresses(32767), { sender: '198.19.255.253', receiver: '198.19.255.254' });
  assert.throws(() => rigAddresses(32768), RangeError);
  assert.deepEqual(tbfArgs({ rateBps: 20e6 }), ['tbf', 'rate', '20000000bit', 'burst', '10000', 'latency', '100ms']);
  assert.deepEqual(tbfArgs({ rateBps: 1e6, burstBytes: 4000, limitBytes: 100000 }), [
    'tbf', 'rate', '1000000bit', 'burst', '4000', 'limit', '100000',
  ]);
  assert.throws(() => tbfArgs({ rateBps: 1e6, burstBytes: 1000 }), /smaller than one 1514-byte frame/);
  assert.throws(() => tbfArgs({ rateBps: 1e6, limitBytes: 1, latencyMs: 1 }), /not both/);
});

test('without root the veth rig refuses with a clear message', async () => {
  const expectRefusal = (code: string, message: string) => {
    assert.equal(code, 'ACKSCOPE_ERR_RIG_PERMISSION');
    assert.match(message, /needs root: run as root \(sudo\), or use the loopback rig/);
  };
  if (notRoot) {
    await assert.rejects(startRig({}), (e: { code: string; message: string }) => (expectRefusal(e.code, e.message), true));
    return;
  }
  // as root: the same call from a child that dropped to nobody
  const rigModule = fileURLToPath(new URL('../experiment/rig.ts', import.meta.url));
  // the module loads as root (the checkout need not be readable by nobody), then drops
  const script =
    `import(${JSON.stringify(rigModule)}).then((m) => { process.setgid(65534); process.setuid(65534); return m.startRig({}); }).then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
  const e = JSON.parse(out.trim()) as { code: string; message: string };
  expectRefusal(e.code, e.message);
});

test('a loopback rig refuses a bottleneck instead of ignoring it', async () => {
  await assert.rejects(startRig({ kind: 'loopback', bottleneck: { rateBps: 1e6 } }), { code: 'ACKSCOPE_ERR_VALIDATION' });
  const rig = await startRig({ kind: 'loopback' });
  assert.equal(rig.sender.iface, 'lo');
  assert.deepEqual(rig.command('sender', 'true', []), { file: 'true', args: [] });
  rig.down();
});

test('veth rig: traffic crosses the tbf bottleneck, no faster than its rate, and the rig goes away', async () => {
  requireRoot('the veth rig');
  const rateBps = 8_000_000;
  const burstBytes = 16_000;
  const payload = 1_000_000;
  let names: ReturnType<typeof namesOf> | undefined;
  await withRig({ bottleneck: { rateBps, burstBytes, limitBytes: 200_000 } }, async (rig) => {
    names = namesOf(rig);
    assert.match(rig.sender.addr, /^198\.1[89]\./);
    assert.equal(namespaces().filter((n) => n === rig.sender.netns || n === rig.receiver.netns).length, 2);
    const before = await rig.qdiscStats('sender');
    assert.equal(before.kind, 'tbf');
    assert.equal(before.bytes, 0, 'a fresh rig carries nothing (no IPv6 chatter)');

    const port = 5001;
    const receiverJs = `const net=require('net');let n=0;net.createServer(c=>{c.on('data',d=>n+=d.length);c.on('end',()=>{console.log(n);process.exit(0)})}).listen(${port},'${rig.receiver.addr}',()=>console.log('listening'))`;
    const receiver = rig.spawn('receiver', process.execPath, ['-e', receiverJs]);
    assert.equal(await firstLine(receiver), 'listening');
    const received = new Promise<number>((resolve) => {
      let out = '';
      receiver.stdout!.on('data', (d) => (out += d));
      receiver.once('exit', () => resolve(Number(out.trim())));
    });
    const senderJs = `const net=require('net');const c=net.connect(${port},'${rig.receiver.addr}',()=>c.end(Buffer.alloc(${payload})));c.on('close',()=>process.exit(0))`;
    const started = process.hrtime.bigint();
    const sender = rig.spawn('sender', process.execPath, ['-e', senderJs], { stdio: 'ignore' });
    const [code] = await once(sender, 'exit');
    assert.equal(code, 0);
    assert.equal(await received, payload);
    const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;

    const after = await rig.qdiscStats('sender');
    assert.ok(after.bytes >= payload, `tbf carried ${after.bytes} B, less than the ${payload} B payload`);
    assert.ok(after.overlimits > 0, 'tbf never throttled: the bottleneck did not engage');
    // A token bucket cannot pass more than burst + rate × time; our clock only over-counts time.
    const ceiling = burstBytes + (rateBps / 8) * elapsedS;
    assert.ok(after.bytes <= ceiling * 1.02, `tbf passed ${after.bytes} B in ${elapsedS.toFixed(2)} s, over its ceiling ${ceiling}`);
    console.log(
      `# rig: ${payload} B through tbf ${rateBps / 1e6} Mbit/s in ${elapsedS.toFixed(2)} s ` +
        `(${((after.bytes * 8) / elapsedS / 1e6).toFixed(2)} Mbit/s on the wire, ${after.packets} packets, ${after.overlimits} overlimits, ${after.drops} drops)`,
    );
  });
  assert.ok(names);
  assertGone(names);
});

test('veth rig: torn down when the run throws mid-way, with a process still inside', async () => {
  requireRoot('the veth rig');
  let names: ReturnType<typeof namesOf> | undefined;
  let sleeper: ChildProcess | undefined;
  await assert.rejects(
    withRig({ bottleneck: { rateBps: 1e6 }, ackPath: { rateBps: 1e6 } }, async (rig) => {
      names = namesOf(rig);
      sleeper = rig.spawn('receiver', 'sleep', ['600'], { stdio: 'ignore' });
      await once(sleeper, 'spawn');
      throw new Error('the run failed half-way');
    }),
    /failed half-way/,
  );
  assert.ok(names);
  assertGone(names);
  if (sleeper!.exitCode === null && sleeper!.signalCode === null) await once(sleeper!, 'exit');
  assert.equal(sleeper!.signalCode, 'SIGKILL');
});

test('veth rig: a failed set-up step removes what was created and names the command', async () => {
  requireRoot('the veth rig');
  const before = namespaces().filter((n) => n.startsWith(`ackscope-${process.pid}-`));
  await assert.rejects(startRig({ mtu: 100_000 }), (err: { code?: string; message?: string }) => {
    assert.equal(err.code, 'ACKSCOPE_ERR_RIG_FAILED');
    assert.match(err.message!, /ip link add/);
    return true;
  });
  assert.deepEqual(namespaces().filter((n) => n.startsWith(`ackscope-${process.pid}-`)), before);
});

const holder = fileURLToPath(new URL('./helpers/rig-holder.ts', import.meta.url));

for (const ending of ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit'] as const) {
  test(`veth rig: nothing left when the process ends by ${ending}`, async () => {
    requireRoot('the veth rig');
    const cmd = nodeCommand(holder, [ending === 'exit' ? 'exit' : 'wait']);
    const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const names = JSON.parse(await firstLine(child)) as { netns: string[]; ifaces: string[] };
    if (ending !== 'exit') assert.equal(namespaces().filter((n) => names.netns.includes(n)).length, 2);
    if (ending !== 'exit') child.kill(ending);
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    assert.equal(child.exitCode, { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, exit: 3 }[ending]);
    assertGone(names);
  });
}

test('veth rig: a rig left by a SIGKILLed process is removed by the next one', async () => {
  requireRoot('the veth rig');
  const cmd = nodeCommand(holder, ['wait']);
  const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const names = JSON.parse(await firstLine(child)) as { netns: string[]; ifaces: string[] };
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(namespaces().filter((n) => names.netns.includes(n)).length, 2, 'SIGKILL leaves the rig behind');
  const removed = removeStaleRigs();
  for (const n of names.netns) assert.ok(removed.includes(n));
  assertGone(names);
});
