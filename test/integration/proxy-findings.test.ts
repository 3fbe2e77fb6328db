/**
 * The keep-alive race seen by the proxy: a Node client (its own process, node:http with a keep-alive
 * Agent) through `runProxy` to a server that closes connections idle for IDLE_MS. In each round the
 * client reuses its connection once within the timeout (answered), then sends a request on it just
 * after the server closed it: the client's event loop is held (Atomics.wait) from before the close
 * until the server says it closed (a file the test writes), so the Agent has not seen the FIN when it
 * picks the pooled socket, as happens to a client whose idle timeout is not shorter than the server's
 * (nodejs/node#20256). The request reaches the proxy after the server's FIN; no response comes; the
 * client gets "socket hang up" (ECONNRESET). One more connection is left idle for the server to close.
 *
 * No wall-clock assertion: the client sends only once the server has closed, whatever the timers' lag.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { runProxy } from '../../src/lab/proxy.js';
import type { RunningProxy } from '../../src/lab/proxy.js';

const HOST = '127.0.0.1';
/** The server closes a connection idle this long. */
const IDLE_MS = 300;
const ROUNDS = 2;
const RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/**
 * The client: per round a new connection, a reuse after IDLE_MS / 4 (answered), then the late request;
 * at the end one connection left idle. Prints each request's outcome as JSON.
 * argv: proxy port, the file whose number counts the server's idle closes.
 */
const CLIENT = `
import http from 'node:http';
import { readFileSync } from 'node:fs';
const [port, closesFile] = process.argv.slice(1);
const IDLE_MS = ${IDLE_MS};
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const url = 'http://${HOST}:' + port + '/';
const closes = () => Number(readFileSync(closesFile, 'utf8'));
const nap = new Int32Array(new SharedArrayBuffer(4));
/** Holds the event loop: nothing the socket receives meanwhile is seen. */
const hold = (ms) => Atomics.wait(nap, 0, 0, ms);
function get() {
  return new Promise((resolve) => {
    const req = http.get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: true, reused: req.reusedSocket }));
    });
    req.on('error', (e) => resolve({ ok: false, reused: req.reusedSocket, error: e.code ?? e.message }));
  });
}
/** Held from before the server's close until after it (and its FIN through the proxy), then a request. */
function late() {
  const before = closes();
  return new Promise((resolve) =>
    setTimeout(() => {
      while (closes() === before) hold(5);
      hold(50);
      get().then(resolve);
    }, IDLE_MS / 2),
  );
}
const out = [];
for (let round = 0; round < ${ROUNDS}; round++) {
  out.push(await get());
  await new Promise((r) => setTimeout(r, IDLE_MS / 4));
  out.push(await get());
  out.push(await late());
}
const before = closes();
out.push(await get());
while (closes() === before) await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 50));
agent.destroy();
process.stdout.write(JSON.stringify(out));
`;

interface Outcome {
  ok: boolean;
  reused: boolean;
  error?: string;
}

/** A server that answers every request head with a 2-byte body and closes connections idle IDLE_MS. */
async function idleClosingServer(closesFile: string): Promise<{ port: number; close(): Promise<void> }> {
  let closes = 0;
  writeFileSync(closesFile, '0');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let head = '';
    s.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      for (let end = head.indexOf('\r\n\r\n'); end >= 0; end = head.indexOf('\r\n\r\n')) {
        head = head.slice(end + 4);
        s.write(RESPONSE);
      }
    });
    // Idle since the last byte read or written: close(2), a FIN; a request after it draws a RST.
    s.setTimeout(IDLE_MS, () => {
      s.destroy();
      writeFileSync(closesFile, String(++closes));
    });
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test(
  'proxy: a Node client reusing a connection the server closed idle -> the keep-alive race',
  { timeout: 30_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kal-proxy-race-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const closesFile = join(dir, 'closes');
    const server = await idleClosingServer(closesFile);
    t.after(() => server.close());

    const stop = new AbortController();
    t.after(() => stop.abort());
    let listening!: (proxy: RunningProxy) => void;
    const running = new Promise<RunningProxy>((resolve) => (listening = resolve));
    const report = runProxy({
      targetHost: HOST,
      targetPort: server.port,
      listenPort: 0,
      signal: stop.signal,
      onListening: (p) => listening(p),
    });
    const proxy = await Promise.race([running, report.then(() => assert.fail('the proxy ended before listening'))]);

    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', CLIENT, String(proxy.address.port), closesFile],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => child.kill());
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, `the client ran: ${stderr}`);
    const outcomes = JSON.parse(stdout) as Outcome[];

    // The client's own count: in each round a new connection, a reuse answered, a reuse that failed.
    assert.equal(outcomes.length, 3 * ROUNDS + 1);
    for (let round = 0; round < ROUNDS; round++) {
      const [first, again, lost] = outcomes.slice(3 * round, 3 * round + 3) as [Outcome, Outcome, Outcome];
      assert.deepEqual([first.ok, first.reused, again.ok, again.reused], [true, false, true, true]);
      assert.equal(lost.ok, false, `round ${round}: the late request failed`);
      assert.equal(lost.reused, true, `round ${round}: on the pooled connection`);
      assert.equal(lost.error, 'ECONNRESET', `round ${round}: socket hang up (${lost.error})`);
    }
    const clientErrors = outcomes.filter((o) => !o.ok).length;

    // Every connection closed by its peers, none by the proxy's stop.
    while (proxy.progress().open > 0) await delay(10);
    stop.abort();
    const run = await report;
    const observed = run.observers[0]!;
    assert.equal(observed.totals.connections, ROUNDS + 1);
    assert.equal(observed.totals.requests, 3 * ROUNDS + 1);
    assert.equal(observed.totals.responses, 2 * ROUNDS + 1);

    // The record holds the times the finding reads: the server's FIN, then the request, then the client's FIN.
    const raced = observed.connections.filter((c) => c.unanswered !== undefined);
    assert.equal(raced.length, ROUNDS);
    for (const c of raced) {
      assert.equal(c.closedFirstBy, 'server');
      assert.ok(c.lastResponseEndAt! < c.serverFinAt!, 'idle, then the server closed');
      assert.ok(c.serverFinAt! <= c.unanswered![0]!.at, 'the request came after the server FIN');
      assert.ok(c.unanswered![0]!.at <= c.clientFinAt!, 'then the client closed');
    }

    const race = run.findings.find((f) => f.code === 'keepalive-race');
    assert.ok(race, `the race is found: ${run.findings.map((f) => f.summary).join(' | ')}`);
    assert.equal(race.evidence.count, ROUNDS);
    assert.equal(race.evidence.values.requestsLost, clientErrors);
    // Every connection the server closed idle is measured: the raced ones and the one left idle.
    assert.equal(race.evidence.values.serverIdleClosesMeasured, ROUNDS + 1);
    assert.equal(race.evidence.values.advertisedKeepAliveTimeoutS, null);
    assert.deepEqual(
      race.evidence.connections,
      raced.map((c) => c.id),
    );
    assert.equal(run.verdict.code, 'keepalive-race');
    assert.deepEqual(
      run.findings.map((f) => f.code),
      ['keepalive-race'],
      'nothing else is reported',
    );
    t.diagnostic(run.verdict.summary);
  },
);
