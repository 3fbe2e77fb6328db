/**
 * The article's four experiments on real loopback sockets, each counted by three independent
 * observers (server events, the kernel's socket table, packets captured by tcpdump), which must
 * agree. Assertions are on counts, never on time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runExperiment } from '../../src/lab/engine.js';
import { demoScenarios } from '../../src/lab/scenarios.js';
import type { RunReport } from '../../src/model/report.js';
import { assertNothingLeft } from '../support/leaks.js';
import { observer } from '../support/run-report.js';
import { captureSkip } from '../support/capture-env.js';

const skip = captureSkip();
const scenarios = new Map(demoScenarios().map((s) => [s.name, s]));

/**
 * On 127.0.0.2, not 127.0.0.1: tests elsewhere connect to ports they found free a moment before
 * (to see a refusal); when our server drew the same port number, their connections counted as ours.
 */
const HOST = '127.0.0.2';

async function experiment(name: string): Promise<RunReport> {
  const s = scenarios.get(name)!;
  const report = await runExperiment({ name: s.name, title: s.title, ...s.config, host: HOST });
  await assertNothingLeft({ host: HOST, port: Number(new URL(report.subject).port) });
  return report;
}

function assertAgree(report: RunReport): void {
  assert.deepEqual(report.agreement.differences, []);
  assert.equal(report.agreement.agree, true);
}

test('1: sequential, body never read: 10 connections, 10 SYNs, 10 TIME_WAIT on the client', { skip }, async () => {
  const r = await experiment('seq-unread');
  assert.equal(r.client?.completed, 10);
  for (const name of ['server', 'kernel', 'wire'] as const)
    assert.equal(observer(r, name).totals.connections, 10, name);
  const wire = observer(r, 'wire');
  assert.equal(wire.totals.syns, 10);
  assert.equal(wire.totals.requests, 10);
  assert.equal(observer(r, 'kernel').totals.timeWait.client, 10);
  assert.equal(wire.totals.closedFirstBy.client, 10);
  assertAgree(r);
  assert.equal(r.verdict.code, 'one-per-request');
  assert.match(r.verdict.summary, /body never read/);
});

test('2: sequential, body read: 1 connection, 1 SYN, 10 requests on it', { skip }, async () => {
  const r = await experiment('seq-read');
  for (const name of ['server', 'kernel', 'wire'] as const) assert.equal(observer(r, name).totals.connections, 1, name);
  const wire = observer(r, 'wire');
  assert.equal(wire.totals.syns, 1);
  assert.equal(wire.connections[0]!.requests, 10);
  assert.equal(observer(r, 'server').connections[0]!.requests, 10);
  assertAgree(r);
  assert.equal(r.verdict.code, 'reuse');
});

test('3: 10 workers x 10, idle pool 2: more than 10 connections (churn)', { skip }, async () => {
  const r = await experiment('conc-pool-2');
  const server = observer(r, 'server');
  assert.equal(server.totals.requests, 100);
  assert.ok(server.totals.connections > 10, `churn expected, got ${server.totals.connections} connections`);
  assert.equal(observer(r, 'wire').totals.syns, server.totals.connections);
  assert.equal(observer(r, 'kernel').totals.connections, server.totals.connections);
  assertAgree(r);
  assert.equal(r.verdict.code, 'churn');
});

test('4: 10 workers x 10, idle pool 10: exactly 10 connections', { skip }, async () => {
  const r = await experiment('conc-pool-10');
  for (const name of ['server', 'kernel', 'wire'] as const)
    assert.equal(observer(r, name).totals.connections, 10, name);
  assert.equal(observer(r, 'wire').totals.syns, 10);
  assert.equal(observer(r, 'wire').totals.requests, 100);
  assertAgree(r);
  assert.equal(r.verdict.code, 'reuse');
});

test(
  'keep-alive off and server Connection: close: one connection per request, closed by the server',
  { skip },
  async () => {
    for (const name of ['no-keepalive', 'server-close']) {
      const r = await experiment(name);
      const wire = observer(r, 'wire');
      assert.equal(wire.totals.connections, 10, name);
      assert.equal(wire.totals.closedFirstBy.server, 10, name);
      assert.equal(observer(r, 'kernel').totals.timeWait.server, 10, name);
      assertAgree(r);
    }
  },
);

test('fetch with a 16 KB body never read: one connection per request', { skip }, async () => {
  const r = await experiment('fetch-unread-16k');
  assert.equal(observer(r, 'server').totals.connections, 10);
  assertAgree(r);
});

test('without tcpdump the wire observer says why, and the others still count', async () => {
  const s = scenarios.get('seq-read')!;
  const r = await runExperiment({ name: s.name, title: s.title, ...s.config, tcpdump: '/nonexistent/tcpdump' });
  const wire = r.observers.find((o) => o.observer === 'wire')!;
  assert.equal(wire.available, false);
  // The path given does not exist: that is what it says (not "tcpdump is not installed").
  assert.equal(wire.reason, '/nonexistent/tcpdump does not exist');
  assert.match(wire.fix!, /apt-get install tcpdump/);
  assert.equal(r.observers.find((o) => o.observer === 'server')!.totals.connections, 1);
  assert.equal(r.observers.find((o) => o.observer === 'kernel')!.totals.connections, 1);
  assert.equal(r.agreement.agree, true);
  await assertNothingLeft({ host: '127.0.0.1', port: Number(new URL(r.subject).port) });
});

test('IPv6 loopback: the lab server on ::1, observers agree', { skip }, async () => {
  const s = scenarios.get('seq-unread')!;
  const r = await runExperiment({ name: s.name, title: s.title, ...s.config, requests: 3, host: '::1' });
  for (const name of ['server', 'kernel', 'wire'] as const) assert.equal(observer(r, name).totals.connections, 3, name);
  assert.equal(observer(r, 'wire').connections[0]!.client.address, '::1');
  assertAgree(r);
});

test('--target: an external server, seen by the kernel and the wire (no server accounting)', { skip }, async (t) => {
  const { startLabServer } = await import('../../src/lab/server.js');
  const target = await startLabServer({ bodySize: 100 });
  t.after(() => target.close());
  const s = scenarios.get('seq-unread')!;
  const r = await runExperiment({
    name: 'target',
    title: 'target',
    ...s.config,
    requests: 4,
    target: `${target.url}path`,
  });
  assert.equal(
    r.observers.some((o) => o.observer === 'server'),
    false,
  );
  assert.equal(observer(r, 'kernel').totals.connections, 4);
  assert.equal(observer(r, 'wire').totals.connections, 4);
  assert.equal(observer(r, 'wire').totals.requests, 4);
  assertAgree(r);
});

test(
  'a large body never read: the client resets each connection (RST, no TIME_WAIT) and all three observers count it',
  { skip },
  async () => {
    const s = scenarios.get('seq-unread')!;
    const r = await runExperiment({ name: 'rst', title: 'rst', ...s.config, requests: 5, bodySize: 1024 * 1024 });
    for (const name of ['server', 'kernel', 'wire'] as const)
      assert.equal(observer(r, name).totals.connections, 5, name);
    const wire = observer(r, 'wire');
    assert.equal(wire.totals.resets, 5);
    assert.ok(wire.connections.every((c) => c.resetBy === 'client' && c.timeWait === null));
    assert.equal(observer(r, 'server').totals.resets, 5);
    assert.equal(observer(r, 'kernel').totals.timeWait.client + observer(r, 'kernel').totals.timeWait.server, 0);
    assertAgree(r);
    assert.match(r.verdict.summary, /RST instead of FIN/);
  },
);
