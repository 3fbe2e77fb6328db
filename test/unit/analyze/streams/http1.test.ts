/**
 * The HTTP/1.x stream (src/analyze/streams/http1.ts) on its own, fed as a connection feeds it:
 * ordered bytes per side, gaps, ends. It counts through the one HTTP counter, resumes framing at the
 * next message start after a loss, lets its framer go once both sides ended, and describes itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { http1 } from '../../../../src/analyze/streams/http1.js';
import type { Stream } from '../../../../src/analyze/streams/index.js';
import { newConnectionRecord } from '../../../../src/analyze/record.js';
import type { ConnectionRecord, HttpEvidence } from '../../../../src/model/report.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const GET = (path: string): Uint8Array => bytes(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
const OK = (body: string): Uint8Array => bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);

function stream(): { s: Stream; http: HttpEvidence } {
  const http = { serverClose: 0, clientClose: 0 };
  return { s: http1.create({ http }), http };
}

function described(s: Stream): ConnectionRecord {
  const r = newConnectionRecord(1, { address: 'a', port: 1 }, { address: 'b', port: 2 }, 0);
  r.notes = s.notes.slice();
  s.describe(r);
  return r;
}

test('http1 stream: counts requests, responses, status codes and idle gaps into the record', () => {
  const { s, http } = stream();
  assert.equal(s.data('client', GET('/a'), 1_000), true);
  s.data('server', OK('hi'), 2_000);
  s.data('client', bytes('GET /b HTTP/1.1\r\nConnection: close\r\n\r\n'), 7_000);
  s.data('server', OK(''), 8_000);
  const r = described(s);
  assert.equal(r.requests, 2);
  assert.equal(r.responses, 2);
  assert.deepEqual(r.statusCodes, [200, 200]);
  assert.deepEqual(r.idleGapsMs, [5]);
  assert.deepEqual(r.notes, []);
  assert.deepEqual(http, { serverClose: 0, clientClose: 1 });
});

test('http1 stream: after a loss, framing resumes at the next message start; a gap before it is not told', () => {
  const { s } = stream();
  s.data('client', GET('/a'), 1);
  s.gap('server', 100, 2); // a whole response missing, between messages: framing of the server is lost
  s.data('server', bytes('ngth: 0\r\n\r\n'), 4); // not a message start: still lost
  s.data('client', GET('/b'), 5); // a request line: a new framer from here
  s.gap('server', 10, 6); // the server's hole lies before the new start: not told
  s.data('server', OK('ok'), 7);
  const r = described(s);
  assert.equal(r.requests, 2, 'counted by both framers');
  assert.equal(r.responses, 1);
  assert.deepEqual(r.notes, [
    "HTTP framing of the server's bytes lost at byte 0: 100 bytes missing where a head or chunk framing was expected",
    'HTTP framing resumed 1 time at the next message start',
  ]);
  assert.equal(r.partialResponses, undefined);
});

test('http1 stream: a head cut after its start line counts, partial; the next start line picks up', () => {
  const { s, http } = stream();
  s.data('client', bytes('POST /a HTTP/1.1\r\nContent-Length: 500\r\nHo'), 1);
  s.gap('client', 520, 1); // the rest of the head and the body
  s.data('server', bytes('HTTP/1.1 200 OK\r\nContent-Le'), 2);
  s.gap('server', 100, 2);
  s.data('server', bytes('ngth: 0\r\n\r\n'), 3); // a later segment of the same response: not a start
  s.data('client', GET('/b'), 5);
  s.data('server', OK('ok'), 7);
  const r = described(s);
  assert.equal(r.requests, 2);
  assert.equal(r.responses, 2);
  assert.deepEqual(r.statusCodes, [200, 200]);
  assert.equal(r.partialRequests, 1);
  assert.equal(r.partialResponses, 1);
  assert.deepEqual(r.notes, [], 'framing was never lost');
  // The cut response ended with its last segment (at 3), before the next request (at 5): 2 µs.
  assert.deepEqual(r.idleGapsMs, [0.002]);
  assert.deepEqual(http, { serverClose: 0, clientClose: 0 });
});

test('http1 stream: once both sides ended, more bytes change nothing', () => {
  const { s } = stream();
  s.data('client', GET('/a'), 1);
  s.data('server', OK('x'), 2);
  s.end('client', 3);
  s.end('server', 4);
  s.data('client', GET('/late'), 5);
  s.retire();
  assert.equal(described(s).requests, 1);
});

test('http1 stream: bytes that are not HTTP/1.x: data() says so, the record too', () => {
  const { s } = stream();
  assert.equal(s.data('client', bytes('GET / SSH-2.0\r\n'), 1), false);
  assert.deepEqual(described(s).notes, ['not HTTP/1.x']);

  // A side lost before: framing may still resume, so the stream wants more bytes.
  const other = stream().s;
  other.data('server', OK('x'), 1);
  other.gap('server', 5, 2);
  assert.equal(other.data('client', bytes('GET / SSH-2.0\r\n'), 3), true);
  other.data('client', GET('/x'), 4);
  const r = described(other);
  assert.equal(r.requests, 1);
  assert.deepEqual(r.notes.slice(1), ['HTTP framing resumed 1 time at the next message start', 'not HTTP/1.x']);
});
