/**
 * The HTTP/2 findings (uneven-spread, goaway-churn, refused-streams) on captures built here from
 * scripted h2c connections (test/support/h2-frames.ts, tcp-conversation.ts), each at the edge of its
 * thresholds (src/analyze/findings/thresholds.ts): named at the threshold, not one step below it. The
 * captures are read by tshark at the end of the file too (test/support/tshark-check.ts), which counts
 * the streams of every connection as the analyzer does.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import type { Finding, RunReport } from '../../../src/model/report.js';
import { buildPcap, type TcpPacketSpec } from '../../support/capture-builder.js';
import { concat } from '../../support/http-fixtures.js';
import {
  HTTP2_CLIENT_PREFACE,
  data,
  goaway,
  headers,
  requestBlock,
  responseBlock,
  rstStream,
  settings,
  settingsAck,
} from '../../support/h2-frames.js';
import { Conversation } from '../../support/tcp-conversation.js';

const SERVER = { address: '10.0.0.2', port: 8080 };
/** RFC 9113 7. */
const NO_ERROR = 0;
const REFUSED_STREAM = 7;
/** RFC 9113 6.5.2. */
const MAX_CONCURRENT_STREAMS = 3;

/** One scripted h2c connection (prior knowledge) from 10.0.0.1:`port`, beginning at `startMs`. */
class H2Connection {
  readonly c: Conversation;
  private nextId = 1;

  constructor(port: number, startMs: number, serverSettings: [number, number][] = [], client = '10.0.0.1') {
    this.c = new Conversation({ address: client, port }, SERVER, { start: startMs * 1000 });
    this.c.handshake();
    this.c.send('client', concat([HTTP2_CLIENT_PREFACE, settings([])]), { ack: true });
    this.c.send('server', concat([settings(serverSettings), settingsAck()]), { ack: true });
    this.c.send('client', settingsAck(), { ack: true });
  }

  /** One request and its response, `gapMs` after the last segment. */
  exchange(gapMs = 1): this {
    const [id] = this.open(1, gapMs);
    this.answer([id!]);
    return this;
  }

  /** `n` requests sent at once (one segment), `gapMs` after the last segment: their stream ids. */
  open(n: number, gapMs = 1): number[] {
    const ids = Array.from({ length: n }, () => (this.nextId += 2) - 2);
    this.c.wait(gapMs);
    this.c.send('client', concat(ids.map((id) => headers(id, requestBlock('GET', `/${id}`), { endStream: true }))), {
      ack: true,
    });
    return ids;
  }

  answer(ids: number[]): this {
    const frames = ids.map((id) => concat([headers(id, responseBlock(200)), data(id, 2, { endStream: true })]));
    this.c.send('server', concat(frames), { ack: true });
    return this;
  }

  server(bytes: Uint8Array): this {
    this.c.send('server', bytes, { ack: true });
    return this;
  }

  close(first: 'client' | 'server'): TcpPacketSpec[] {
    this.c.close(first);
    return this.c.packets;
  }
}

/** A connection of `streams` exchanges, `gapMs` apart, closed by the client. */
function exchanges(port: number, startMs: number, streams: number, gapMs: number): TcpPacketSpec[] {
  const h = new H2Connection(port, startMs);
  for (let i = 0; i < streams; i++) h.exchange(gapMs);
  return h.close('client');
}

async function analyze(packets: TcpPacketSpec[]): Promise<RunReport> {
  const sorted = [...packets].sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  return analyzeCapture(Readable.from([buildPcap({ packets: sorted })]));
}

function only(run: RunReport, code: Finding['code']): Finding | undefined {
  const found = run.findings.filter((f) => f.code === code);
  assert.ok(found.length <= 1, `at most one ${code} finding`);
  return found[0];
}

const T0 = 1_700_000_000_000;

// ------------------------------------------------------------------------------------------------
// uneven-spread: 100 streams or more, 10 s or more, 90% or more of the client's streams

