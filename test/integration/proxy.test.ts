/**
 * TcpProxy on loopback with real sockets: the lab server (node:http) behind it for HTTP counts,
 * raw net servers and clients where the test needs to control every FIN, RST and byte. Assertions
 * are on counts, bytes and events; waits are for events (the proxy's whenSettled), never for time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { PortInUseError } from '../../src/errors.js';
import { startLabServer } from '../../src/lab/server.js';
import type { LabServerOptions } from '../../src/lab/server.js';
import type { ConnectionRecord } from '../../src/model/report.js';
import { ProxyWarning, TcpProxy } from '../../src/observe/proxy.js';
import type { ProxyOptions } from '../../src/observe/proxy.js';
import { waitFor } from '../../src/util/time.js';
import { portIsFree } from '../support/leaks.js';

const HOST = '127.0.0.1';

async function startProxy(
  t: TestContext,
  target: { host: string; port: number },
  options: Partial<ProxyOptions> = {},
): Promise<TcpProxy> {
  const proxy = new TcpProxy({ targetHost: target.host, targetPort: target.port, ...options });
  await proxy.start();
  t.after(() => proxy.stop());
  return proxy;
}

async function labBehindProxy(t: TestContext, options: LabServerOptions = {}) {
  const lab = await startLabServer(options);
  t.after(() => lab.close());
  const proxy = await startProxy(t, lab);
  return { lab, proxy, url: `http://${HOST}:${proxy.address.port}/` };
}

/** A raw TCP server; `onSocket` scripts what it does. Every accepted socket is closed in t.after. */
async function rawServer(
  t: TestContext,
  onSocket: (s: net.Socket) => void,
): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, sockets };
}

/** A raw client socket to the proxy (half-open allowed, errors kept), destroyed in t.after. */
async function rawClient(t: TestContext, port: number): Promise<{ socket: net.Socket; errors: string[] }> {
  const socket = net.connect({ host: HOST, port, allowHalfOpen: true });
  const errors: string[] = [];
  socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message));
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  return { socket, errors };
}

/** Resolves on 'close', whatever came before it (events.once would reject on 'error'). */
function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Everything `socket` receives until the peer's FIN (or a reset/close). */
function readAll(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) =>
    socket.once('close', () => resolve(Buffer.concat(chunks))).once('end', () => resolve(Buffer.concat(chunks))),
  );
}

async function get(agent: http.Agent, url: string, headers: http.OutgoingHttpHeaders = {}): Promise<number> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get(url, { agent, headers }, resolve).on('error', reject),
  );
  res.resume();
  await once(res, 'end');
  return res.statusCode ?? 0;
}

