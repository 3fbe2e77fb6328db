/**
 * Fuzzing the whole analyze pipeline with fast-check: valid captures built in code (several formats,
 * byte orders and link types) are mutated (bytes changed, inserted, deleted; truncated; record
 * lengths and link types made absurd) and pushed in random chunks through CaptureAnalysis and
 * analyzeCapture, then rendered. The analysis must end every time with either a result whose
 * numbers hold together or a KeepaliveLabError with a stable code; nothing else may be thrown, and
 * the tracker's buffered out-of-order bytes stay under their limit.
 *
 * The run counts are fixed (RUNS per property) and reported with t.diagnostic; the last test prints
 * the total, at least MIN_CASES every run (issue 8: a fuzz run in the suite that prints its count).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { CaptureAnalysis } from '../../../src/analyze/capture-analysis.js';
import type { CaptureAnalysisResult } from '../../../src/analyze/capture-analysis.js';
import { detectFindings } from '../../../src/analyze/findings/index.js';
import { buildReport } from '../../../src/analyze/run-report.js';
import { computeTotals } from '../../../src/analyze/totals.js';
import { ConnectionTracker } from '../../../src/analyze/tracker.js';
import { KeepaliveLabError } from '../../../src/errors.js';
import type { TcpPacket } from '../../../src/model/packet.js';
import type { ObserverReport } from '../../../src/model/report.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import { renderJson } from '../../../src/report/json.js';
import { renderTerminal } from '../../../src/report/terminal.js';
import type { ByteOrder } from '../../support/buffer-list.js';
import { LT, buildPcap, buildPcapng } from '../../support/capture-builder.js';
import type { TcpPacketSpec } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';
import { withoutTshark } from '../../support/tshark-check.js';

/** Runs per property: fixed, so the closing note can quote them. */
const RUNS = 2000;
/** Cases every run of this file tries at least, in all. */
const MIN_CASES = 1000;
/** Cases tried so far, over the properties of this file. */
let cases = 0;
/** A fixed seed: a failure is reproducible as is (fast-check prints the path to shrink from). */
const SEED = 20240901;
/** Codes a capture may legitimately fail with. */
const CAPTURE_ERRORS = new Set(['KAL_ERR_NOT_A_CAPTURE', 'KAL_ERR_UNSUPPORTED_LINK_TYPE', 'KAL_ERR_MALFORMED_CAPTURE']);
/** Left out of the comparison with tshark (test/support/tshark-check.ts): random bytes mean nothing to agree on. */
const FUZZED = 'fuzzed: random frames';
/** Small, so the fuzzed captures actually reach it. */
const MAX_TOTAL_BUFFERED = 4096;

// ------------------------------------------------------------------------------------------------
// Seed captures

function traffic(): TcpPacketSpec[] {
  const out: TcpPacketSpec[] = [];
  const keep = new Conversation({ address: '10.0.0.1', port: 50000 }, { address: '10.0.0.2', port: 80 }).handshake();
  keep.send('client', httpGet('/a'), { ack: true });
  keep.send('server', httpResponse(200, 300), { ack: true });
  keep.send('client', httpGet('/b') + httpGet('/c'), { ack: true });
  keep.send(
    'server',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' + httpResponse(404, 'no'),
  );
  keep.close('client');
  out.push(...keep.packets);
  const v6 = new Conversation(
    { address: '2001:db8::1', port: 40000 },
    { address: '2001:db8::2', port: 8080 },
    { clientIsn: 2 ** 32 - 30 },
  ).handshake();
  v6.send('client', httpGet('/v6', { Connection: 'close' }));
  v6.send('server', httpResponse(200, 'six', { Connection: 'close' }));
  v6.close('server');
  out.push(...v6.packets);
  const reset = new Conversation({ address: '10.0.0.3', port: 50001 }, { address: '10.0.0.2', port: 80 }).handshake();
  reset.send('client', 'POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody');
  reset.rst('server');
  out.push(...reset.packets);
  return out;
}

interface Seed {
  name: string;
  bytes: Uint8Array;
  order: ByteOrder;
  /** Offsets of 32-bit record/block length fields. */
  lengths: number[];
  /** Offsets of link-type fields, with their width. */
  linkTypes: { at: number; width: 2 | 4 }[];
}

