import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BENCH_SCHEMA } from '../../../src/model/bench.js';
import type { BenchReport, BenchRun } from '../../../src/model/bench.js';
import { formatLatency, renderBench, renderBenchProgress } from '../../../src/report/bench.js';
import { ratios } from '../../../src/lab/bench.js';

function run(over: Partial<BenchRun>): BenchRun {
  return {
    mode: 'keep-alive',
    connections: 10,
    durationMs: 5000,
    requests: 100_000,
    requestsPerSecond: 20_000,
    non2xx: 0,
    errors: 0,
    errorCodes: {},
    connectionsOpened: 10,
    latencyMs: { p50: 0.412, p90: 0.9, p99: 2.31, max: 15.2, mean: 0.5 },
    timeWait: { client: 10, server: 0 },
    ...over,
  };
}

test('renderBench: one row per load, TIME_WAIT by side, errors by code, the ratio', () => {
  const runs = [
    run({}),
    run({
      mode: 'new-connection',
      requests: 25_000,
      requestsPerSecond: 5000,
      connectionsOpened: 25_000,
      latencyMs: { p50: 1.648, p90: 3, p99: 9.24, max: 120.4, mean: 2 },
      timeWait: { client: 0, server: 24_998 },
      errors: 2,
      errorCodes: { ECONNRESET: 2 },
    }),
  ];
  const report: BenchReport = {
    schema: BENCH_SCHEMA,
    target: 'http://127.0.0.1:8080/',
    labServer: false,
    durationMs: 5000,
    connections: 10,
    runs,
    ratio: ratios(runs[0]!, runs[1]!),
    warnings: [],
  };
  assert.equal(
    renderBench(report),
    `bench http://127.0.0.1:8080/
10 connections, 5 s per load, keep-alive first

mode             req/s  p50 ms  p90 ms  p99 ms  max ms  connections  TIME_WAIT left  errors
keep-alive      20,000   0.412   0.900    2.31    15.2           10       10 client       0
new connection   5,000    1.65    3.00    9.24     120       25,000   24,998 server       2

keep-alive / new connection: 4.00x the requests/s, 0.25x the p50 latency, 0.25x the p99
new connection errors: ECONNRESET 2
`,
  );
});

test('formatLatency: three significant digits, whole ms from 100', () => {
  assert.deepEqual([0.0812, 0.767, 7.587, 22.015, 182.4, null].map(formatLatency), [
    '0.0812',
    '0.767',
    '7.59',
    '22.0',
    '182',
    '-',
  ]);
});

test('renderBenchProgress: where the load is', () => {
  assert.equal(
    renderBenchProgress({ mode: 'new-connection', elapsedMs: 2000, durationMs: 5000, requests: 12345, errors: 1 }),
    'new connection 2 s of 5 s: 12,345 requests, 1 error',
  );
});
