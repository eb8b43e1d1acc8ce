import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_MATRIX_INPUT,
  commandArgv,
  expandMatrix,
  matrixFromFlags,
  parseMatrix,
  parseMode,
  parsePath,
  parseRate,
  parseReceiver,
  pointCount,
  splitCommandLine,
} from '../experiment/matrix.js';

test('rates in tc units', () => {
  assert.equal(parseRate('20mbit'), 20e6);
  assert.equal(parseRate('500kbit'), 500e3);
  assert.equal(parseRate('1gbit'), 1e9);
  assert.equal(parseRate('2.5mbit'), 2.5e6);
  assert.equal(parseRate('1mbps'), 8e6);
  assert.equal(parseRate('64000'), 64000);
  assert.throws(() => parseRate('fast'), /matrix.rate: "fast" is not a rate/);
  assert.throws(() => parseRate('1kbit'), /below 8kbit/);
});

test('paths, modes and receivers from their short forms', () => {
  assert.deepEqual(parsePath('loopback', 'x'), { kind: 'loopback' });
  assert.deepEqual(parsePath('unshaped', 'x'), { kind: 'veth', rateBps: null });
  assert.deepEqual(parsePath('20mbit', 'x'), { kind: 'veth', rateBps: 20e6 });
  assert.deepEqual(parseMode('serial', 'm'), { mode: 'serial' });
  assert.deepEqual(parseMode('overlapped:8', 'm'), { mode: 'overlapped', window: 8 });
  assert.deepEqual(parseMode('overlapped', 'm'), { mode: 'overlapped', window: 16 });
  assert.deepEqual(parseMode({ mode: 'vectored', buffers: 3 }, 'm'), { mode: 'vectored', buffers: 3 });
  assert.throws(() => parseMode('vectored:1', 'modes[2]'), /matrix.modes\[2\]: expected an integer ≥ 2/);
  assert.throws(() => parseMode('serial:3', 'modes[0]'), /not a mode/);
  assert.deepEqual(parseReceiver('reads', 'r'), { behaviour: 'reads' });
  assert.deepEqual(parseReceiver('late:50', 'r'), { behaviour: 'late', readDelayMs: 50 });
  assert.deepEqual(parseReceiver('stops', 'r'), { behaviour: 'stops', pauseAfterBytes: 65536, pauseMs: 800 });
  assert.deepEqual(parseReceiver('stops:0:300', 'r'), { behaviour: 'stops', pauseAfterBytes: 0, pauseMs: 300 });
  assert.throws(() => parseReceiver('sleeps', 'receivers[0]'), /matrix.receivers\[0\]: "sleeps" is not a receiver/);
});

test('a JSON matrix: validation names the field, unknown keys are refused', () => {
  assert.throws(() => parseMatrix([]), /expected a JSON object/);
  assert.throws(() => parseMatrix({ mode: ['serial'] }), (e: { code: string; message: string }) => {
    assert.equal(e.code, 'ACKSCOPE_ERR_VALIDATION');
    assert.match(e.message, /matrix.mode: unknown key/);
    return true;
  });
  assert.throws(() => parseMatrix({ sizes: [1024, 0] }), /matrix.sizes\[1\]/);
  assert.throws(() => parseMatrix({ sizes: [16] }), /cannot hold the 24-byte write tag/);
  assert.doesNotThrow(() => parseMatrix({ sizes: [16], tag: false }));
  assert.throws(() => parseMatrix({ senders: ['java'] }), /matrix.senders\[0\]: expected one of node, posix, winsock/);
  assert.throws(() => parseMatrix({ sndbufs: ['big'] }), /matrix.sndbufs\[0\]/);
  assert.throws(() => parseMatrix({ bottleneck: { limitBytes: 1e5, latencyMs: 10 } }), /not both/);
  assert.throws(() => parseMatrix({ modes: [] }), /matrix.modes: expected a non-empty list/);
});

test('the default matrix: 12 points, each a distinct condition, counts from bytesPerPoint', () => {
  const m = parseMatrix({});
  const points = expandMatrix(m);
  assert.equal(points.length, 12);
  assert.equal(new Set(points.map((p) => p.label)).size, 12);
  assert.deepEqual(points.map((p) => p.index), [...points.keys()]);
  for (const p of points) {
    assert.equal(p.count, Math.round(DEFAULT_MATRIX_INPUT.bytesPerPoint / p.size));
    assert.equal(p.sender, 'node');
    assert.deepEqual(p.path, { kind: 'veth', rateBps: 20e6 });
  }
  assert.equal(points.filter((p) => p.sndbuf === 4608 && p.receiver.behaviour === 'stops').length, 3);
  assert.equal(points[0].label, 'node serial 16KiB sndbuf=default 20Mbit/s reads');
});

