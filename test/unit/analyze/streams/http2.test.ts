/**
 * The HTTP/2 stream (src/analyze/streams/http2.ts) fed as a connection feeds it, and h2c as the
 * analyzer finds it in a capture: by prior knowledge (the client preface) and after an HTTP/1.1
 * Upgrade (the HTTP/1.x stream hands the bytes over after the 101). The captures built here are also
 * read by tshark at the end of the file (test/support/tshark-check.ts), which counts the streams too.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { http1 } from '../../../../src/analyze/streams/http1.js';
import { Http2Stream, http2 } from '../../../../src/analyze/streams/http2.js';
import type { Stream } from '../../../../src/analyze/streams/index.js';
import { newConnectionRecord } from '../../../../src/analyze/record.js';
import type { ConnectionRecord } from '../../../../src/model/report.js';
import { analyzeCapture } from '../../../../src/observe/capture-file.js';
import { buildPcap } from '../../../support/capture-builder.js';
import { concat, latin1Bytes } from '../../../support/http-fixtures.js';
import {
  HTTP2_CLIENT_PREFACE,
  data,
  frame,
  goaway,
  headers,
  pushPromise,
  requestBlock,
  responseBlock,
  rstStream,
  settings,
  settingsAck,
} from '../../../support/h2-frames.js';
import { Conversation } from '../../../support/tcp-conversation.js';

type Side = 'client' | 'server';
/** One write of a side, at a time in microseconds. */
type Write = [Side, Uint8Array, number];

function described(s: Stream): ConnectionRecord {
  const r = newConnectionRecord(1, { address: 'a', port: 1 }, { address: 'b', port: 2 }, 0);
  r.notes = s.notes.slice();
  s.describe(r);
  return r;
}

/**
 * Three requests: 1 and 3 at once (peak 2), 3 reset by the client (CANCEL); a pause with nothing
 * open; 5 alone; a push promised on 5; the server's GOAWAY.
 */
const PRIOR_KNOWLEDGE: Write[] = [
  [
    'client',
    concat([
      HTTP2_CLIENT_PREFACE,
      settings([
        [3, 100],
        [2, 0],
      ]),
    ]),
    1_000,
  ],
  ['server', concat([settings([[3, 128]]), settingsAck()]), 2_000],
  ['client', concat([settingsAck(), headers(1, requestBlock('GET', '/a'), { endStream: true })]), 3_000],
  ['client', headers(3, requestBlock('POST', '/b')), 4_000],
  ['server', concat([headers(1, responseBlock(200)), data(1, 10, { endStream: true })]), 5_000],
  ['client', rstStream(3, 8), 6_000],
  ['client', headers(5, requestBlock('GET', '/c'), { endStream: true }), 26_000],
  ['server', concat([pushPromise(5, 2, requestBlock('GET', '/c.css')), headers(5, responseBlock(404))]), 27_000],
  ['server', concat([data(5, 3, { endStream: true }), headers(2, responseBlock(200), { endStream: true })]), 28_000],
  ['server', goaway(5, 0, 'done'), 30_000],
];

test('http2 stream: streams, responses, peak concurrency, idle gaps, RST_STREAM, GOAWAY, SETTINGS, pushes', () => {
  const s = http2.create({ http: { serverClose: 0, clientClose: 0 } });
  for (const [side, bytes, ts] of PRIOR_KNOWLEDGE) assert.equal(s.data(side, bytes, ts), true);
  const r = described(s);
  assert.equal(r.requests, 3);
  assert.equal(r.responses, 2);
  assert.deepEqual(r.statusCodes, [200, 404]);
  // Stream 1 ended at 5 ms, 3 was reset at 6 ms: nothing open until 5 opened at 26 ms.
  assert.deepEqual(r.idleGapsMs, [20]);
  assert.deepEqual(r.http2, {
    start: 'prior-knowledge',
    pushed: 1,
    peakConcurrentStreams: 2,
    maxConcurrentStreams: { client: 100, server: 128 },
    rstStream: { client: 1, server: 0, codes: { CANCEL: 1 } },
    goaway: [{ by: 'server', lastStreamId: 5, errorCode: 'NO_ERROR', debugDataLength: 4, at: 30 }],
    refused: { rstStream: 0, afterGoaway: 0 },
  });
  assert.deepEqual(r.notes, []);
  // Retired: the decoder goes, the record stays; bytes fed after that are ignored.
  s.retire();
  assert.equal(s.data('client', headers(7, requestBlock('GET', '/late')), 40_000), true);
  assert.deepEqual(described(s), r);
});

