/**
 * CaptureAnalysis handing records over as connections end (onConnection) and keeping only the
 * first ones (keepConnections) gives the same records, in the same order, and the same totals as
 * keeping them all: on the benchmark's synthetic captures (bench/synthetic-capture.ts, small) and
 * on captures built in code. IdOrder puts records back in id order, within its window.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { writeChurnCapture, writeKeepAliveCapture } from '../../support/synthetic.js';
import { CaptureAnalysis } from '../../../src/analyze/capture-analysis.js';
import type { CaptureAnalysisOptions, CaptureAnalysisResult } from '../../../src/analyze/capture-analysis.js';
import { IdOrder } from '../../../src/analyze/id-order.js';
import { computeTotals } from '../../../src/analyze/totals.js';
import type { ConnectionRecord } from '../../../src/model/report.js';
import { buildPcap } from '../../support/capture-builder.js';
import type { TcpPacketSpec } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';
import { record } from './records.js';

const dir = await mkdtemp(join(tmpdir(), 'kal-capture-stream-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function analyze(bytes: Uint8Array, options: CaptureAnalysisOptions = {}, chunk = 65536 + 7): CaptureAnalysisResult {
  const a = new CaptureAnalysis(options);
  for (let at = 0; at < bytes.length; at += chunk) a.push(bytes.subarray(at, at + chunk));
  a.end();
  return a.result();
}

/** Kept, streamed and cut to the first `cut`: the three must tell the same. */
function compare(bytes: Uint8Array, cut = 5): { all: ConnectionRecord[]; result: CaptureAnalysisResult } {
  const kept = analyze(bytes);
  const streamed: ConnectionRecord[] = [];
  const s = analyze(bytes, { keepConnections: 0, onConnection: (r) => streamed.push(r) }, 1 << 20);
  const first = analyze(bytes, { keepConnections: cut }, 4096 + 3);
  const all = kept.report.connections;
  assert.equal(kept.report.connectionsOmitted, undefined);
  assert.deepEqual(streamed, all, 'streamed records: the same, in the same order');
  assert.deepEqual(s.report.connections, []);
  assert.equal(s.report.connectionsOmitted, all.length > 0 ? all.length : undefined);
  assert.deepEqual(s.report.totals, kept.report.totals);
  assert.deepEqual(s.report.http, kept.report.http);
  assert.deepEqual(s.report.warnings, kept.report.warnings);
  assert.deepEqual(kept.report.totals, computeTotals(all, kept.report.totals.syns));
  assert.deepEqual(first.report.connections, all.slice(0, cut));
  assert.equal(first.report.connectionsOmitted, all.length > cut ? all.length - cut : undefined);
  assert.deepEqual(first.report.totals, kept.report.totals);
  assert.deepEqual(
    all.map((r) => r.id),
    all.map((_, i) => i + 1),
    'ids 1..n in order',
  );
  return { all, result: kept };
}

test('capture stream: the synthetic churn capture (ab without -k), streamed or kept', () => {
  const path = join(dir, 'churn.pcap');
  const meta = writeChurnCapture({ path, targetBytes: 3_000_000 });
  const { all, result } = compare(readFileSync(path));
  assert.equal(result.report.totals.connections, meta.connections);
  assert.equal(result.report.totals.requests, meta.requests);
  assert.equal(result.report.totals.syns, meta.connections);
  for (const r of all) {
    assert.equal(r.requests, 1);
    assert.equal(r.closedFirstBy, 'server');
    assert.equal(r.timeWait, 'server');
    assert.equal(r.openAtEnd, false);
  }
});

test('capture stream: the synthetic keep-alive capture, streamed or kept', () => {
  const path = join(dir, 'keepalive.pcap');
  const meta = writeKeepAliveCapture({ path, targetBytes: 3_000_000 });
  const { result } = compare(readFileSync(path), 3);
  assert.equal(result.report.totals.connections, meta.connections);
  assert.equal(result.report.totals.requests, meta.requests);
});

