/**
 * The load generator (src/lab/loadgen.ts) against the lab server, counted by the server's own
 * accounting: every request it says it completed, the server answered; keep-alive opens one
 * connection per slot (and a new one each time the server ends one), new-connection one per request.
 * Counts only, never speed; small fixed request counts, everything closed by t.after.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { countTimeWait } from '../../src/lab/bench.js';
import { runLoad } from '../../src/lab/loadgen.js';
import { startLabServer } from '../../src/lab/server.js';
import type { LabServerOptions } from '../../src/lab/server.js';
import type { SocketEntry } from '../../src/decode/socket-entry.js';
import { ServerAccounting } from '../../src/observe/server-accounting.js';
import { waitFor } from '../../src/util/time.js';

async function lab(t: TestContext, options: LabServerOptions = {}) {
  const server = await startLabServer({ host: '127.0.0.1', ...options });
  const accounting = new ServerAccounting(server.server);
  await accounting.start();
  t.after(async () => {
    await accounting.close();
    await server.close();
  });
  /** The server's account once every connection has closed. */
  const counted = async () => {
    assert.ok(await waitFor(() => accounting.openConnections === 0, 5000), 'the server still has connections open');
    const report = await accounting.stop();
    return { connections: report.totals.connections, requests: report.totals.requests };
  };
  return { server, accounting, counted };
}

test('loadgen keep-alive: N connections, every request counted by the server', async (t) => {
  const { server, counted } = await lab(t);
  const { result, localPorts } = await runLoad(new URL(server.url), {
    mode: 'keep-alive',
    connections: 4,
    requests: 200,
  });
  assert.equal(result.requests, 200);
  assert.equal(result.errors, 0);
  assert.equal(result.non2xx, 0);
  assert.equal(result.connectionsOpened, 4);
  assert.equal(localPorts.size, 4);
  assert.deepEqual(await counted(), { connections: 4, requests: 200 });
  assert.ok(
    result.latencyMs.p50 !== null && result.latencyMs.max !== null && result.latencyMs.p50 <= result.latencyMs.max,
  );
});

test('loadgen new-connection: one connection per request, Connection: close', async (t) => {
  const { server, counted } = await lab(t);
  const { result } = await runLoad(new URL(server.url), { mode: 'new-connection', connections: 3, requests: 30 });
  assert.equal(result.requests, 30);
  assert.equal(result.errors, 0);
  assert.equal(result.connectionsOpened, 30);
  assert.deepEqual(await counted(), { connections: 30, requests: 30 });
});

test('loadgen keep-alive: a server that ends connections after 10 requests gets new ones, no error', async (t) => {
  const { server, counted } = await lab(t, { maxRequestsPerConnection: 10 });
  const { result } = await runLoad(new URL(server.url), { mode: 'keep-alive', connections: 1, requests: 35 });
  assert.equal(result.requests, 35);
  assert.equal(result.errors, 0);
  assert.equal(result.connectionsOpened, 4);
  assert.deepEqual(await counted(), { connections: 4, requests: 35 });
});

test('loadgen over TLS (https lab server): counts as in the clear', async (t) => {
  const { server, counted } = await lab(t, { protocol: 'https' });
  const { result } = await runLoad(new URL(server.url), {
    mode: 'keep-alive',
    connections: 2,
    requests: 20,
    ca: server.ca!,
  });
  assert.equal(result.errors, 0, JSON.stringify(result.errorCodes));
  assert.equal(result.requests, 20);
  assert.equal(result.connectionsOpened, 2);
  assert.deepEqual(await counted(), { connections: 2, requests: 20 });
});

test('loadgen for a duration: what it completed is what the server answered', async (t) => {
  const { server, counted } = await lab(t);
  const { result } = await runLoad(new URL(server.url), { mode: 'keep-alive', connections: 2, durationMs: 200 });
  assert.equal(result.errors, 0);
  assert.ok(result.requests > 0);
  assert.deepEqual(await counted(), { connections: 2, requests: result.requests });
});

test('loadgen against a closed port: every request an error, by code', async () => {
  const closed = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => closed.once('listening', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const { result } = await runLoad(new URL(`http://127.0.0.1:${port}/`), {
    mode: 'keep-alive',
    connections: 1,
    requests: 3,
  });
  assert.equal(result.requests, 0);
  assert.equal(result.errors, 3);
  assert.deepEqual(result.errorCodes, { ECONNREFUSED: 3 });
  assert.equal(result.connectionsOpened, 0);
  assert.equal(result.latencyMs.p50, null);
});

test('loadgen: an aborted signal closes everything and rejects', async (t) => {
  const { server, accounting, counted } = await lab(t);
  const controller = new AbortController();
  const load = runLoad(new URL(server.url), { mode: 'keep-alive', connections: 2, signal: controller.signal });
  // Aborted once the server holds both connections (not after a fixed 50 ms, which a loaded machine
  // may not have opened them in).
  const opened = await waitFor(() => accounting.openConnections === 2, 5000);
  controller.abort();
  await assert.rejects(load, { name: 'AbortError' });
  assert.ok(opened, 'the server saw both connections open');
  assert.equal((await counted()).connections, 2);
});

test("countTimeWait: the load's client ports only, on the side that holds them", () => {
  const entry = (local: number, remote: number, state: SocketEntry['state'] = 'TIME_WAIT') =>
    ({
      local: { address: '127.0.0.1', port: local },
      remote: { address: '127.0.0.1', port: remote },
      state,
    }) as SocketEntry;
  const entries = [
    entry(40001, 8080), // client side, ours
    entry(8080, 40002), // server side, ours
    entry(8080, 40003), // server side, ours
    entry(40009, 8080), // another client's
    entry(40001, 9090), // our port, another server
    entry(40001, 8080, 'FIN_WAIT2'), // ours, still closing
    entry(40009, 8080, 'FIN_WAIT2'), // another client's
  ];
  assert.deepEqual(countTimeWait(entries, 8080, new Set([40001, 40002, 40003])), { client: 1, server: 2, closing: 1 });
});