const REQUEST = `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;

/** Promise.withResolvers, which Node 20 lacks. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function only(records: ConnectionRecord[]): ConnectionRecord {
  assert.equal(records.length, 1, `expected 1 connection, got ${records.length}`);
  return records[0]!;
}

test('keep-alive client, 5 sequential requests -> 1 connection, 5 requests, closed by the client', async (t) => {
  const { proxy, url } = await labBehindProxy(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 5; i++) assert.equal(await get(agent, url), 200);
  assert.equal(proxy.progress().requests, 5);
  agent.destroy();
  await proxy.whenSettled(1);
  const report = await proxy.stop();
  assert.equal(report.observer, 'proxy');
  assert.equal(report.totals.connections, 1);
  assert.equal(report.totals.requests, 5);
  assert.equal(report.totals.reusedRequests, 4);
  const c = only(report.connections);
  assert.equal(c.requests, 5);
  assert.equal(c.responses, 5);
  assert.deepEqual(c.statusCodes, [200, 200, 200, 200, 200]);
  assert.equal(c.idleGapsMs.length, 4);
  assert.equal(c.closedFirstBy, 'client');
  assert.equal(c.timeWait, 'client');
  assert.equal(c.resetBy, null);
  // When each FIN reached the proxy: the client's after the last response, then the server's answer.
  assert.ok(c.lastResponseEndAt! <= c.clientFinAt! && c.clientFinAt! <= c.serverFinAt!);
  assert.equal(c.resetAt, undefined);
  assert.equal(c.openAtEnd, false);
  assert.ok(c.bytesFromClient > 0 && c.bytesFromServer > 0);
  assert.deepEqual(c.notes, []);
  assert.deepEqual(report.http, { serverClose: 0, clientClose: 0 });
});

test('Connection: close server -> 5 connections, each closed by the server', async (t) => {
  const { proxy } = await labBehindProxy(t, { connectionClose: true });
  for (let i = 0; i < 5; i++) {
    const { socket } = await rawClient(t, proxy.address.port);
    const received = readAll(socket);
    socket.write(REQUEST);
    // Wait for the server's FIN (forwarded by the proxy) before closing our side.
    assert.match((await received).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n[\s\S]*connection: close/i);
    socket.end();
  }
  await proxy.whenSettled(5);
  const report = await proxy.stop();
  assert.equal(report.totals.connections, 5);
  assert.equal(report.totals.requests, 5);
  assert.deepEqual(report.totals.closedFirstBy, { client: 0, server: 5, unknown: 0 });
  assert.deepEqual(report.totals.timeWait, { client: 0, server: 5 });
  assert.equal(report.http?.serverClose, 5);
  // Closed records share their empty lists inside the proxy; the report's are its own.
  const [first, second] = report.connections as [ConnectionRecord, ConnectionRecord];
  assert.deepEqual([first.statusCodes, first.idleGapsMs, first.notes], [[200], [], []]);
  first.notes.push('mine');
  first.idleGapsMs.push(1);
  assert.deepEqual([second.notes, second.idleGapsMs], [[], []]);
});

test('pipelined requests in one write -> 3 requests and 3 responses on one connection', async (t) => {
  const { proxy } = await labBehindProxy(t);
  const { socket } = await rawClient(t, proxy.address.port);
  const received = readAll(socket);
  socket.end(REQUEST.repeat(3));
  const text = (await received).toString('latin1');
  assert.equal(text.split('HTTP/1.1 200 OK').length - 1, 3);
  await proxy.whenSettled(1);
  const c = only((await proxy.stop()).connections);
  assert.equal(c.requests, 3);
  assert.equal(c.responses, 3);
});

test('half-close from the client is forwarded: the server still answers after our FIN', async (t) => {
  // The server answers only once the client has finished sending (its FIN), then closes.
  const upstream = await rawServer(t, (s) => {
    let n = 0;
    s.on('data', (c: Buffer) => (n += c.length));
    s.on('end', () => s.end(`got ${n} bytes`));
  });
  const proxy = await startProxy(t, { host: HOST, port: upstream.port });
  const { socket } = await rawClient(t, proxy.address.port);
  const received = readAll(socket);
  socket.end('hello\n');
  assert.equal((await received).toString(), 'got 6 bytes');
  await proxy.whenSettled(1);
  const c = only((await proxy.stop()).connections);
  assert.equal(c.closedFirstBy, 'client');
  assert.equal(c.timeWait, 'client');
  assert.equal(c.bytesFromClient, 6);
  assert.equal(c.bytesFromServer, 'got 6 bytes'.length);
  assert.ok(c.notes.includes('not HTTP/1.x'), c.notes.join('; '));
});

test('half-close from the server is forwarded: the client still sends after the server FIN', async (t) => {
  const fromClient: Buffer[] = [];
  const serverSawEnd = deferred();
  const upstream = await rawServer(t, (s) => {
    s.on('data', (c: Buffer) => fromClient.push(c));
    s.on('end', () => serverSawEnd.resolve());
    s.end('bye'); // half-close: done sending, still reading
  });
  const proxy = await startProxy(t, { host: HOST, port: upstream.port });
  const { socket } = await rawClient(t, proxy.address.port);
  const received = readAll(socket);
  assert.equal((await received).toString(), 'bye');
  socket.end('still here');
  await serverSawEnd.promise;
  assert.equal(Buffer.concat(fromClient).toString(), 'still here');
  await proxy.whenSettled(1);
  const c = only((await proxy.stop()).connections);
  assert.equal(c.closedFirstBy, 'server');
  assert.equal(c.timeWait, 'server');
  assert.ok(c.serverFinAt! <= c.clientFinAt!, 'the server FIN first');
});

test('client reset is mirrored upstream as a reset; the proxy keeps serving', async (t) => {
  const upstreamErrors: string[] = [];
  const gotBytes = deferred();
  const upstreamClosed = deferred();
  const upstream = await rawServer(t, (s) => {
    s.on('data', () => gotBytes.resolve());
    s.on('error', (e: NodeJS.ErrnoException) => upstreamErrors.push(e.code ?? e.message));
    s.on('end', () => s.end());
    s.once('close', () => upstreamClosed.resolve());
  });
  const proxy = await startProxy(t, { host: HOST, port: upstream.port });
  const { socket } = await rawClient(t, proxy.address.port);
  socket.write('GET / HTTP/1.1\r\nHost: x'); // half a request: the connection is busy
  await gotBytes.promise;
  socket.resetAndDestroy();
  await upstreamClosed.promise;
  assert.deepEqual(upstreamErrors, ['ECONNRESET']);
  await proxy.whenSettled(1);

  // One bad connection later, the next one is forwarded as usual.
  const next = await rawClient(t, proxy.address.port);
  const echoed = readAll(next.socket);
  next.socket.end('x');
  await echoed;
  await proxy.whenSettled(2);
  const report = await proxy.stop();
  assert.equal(report.totals.connections, 2);
  assert.equal(report.totals.resets, 1);
  const c = report.connections[0]!;
  assert.equal(c.resetBy, 'client');
  assert.ok(c.start! <= c.resetAt! && c.resetAt! <= c.end!, 'when the RST came');
  assert.deepEqual([c.clientFinAt, c.serverFinAt], [undefined, undefined], 'no FIN either way');
  assert.equal(c.timeWait, null);
});

test('server reset is mirrored to the client as a reset', async (t) => {
  const upstream = await rawServer(t, (s) => s.once('data', () => s.resetAndDestroy()));
  const proxy = await startProxy(t, { host: HOST, port: upstream.port });
  const { socket, errors } = await rawClient(t, proxy.address.port);
  socket.write(REQUEST);
  await closed(socket);
  assert.deepEqual(errors, ['ECONNRESET']);
  await proxy.whenSettled(1);
  const c = only((await proxy.stop()).connections);
  assert.equal(c.resetBy, 'server');
  assert.ok(c.unanswered![0]!.at <= c.resetAt!, 'the request, then the RST');
  assert.equal(c.serverFinAt, undefined);
  assert.equal(c.requests, 1);
  assert.equal(c.responses, 0);
});

test('upstream refused -> the client connection is closed and the record says why', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const probe = net.createServer().listen(0, HOST);
  await once(probe, 'listening');
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const proxy = await startProxy(t, { host: HOST, port: deadPort });
  for (let i = 0; i < 2; i++) {
    const { socket } = await rawClient(t, proxy.address.port);
    const received = readAll(socket);
    socket.write(REQUEST);
    assert.equal((await received).length, 0);
  }
  await proxy.whenSettled(2);
  const report = await proxy.stop();
  assert.equal(report.totals.connections, 2);
  for (const c of report.connections) {
    assert.ok(
      c.notes.some((n) => /unreachable \(ECONNREFUSED\): client connection closed/.test(n)),
      c.notes.join('; '),
    );
    assert.equal(c.requests, 1);
    assert.equal(c.responses, 0);
  }
  const warning = report.warnings.find((w) => w.code === ProxyWarning.UPSTREAM_UNREACHABLE);
  assert.match(
    warning?.message ?? '',
    /2 client connections closed because 127\.0\.0\.1:\d+ could not be reached \(ECONNREFUSED\)/,
  );
});

/** python3 holds a listener that never accepts, its backlog filled: further SYNs are dropped. */
const SILENT_LISTENER = `
import socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(8):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(('127.0.0.1', port))
    except BlockingIOError: pass
    fill.append(c)
