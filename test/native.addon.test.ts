// The native addon on real sockets: CLOCK_REALTIME, TCP_INFO as stream offsets, SO_SNDBUF,
// interfaces and filters. Linux only (TCP_INFO byte counters); the capture itself is
// tested in live.capture.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import {
  compileFilter,
  getSendBuffer,
  listInterfaces,
  realtimeNs,
  setSendBuffer,
  socketFd,
  socketTcpInfo,
  socketTcpInfoInto,
  TCP_INFO_SLOTS,
  tcpInfoRaw,
  tcpInfoToStreamOffsets,
  type TcpInfo,
} from '../capture/native/index.js';
import { AckscopeError } from '../core/errors.js';

/** A connected loopback pair: `client` called connect(), `server` was accepted. */
async function socketPair(): Promise<{ client: net.Socket; server: net.Socket; close: () => Promise<void> }> {
  // allowHalfOpen: the accepted side does not answer a FIN with its own, so a test can
  // read TCP_INFO of a socket whose FIN was acknowledged.
  const listener = net.createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = once(listener, 'connection');
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = (await accepted) as [net.Socket];
  return {
    client,
    server,
    close: async () => {
      client.destroy();
      server.destroy();
      listener.close();
      await once(listener, 'close');
    },
  };
}

/** Polls TCP_INFO until the peer acknowledged everything sent (loopback: a few ms). */
async function untilAllAcked(socket: net.Socket): Promise<TcpInfo> {
  for (let i = 0; i < 1000; i++) {
    const info = socketTcpInfo(socket);
    if (info.unacked === 0 && info.notsentBytes === 0 && info.bytesAcked === info.bytesSent) return info;
    await new Promise((r) => setTimeout(r, 2));
  }
  return socketTcpInfo(socket);
}

async function writeAll(socket: net.Socket, bytes: number): Promise<void> {
  await new Promise<void>((resolve, reject) => socket.write(Buffer.alloc(bytes, 0x61), (err) => (err ? reject(err) : resolve())));
}

test('realtimeNs reads the same clock as Date.now, to the nanosecond', () => {
  const before = BigInt(Date.now());
  const ns = realtimeNs();
  const after = BigInt(Date.now());
  assert.equal(typeof ns, 'bigint');
  // Date.now() truncates to ms: the ns reading lies within [before, after + 1 ms).
  assert.ok(ns >= before * 1_000_000n, `${ns} before ${before} ms`);
  assert.ok(ns < (after + 1n) * 1_000_000n, `${ns} after ${after} ms`);
  const later = realtimeNs();
  assert.ok(later >= ns, 'CLOCK_REALTIME went backwards between two reads');
  // Nanosecond resolution: over many reads not every value is a whole microsecond.
  const reads = Array.from({ length: 50 }, () => realtimeNs());
  assert.ok(reads.some((r) => r % 1000n !== 0n), 'every reading is a multiple of 1 µs: no ns resolution');
});

test('kernel TCP_INFO counts the SYN in bytes_acked of the connecting side only', async () => {
  const { client, server, close } = await socketPair();
  try {
    await untilAllAcked(client);
    const clientRaw = tcpInfoRaw(socketFd(client));
    const serverRaw = tcpInfoRaw(socketFd(server));
    assert.equal(clientRaw.bytesSent, 0);
    assert.equal(clientRaw.bytesAcked, 1, 'connect() side: the SYN is counted as acknowledged');
    assert.equal(serverRaw.bytesSent, 0);
    assert.equal(serverRaw.bytesAcked, 0, 'accepted side: the SYN-ACK was acked before the socket existed');
    // Corrected, both start at stream offset 0.
    assert.deepEqual(
      [socketTcpInfo(client).bytesAcked, socketTcpInfo(server).bytesAcked, socketTcpInfo(client).bytesSent],
      [0, 0, 0],
    );
  } finally {
    await close();
  }
});

test('tcpInfo agrees with the bytes written, on both sides of a loopback connection', async () => {
  const { client, server, close } = await socketPair();
  try {
    server.resume();
    client.resume();
    await writeAll(client, 1000);
    await writeAll(client, 250_000);
    const c = await untilAllAcked(client);
    assert.equal(c.bytesSent, 251_000);
    assert.equal(c.bytesAcked, 251_000);
    assert.equal(c.notsentBytes, 0);
    assert.equal(c.unacked, 0);
    assert.equal(c.bytesRetrans, 0);
    assert.ok(c.rttUs > 0, 'rtt measured');
    assert.equal(tcpInfoRaw(socketFd(client)).bytesAcked, 251_001, 'raw counter: payload + SYN');

    await writeAll(server, 777);
    const s = await untilAllAcked(server);
    assert.equal(s.bytesSent, 777);
    assert.equal(s.bytesAcked, 777);
    assert.equal(tcpInfoRaw(socketFd(server)).bytesAcked, 777, 'raw counter: payload only');

    // After our FIN is acknowledged the kernel counts it too; offsets stop at the data.
    client.end();
    await once(server, 'end');
    for (let i = 0; i < 500 && tcpInfoRaw(socketFd(client)).bytesAcked < 251_002; i++) await new Promise((r) => setTimeout(r, 2));
    assert.equal(tcpInfoRaw(socketFd(client)).bytesAcked, 251_002, 'raw counter: payload + SYN + FIN');
    assert.equal(socketTcpInfo(client).bytesAcked, 251_000);
  } finally {
    await close();
  }
});