function pcapSeed(name: string, linkType: number, order: ByteOrder, nanos: boolean, packets: TcpPacketSpec[]): Seed {
  const bytes = buildPcap({ linkType, byteOrder: order, nanos, packets });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengths: number[] = [];
  for (let at = 24; at + 16 <= bytes.length; at += 16 + view.getUint32(at + 8, order === 'le'))
    lengths.push(at + 8, at + 12);
  return { name, bytes, order, lengths, linkTypes: [{ at: 20, width: 4 }] };
}

function pcapngSeed(name: string, linkTypes: number[], order: ByteOrder, packets: TcpPacketSpec[]): Seed {
  const bytes = buildPcapng({
    byteOrder: order,
    interfaces: linkTypes.map((linkType) => ({ linkType, tsresol: 9 })),
    blocks: [
      ...packets.map((p, i) => ({ ...p, interfaceId: i % linkTypes.length })),
      { kind: 'spb' as const, ...packets[0]! },
    ],
  });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengths: number[] = [];
  const lt: Seed['linkTypes'] = [];
  for (let at = 0; at + 12 <= bytes.length;) {
    const type = view.getUint32(at, order === 'le');
    const length = view.getUint32(at + 4, order === 'le');
    lengths.push(at + 4, at + length - 4);
    if (type === 6) lengths.push(at + 20, at + 24); // EPB captured and original lengths
    if (type === 1) lt.push({ at: at + 8, width: 2 });
    at += length;
  }
  return { name, bytes, order, lengths, linkTypes: lt };
}

const PACKETS = traffic();
const SEEDS: Seed[] = [
  pcapSeed('pcap ethernet le', LT.ETHERNET, 'le', false, PACKETS),
  pcapSeed('pcap sll2 be ns', LT.LINUX_SLL2, 'be', true, PACKETS),
  pcapSeed('pcap null le', LT.NULL, 'le', false, PACKETS),
  pcapSeed('pcap raw be', LT.RAW, 'be', false, PACKETS),
  pcapngSeed('pcapng ethernet+sll le', [LT.ETHERNET, LT.LINUX_SLL], 'le', PACKETS),
  pcapngSeed('pcapng loop be', [LT.LOOP], 'be', PACKETS),
];

// ------------------------------------------------------------------------------------------------
// Mutations

type Mutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'length'; which: number; value: number }
  | { kind: 'linkType'; which: number; value: number };

const absurd = fc.oneof(
  fc.constantFrom(
    0,
    1,
    11,
    12,
    15,
    16,
    17,
    27,
    28,
    0xffff,
    0x10000,
    0x7fffffff,
    0x80000000,
    0xfffffff0,
    0xffffffff,
    64 * 1024 * 1024 + 4,
  ),
  fc.nat({ max: 0xffffffff }),
);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(),
      count: fc.integer({ min: 1, max: 40 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('length' as const), which: fc.nat(), value: absurd }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('linkType' as const),
      which: fc.nat(),
      value: fc.oneof(fc.constantFrom(0, 1, 12, 14, 101, 108, 113, 147, 228, 229, 276), fc.nat({ max: 0xffffffff })),
    }),
  },
);

function mutate(seed: Seed, mutations: readonly Mutation[]): Uint8Array {
  let b = seed.bytes.slice();
  const le = seed.order === 'le';
  for (const m of mutations) {
    if (b.length === 0) break;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (m.kind) {
      case 'set':
        b[m.at % b.length] = m.value;
        break;
      case 'truncate':
        b = b.slice(0, m.at % (b.length + 1));
        break;
      case 'insert': {
        const at = m.at % (b.length + 1);
        const out = new Uint8Array(b.length + m.bytes.length);
        out.set(b.subarray(0, at));
        out.set(m.bytes, at);
        out.set(b.subarray(at), at + m.bytes.length);
        b = out;
        break;
      }
      case 'delete': {
        const at = m.at % b.length;
        const out = new Uint8Array(b.length - Math.min(m.count, b.length - at));
        out.set(b.subarray(0, at));
        out.set(b.subarray(at + m.count), at);
        b = out;
        break;
      }
      case 'length': {
        const at = seed.lengths[m.which % seed.lengths.length]!;
        if (at + 4 <= b.length) view.setUint32(at, m.value >>> 0, le);
        break;
      }
      case 'linkType': {
        const field = seed.linkTypes[m.which % seed.linkTypes.length]!;
        if (field.at + field.width <= b.length) {
          if (field.width === 4) view.setUint32(field.at, m.value >>> 0, le);
          else view.setUint16(field.at, m.value & 0xffff, le);
        }
        break;
      }
    }
  }
  return b;
}