test('http2 stream: refused streams: REFUSED_STREAM from the server, streams above its GOAWAY, each once', () => {
  const s = new Http2Stream();
  s.data('client', concat([HTTP2_CLIENT_PREFACE, settings([])]), 1_000);
  s.data('server', settings([[3, 2]]), 2_000);
  // 1, 3, 5, 7 at once; the server refuses 7, then says it processed up to 3: 5 and 7 were not processed.
  for (const id of [1, 3, 5, 7])
    s.data('client', headers(id, requestBlock('GET', `/${id}`), { endStream: true }), 3_000);
  s.data('server', rstStream(7, 7), 4_000);
  s.data('server', concat([headers(1, responseBlock(200), { endStream: true }), goaway(3, 0)]), 5_000);
  // Opened after the GOAWAY: not processed either. A client refusing a push (REFUSED_STREAM on an even
  // id) is not counted.
  s.data('client', concat([headers(9, requestBlock('GET', '/9'), { endStream: true }), rstStream(2, 7)]), 6_000);
  s.data('server', rstStream(9, 7), 7_000);
  const r = described(s);
  assert.equal(r.requests, 5);
  assert.deepEqual(r.http2?.refused, { rstStream: 1, afterGoaway: 2 });
  assert.deepEqual(r.http2?.rstStream, { client: 1, server: 2, codes: { REFUSED_STREAM: 3 } });
  // A first GOAWAY of 2^31-1 (a graceful drain, RFC 9113 6.8) refuses nothing; the second one does.
  const drain = new Http2Stream();
  drain.data('client', concat([HTTP2_CLIENT_PREFACE, settings([])]), 1_000);
  drain.data('server', settings([]), 2_000);
  drain.data('client', headers(1, requestBlock('GET', '/1'), { endStream: true }), 3_000);
  drain.data('server', goaway(0x7fffffff, 0), 4_000);
  drain.data('client', headers(3, requestBlock('GET', '/3'), { endStream: true }), 5_000);
  assert.deepEqual(described(drain).http2?.refused, { rstStream: 0, afterGoaway: 0 });
  drain.data('server', goaway(1, 0), 6_000);
  assert.deepEqual(described(drain).http2?.refused, { rstStream: 0, afterGoaway: 1 });
});

test('http2 stream: the same record whatever the split of each write', () => {
  const whole = http2.create({ http: { serverClose: 0, clientClose: 0 } });
  for (const [side, bytes, ts] of PRIOR_KNOWLEDGE) whole.data(side, bytes, ts);
  const expected = described(whole);
  for (let w = 0; w < PRIOR_KNOWLEDGE.length; w++) {
    const bytes = PRIOR_KNOWLEDGE[w]![1];
    for (let at = 1; at < bytes.length; at++) {
      const s = new Http2Stream();
      for (const [side, b, ts] of PRIOR_KNOWLEDGE) {
        if (b !== bytes) s.data(side, b, ts);
        else {
          s.data(side, b.subarray(0, at), ts);
          s.data(side, b.subarray(at), ts);
        }
      }
      assert.deepEqual(described(s), expected, `write ${w} split at ${at}`);
    }
  }
});

test('http2 stream: bytes without the client preface are not HTTP/2; a server answering in HTTP/1.1 is noted', () => {
  const s = new Http2Stream();
  assert.equal(s.data('client', latin1Bytes('GET / HTTP/1.1\r\n\r\n'), 1), false);
  assert.deepEqual(described(s).notes, ['not HTTP/2']);
  const old = new Http2Stream();
  old.data('client', concat([HTTP2_CLIENT_PREFACE, settings([]), headers(1, requestBlock('GET', '/'))]), 1);
  assert.equal(old.data('server', latin1Bytes('HTTP/1.1 400 Bad Request\r\n\r\n'), 2), true);
  const r = described(old);
  assert.equal(r.requests, 1);
  assert.equal(r.responses, 0);
  assert.deepEqual(r.notes, [
    "HTTP/2 framing of the server's bytes lost at byte 0: the first frame from the server is not SETTINGS",
  ]);
});

