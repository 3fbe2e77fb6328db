/**
 * The keep-alive race on a capture recorded here from real programs: nginx with `keepalive_timeout
 * 1s 1s` (it closes idle connections after 1 s and says so in Keep-Alive: timeout=1), a client on
 * raw sockets timed to send its second request 1.05 s after the first response (a client that does
 * not watch for the server's FIN, as a pooled connection picked from an idle list does not), and
 * tcpdump on loopback. Beside the raced connections, the same capture holds connections reused
 * within the timeout and connections left for nginx to close: what the timeout is measured from, and
 * what must not be reported.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { captureDir, captureSkip } from '../support/capture-env.js';
import { nginxSkip, startNginx } from '../support/nginx.js';
import { recordTraffic } from '../support/record.js';

const skip = captureSkip() || nginxSkip();

/** nginx's idle timeout here, and how long after it the late client writes its second request. */
const SERVER_IDLE_MS = 1000;
const LATE_BY_MS = 50;
const RACED = 3;

/** What one connection of the client saw. */
type Outcome = 'answered' | 'reset' | 'closed without answer' | 'closed by server';

/** How long a request waits for its answer before it counts as unanswered. */
const ANSWER_WITHIN_MS = 3000;

/**
 * Sends a GET and resolves with the response's bytes once its head and 6-byte body ("hello\n") came;
 * rejects on a RST, on the end of the stream, or after ANSWER_WITHIN_MS.
 */
function get(socket: net.Socket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error('no answer')), ANSWER_WITHIN_MS);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (/\r\n\r\nhello\n$/.test(text)) done(null);
    };
    const onEnd = () => done(new Error('end'));
    const onError = (e: Error) => done(e);
    const done = (error: Error | null) => {
      clearTimeout(timer);
      socket.off('data', onData).off('end', onEnd).off('error', onError);
      if (error) reject(error);
      else resolve(text);
    };
    socket.on('data', onData).once('error', onError);
    // The stream may have ended already (the server's FIN came while idle): the request goes anyway.
    if (!socket.readableEnded) socket.once('end', onEnd);
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

/**
 * A connection that stays writable after the server's FIN (allowHalfOpen), as a pooled connection a
 * client took from its idle list before it noticed the FIN: the late request does go out.
 */
async function connect(host: string, port: number): Promise<net.Socket> {
  const socket = net.connect({ host, port, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** One request, `waitMs` idle, then a second request on the same socket whatever happened meanwhile. */
async function twoRequests(host: string, port: number, waitMs: number): Promise<Outcome> {
  const socket = await connect(host, port);
  socket.on('error', () => undefined);
  try {
    await get(socket, host);
    await sleep(waitMs);
    try {
      await get(socket, host);
      return 'answered';
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'reset' : 'closed without answer';
    }
  } finally {
    socket.destroy();
  }
}

/** One request, then idle until the server closes (its FIN), then close. */
async function leftIdle(host: string, port: number): Promise<Outcome> {
  const socket = await connect(host, port);
  await get(socket, host);
  await new Promise((resolve) => socket.once('end', resolve));
  socket.end();
  await new Promise((resolve) => socket.once('close', resolve));
  return 'closed by server';
}

test(
  'real capture: nginx keepalive_timeout 1s, second requests sent 1.05 s after the first: the keep-alive race',
  { skip, timeout: 60_000 },
  async (t) => {
    const dir = await captureDir(t, 'kal-findings-');
    const nginx = await startNginx('127.0.0.1', { keepaliveTimeout: '1s 1s' });
    t.after(() => nginx.stop());
    const { host, port } = nginx;
    const path = join(dir, 'nginx-race.pcap');
    let outcomes: Outcome[] = [];
    const rec = await recordTraffic({ path, port, iface: 'lo' }, async () => {
      outcomes = await Promise.all([
        ...Array.from({ length: RACED }, () => twoRequests(host, port, SERVER_IDLE_MS + LATE_BY_MS)),
        twoRequests(host, port, 200),
        twoRequests(host, port, 300),
        leftIdle(host, port),
        leftIdle(host, port),
      ]);
    });
    assert.equal(rec.dropped, 0, 'tcpdump dropped no packet');
    // The client's own count: each late request failed (a RST, or the end of the stream).
    const failed = outcomes.slice(0, RACED);
    assert.ok(
      failed.every((o) => o === 'reset' || o === 'closed without answer'),
      `late requests failed: ${failed.join(', ')}`,
    );
    assert.deepEqual(outcomes.slice(RACED), ['answered', 'answered', 'closed by server', 'closed by server']);

    const run = await analyzeCapture(path);
    const wire = run.observers[0]!;
    assert.equal(wire.totals.connections, RACED + 4);
    assert.equal(wire.totals.requests, 2 * (RACED + 2) + 2);
    const race = run.findings.find((f) => f.code === 'keepalive-race');
    assert.ok(race, `a keep-alive race is found: ${run.findings.map((f) => f.summary).join(' | ')}`);
    assert.equal(race.evidence.count, RACED);
    assert.equal(race.evidence.values.requestsLost, RACED);
    // nginx had closed its socket: the kernel answered each late request with a RST (which the client,
    // its read side ended by the FIN, sees only as a request never answered).
    assert.equal(race.evidence.values.resets, RACED);
    assert.equal(race.evidence.values.advertisedKeepAliveTimeoutS, 1);
    // Measured over every connection nginx closed idle: the raced ones and the two left idle.
    assert.equal(race.evidence.values.serverIdleClosesMeasured, RACED + 2);
    const measured = Number(race.evidence.values.serverIdleTimeoutMs);
    // Never early; late by what a loaded machine makes of nginx's timer (CI once read 1108 ms), but
    // nowhere near the next plausible setting nor the 200-300 ms reuses.
    assert.ok(measured >= SERVER_IDLE_MS - 10 && measured < 1.5 * SERVER_IDLE_MS, `measured ${measured} ms`);
    // Reused after 200-300 ms: answered, and so a lower bound of the timeout, never a race.
    assert.ok(Number(race.evidence.values.longestAnsweredIdleMs) >= 290);
    assert.equal(run.verdict.code, 'keepalive-race');
    assert.match(
      run.verdict.summary,
      new RegExp(
        '^keep-alive race: 3 requests were sent on connections the server had closed after ~1\\.[0-4]\\d s idle; ' +
          "make the client's idle timeout shorter than the server's$",
      ),
    );
    // Nothing else is reported on this capture.
    assert.deepEqual(
      run.findings.map((f) => f.code),
      ['keepalive-race'],
    );
    t.diagnostic(run.verdict.summary);
  },
);
