/**
 * The lab's in-process server (src/lab/server.ts): its idle timeout (its own timer, announced to
 * onIdleDue listeners before the close and to onIdleClose listeners after), the Keep-Alive hint it
 * sends or not, and its cap of requests per connection. Raw sockets on loopback; counts and headers,
 * never times.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { startLabServer } from '../../src/lab/server.js';
import type { LabServer, LabServerOptions } from '../../src/lab/server.js';

const REQUEST = 'GET / HTTP/1.1\r\nHost: lab\r\n\r\n';

async function server(t: TestContext, options: LabServerOptions): Promise<LabServer> {
  const lab = await startLabServer({ host: '127.0.0.1', ...options });
  t.after(() => lab.close());
  return lab;
}

async function connect(t: TestContext, lab: LabServer): Promise<net.Socket> {
  const socket = net.connect({ host: lab.host, port: lab.port });
  t.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** Sends one request and resolves with the response's head once its 11-byte body has come. */
function exchange(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0 && text.length >= end + 4 + 11) {
        socket.off('data', onData).off('error', reject);
        resolve(text.slice(0, end));
      }
    };
    socket.on('data', onData).once('error', reject);
    socket.write(REQUEST);
  });
}

test('lab server: an idle connection is closed by the server (FIN), and onIdleClose is told once', async (t) => {
  const lab = await server(t, { keepAliveTimeoutMs: 50 });
  let closed = 0;
  lab.onIdleClose((s) => {
    assert.equal(s.destroyed, true, 'told once the socket is closed');
    closed++;
  });
  const socket = await connect(t, lab);
  const head = await exchange(socket);
  assert.match(head, /\r\nKeep-Alive: timeout=0\r\n/i);
  await new Promise((resolve) => socket.once('end', resolve));
  assert.equal(closed, 1);
});

test('lab server: onIdleDue runs in the idle timer, and the close waits for the nextTicks it queued', async (t) => {
  const lab = await server(t, { keepAliveTimeoutMs: 50 });
  const order: string[] = [];
  let dueSocket: net.Socket | undefined;
  lab.onIdleDue((s) => {
    dueSocket = s;
    order.push(`due (socket open: ${!s.destroyed})`);
    // What a node:http Agent does with a request on a pooled socket: it writes it from a nextTick.
    process.nextTick(() => order.push(`tick (socket open: ${!s.destroyed})`));
  });
  lab.onIdleClose((s) => {
    assert.equal(s, dueSocket);
    order.push(`close (socket open: ${!s.destroyed})`);
  });
  const socket = await connect(t, lab);
  await exchange(socket);
  await new Promise((resolve) => socket.once('end', resolve));
  assert.deepEqual(order, ['due (socket open: true)', 'tick (socket open: true)', 'close (socket open: false)']);
});

test('lab server: without the hint, keep-alive responses carry no Keep-Alive header', async (t) => {
  const lab = await server(t, { keepAliveTimeoutMs: 5000, keepAliveHint: false });
  const socket = await connect(t, lab);
  const head = await exchange(socket);
  assert.match(head, /\r\nConnection: keep-alive\r\n/i);
  assert.doesNotMatch(head, /keep-alive:/i);
  const hinted = await exchange(await connect(t, await server(t, { keepAliveTimeoutMs: 5000 })));
  assert.match(hinted, /\r\nKeep-Alive: timeout=5\r\n/i);
});

test('lab server: maxRequestsPerConnection 2: the second response says Connection: close and the server closes', async (t) => {
  const lab = await server(t, { maxRequestsPerConnection: 2 });
  let idle = 0;
  lab.onIdleClose(() => idle++);
  const socket = await connect(t, lab);
  assert.doesNotMatch(await exchange(socket), /connection: close/i);
  // The last response is close-delimited: its body ends with the server's FIN.
  let last = '';
  socket.on('data', (chunk: Buffer) => (last += chunk.toString('latin1')));
  const ended = new Promise((resolve) => socket.once('end', resolve));
  socket.write(REQUEST);
  await ended;
  assert.match(last, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(last, /\r\nconnection: close\r\n/i);
  assert.doesNotMatch(last, /content-length/i);
  assert.equal(idle, 0, 'a capped connection is not an idle close');
});