test('uneven-spread: 100 streams over 10 s on one connection, 90.9% of the client`s: named, as information', async () => {
  const run = await analyze([...exchanges(50001, T0, 100, 101), ...exchanges(50002, T0 + 20_000, 10, 1)]);
  assert.equal(run.observers[0]!.totals.requests, 110);
  const f = only(run, 'uneven-spread');
  assert.ok(f, 'named');
  assert.equal(f.severity, 'info');
  assert.match(f.summary, /^uneven spread: a client sent 90\.9% of its HTTP\/2 requests to 10\.0\.0\.2:8080 over one/);
  assert.deepEqual(f.evidence.connections, [1]);
  assert.equal(f.evidence.values.streamsOnOneConnection, 100);
  assert.equal(f.evidence.values.streams, 110);
  assert.ok(Number(f.evidence.values.shortestConnectionAgeMs) >= 10_000);
  for (const runtime of ['node-http2', 'undici', 'go', 'grpc', 'nginx', 'server'] as const)
    assert.ok(f.fixes[runtime], `a fix for ${runtime}`);
  assert.match(f.fixes.grpc!, /MaxConnectionAge: 60 \* time\.Second/);
  // Information: the verdict stays the counts' own.
  assert.notEqual(run.verdict.code, 'uneven-spread');
});

test('uneven-spread: not named one step below each threshold', async () => {
  // 99 streams over 10 s.
  assert.equal(only(await analyze(exchanges(50011, T0, 99, 103)), 'uneven-spread'), undefined);
  // 100 streams over 9.5 s.
  assert.equal(only(await analyze(exchanges(50012, T0, 100, 95)), 'uneven-spread'), undefined);
  // 100 streams over 10 s, but 89.3% of the client's: it uses another connection too.
  const spread = await analyze([...exchanges(50013, T0, 100, 101), ...exchanges(50014, T0 + 20_000, 12, 1)]);
  assert.equal(only(spread, 'uneven-spread'), undefined);
  // Three requests on one connection are HTTP/2 working as meant.
  assert.deepEqual((await analyze(exchanges(50015, T0, 3, 5_000))).findings, []);
});

// ------------------------------------------------------------------------------------------------
// goaway-churn: the server's GOAWAY after 10 streams or fewer, then a new connection, 3 times or more

/** A connection of `streams` exchanges ended by the server: GOAWAY (last stream id, `code`) then its FIN. */
function endedByServer(port: number, startMs: number, streams: number, code = NO_ERROR): TcpPacketSpec[] {
  const h = new H2Connection(port, startMs);
  for (let i = 0; i < streams; i++) h.exchange();
  h.server(goaway(2 * streams - 1, code));
  return h.close('server');
}

test('goaway-churn: 3 connections ended by the server`s GOAWAY after 10 streams, each replaced: a warning', async () => {
  const packets = [0, 1, 2, 3].flatMap((i) => endedByServer(50100 + i, T0 + i * 1000, 10));
  const run = await analyze(packets);
  const f = only(run, 'goaway-churn');
  assert.ok(f, 'named');
  assert.equal(f.severity, 'warning');
  assert.equal(run.verdict.code, 'goaway-churn');
  // The fourth connection's GOAWAY was not followed by a new connection: not counted.
  assert.deepEqual(f.evidence.connections, [1, 2, 3]);
  assert.match(f.summary, /ended 3 HTTP\/2 connections with GOAWAY after 10 streams each/);
  assert.match(f.evidence.events[0]!.what, /GOAWAY \(last stream id 19, NO_ERROR\) after 10 streams/);
  assert.equal(f.evidence.values.errorGoaways, 0);
  assert.match(f.fixes.nginx!, /keepalive_requests 1000;/);
  assert.ok(f.fixes['node-http2'] && f.fixes.grpc);
});

