/** decideVerdict: codes from the evidence (wording is asserted loosely: it is for people). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideVerdict, primaryObserver } from '../../../src/analyze/verdict.js';
import { experimentConfig } from '../../../src/lab/config.js';
import type { ExperimentConfig } from '../../../src/model/report.js';
import { observer, record, records } from './records.js';

const CONFIG: ExperimentConfig = experimentConfig({ intervalMs: 0, timeoutMs: 30000 });

test('verdict: nothing seen', () => {
  const v = decideVerdict([observer('wire', [])]);
  assert.equal(v.code, 'no-traffic');
  assert.equal(decideVerdict([]).code, 'no-traffic');
});

test('verdict: a single request has nothing to reuse', () => {
  const v = decideVerdict([observer('wire', records(1, 1))]);
  assert.equal(v.code, 'single-request');
  assert.match(v.summary, /1 request over 1 connection/);
  assert.equal(decideVerdict([observer('wire', records(3, 0))]).code, 'single-request');
});

test('verdict: reuse working', () => {
  const v = decideVerdict([observer('wire', records(1, 5))]);
  assert.equal(v.code, 'reuse');
  assert.match(v.summary, /5 requests over 1 connection/);
  // ab -k -c 5: 5 connections, 50 requests.
  assert.equal(decideVerdict([observer('wire', records(5, 10))]).code, 'reuse');
  // Lab runs: at most one connection per worker.
  assert.equal(
    decideVerdict([observer('server', records(10, 10))], { config: { ...CONFIG, concurrency: 10 } }).code,
    'reuse',
  );
});

test('verdict: one connection per request, and who closed first', () => {
  const client = decideVerdict([observer('wire', records(5, 1))]);
  assert.equal(client.code, 'one-per-request');
  assert.match(client.summary, /client closed first/);
  const server = decideVerdict([observer('wire', records(5, 1, { closedFirstBy: 'server', timeWait: 'server' }))]);
  assert.equal(server.code, 'one-per-request');
  assert.match(server.summary, /server closed first/);
});

test('verdict: the server answers Connection: close (or HTTP/1.0) to every request', () => {
  const conns = records(50, 1, { closedFirstBy: 'server', timeWait: 'server' });
  const v = decideVerdict([observer('wire', conns, { http: { serverClose: 50, clientClose: 0 } })]);
  assert.equal(v.code, 'server-closes');
  assert.equal(
    decideVerdict([observer('server', records(10, 1))], { config: { ...CONFIG, serverConnectionClose: true } }).code,
    'server-closes',
  );
});

test('verdict: a lab server that closes each connection after N requests names its cap', () => {
  const capped = records(4, 3, { closedFirstBy: 'server', timeWait: 'server' });
  const v = decideVerdict([observer('server', capped)], { config: { ...CONFIG, requests: 12, serverMaxRequests: 3 } });
  assert.equal(v.code, 'server-closes');
  assert.equal(v.summary, 'the server closes each connection after 3 requests: 4 connections for 12 requests');
  // Without the cap, the same counts are churn.
  assert.equal(decideVerdict([observer('server', capped)], { config: { ...CONFIG, requests: 12 } }).code, 'churn');
});

test('verdict: the client asks to close every connection', () => {
  const v = decideVerdict([observer('wire', records(5, 1), { http: { serverClose: 0, clientClose: 5 } })]);
  assert.equal(v.code, 'keepalive-disabled');
  assert.match(v.summary, /client asks to close/);
  assert.equal(
    decideVerdict([observer('server', records(10, 1))], { config: { ...CONFIG, keepAlive: false } }).code,
    'keepalive-disabled',
  );
});

const echoedCloseName =
  'verdict: the client asks to close and the server, as it must, ' +
  'echoes Connection: close: the client is the cause';
test(echoedCloseName, () => {
  const v = decideVerdict([
    observer('wire', records(5, 1, { closedFirstBy: 'server' }), { http: { serverClose: 5, clientClose: 5 } }),
  ]);
  assert.equal(v.code, 'keepalive-disabled');
});

test('verdict: churn seen offline (most connections carried one request)', () => {
  const v = decideVerdict([observer('wire', [...records(30, 1), ...records(10, 2)])]);
  assert.equal(v.code, 'churn');
});

test('verdict: churn in lab runs', () => {
  const pool = decideVerdict([observer('server', records(30, 3))], {
    config: { ...CONFIG, concurrency: 10, maxFreeSockets: 2, requests: 100 },
  });
  assert.equal(pool.code, 'churn');
  assert.match(pool.summary, /idle pool too small/);
  const unread = decideVerdict([observer('server', records(30, 3))], {
    config: { ...CONFIG, concurrency: 10, consumeBody: false },
  });
  assert.equal(unread.code, 'churn');
  assert.match(unread.summary, /body not read/);
});

test('verdict: resets are mentioned', () => {
  const v = decideVerdict([
    observer('wire', records(5, 1, { resetBy: 'server', closedFirstBy: null, timeWait: null })),
  ]);
  assert.equal(v.code, 'one-per-request');
  assert.match(v.summary, /5 connections ended with a reset/);
});

test('verdict: the primary observer is the one that sees the most', () => {
  const wire = observer('wire', records(1, 10));
  const server = observer('server', records(1, 10));
  const kernel = observer('kernel', records(1, 0));
  assert.equal(primaryObserver([kernel, server, wire])?.observer, 'wire');
  assert.equal(primaryObserver([kernel, server, { ...wire, available: false }])?.observer, 'server');
  assert.equal(primaryObserver([kernel])?.observer, 'kernel');
  assert.equal(primaryObserver([{ ...kernel, available: false }]), undefined);
  // The kernel cannot count requests: the client's count is used.
  assert.equal(decideVerdict([kernel], { requests: 10 }).code, 'reuse');
  assert.equal(
    decideVerdict([observer('kernel', records(10, 0))], { requests: 10, config: { ...CONFIG, keepAlive: false } }).code,
    'keepalive-disabled',
  );
  assert.equal(record().requests, 1);
});

test('verdict: counts known to be incomplete are lower bounds, and no cause is read from them', () => {
  const wire = observer('wire', records(11, 1));
  wire.incomplete = { packetsDropped: 192, reason: '192 packets dropped by the kernel before tcpdump read them' };
  // 11 connections, one request each: would read "one connection per request"; 20 were made.
  assert.deepEqual(decideVerdict([observer('kernel', records(20, 0)), wire]), {
    code: 'incomplete',
    summary:
      'counts incomplete: at least 11 connections and 11 requests; ' +
      '192 packets dropped by the kernel before tcpdump read them',
  });
});