test('bytes not yet acknowledged show as sent minus acked while the peer does not read', async () => {
  const { client, server, close } = await socketPair();
  try {
    server.pause(); // the receive window fills: the rest stays in the send queue
    const big = 16 * 1024 * 1024;
    client.write(Buffer.alloc(big));
    await new Promise((r) => setTimeout(r, 100));
    const info = socketTcpInfo(client);
    assert.ok(info.bytesAcked <= info.bytesSent, 'acked never passes sent');
    assert.ok(info.bytesSent < big, 'a paused reader cannot take 16 MiB');
    assert.ok(info.notsentBytes > 0, 'the remainder waits in the send queue');
    assert.ok(info.bytesSent + info.notsentBytes <= big);
  } finally {
    await close();
  }
});

test('tcpInfoInto fills a reused array with the same stream offsets as tcpInfo', async () => {
  const { client, server, close } = await socketPair();
  try {
    server.resume();
    await writeAll(client, 12_345);
    await writeAll(server, 678);
    await untilAllAcked(client);
    await untilAllAcked(server);
    const out = new Float64Array(TCP_INFO_SLOTS.length);
    for (const socket of [client, server]) {
      socketTcpInfoInto(socket, out);
      const info = socketTcpInfo(socket);
      for (const [i, name] of TCP_INFO_SLOTS.entries()) {
        if (name === 'state') assert.equal(out[i], 1, 'TCP_ESTABLISHED');
        else if (name !== 'rttUs') assert.equal(out[i], info[name], `${name}`);
      }
    }
    socketTcpInfoInto(client, out);
    assert.deepEqual([out[0], out[1]], [12_345, 12_345], 'SYN removed on the connecting side');
    socketTcpInfoInto(server, out);
    assert.deepEqual([out[0], out[1]], [678, 678]);
    assert.throws(() => socketTcpInfoInto(client, new Float64Array(3)), /Float64Array of at least 7/);
  } finally {
    await close();
  }
});

test('tcpInfoToStreamOffsets removes SYN, FIN and retransmissions', () => {
  const base = { notsentBytes: 0, unacked: 0, rttUs: 10 };
  assert.deepEqual(
    tcpInfoToStreamOffsets({ ...base, bytesSent: 1500, bytesRetrans: 500, bytesAcked: 801 }, 'active'),
    { ...base, bytesSent: 1000, bytesAcked: 800, bytesRetrans: 500 },
  );
  assert.equal(tcpInfoToStreamOffsets({ ...base, bytesSent: 100, bytesRetrans: 0, bytesAcked: 100 }, 'passive').bytesAcked, 100);
  // FIN acked: capped at what was sent.
  assert.equal(tcpInfoToStreamOffsets({ ...base, bytesSent: 100, bytesRetrans: 0, bytesAcked: 101 }, 'passive').bytesAcked, 100);
  assert.equal(tcpInfoToStreamOffsets({ ...base, bytesSent: 100, bytesRetrans: 0, bytesAcked: 102 }, 'active').bytesAcked, 100);
  // SYN not yet acknowledged (connect in progress): nothing to remove.
  assert.equal(tcpInfoToStreamOffsets({ ...base, bytesSent: 0, bytesRetrans: 0, bytesAcked: 0 }, 'active').bytesAcked, 0);
});

test('SO_SNDBUF set and read back (Linux reports twice the request)', async () => {
  const { client, close } = await socketPair();
  try {
    const fd = socketFd(client);
    setSendBuffer(fd, 65536);
    assert.equal(getSendBuffer(fd), 2 * 65536);
    setSendBuffer(fd, 10000);
    assert.equal(getSendBuffer(fd), 20000);
    assert.throws(() => setSendBuffer(fd, 0), (e: unknown) => e instanceof AckscopeError && e.code === 'ACKSCOPE_ERR_VALIDATION');
    assert.throws(() => getSendBuffer(1_000_000), (e: unknown) => e instanceof AckscopeError && /Bad file descriptor/.test(e.message));
  } finally {
    await close();
  }
});

test('listInterfaces shows the loopback with its addresses', () => {
  const lo = listInterfaces().find((i) => i.name === 'lo');
  assert.ok(lo, 'lo is listed');
  assert.equal(lo.loopback, true);
  assert.equal(lo.up, true);
  assert.ok(lo.addresses.includes('127.0.0.1'));
});

test('compileFilter refuses a filter that does not compile, with libpcap message', () => {
  compileFilter('tcp port 80 and host 127.0.0.1');
  assert.throws(
    () => compileFilter('tcp port eighty'),
    (e: unknown) => e instanceof AckscopeError && e.code === 'ACKSCOPE_ERR_CAPTURE_FILTER' && /eighty/.test(e.message),
  );
});