test('http2 stream: problems are notes, the first few one by one', () => {
  const s = new Http2Stream();
  s.data('client', concat([HTTP2_CLIENT_PREFACE, settings([])]), 1);
  for (let i = 0; i < 5; i++) s.data('client', rstStream(0, 1), 2);
  s.data('client', headers(1, Uint8Array.of(0x80)), 3);
  const r = described(s);
  assert.equal(r.requests, 1, 'a stream opened by a block HPACK refused still counts');
  assert.deepEqual(r.notes, [
    'HTTP/2 from the client: RST_STREAM of 4 octets on stream 0',
    'HTTP/2 from the client: RST_STREAM of 4 octets on stream 0',
    'HTTP/2 from the client: RST_STREAM of 4 octets on stream 0',
    'HTTP/2: 3 more frame problems',
  ]);
});

// ------------------------------------------------------------------------------------------------
// h2c Upgrade, through the HTTP/1.x stream

const UPGRADE_REQUEST = latin1Bytes(
  'GET /first HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
    'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
);
const SWITCHING = latin1Bytes('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');

const UPGRADE: Write[] = [
  ['client', UPGRADE_REQUEST, 1_000],
  // The server's first HTTP/2 frame comes with the 101 (RFC 9113 3.2 as RFC 7540 3.2 put it).
  ['server', concat([SWITCHING, settings([[3, 100]])]), 2_000],
  ['client', concat([HTTP2_CLIENT_PREFACE, settings([]), settingsAck()]), 3_000],
  ['client', headers(3, requestBlock('GET', '/second'), { endStream: true }), 4_000],
  ['server', concat([settingsAck(), headers(1, responseBlock(200)), data(1, 5, { endStream: true })]), 5_000],
  ['server', concat([headers(3, responseBlock(204), { endStream: true }), goaway(3, 0)]), 6_000],
];

test('http1 stream: after an h2c Upgrade and its 101 the HTTP/2 streams are counted, the 101 is interim', () => {
  const s = http1.create({ http: { serverClose: 0, clientClose: 0 } });
  for (const [side, bytes, ts] of UPGRADE) assert.equal(s.data(side, bytes, ts), true);
  const r = described(s);
  assert.equal(r.requests, 2, 'the HTTP/1.1 request (stream 1) and stream 3');
  assert.equal(r.responses, 2);
  assert.deepEqual(r.statusCodes, [200, 204]);
  assert.deepEqual(r.notes, ['switched to HTTP/2 (h2c Upgrade)']);
  assert.equal(r.http2?.start, 'upgrade');
  assert.equal(r.http2?.peakConcurrentStreams, 2);
  assert.deepEqual(r.http2?.maxConcurrentStreams, { client: null, server: 100 });
  assert.equal(r.http2?.goaway.length, 1);
  // Split anywhere in the 101's segment: the HTTP/2 bytes after the head still reach the stream.
  const segment = UPGRADE[1]![1];
  for (let at = 1; at < segment.length; at++) {
    const split = http1.create({ http: { serverClose: 0, clientClose: 0 } });
    for (const [side, bytes, ts] of UPGRADE) {
      if (bytes !== segment) split.data(side, bytes, ts);
      else {
        split.data(side, bytes.subarray(0, at), ts);
        split.data(side, bytes.subarray(at), ts);
      }
    }
    assert.deepEqual(described(split), r, `101 segment split at ${at}`);
  }
});

test('http1 stream: the client`s preface sent before the 101 came (held by the framer) reaches HTTP/2 too', () => {
  const s = http1.create({ http: { serverClose: 0, clientClose: 0 } });
  s.data('client', concat([UPGRADE_REQUEST, HTTP2_CLIENT_PREFACE, settings([])]), 1_000);
  s.data('server', concat([SWITCHING, settings([])]), 2_000);
  s.data('client', headers(3, requestBlock('GET', '/x'), { endStream: true }), 3_000);
  const r = described(s);
  assert.equal(r.requests, 2);
  assert.deepEqual(r.notes, ['switched to HTTP/2 (h2c Upgrade)']);
});