test('counts are clamped, explicit counts win, repeats and senders multiply', () => {
  const m = parseMatrix({ sizes: [24, 4194304], bytesPerPoint: 1048576 });
  assert.equal(pointCount(m, 24), 2000);
  assert.equal(pointCount(m, 4194304), 16);
  const m2 = parseMatrix({ count: 10, senders: ['node', 'posix'], repeat: 2, modes: ['serial'], sndbufs: ['default'], receivers: ['reads'] });
  const pts = expandMatrix(m2);
  assert.equal(pts.length, 4);
  assert.deepEqual(pts.map((p) => [p.sender, p.run, p.count]), [['node', 0, 10], ['posix', 0, 10], ['node', 1, 10], ['posix', 1, 10]]);
  assert.equal(pts[0].condition, pts[1].condition, 'senders of one condition share its name');
  assert.match(pts[2].label, /#2$/);
});

test('flags override a JSON matrix, comma-separated', () => {
  const m = matrixFromFlags(
    { modes: 'serial,overlapped:4', rates: 'loopback,10mbit', sizes: '1024', count: '5', receivers: undefined },
    { receivers: ['late:5'], sndbufs: ['default'] },
  );
  assert.deepEqual(m.modes, [{ mode: 'serial' }, { mode: 'overlapped', window: 4 }]);
  assert.deepEqual(m.paths, [{ kind: 'loopback' }, { kind: 'veth', rateBps: 10e6 }]);
  assert.deepEqual(m.receivers, [{ behaviour: 'late', readDelayMs: 5 }]);
  assert.equal(m.count, 5);
  assert.equal(expandMatrix(m).length, 4);
});

test('the CLI: --dry-run lists the points, a bad matrix names the field', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { cliEntry, nodeCommand } = await import('../experiment/rig.js');
  const run = async (args: string[]) => {
    const cmd = nodeCommand(cliEntry(), ['experiment', '--out', '/nonexistent/never-written', ...args]);
    try {
      const { stdout, stderr } = await promisify(execFile)(cmd.file, cmd.args, { encoding: 'utf8' });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const dry = await run(['--dry-run', '--senders', 'node,posix', '--modes', 'overlapped:4', '--rates', 'loopback', '--sndbufs', '0', '--receivers', 'late:5', '--count', '7']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual(dry.stdout.trimEnd().split('\n'), [
    '  1. node overlapped:4 16KiB sndbuf=0 loopback late:5ms (7 calls)',
    '  2. posix overlapped:4 16KiB sndbuf=0 loopback late:5ms (7 calls)',
  ]);
  const traced = await run(['--dry-run', '--command', 'python3 -c "import sys" {host} {port} {size}', '--senders', 'node', '--modes', 'serial', '--rates', 'loopback', '--sndbufs', 'default', '--receivers', 'reads', '--count', '3']);
  assert.equal(traced.code, 0, traced.stderr);
  assert.deepEqual(traced.stdout.trimEnd().split('\n'), [
    '  1. node serial 16KiB sndbuf=default loopback reads (3 calls)',
    '  2. python3 serial 16KiB sndbuf=default loopback reads (3 calls)',
  ]);
  const bad = await run(['--dry-run', '--receivers', 'reads,naps']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /ACKSCOPE_ERR_VALIDATION: matrix\.receivers\[1\]: "naps" is not a receiver/);
});

test('command senders: any program, named, with placeholders; validation names the field', () => {
  const m = parseMatrix({
    senders: ['node', { name: 'python', command: ['python3', '-c', 'import sys; d = {}', '{host}', '{port}'] }, { command: ['/usr/bin/curl', 'http://{host}:{port}/'] }],
    modes: ['serial'], sndbufs: ['default'], receivers: ['reads'], rates: ['loopback'],
  });
  assert.deepEqual(m.senders, [
    'node',
    { name: 'python', command: ['python3', '-c', 'import sys; d = {}', '{host}', '{port}'] },
    { name: 'curl', command: ['/usr/bin/curl', 'http://{host}:{port}/'] },
  ]);
  const pts = expandMatrix(m);
  assert.deepEqual(pts.map((p) => [p.sender, p.command?.[0] ?? null]), [['node', null], ['python', 'python3'], ['curl', '/usr/bin/curl']]);
  assert.equal(pts[1].label, 'python serial 16KiB sndbuf=default loopback reads');
  assert.equal(pts[1].condition, pts[0].condition, 'a command sits beside the other senders of its condition');

  // two unnamed commands of one program: the second is told apart; an explicit name twice is refused
  const twice = parseMatrix({ senders: [{ command: ['python3', 'a.py', '{host}', '{port}'] }, { command: ['python3', 'b.py', '{host}', '{port}'] }] });
  assert.deepEqual(twice.senders.map((s) => (typeof s === 'string' ? s : s.name)), ['python3', 'python3-2']);
  const cmd = ['x', '{host}', '{port}'];
  const refused: [unknown, RegExp][] = [
    [{ name: 'a', command: cmd, args: [] }, /matrix\.senders\[1\]\.args: unknown key/],
    [{ command: [] }, /matrix\.senders\[1\]\.command: expected a non-empty list/],
    [{ command: 'python3 x.py' }, /matrix\.senders\[1\]\.command: expected a non-empty list/],
    [{ command: ['x', 7, '{host}', '{port}'] }, /matrix\.senders\[1\]\.command\[1\]: expected a string, got 7/],
    [{ command: ['', '{host}', '{port}'] }, /matrix\.senders\[1\]\.command\[0\]: expected the program/],
    [{ command: ['x', '{host}'] }, /matrix\.senders\[1\]\.command: no argument names \{port\}/],
    [{ command: ['x', '{port}'] }, /matrix\.senders\[1\]\.command: no argument names \{host\}/],
    [{ name: 'posix', command: cmd }, /matrix\.senders\[1\]\.name: "posix" is one of ackscope's own senders/],
    [{ name: 'a b', command: cmd }, /matrix\.senders\[1\]\.name: expected 1-32 letters/],
    [7, /matrix\.senders\[1\]: expected one of node, posix, winsock or \{"command"/],
  ];
  for (const [sender, message] of refused) {
    assert.throws(() => parseMatrix({ senders: ['node', sender] }), (e: { code: string; message: string }) => {
      assert.equal(e.code, 'ACKSCOPE_ERR_VALIDATION');
      assert.match(e.message, message);
      return true;
    }, JSON.stringify(sender));
  }
  assert.throws(() => parseMatrix({ senders: [{ name: 'a', command: cmd }, { name: 'a', command: cmd }] }), /matrix\.senders\[1\]\.name: "a" names two senders/);
  // the 24-byte tag is ackscope's own senders' business; commands write their own bytes
  assert.doesNotThrow(() => parseMatrix({ senders: [{ command: cmd }], sizes: [10] }));
  assert.throws(() => parseMatrix({ senders: ['node', { command: cmd }], sizes: [10] }), /24-byte write tag/);
});

test('command placeholders are filled in wherever they appear; other braces stay', () => {
  const argv = commandArgv(['python3', '-c', 'print({} or {size})', '{host}:{port}', '{count}x{size}={bytes}', '{mode}', '{sndbuf}', '{nope}'], {
    host: '198.18.0.2', port: 7000, size: 16384, count: 4, bytes: 65536, mode: 'overlapped:8', sndbuf: 'default',
  });
  assert.deepEqual(argv, ['python3', '-c', 'print({} or 16384)', '198.18.0.2:7000', '4x16384=65536', 'overlapped:8', 'default', '{nope}']);
});

test('a --command line is split into words as a shell would, without expanding anything', () => {
  assert.deepEqual(splitCommandLine('python3 client.py {host} {port}', 'command'), ['python3', 'client.py', '{host}', '{port}']);
  assert.deepEqual(splitCommandLine(`  python3 -c 'import sys; print("a b")' "x \\"y\\" \\\\ $HOME" a\\ b ''  `, 'c'), [
    'python3', '-c', 'import sys; print("a b")', 'x "y" \\ $HOME', 'a b', '',
  ]);
  assert.throws(() => splitCommandLine(`python3 -c 'oops`, 'command[0]'), /matrix\.command\[0\]: unterminated '/);
  assert.throws(() => splitCommandLine('x "oops', 'command[0]'), /unterminated "/);
  assert.throws(() => splitCommandLine('   ', 'command[0]'), /an empty command/);
});

test('--command adds senders: alone they are the only senders, beside --senders or the file they are added', () => {
  const line = 'python3 c.py {host} {port}';
  const only = matrixFromFlags({ commands: [line] });
  assert.deepEqual(only.senders, [{ name: 'python3', command: ['python3', 'c.py', '{host}', '{port}'] }]);
  assert.deepEqual(matrixFromFlags({ senders: 'node,posix', commands: [line] }).senders.length, 3);
  assert.deepEqual(matrixFromFlags({ commands: [line] }, { senders: ['posix'] }).senders.map((s) => (typeof s === 'string' ? s : s.name)), ['posix', 'python3']);
  assert.deepEqual(matrixFromFlags({}, { senders: ['posix'] }).senders, ['posix']);
  assert.throws(() => matrixFromFlags({ commands: ['python3 c.py {port}'] }), /matrix\.senders\[0\]\.command: no argument names \{host\}/);
});

test('the example matrices in experiment/matrices/ parse', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const dir = new URL('../experiment/matrices/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.includes('traced-python.json'));
  for (const f of files) {
    const m = parseMatrix(JSON.parse(readFileSync(new URL(f, dir), 'utf8')));
    assert.ok(expandMatrix(m).length > 0, f);
  }
  const traced = expandMatrix(parseMatrix(JSON.parse(readFileSync(new URL('traced-python.json', dir), 'utf8'))));
  assert.deepEqual([...new Set(traced.map((p) => p.sender))], ['node', 'python']);
  assert.equal(traced.length, 8);
});