test('capture stream: connections built in code (reuse, close, RST, still open, reused port), streamed or kept', () => {
  const packets: TcpPacketSpec[] = [];
  const server = { address: '192.0.2.80', port: 8080 };
  let start = 1_700_000_000_000_000;
  // A long keep-alive connection open across many short ones, some reset, one port reused.
  const long = new Conversation({ address: '192.0.2.10', port: 40000 }, server, { start }).handshake();
  for (let i = 0; i < 30; i++) {
    const port = 41000 + (i % 20);
    const c = new Conversation({ address: '192.0.2.11', port }, server, {
      start: long.time + 10,
      clientIsn: 1000 + i * 100_000,
    }).handshake();
    c.send('client', httpGet(`/${i}`), { ack: true });
    c.send('server', httpResponse(200, 'x'.repeat(i)), { ack: true });
    if (i % 7 === 3) c.rst('client');
    else c.close(i % 2 === 0 ? 'server' : 'client');
    long.send('client', httpGet(`/long/${i}`), { ack: true, ts: c.time + 10 });
    long.send('server', httpResponse(200, 'y'), { ack: true });
    packets.push(...c.packets);
    start = long.time;
  }
  const open = new Conversation({ address: '192.0.2.12', port: 42000 }, server, { start: long.time + 10 }).handshake();
  open.send('client', httpGet('/open'));
  packets.push(...long.packets, ...open.packets);
  packets.sort((a, b) => a.ts! - b.ts!);
  const { all, result } = compare(buildPcap({ packets }), 4);
  assert.equal(all.length, 32);
  assert.equal(all[0]!.requests, 30);
  assert.equal(all[0]!.openAtEnd, true);
  assert.equal(all[31]!.openAtEnd, true);
  assert.deepEqual(result.report.totals.resetsBy, { client: 4, server: 0 });
});

test('id order: records come out in id order whatever order connections end in', () => {
  fc.assert(
    fc.property(
      fc.array(fc.nat(), { minLength: 1, maxLength: 80 }),
      fc.integer({ min: 1, max: 100 }),
      (keys, window) => {
        // Connections 1..n end in the order of `keys`; a record can leave once no smaller id is live.
        const n = keys.length;
        const endOrder = keys.map((k, i) => ({ k, id: i + 1 })).sort((a, b) => a.k - b.k || a.id - b.id);
        const live = new Set(keys.map((_, i) => i + 1));
        const out: number[] = [];
        const order = new IdOrder(
          () => (live.size === 0 ? Infinity : Math.min(...live)),
          (r) => out.push(r.id),
          window,
        );
        for (const { id } of endOrder) {
          live.delete(id);
          order.add(record({ id }));
          assert.ok(order.waiting <= window);
        }
        order.flush();
        assert.equal(out.length, n);
        assert.deepEqual(
          [...out].sort((a, b) => a - b),
          Array.from({ length: n }, (_, i) => i + 1),
          'each id once',
        );
        if (window >= n)
          assert.deepEqual(
            out,
            Array.from({ length: n }, (_, i) => i + 1),
            'in id order',
          );
      },
    ),
    { numRuns: 300 },
  );
});

test('id order: a connection open for long holds at most `window` records back', () => {
  const live = new Set([1]);
  const out: number[] = [];
  const order = new IdOrder(
    () => (live.size === 0 ? Infinity : Math.min(...live)),
    (r) => out.push(r.id),
    10,
  );
  for (let id = 2; id <= 30; id++) order.add(record({ id }));
  assert.equal(order.waiting, 10);
  assert.deepEqual(
    out,
    Array.from({ length: 19 }, (_, i) => i + 2),
    'the oldest waiting go first, in order',
  );
  live.delete(1);
  order.add(record({ id: 1 }));
  assert.equal(order.waiting, 0);
  assert.deepEqual(out.slice(19), [1, ...Array.from({ length: 10 }, (_, i) => i + 21)]);
});