print(port, flush=True)
sys.stdin.read()
`;

test('upstream that never answers the SYN -> connect timeout, the client connection is closed', async (t) => {
  const python = spawn('python3', ['-c', SILENT_LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => {
    python.stdin!.end();
    if (python.exitCode === null) python.kill();
  });
  const [line] = (await once(python.stdout!, 'data')) as [Buffer];
  const proxy = await startProxy(t, { host: HOST, port: Number(line.toString().trim()) }, { connectTimeoutMs: 100 });
  const { socket } = await rawClient(t, proxy.address.port);
  const received = readAll(socket);
  socket.write(REQUEST);
  assert.equal((await received).length, 0);
  await proxy.whenSettled(1);
  const c = only((await proxy.stop()).connections);
  assert.ok(
    c.notes.some((n) => /unreachable \(ETIMEDOUT\): client connection closed/.test(n)),
    c.notes.join('; '),
  );
  assert.equal(c.openAtEnd, false);
});

test('malformed HTTP and binary bytes are forwarded untouched; the record says framing was lost', async (t) => {
  // Every byte value, 1 MiB of random bytes, after a request head with a broken field line.
  const head = Buffer.from(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nthis line has no colon\r\n\r\n`, 'latin1');
  const fromClient = Buffer.concat([head, Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(1 << 20)]);
  const serverHead = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n', 'latin1');
  const fromServer = Buffer.concat([serverHead, randomBytes(1 << 20)]);
  const serverGot: Buffer[] = [];
  const upstream = await rawServer(t, (s) => {
    s.on('data', (c: Buffer) => serverGot.push(c));
    s.on('end', () => s.end(fromServer));
  });
  const proxy = await startProxy(t, { host: HOST, port: upstream.port });
  const { socket } = await rawClient(t, proxy.address.port);
  const received = readAll(socket);
  socket.end(fromClient);
  assert.ok((await received).equals(fromServer), 'server bytes changed on the way');
  assert.ok(Buffer.concat(serverGot).equals(fromClient), 'client bytes changed on the way');
  await proxy.whenSettled(1);
  const c = only((await proxy.stop()).connections);
  assert.equal(c.bytesFromClient, fromClient.length);
  assert.equal(c.bytesFromServer, fromServer.length);
  assert.equal(c.requests, 0);
  // A response head with an invalid Content-Length is counted; its body cannot be delimited.
  assert.equal(c.responses, 1);
  assert.ok(
    c.notes.includes(`HTTP framing of the server's bytes lost at byte ${serverHead.length}: invalid Content-Length`),
    c.notes.join('; '),
  );
  assert.ok(
    // The offset is where the head that could not be framed began.
    c.notes.includes("HTTP framing of the client's bytes lost at byte 0: malformed header field"),
    c.notes.join('; '),
  );
});

