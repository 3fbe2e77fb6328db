/**
 * The recommendation (src/lab/probe/recommend.ts) from made-up measurements: a client idle timeout
 * below the server's with margin, in each client's own option names; the advertised timeout taken
 * when shorter; nothing to set without keep-alive; no pooling when the server's timeout is too short.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientIdleFor, recommend, type RecommendInput } from '../../../../src/lab/probe/recommend.js';
import type { Http1Behaviour, IdleTimeoutResult } from '../../../../src/model/probe.js';

function http1(over: Partial<Http1Behaviour> = {}): Http1Behaviour {
  return {
    responseVersion: 'HTTP/1.1',
    server: null,
    keepAlive11: true,
    keepAlive10: true,
    connectionClose: { echoed: true, closeKind: 'fin' },
    advertised: null,
    pipelining: { sent: 2, answered: 2, accepted: true },
    ...over,
  };
}

function idle(aliveMs: number, closedMs: number): IdleTimeoutResult {
  return {
    timeoutMs: (aliveMs + closedMs) / 2,
    precisionMs: (closedMs - aliveMs) / 2,
    interval: { aliveMs, closedMs },
    maxIdleMs: 120_000,
    closeKind: 'fin',
    observedCloseMs: closedMs,
    afterClose: 'reset',
    inFlight: { sent: 1, failed: 0 },
    trials: [],
  };
}

const input = (over: Partial<RecommendInput>): RecommendInput => ({
  http1: http1(),
  idle: null,
  requestCap: null,
  http2: null,
  ...over,
});

test('margin: a fifth of the server timeout, at least 1 s, rounded down to 100 ms', () => {
  assert.equal(clientIdleFor(60_000), 48_000);
  assert.equal(clientIdleFor(5000), 4000);
  assert.equal(clientIdleFor(2760), 1700);
  assert.equal(clientIdleFor(1000), null);
  assert.equal(clientIdleFor(900), null);
});

test('each client gets the measured figure in its own option names', () => {
  const rec = recommend(input({ idle: idle(2750, 3010) }));
  assert.equal(rec.clientIdleMs, 1700);
  assert.match(rec.settings['node-http']!, /new http\.Agent\(\{ keepAlive: true, timeout: 1700 \}\)/);
  assert.match(rec.settings['node-http']!, /keepAliveMsecs is the delay of TCP keep-alive probes/);
  assert.match(rec.settings.undici!, /keepAliveTimeout: 1700, keepAliveMaxTimeout: 1700/);
  assert.match(rec.settings.go!, /IdleConnTimeout: 1700 \* time\.Millisecond/);
  assert.match(rec.settings.okhttp!, /ConnectionPool\(5, 1700, TimeUnit\.MILLISECONDS\)/);
  assert.match(rec.settings.aiohttp!, /TCPConnector\(keepalive_timeout=1\.7\)/);
  assert.match(rec.settings['python-requests']!, /no idle timeout/);
});

test('an advertised timeout shorter than the measured one decides, with a note', () => {
  const rec = recommend(
    input({ http1: http1({ advertised: { timeoutS: 2, max: null, raw: 'timeout=2' } }), idle: idle(2750, 3010) }),
  );
  assert.equal(rec.clientIdleMs, 1000);
  assert.match(rec.basis, /Keep-Alive header/);
  assert.ok(rec.notes.some((n) => /longer than the timeout=2 it advertises/.test(n)));
});

test('an advertised timeout longer than the real one is a warning note: clients following it race the close', () => {
  const rec = recommend(
    input({ http1: http1({ advertised: { timeoutS: 75, max: null, raw: 'timeout=75' } }), idle: idle(4900, 5100) }),
  );
  assert.equal(rec.clientIdleMs, 3900);
  assert.ok(rec.notes.some((n) => /advertises Keep-Alive: timeout=75 but closes idle connections/.test(n)));
});

test('no keep-alive: nothing to set, and the note says why', () => {
  const rec = recommend(input({ http1: http1({ keepAlive11: false, responseVersion: 'HTTP/1.0' }) }));
  assert.equal(rec.clientIdleMs, null);
  assert.deepEqual(rec.settings, {});
  assert.ok(rec.notes.some((n) => /after every response.*HTTP\/1\.0/.test(n)));
});

test('a timeout too short to keep connections idle: no pooling', () => {
  const rec = recommend(input({ idle: idle(750, 1000) }));
  assert.equal(rec.clientIdleMs, null);
  assert.match(rec.settings['node-http']!, /keepAlive: false/);
  assert.match(rec.settings.go!, /DisableKeepAlives: true/);
});

test('the request cap and HTTP/2 facts become notes', () => {
  const rec = recommend(
    input({
      idle: idle(2750, 3010),
      requestCap: { requests: 7, how: 'closed', maxRequests: 450 },
      http2: {
        maxConcurrentStreams: 128,
        idleGoaway: { afterMs: 3000, errorCode: 0, closeKind: 'fin' },
        waitedMs: 3000,
      },
    }),
  );
  assert.ok(rec.notes.some((n) => /after 7 requests without saying so/.test(n)));
  assert.ok(rec.notes.some((n) => /at most 128 streams/.test(n)));
  assert.ok(rec.notes.some((n) => /GOAWAY after ~3 s/.test(n)));
});
