/**
 * The process view watch builds from its command's register reports (one per Node process): only the
 * watched port's connections, renumbered in order of start, totals counted from them; a process that
 * kept only its last records makes the counts lower bounds; no report, unavailable. The run's `process`
 * summary: the watched port's origins summed over the processes, their recent requests and findings
 * with the same renumbered connection ids.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newConnectionRecord } from '../../../src/analyze/record.js';
import { computeTotals } from '../../../src/analyze/totals.js';
import type { ProcessSummary } from '../../../src/model/process.js';
import type { ConnectionRecord, Finding, ObserverReport } from '../../../src/model/report.js';
import { mergeProcessViews } from '../../../src/observe/process-views.js';
import type { ProcessReportView } from '../../../src/observe/process-views.js';
import { processOrigin } from '../../support/process-view.js';

const CAP = 100_000;

function record(id: number, clientPort: number, serverPort: number, start: number, requests: number): ConnectionRecord {
  const r = newConnectionRecord(
    id,
    { address: '127.0.0.1', port: clientPort },
    { address: '127.0.0.1', port: serverPort },
    start,
  );
  r.requests = requests;
  r.responses = requests;
  return r;
}

function view(
  pid: string,
  connections: ConnectionRecord[],
  extra: Partial<ObserverReport> = {},
  summary?: { process: ProcessSummary; findings: Finding[] },
): ProcessReportView {
  const observer: ObserverReport = {
    observer: 'process',
    available: true,
    seesRequests: true,
    totals: computeTotals(connections, null),
    connections,
    warnings: [],
    ...extra,
  };
  return { pid, observer, ...summary };
}

test('process views: the watched port only, from every process, renumbered by start', () => {
  const { observer: merged } = mergeProcessViews(
    [
      view('100', [record(1, 5001, 8080, 10, 3), record(2, 5002, 443, 11, 1), record(3, 5005, 8080, 30, 1)]),
      view('101', [record(1, 5003, 8080, 20, 2)]),
    ],
    8080,
    CAP,
  );
  assert.equal(merged.available, true);
  assert.deepEqual(
    merged.connections.map((c) => [c.id, c.client.port, c.requests]),
    [
      [1, 5001, 3],
      [2, 5003, 2],
      [3, 5005, 1],
    ],
  );
  assert.equal(merged.totals.connections, 3);
  assert.equal(merged.totals.requests, 6);
  assert.equal(merged.incomplete, undefined);
});

test('process views: records left out make the counts lower bounds; a runtime without channels is unavailable', () => {
  const omitted = mergeProcessViews([view('7', [record(1, 5001, 8080, 1, 1)], { connectionsOmitted: 12 })], 8080, CAP);
  assert.match(omitted.observer.incomplete?.reason ?? '', /last 100000 connections .* 7 \(12\)/);
  const old = mergeProcessViews(
    [view('8', [], { available: false, reason: 'this Node.js (16.0.0) lacks the channels x' })],
    8080,
    CAP,
  );
  assert.equal(old.observer.available, false);
  assert.match(old.observer.reason ?? '', /16\.0\.0/);
  assert.equal(old.process, null, 'no summary in those reports');
});

test('process views: none at all (not Node.js), unavailable with the reason and the fix', () => {
  const none = mergeProcessViews([], 8080, CAP);
  assert.equal(none.observer.available, false);
  assert.match(none.observer.reason ?? '', /no Node\.js process/);
  assert.match(none.observer.fix ?? '', /--no-register/);
  assert.equal(none.observer.totals.connections, 0);
  assert.equal(none.process, null);
});

function unread(port: number, connections: number[]): Finding {
  return {
    code: 'body-not-read',
    severity: 'warning',
    summary: `body not read (port ${port})`,
    reasoning: [],
    evidence: {
      server: { address: '127.0.0.1', port },
      count: connections.length,
      connections,
      events: connections.map((connection) => ({ connection, at: 1, what: 'request made at /app.js:3:1' })),
      values: { callSite: '/app.js:3:1' },
    },
    fixes: {},
  };
}

test('process views: the summary sums the watched origin over the processes; ids follow the records', () => {
  const watched = 'http://127.0.0.1:8080';
  const other = 'http://127.0.0.1:443';
  const request = (origin: string, at: number, connection: number) => ({
    at,
    origin,
    method: 'GET',
    connection,
    reused: false,
    idleMs: null,
    status: 200,
    ttfbMs: 1,
    error: null,
  });
  const a = view(
    '100',
    [record(1, 5001, 8080, 10, 3), record(2, 5002, 443, 11, 1), record(3, 5005, 8080, 30, 1)],
    {},
    {
      process: {
        node: '20.19.0',
        missingChannels: [],
        origins: [
          processOrigin(watched, {
            requests: 4,
            reusedRequests: 2,
            responses: 4,
            connectionsOpened: 2,
            connectionsClosed: 2,
            closeReasons: { 'server-closed': 2 },
            errors: { ECONNRESET: 1 },
            ttfbMs: { mean: 2, max: 3 },
            keepAliveHintS: 5,
          }),
          processOrigin(other, { requests: 1 }),
        ],
        recentRequests: [request(watched, 10, 1), request(other, 11, 2), request(watched, 30, 3)],
      },
      findings: [unread(8080, [3]), unread(443, [2])],
    },
  );
  const b = view(
    '101',
    [record(1, 5003, 8080, 20, 2)],
    {},
    {
      process: {
        node: '20.19.0',
        missingChannels: [],
        origins: [
          processOrigin(watched, {
            clients: ['undici'],
            requests: 2,
            reusedRequests: 1,
            responses: 2,
            connectionsOpened: 1,
            connectionsClosed: 1,
            closeReasons: { 'server-closed': 1, 'pool-full': 1 },
            ttfbMs: { mean: 5, max: 9 },
          }),
        ],
        recentRequests: [request(watched, 20, 1)],
      },
      findings: [unread(8080, [1])],
    },
  );
  const { process } = mergeProcessViews([a, b], 8080, CAP);
  assert.ok(process);
  assert.deepEqual(process.pids, [100, 101]);
  assert.equal(process.node, '20.19.0');
  assert.deepEqual(process.origins, [
    processOrigin(watched, {
      clients: ['node:http', 'undici'],
      requests: 6,
      reusedRequests: 3,
      reuseShare: 0.5,
      responses: 6,
      connectionsOpened: 3,
      connectionsClosed: 3,
      closeReasons: { 'server-closed': 3, 'pool-full': 1 },
      errors: { ECONNRESET: 1 },
      ttfbMs: { mean: 3, max: 9 },
      keepAliveHintS: 5,
    }),
  ]);
  // Merged ids: pid 100's #1 -> 1, pid 101's #1 -> 2, pid 100's #3 -> 3.
  assert.deepEqual(
    process.recentRequests.map((r) => [r.at, r.connection]),
    [
      [10, 1],
      [20, 2],
      [30, 3],
    ],
  );
  assert.deepEqual(
    process.findings.map((f) => [
      f.evidence.server?.port,
      f.evidence.connections,
      f.evidence.events.map((e) => e.connection),
    ]),
    [
      [8080, [3], [3]],
      [8080, [2], [2]],
    ],
  );
});
