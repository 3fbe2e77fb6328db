/**
 * report/json-stream.ts: begin(head) + record(r)... + end(rest) is renderJson() of the whole report,
 * byte for byte, whatever the number of records and whatever fields the head or the rest hold.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportHead, runReport } from '../../../src/analyze/run-report.js';
import { computeTotals } from '../../../src/analyze/totals.js';
import type { ConnectionRecord, ObserverReport, Report } from '../../../src/model/report.js';
import { renderJson } from '../../../src/report/json.js';
import { JsonReportStream, restOf, streamedReport } from '../../../src/report/json-stream.js';
import type { StreamHead, StreamRest } from '../../../src/report/json-stream.js';
import { record } from '../analyze/records.js';

function records(n: number): ConnectionRecord[] {
  return Array.from({ length: n }, (_, i) =>
    record({ id: i + 1, requests: i, statusCodes: Array(i).fill(200), notes: i % 2 ? ['a "quoted"\nnote'] : [] }),
  );
}

function head(): StreamHead {
  return {
    report: reportHead('analyze'),
    run: { name: 'analyze', title: 'x.pcap', subject: '/tmp/x.pcap', config: null, client: null },
    observer: { observer: 'wire', available: true, seesRequests: true },
  };
}

/** The whole run as analyzeCapture returns it: the observer's connections right after its head fields. */
function wholeRun(h: StreamHead, list: ConnectionRecord[]) {
  const observer: ObserverReport = {
    ...h.observer,
    connections: list,
    totals: computeTotals(list, list.length),
    http: { serverClose: 1, clientClose: 0 },
    warnings: [{ code: 'KAL_WARN_TRUNCATED', message: 'the capture ends inside a record' }],
  };
  return runReport(h.run, [observer], {
    capture: {
      format: 'pcap',
      linkTypes: [1],
      bytes: 100,
      frames: 3,
      tcpPackets: 3,
      analyzedPackets: 3,
      nonIp: 0,
      nonTcp: 0,
      fragments: 0,
      truncated: 0,
      malformed: 0,
    },
  });
}

function stream(h: StreamHead, list: ConnectionRecord[], rest: StreamRest): string {
  const writer = new JsonReportStream();
  let text = writer.begin(h);
  for (const r of list) text += writer.record(r);
  return text + writer.end(rest);
}

test('json stream: 0, 1 and many records give renderJson() of the whole report, byte for byte', () => {
  for (const n of [0, 1, 2, 37]) {
    const h = head();
    const list = records(n);
    const run = wholeRun(h, list);
    const whole: Report = { ...h.report, runs: [run] };
    const text = stream(h, list, restOf(h, run));
    assert.equal(text, renderJson(whole), `${n} records`);
    assert.deepEqual(JSON.parse(text), JSON.parse(renderJson(whole)));
  }
});

const omittedName =
  'json stream: a run kept only its first records (connectionsOmitted): ' + 'the stream lists them all, without it';
test(omittedName, () => {
  const h = head();
  const list = records(5);
  const run = wholeRun(h, list);
  const kept = { ...run, observers: [{ ...run.observers[0]!, connections: list.slice(0, 1), connectionsOmitted: 4 }] };
  const text = stream(h, list, restOf(h, kept));
  assert.equal(text, renderJson({ ...h.report, runs: [run] }));
});

test('json stream: fields added to the head (or the rest) need no change in the writer', () => {
  const h = head();
  const extra = {
    report: { ...h.report, origin: { host: 'box', tags: ['a', 'b'] } },
    run: { ...h.run, source: 'tcpdump -i lo', empty: {}, nothing: undefined },
    observer: { ...h.observer, reason: 'never' },
  } as unknown as StreamHead;
  for (const n of [0, 1, 3]) {
    const list = records(n);
    const rest = restOf(extra, wholeRun(h, list));
    const more = { ...rest, run: { ...rest.run, late: [1, [2, { three: 3 }]] } } as StreamRest;
    const text = stream(extra, list, more);
    const whole = streamedReport(extra, list, more);
    assert.equal(text, JSON.stringify(whole, null, 2) + '\n', `${n} records`);
    const parsed = JSON.parse(text) as Record<string, unknown> & Report;
    assert.deepEqual(Object.keys(parsed), ['schema', 'tool', 'command', 'createdAt', 'origin', 'runs']);
    assert.deepEqual(Object.keys(parsed.runs[0]!).slice(0, 8), [
      'name',
      'title',
      'subject',
      'config',
      'client',
      'source',
      'empty',
      'observers',
    ]);
    assert.equal(parsed.runs[0]!.observers[0]!.connections.length, n);
  }
});

test('json stream: the head is exactly what the finished report has before its records', () => {
  const h = head();
  const list = records(3);
  const run = wholeRun(h, list);
  const rest = restOf(h, run);
  assert.deepEqual(Object.keys(rest.observer), ['totals', 'http', 'warnings']);
  // The findings too: computed over every record, written once the capture has been read.
  assert.deepEqual(Object.keys(rest.run), ['agreement', 'verdict', 'findings', 'warnings', 'capture']);
  assert.equal(JSON.stringify(streamedReport(h, list, rest)), JSON.stringify({ ...h.report, runs: [run] }));
});

test('json stream: calls out of order are a bug, said at once', () => {
  const writer = new JsonReportStream();
  assert.throws(() => writer.record(records(1)[0]!), /out of order/);
  writer.begin(head());
  assert.throws(() => writer.begin(head()), /out of order/);
  const rest = restOf(head(), wholeRun(head(), []));
  writer.end(rest);
  assert.throws(() => writer.end(rest), /out of order/);
});