test('backpressure: a client that does not read stalls the server instead of filling the proxy', async (t) => {
  const chunk = Buffer.alloc(1 << 20, 'z');
  const total = 256 * chunk.length;
  let serverSocket: net.Socket | undefined;
  let written = 0;
  const upstream = await rawServer(t, (s) => {
    serverSocket = s;
    void (async () => {
      while (written < total) {
        written += chunk.length;
        if (!s.write(chunk)) await once(s, 'drain').catch(() => undefined);
        if (s.destroyed) return;
      }
      s.end();
    })();
  });
  const proxy = await startProxy(t, { host: HOST, port: upstream.port });
  const { socket } = await rawClient(t, proxy.address.port);
  socket.pause();
  // Poll until the server makes no more progress (bounded number of polls): the pipe is full.
  let handedOver = -1;
  for (let stable = 0, polls = 0; stable < 5 && polls < 500; polls++) {
    await delay(20);
    const now = serverSocket === undefined ? 0 : written - serverSocket.writableLength;
    stable = now === handedOver && now > 0 ? stable + 1 : 0;
    handedOver = now;
  }
  // Kernel buffers on the way hold some MiB; without backpressure the proxy would take all 256.
  assert.ok(
    handedOver < total / 2,
    `server handed over ${handedOver} of ${total} bytes to a client that reads nothing`,
  );
  let got = 0;
  socket.on('data', (c: Buffer) => (got += c.length));
  socket.resume();
  await once(socket, 'end');
  socket.end();
  assert.equal(got, total);
  await proxy.whenSettled(1);
  assert.equal(only((await proxy.stop()).connections).bytesFromServer, total);
});