/** Cut points (any values: taken modulo the length) -> chunks covering `bytes` in order. */
function chunks(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

const inputArb = fc.record({
  seed: fc.constantFrom(...SEEDS),
  mutations: fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
});

// ------------------------------------------------------------------------------------------------
// Checks

type Outcome = { ok: true; result: CaptureAnalysisResult; peakBuffered: number } | { ok: false; code: string };

/** Pushes the chunks through a CaptureAnalysis; an error other than a KeepaliveLabError is rethrown. */
function run(parts: readonly Uint8Array[], copyThrough?: Uint8Array): Outcome {
  const analysis = new CaptureAnalysis({
    maxTotalBufferedBytes: MAX_TOTAL_BUFFERED,
    maxBufferedBytes: MAX_TOTAL_BUFFERED,
  });
  let peakBuffered = 0;
  try {
    for (const part of parts) {
      if (copyThrough === undefined) {
        analysis.push(part);
      } else {
        // One buffer reused for every chunk and scribbled over afterwards: nothing may be kept by reference.
        const view = copyThrough.subarray(0, part.length);
        view.set(part);
        analysis.push(view);
        view.fill(0xa5);
      }
      peakBuffered = Math.max(peakBuffered, analysis.tracker.bufferedBytes);
    }
    analysis.end();
    return { ok: true, result: analysis.result(), peakBuffered };
  } catch (error) {
    if (error instanceof KeepaliveLabError) return { ok: false, code: error.code };
    throw error;
  }
}

/** The numbers of a report must hold together whatever the input was. */
function checkReport(report: ObserverReport): void {
  const t = report.totals;
  assert.equal(t.connections, report.connections.length);
  assert.equal(
    t.requests,
    report.connections.reduce((n, c) => n + c.requests, 0),
  );
  assert.ok(t.syns === null || t.syns >= 0);
  report.connections.forEach((c, i) => {
    assert.equal(c.id, i + 1);
    assert.ok(c.requests >= 0 && c.responses >= 0 && c.bytesFromClient >= 0 && c.bytesFromServer >= 0);
    assert.equal(c.statusCodes.length, c.responses);
    for (const gap of c.idleGapsMs) assert.ok(Number.isFinite(gap) && gap >= 0, `idle gap ${gap}`);
    assert.ok(c.handshakeRttMs === null || (Number.isFinite(c.handshakeRttMs) && c.handshakeRttMs >= 0));
    if (c.timeWait !== null) {
      assert.equal(c.timeWait, c.closedFirstBy);
      assert.equal(c.resetBy, null);
    }
    // Ended by a FIN or a RST, or open at the end, or given up in its handshake (tcp/table.ts), saying so.
    if (!c.openAtEnd && c.resetBy === null && c.closedFirstBy === null)
      assert.ok(
        c.notes.some((n) => /^handshake .*(expired|given up early)/.test(n)),
        c.notes.join('; '),
      );
  });
}

function checkOutcome(outcome: Outcome): void {
  if (!outcome.ok) {
    assert.ok(CAPTURE_ERRORS.has(outcome.code), `unexpected error code ${outcome.code}`);
    return;
  }
  const { result, peakBuffered } = outcome;
  assert.ok(peakBuffered <= MAX_TOTAL_BUFFERED, `buffered ${peakBuffered} bytes`);
  const s = result.summary;
  assert.ok(s.frames >= s.tcpPackets && s.tcpPackets >= s.analyzedPackets && s.analyzedPackets >= 0);
  checkReport(result.report);
  // The renderers take anything the analysis produces.
  const report = buildReport('analyze', [
    {
      name: 'analyze',
      title: 'fuzz',
      subject: 'fuzz',
      config: null,
      client: null,
      observers: [result.report],
      agreement: { agree: true, differences: [] },
      verdict: { code: 'reuse', summary: '' },
      // The findings take anything the analysis produces too.
      findings: detectFindings(result.report.connections),
      warnings: [],
      capture: s,
    },
  ]);
  assert.ok(renderTerminal(report, { connections: true, totals: true, limit: 0 }).length > 0);
  JSON.parse(renderJson(report));
}

/** Comparable form of an outcome (the report holds no functions or cycles). */
function comparable(o: Outcome): unknown {
  return o.ok ? { report: o.result.report, summary: o.result.summary } : o;
}

// ------------------------------------------------------------------------------------------------
// Properties

test(`fuzz: mutated captures in random chunks through CaptureAnalysis (${RUNS} runs)`, { timeout: 60_000 }, (t) => {
  let runs = 0;
  const outcomes = new Map<string, number>();
  fc.assert(
    fc.property(inputArb, ({ seed, mutations, cuts }) => {
      runs++;
      const bytes = mutate(seed, mutations);
      const whole = run([bytes]);
      const pieces = run(chunks(bytes, cuts));
      const key = whole.ok ? 'result' : whole.code;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      checkOutcome(whole);
      checkOutcome(pieces);
      // Streaming: the chunking changes nothing.
      assert.deepEqual(comparable(pieces), comparable(whole));
    }),
    { numRuns: RUNS, seed: SEED },
  );
  t.diagnostic(`${runs} runs: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  assert.equal(runs, RUNS);
  cases += runs;
  assert.ok((outcomes.get('result') ?? 0) > RUNS / 4, 'most mutated captures still give a result');
});

// Valid records holding random frames: each starts with some of a real frame's headers (so every
// layer decoder sees its own fields cut or scrambled) and goes on with random bytes.
const FRAMES = [LT.ETHERNET, LT.LINUX_SLL2, LT.NULL, LT.RAW].map((linkType) => ({
  linkType,
  frame: buildPcap({ linkType, packets: [PACKETS[3]!] }).subarray(24 + 16),
}));
const frameArb = fc.record({
  base: fc.constantFrom(...FRAMES),
  keep: fc.nat({ max: 80 }),
  tail: fc.uint8Array({ maxLength: 60 }),
  originalExtra: fc.nat({ max: 2000 }),
});

test(`fuzz: random frames in valid records, any link type (${RUNS} runs)`, { timeout: 60_000 }, (t) => {
  let runs = 0;
  let frames = 0;
  let tcp = 0;
  withoutTshark(FUZZED, () =>
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.oneof(fc.constantFrom(...FRAMES.map((f) => f.linkType)), fc.nat({ max: 0xffff })),
        fc.array(frameArb, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (pcapng, linkType, specs, cuts) => {
          runs++;
          const packets = specs.map((f) => {
            const head = f.base.frame.subarray(0, f.keep);
            const frame = new Uint8Array(head.length + f.tail.length);
            frame.set(head);
            frame.set(f.tail, head.length);
            return { frame, originalLength: frame.length + f.originalExtra };
          });
          const bytes = pcapng
            ? buildPcapng({ interfaces: [{ linkType }], blocks: packets })
            : buildPcap({ linkType, packets });
          const outcome = run(chunks(bytes, cuts));
          checkOutcome(outcome);
          if (outcome.ok) {
            frames += outcome.result.summary.frames;
            tcp += outcome.result.summary.tcpPackets;
            assert.equal(outcome.result.summary.frames, packets.length);
          }
        },
      ),
      { numRuns: RUNS, seed: SEED },
    ),
  );
  t.diagnostic(`${runs} runs, ${frames} frames, ${tcp} of them decoded as TCP`);
  assert.equal(runs, RUNS);
  cases += runs;
  assert.ok(tcp > 0);
});

test(`fuzz: the chunks' buffer may be reused after each push (${RUNS} runs)`, { timeout: 60_000 }, (t) => {
  let runs = 0;
  const scratch = new Uint8Array(64 * 1024);
  fc.assert(
    fc.property(inputArb, ({ seed, mutations, cuts }) => {
      runs++;
      const bytes = mutate(seed, mutations.slice(0, 1));
      const parts = chunks(bytes, cuts);
      const fresh = run(parts);
      checkOutcome(fresh);
      assert.deepEqual(comparable(run(parts, scratch)), comparable(fresh));
    }),
    { numRuns: RUNS, seed: SEED },
  );
  t.diagnostic(`${runs} runs`);
  assert.equal(runs, RUNS);
  cases += runs;
});

test(`fuzz: analyzeCapture on mutated captures from a stream (${RUNS} runs)`, { timeout: 60_000 }, async (t) => {
  let runs = 0;
  const codes = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(inputArb, async ({ seed, mutations, cuts }) => {
      runs++;
      const bytes = mutate(seed, mutations);
      const stream = Readable.from(chunks(bytes, cuts).map((c) => Buffer.from(c)));
      try {
        const r = await analyzeCapture(stream);
        codes.set('result', (codes.get('result') ?? 0) + 1);
        assert.equal(r.observers.length, 1);
        checkReport(r.observers[0]!);
        assert.ok(r.verdict.code.length > 0);
        const report = buildReport('analyze', [r]);
        assert.ok(renderTerminal(report, { connections: true, totals: true }).length > 0);
        assert.deepEqual(JSON.parse(renderJson(report)).runs[0].observers[0].totals, r.observers[0]!.totals);
      } catch (error) {
        if (!(error instanceof KeepaliveLabError)) throw error;
        // Not KAL_ERR_FILE: the stream reads fine, so a file error would be a decoder bug in disguise.
        assert.ok(CAPTURE_ERRORS.has(error.code), `${error.code}: ${error.message}`);
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1);
      }
    }),
    { numRuns: RUNS, seed: SEED },
  );
  t.diagnostic(`${runs} runs: ${[...codes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  assert.equal(runs, RUNS);
  cases += runs;
});

// Random TCP segments straight into the tracker: a few endpoints (so 4-tuples collide and ports
// get reused), any flags, sequence numbers near each other and near 2^32, payloads cut from HTTP.
const HTTP_BITS = [
  'GET / HTTP/1.1\r\n',
  'Host: x\r\n',
  '\r\n',
  'HTTP/1.1 200 OK\r\n',
  'Content-Length: 5\r\n',
  'hello',
  'Transfer-Encoding: chunked\r\n',
  '5\r\nhello\r\n0\r\n\r\n',
  'Connection: close\r\n',
  '\u0016\u0003\u0001',
];
const segmentArb = fc.record({
  dir: fc.boolean(),
  pair: fc.nat({ max: 3 }),
  flags: fc.oneof(fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x14, 0x04, 0x19), fc.nat({ max: 255 })),
  seqBase: fc.constantFrom(0, 1000, 0xffffff00),
  seqOffset: fc.integer({ min: -200, max: 2000 }),
  payload: fc
    .array(fc.constantFrom(...HTTP_BITS), { maxLength: 4 })
    .map((parts) => new TextEncoder().encode(parts.join(''))),
  cut: fc.option(fc.nat({ max: 40 }), { nil: undefined }),
  dt: fc.integer({ min: -5, max: 5000 }),
});

test(`fuzz: random segments into the ConnectionTracker (${RUNS} runs)`, { timeout: 60_000 }, (t) => {
  let runs = 0;
  let connections = 0;
  fc.assert(
    fc.property(fc.array(segmentArb, { maxLength: 80 }), (segments) => {
      runs++;
      const tracker = new ConnectionTracker({ maxTotalBufferedBytes: MAX_TOTAL_BUFFERED, maxBufferedBytes: 1024 });
      let ts = 1_700_000_000_000_000;
      for (const s of segments) {
        ts += s.dt;
        const client = { address: '10.0.0.1', port: 50000 + s.pair };
        const server = { address: '10.0.0.2', port: s.pair === 3 ? 50000 : 80 };
        const [src, dst] = s.dir ? [client, server] : [server, client];
        const packet: TcpPacket = {
          ts,
          ipVersion: 4,
          src: src.address,
          dst: dst.address,
          srcPort: src.port,
          dstPort: dst.port,
          seq: (s.seqBase + s.seqOffset) >>> 0,
          ack: 0,
          flags: s.flags,
          window: 1000,
          payloadLength: s.payload.length,
          payload: s.cut === undefined ? s.payload : s.payload.subarray(0, s.cut),
        };
        tracker.packet(packet);
        assert.ok(tracker.bufferedBytes <= MAX_TOTAL_BUFFERED);
        assert.ok(tracker.openConnections >= 0 && tracker.openConnections <= tracker.connectionCount);
      }
      const r = tracker.result();
      assert.equal(tracker.bufferedBytes, 0);
      assert.equal(r.connections.length, tracker.connectionCount);
      assert.ok(tracker.openConnections <= r.connections.filter((c) => c.openAtEnd).length);
      connections += r.connections.length;
      checkReport({
        observer: 'wire',
        available: true,
        seesRequests: true,
        totals: computeTotals(r.connections, r.syns),
        connections: r.connections,
        warnings: r.warnings,
      });
    }),
    { numRuns: RUNS, seed: SEED },
  );
  t.diagnostic(`${runs} runs, ${connections} connections tracked in all`);
  assert.equal(runs, RUNS);
  cases += runs;
});

test(`fuzz: the whole analyze pipeline, at least ${MIN_CASES} cases in all`, (t) => {
  t.diagnostic(`${cases} fuzz cases tried in all`);
  assert.ok(cases >= MIN_CASES, `${cases} cases`);
});