test('http1 stream: a switch to another protocol (WebSocket) is only noted, its 101 counted', () => {
  const s = http1.create({ http: { serverClose: 0, clientClose: 0 } });
  s.data('client', latin1Bytes('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'), 1);
  s.data('server', latin1Bytes('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi'), 2);
  s.data('client', Uint8Array.of(0x81, 0x82, 1, 2, 3, 4, 5, 6), 3);
  const r = described(s);
  assert.equal(r.requests, 1);
  assert.deepEqual(r.statusCodes, [101]);
  assert.deepEqual(r.notes, ['protocol switched (upgrade by the server); later bytes not framed']);
  assert.equal(r.http2, undefined);
});

// ------------------------------------------------------------------------------------------------
// Captures: the analyzer as analyze runs it (and tshark, at the end of the file)

function capture(writes: Write[], port: number): Uint8Array {
  const c = new Conversation({ address: '10.0.0.1', port: 51000 }, { address: '10.0.0.2', port });
  c.handshake();
  for (const [side, bytes] of writes) c.send(side, bytes, { ack: true });
  c.close('client');
  return buildPcap({ packets: c.packets });
}

async function analyzeBytes(bytes: Uint8Array): Promise<ConnectionRecord> {
  const run = await analyzeCapture(Readable.from([bytes]));
  const records = run.observers[0]!.connections;
  assert.equal(records.length, 1);
  return records[0]!;
}

test('capture: h2c by prior knowledge is found by its preface and counted by streams', async () => {
  const r = await analyzeBytes(capture(PRIOR_KNOWLEDGE, 8080));
  assert.equal(r.requests, 3);
  assert.equal(r.responses, 2);
  assert.equal(r.http2?.peakConcurrentStreams, 2);
  assert.deepEqual(r.notes, []);
});

test('capture: h2c after an HTTP/1.1 Upgrade', async () => {
  const r = await analyzeBytes(capture(UPGRADE, 8081));
  assert.equal(r.requests, 2);
  assert.deepEqual(r.statusCodes, [200, 204]);
  assert.equal(r.http2?.start, 'upgrade');
});

test('capture: a server that sends its SETTINGS before the client`s preface arrives is HTTP/2 too', async () => {
  const serverFirst: Write[] = [PRIOR_KNOWLEDGE[1]!, PRIOR_KNOWLEDGE[0]!, ...PRIOR_KNOWLEDGE.slice(2)];
  const c = new Conversation({ address: '10.0.0.1', port: 51000 }, { address: '10.0.0.2', port: 8082 });
  // No SYN in the capture: the side that sends the SETTINGS frame first is the server.
  for (const [side, bytes] of serverFirst) c.send(side, bytes, { ack: true });
  const r = await analyzeBytes(buildPcap({ packets: c.packets }));
  assert.equal(r.requests, 3);
  assert.equal(r.server.port, 8082);
});

test('fuzz: random frames after the preface never throw; the counts stay consistent', () => {
  const frameArb = fc.oneof(
    fc
      .tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 12 }))
      .chain(([type, flags, stream]) =>
        fc.uint8Array({ maxLength: 24 }).map((payload) => frame(type, flags, stream, payload)),
      ),
    fc.integer({ min: 0, max: 12 }).map((id) => headers(id, requestBlock('GET', '/'), { endStream: id % 3 === 0 })),
    fc.integer({ min: 0, max: 12 }).map((id) => headers(id, responseBlock(200), { endStream: id % 2 === 0 })),
    fc.integer({ min: 0, max: 12 }).map((id) => rstStream(id, id)),
    fc.uint8Array({ maxLength: 12 }),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), frameArb), { maxLength: 20 }), (items) => {
      const s = new Http2Stream();
      s.data('client', concat([HTTP2_CLIENT_PREFACE, settings([])]), 1);
      s.data('server', settings([]), 2);
      let ts = 3;
      for (const [fromClient, bytes] of items) s.data(fromClient ? 'client' : 'server', bytes, ts++);
      const r = described(s);
      assert.ok(r.responses <= r.requests);
      assert.equal(r.statusCodes.length <= r.responses, true);
      assert.ok(r.http2!.peakConcurrentStreams <= r.requests);
      assert.ok(r.notes.length <= 8);
    }),
    { seed: 7540, numRuns: 500 },
  );
});