test('stop: idle keep-alive connections are closed, a request in flight gets its response first', async (t) => {
  let answer: (() => void) | undefined;
  const requestSeen = deferred();
  const upstream = await rawServer(t, (s) => {
    s.on('data', () => {
      answer = () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      requestSeen.resolve();
    });
    s.on('end', () => s.end());
  });
  const proxy = await startProxy(t, { host: HOST, port: upstream.port }, { graceMs: 60_000 });
  const idle = await rawClient(t, proxy.address.port);
  const busy = await rawClient(t, proxy.address.port);
  const idleClosed = readAll(idle.socket);
  const busyReceived = readAll(busy.socket);
  busy.socket.write(REQUEST);
  await requestSeen.promise;
  idle.socket.on('end', () => idle.socket.end());
  busy.socket.on('end', () => busy.socket.end());

  const stopped = proxy.stop();
  assert.equal((await idleClosed).length, 0);
  answer!();
  assert.match((await busyReceived).toString(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
  const report = await stopped;
  assert.equal(report.totals.connections, 2);
  for (const c of report.connections) {
    assert.equal(c.openAtEnd, true);
    assert.equal(c.closedFirstBy, null);
    assert.ok(c.notes.includes('still open at stop: closed by the proxy'));
  }
  assert.equal(report.connections.find((c) => c.requests === 1)?.responses, 1);
  assert.ok(report.warnings.some((w) => w.code === ProxyWarning.CLOSED_AT_STOP));
});

test('stop: a connection that does not finish within the grace period is destroyed', async (t) => {
  const upstream = await rawServer(t, () => undefined); // never answers, never closes
  const proxy = await startProxy(t, { host: HOST, port: upstream.port }, { graceMs: 50 });
  const { socket } = await rawClient(t, proxy.address.port);
  const received = readAll(socket);
  socket.write(REQUEST);
  while (upstream.sockets.length === 0) await delay(5);
  const report = await proxy.stop();
  assert.equal((await received).length, 0);
  assert.equal(report.totals.connections, 1);
  assert.equal(report.connections[0]!.openAtEnd, true);
  assert.equal(proxy.progress().open, 0);
});

const busyPortName =
  'start: a busy port is PortInUseError naming the option; ' + 'a running proxy holds its port until stopped';
test(busyPortName, async (t) => {
  const proxy = await startProxy(t, { host: HOST, port: 9 });
  assert.equal(await portIsFree(HOST, proxy.address.port), false);
  const second = new TcpProxy({ listenPort: proxy.address.port, targetHost: HOST, targetPort: 9 });
  await assert.rejects(second.start(), (error: unknown) => {
    assert.ok(error instanceof PortInUseError);
    assert.equal(error.code, 'KAL_ERR_PORT_IN_USE');
    assert.equal(error.option, 'listenPort');
    assert.match(error.message, /\(choose another port with listenPort, or port 0 for a free one\)$/);
    return true;
  });
  await proxy.stop();
  assert.equal(await portIsFree(HOST, proxy.address.port), true);
});

test('keepConnections: the report keeps the last N; totals count all; onConnection has each once, in id order', async (t) => {
  const lab = await startLabServer({ connectionClose: true });
  t.after(() => lab.close());
  const handed: number[] = [];
  const proxy = await startProxy(t, lab, { keepConnections: 3, onConnection: (r) => handed.push(r.id) });
  // Connection 1 stays open and idle: the records of those that close after it wait behind it.
  const idle = await rawClient(t, proxy.address.port);
  for (let i = 0; i < 6; i++) {
    const { socket } = await rawClient(t, proxy.address.port);
    const received = readAll(socket);
    socket.write(REQUEST);
    assert.match((await received).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
    socket.end();
  }
  while (proxy.progress().open > 1) await delay(5);
  assert.deepEqual(handed, []);
  const live = proxy.snapshot();
  assert.equal(live.totals.connections, 7);
  assert.equal(live.totals.requests, 6);
  assert.deepEqual(
    live.connections.map((c) => c.id),
    [5, 6, 7],
  );
  assert.equal(live.connectionsOmitted, 4);

  idle.socket.end();
  await proxy.whenSettled(7);
  assert.deepEqual(handed, [1, 2, 3, 4, 5, 6, 7]);
  const report = await proxy.stop();
  assert.deepEqual(handed, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(report.totals.connections, 7);
  assert.deepEqual(report.totals.closedFirstBy, { client: 1, server: 6, unknown: 0 });
  assert.deepEqual(
    report.connections.map((c) => [c.id, c.requests]),
    [
      [5, 1],
      [6, 1],
      [7, 1],
    ],
  );
  assert.equal(report.connectionsOmitted, 4);
  // The default keeps every record, as before.
  const all = await labBehindProxy(t, { connectionClose: true });
  for (let i = 0; i < 2; i++) {
    const { socket } = await rawClient(t, all.proxy.address.port);
    const received = readAll(socket);
    socket.write(REQUEST);
    await received;
    socket.end();
  }
  await all.proxy.whenSettled(2);
  const full = await all.proxy.stop();
  assert.equal(full.connections.length, 2);
  assert.equal(full.connectionsOmitted, undefined);
});

test('idleResetMs: a request after the idle limit draws a RST, the server side is reset too, nothing forwarded', async (t) => {
  const lab = await startLabServer({ host: HOST });
  t.after(() => lab.close());
  const serverErrors: string[] = [];
  let serverEnds = 0;
  lab.server.on('connection', (s: net.Socket) => {
    s.on('error', (e: NodeJS.ErrnoException) => serverErrors.push(e.code ?? e.message));
    s.on('end', () => serverEnds++);
  });
  const proxy = await startProxy(t, lab, { idleResetMs: 50 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  // Within the limit: answered, on one connection.
  assert.equal(await get(agent, `http://${HOST}:${proxy.address.port}/`), 200);
  assert.equal(await get(agent, `http://${HOST}:${proxy.address.port}/`), 200);
  await delay(150);
  const failed = await get(agent, `http://${HOST}:${proxy.address.port}/`).then(
    () => 'answered',
    (e: NodeJS.ErrnoException) => e.code,
  );
  assert.equal(failed, 'ECONNRESET');
  await proxy.whenSettled(1);
  const report = await proxy.stop();
  const record = only(report.connections);
  assert.equal(record.requests, 2, 'the request after the idle gap was not forwarded');
  assert.equal(record.closedFirstBy, null, 'no FIN');
  assert.match(record.notes.join('; '), /reset by the proxy after \d+ ms idle \(idleResetMs 50\)/);
  await waitFor(() => serverErrors.length > 0, 2000, 5);
  assert.deepEqual(serverErrors, ['ECONNRESET'], 'the server got a RST');
  assert.equal(serverEnds, 0, 'and no FIN');
});