test('goaway-churn: not named below each threshold, nor for a client that closes', async () => {
  // Only 2 replaced (the third connection is the last).
  const two = [0, 1, 2].flatMap((i) => endedByServer(50110 + i, T0 + i * 1000, 2));
  assert.equal(only(await analyze(two), 'goaway-churn'), undefined);
  // 11 streams each.
  const eleven = [0, 1, 2, 3].flatMap((i) => endedByServer(50120 + i, T0 + i * 1000, 11));
  assert.equal(only(await analyze(eleven), 'goaway-churn'), undefined);
  // The client ends each connection (its own GOAWAY, then its FIN); the server's GOAWAY answers it.
  const clientCloses = [0, 1, 2, 3].flatMap((i) => {
    const h = new H2Connection(50130 + i, T0 + i * 1000);
    h.exchange();
    h.c.send('client', goaway(0, NO_ERROR), { ack: true });
    h.server(goaway(1, NO_ERROR));
    return h.close('client');
  });
  assert.equal(only(await analyze(clientCloses), 'goaway-churn'), undefined);
});

test('goaway-churn: GOAWAYs with an error code are named as such', async () => {
  const ENHANCE_YOUR_CALM = 0xb;
  const packets = [0, 1, 2, 3].flatMap((i) => endedByServer(50140 + i, T0 + i * 1000, 1, ENHANCE_YOUR_CALM));
  const f = only(await analyze(packets), 'goaway-churn');
  assert.equal(f?.evidence.values.errorGoaways, 3);
  assert.ok(f?.reasoning.some((line) => /ENHANCE_YOUR_CALM: 3/.test(line)));
});

// ------------------------------------------------------------------------------------------------
// refused-streams

test('refused-streams: a stream reset with REFUSED_STREAM: a warning, with the limit the client went past', async () => {
  const h = new H2Connection(50200, T0, [[MAX_CONCURRENT_STREAMS, 2]]);
  const [a, b, c] = h.open(3);
  h.server(rstStream(c!, REFUSED_STREAM)).answer([a!, b!]);
  const run = await analyze(h.close('client'));
  const f = only(run, 'refused-streams');
  assert.ok(f, 'named');
  assert.equal(f.severity, 'warning');
  assert.equal(f.evidence.values.refused, 1);
  assert.equal(f.evidence.values.refusedByRstStream, 1);
  assert.equal(f.evidence.values.serverMaxConcurrentStreams, 2);
  assert.match(
    f.summary,
    /^refused streams: 10\.0\.0\.2:8080 refused 1 HTTP\/2 stream \(1 reset with REFUSED_STREAM\)/,
  );
  assert.match(f.fixes['node-http2']!, /remoteSettings/);
  assert.equal(run.verdict.code, 'refused-streams');
});

test('refused-streams: streams above the server`s GOAWAY, sent before and after it', async () => {
  const h = new H2Connection(50210, T0);
  const [a] = h.open(3);
  h.server(goaway(a!, NO_ERROR)).answer([a!]);
  h.open(1);
  const f = only(await analyze(h.close('server')), 'refused-streams');
  assert.equal(f?.evidence.values.refusedAfterGoaway, 3);
  assert.match(
    f!.evidence.events[0]!.what,
    /3 streams above the last stream id of the server's GOAWAY \(1, NO_ERROR\)/,
  );
});

test('refused-streams: a client that reached the server`s limit with more streams to send: information', async () => {
  const h = new H2Connection(50220, T0, [[MAX_CONCURRENT_STREAMS, 2]]);
  h.answer(h.open(2));
  h.answer(h.open(1));
  const f = only(await analyze(h.close('client')), 'refused-streams');
  assert.equal(f?.severity, 'info');
  assert.equal(f?.evidence.values.connectionsAtLimit, 1);
  assert.equal(f?.evidence.values.refused, 0);
  assert.match(f!.summary, /1 connection reached the server's limit of 2 concurrent streams with more streams to send/);
});

test('refused-streams: not named at the limit without more streams, nor below it', async () => {
  const atLimit = new H2Connection(50230, T0, [[MAX_CONCURRENT_STREAMS, 2]]);
  atLimit.answer(atLimit.open(2));
  const below = new H2Connection(50231, T0 + 1000, [[MAX_CONCURRENT_STREAMS, 2]]);
  below.exchange().exchange().exchange();
  const run = await analyze([...atLimit.close('client'), ...below.close('client')]);
  assert.deepEqual(run.findings, []);
});
