/**
 * The process observer (observe/process.ts, the tracker `register` runs) beside the server's
 * accounting, the kernel's table and the wire: the article's four experiments and the fetch rows,
 * where each must count the same connections, requests and reused requests; and the process's own
 * findings: the unread body's call site (this file), the race's failed requests each on a reused
 * socket with its idle time, the churn's pool size. Counts and events, never wall-clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runExperiment } from '../../src/lab/engine.js';
import { findingScenario } from '../../src/lab/findings-scenarios/index.js';
import { RACE_LATE_REQUESTS } from '../../src/lab/findings-scenarios/race.js';
import { demoScenarios } from '../../src/lab/scenarios.js';
import type { Finding, RunReport } from '../../src/model/report.js';
import { captureSkip } from '../support/capture-env.js';
import { assertNothingLeft } from '../support/leaks.js';
import { observer } from '../support/run-report.js';

const skip = captureSkip();
const scenarios = new Map(demoScenarios().map((s) => [s.name, s]));
/** Not 127.0.0.1: see experiments.test.ts. */
const HOST = '127.0.0.3';

async function experiment(name: string): Promise<RunReport> {
  const s = scenarios.get(name)!;
  const report = await runExperiment({ name: s.name, title: s.title, ...s.config, host: HOST });
  await assertNothingLeft({ host: HOST, port: Number(new URL(report.subject).port) });
  return report;
}

/** Requests per connection, sorted: which request went over a new connection and which reused one. */
function perConnection(run: RunReport, name: 'process' | 'server' | 'wire'): number[] {
  return observer(run, name)
    .connections.map((c) => c.requests)
    .sort((a, b) => a - b);
}

function assertSameAsServerAndWire(run: RunReport, others: readonly ('server' | 'wire')[] = ['server', 'wire']): void {
  const process = observer(run, 'process');
  for (const other of others) {
    const o = observer(run, other);
    assert.equal(process.totals.connections, o.totals.connections, `connections: process vs ${other}`);
    assert.equal(process.totals.requests, o.totals.requests, `requests: process vs ${other}`);
    assert.equal(process.totals.reusedRequests, o.totals.reusedRequests, `reused requests: process vs ${other}`);
    assert.deepEqual(perConnection(run, 'process'), perConnection(run, other), `requests per connection vs ${other}`);
  }
  if (others.length === 2) assert.deepEqual(run.agreement.differences, []);
}

function processFinding(run: RunReport, code: Finding['code']): Finding {
  const f = run.process?.findings?.find((x) => x.code === code);
  assert.ok(f, `process finding ${code} in ${JSON.stringify(run.process?.findings?.map((x) => x.summary))}`);
  return f;
}

for (const name of ['seq-unread', 'seq-read', 'conc-pool-2', 'conc-pool-10', 'fetch-unread-small', 'fetch-unread-16k'])
  test(`${name}: the process counts what the server and the wire count, request by request`, { skip }, async () => {
    const run = await experiment(name);
    assertSameAsServerAndWire(run);
    const process = run.process!;
    assert.equal(process.origins.length, 1);
    assert.equal(process.origins[0]!.requests, observer(run, 'server').totals.requests);
  });

test('seq-unread: the unread body is named by the line of this file that ran the experiment', { skip }, async () => {
  const run = await experiment('seq-unread');
  const f = processFinding(run, 'body-not-read');
  assert.match(String(f.evidence.values.callSite), /process-observer\.test\.js:\d+:\d+$/);
  // Ten requests, none read: each new connection after the first was opened while one sat unread.
  assert.equal(f.evidence.values.extraConnections, observer(run, 'server').totals.connections - 1);
  assert.ok(f.evidence.count >= 9, `unread responses: ${f.evidence.count}`);
});

test('race: each failed request is attributed to a reused socket, with its idle time', { skip }, async () => {
  const run = await findingScenario('race')!.run({ host: HOST });
  const f = processFinding(run, 'keepalive-race');
  assert.equal(f.evidence.count, RACE_LATE_REQUESTS.length);
  assert.equal(f.evidence.count, run.client?.expectedFailures);
  assert.equal(f.evidence.events.length, RACE_LATE_REQUESTS.length);
  // Each on a connection that carried a request before (reused), idle as long as its record says.
  const records = new Map(observer(run, 'process').connections.map((c) => [c.id, c]));
  for (const e of f.evidence.events) {
    const record = records.get(e.connection)!;
    assert.equal(record.requests, 2, `connection ${e.connection}: the opening request, then the lost one`);
    assert.equal(record.unanswered?.length, 1);
    assert.equal(record.idleGapsMs.length, 1);
    const idle = Math.round(record.idleGapsMs[0]!);
    assert.match(e.what, new RegExp(`on a reused socket idle ${idle} ms failed: ECONNRESET$`));
  }
  assert.equal(f.evidence.values.idleMinMs, Math.min(...[...records.values()].flatMap((r) => r.idleGapsMs)));
  assert.deepEqual(
    f.evidence.connections,
    [...records.values()].filter((c) => c.unanswered !== undefined).map((c) => c.id),
  );
  // The lost requests reached sockets the server had closed: it never read them; the wire saw them leave.
  assertSameAsServerAndWire(run, ['wire']);
  assert.equal(observer(run, 'server').totals.requests, observer(run, 'process').totals.requests - f.evidence.count);
});

test('pool-churn: the finding names the Agent pool size (maxFreeSockets 2)', { skip }, async () => {
  const run = await findingScenario('pool-churn')!.run({ host: HOST });
  const f = processFinding(run, 'pool-churn');
  assert.equal(f.evidence.values.maxFreeSockets, 2);
  assert.match(f.summary, /maxFreeSockets 2\)/);
  const closes = observer(run, 'process').connections.filter((c) => c.notes.includes('closed: pool-full')).length;
  assert.equal(f.evidence.count, closes);
  assertSameAsServerAndWire(run);
});
