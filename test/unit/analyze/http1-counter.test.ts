/**
 * The one HTTP/1.x counter (src/analyze/http1-counter.ts), fed by the framer as the analyzer and the
 * proxy feed it: requests, responses, status codes, idle gaps (microseconds in, milliseconds out),
 * close asks added to shared totals, notes on framing lost and protocol switches.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Http1Counter, type HttpTally } from '../../../src/analyze/http1-counter.js';
import { Http1Connection } from '../../../src/decode/http1.js';
import { MAX_EXCHANGES_LISTED, type HttpEvidence } from '../../../src/model/report.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const GET = (fields = ''): Uint8Array => bytes(`GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`);
const OK = (status = 200, fields = ''): Uint8Array =>
  bytes(`HTTP/1.1 ${status} OK\r\nContent-Length: 2\r\n${fields}\r\nok`);

function tally(): HttpTally {
  return { requests: 0, responses: 0, statusCodes: [], idleGapsMs: [], notes: [] };
}

function counted(): { tally: HttpTally; totals: HttpEvidence; counter: Http1Counter; framer: Http1Connection } {
  const t = tally();
  const totals = { serverClose: 0, clientClose: 0 };
  const counter = new Http1Counter(t, totals);
  return { tally: t, totals, counter, framer: new Http1Connection(counter, { targets: false }) };
}

test('counter: requests, responses and status codes as the framer frames them', () => {
  const { tally, framer } = counted();
  framer.client(GET(), 0);
  framer.server(OK(200), 100);
  framer.client(GET(), 200);
  framer.server(bytes('HTTP/1.1 100 Continue\r\n\r\n'), 250);
  framer.server(OK(404), 300);
  assert.equal(tally.requests, 2);
  assert.equal(tally.responses, 2, 'the interim 100 is not a response of its own');
  assert.deepEqual(tally.statusCodes, [200, 404]);
  // The framer's own summary agrees.
  assert.equal(framer.requests, tally.requests);
  assert.equal(framer.responses, tally.responses);
  assert.deepEqual(framer.statusCodes, tally.statusCodes);
});

test('counter: idle gaps run from the end of a response to the next request head, in milliseconds', () => {
  const { tally, framer } = counted();
  framer.client(GET(), 1_000_000);
  framer.server(bytes('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab'), 1_000_100);
  framer.server(bytes('cd'), 1_000_250); // the response ends here
  framer.client(GET(), 1_500_750);
  framer.server(OK(), 1_500_800);
  framer.client(GET(), 1_500_800);
  assert.deepEqual(tally.idleGapsMs, [500.5, 0]);
});

test('counter: who asked to close adds up in the shared totals', () => {
  const totals = { serverClose: 0, clientClose: 0 };
  for (const [request, response] of [
    [GET('Connection: close\r\n'), OK(200)],
    [GET(), OK(200, 'Connection: close\r\n')],
    [bytes('GET / HTTP/1.0\r\n\r\n'), bytes('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')],
    [GET(), OK(200)],
  ] as const) {
    const framer = new Http1Connection(new Http1Counter(tally(), totals));
    framer.client(request, 0);
    framer.server(response, 1);
  }
  assert.deepEqual(totals, { serverClose: 2, clientClose: 2 });
});

test('counter: an interim response asks nothing, a close-delimited body does', () => {
  const { totals, framer } = counted();
  framer.client(GET(), 0);
  framer.server(bytes('HTTP/1.1 103 Early Hints\r\nConnection: close\r\n\r\n'), 1);
  assert.equal(totals.serverClose, 0);
  framer.server(bytes('HTTP/1.1 200 OK\r\n\r\nuntil the end'), 2);
  assert.equal(totals.serverClose, 1);
});

test('counter: framing lost and protocol switches become notes; resumed() quiets later losses', () => {
  const { tally, counter, framer } = counted();
  framer.client(bytes('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'), 0);
  framer.server(bytes('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'), 1);
  assert.deepEqual(tally.notes, [
    'protocol switched (upgrade by the server); later bytes not framed',
    'protocol switched (upgrade by the client); later bytes not framed',
  ]);
  assert.equal(counter.framingLost, false);

  const other = counted();
  other.framer.client(GET(), 0);
  other.framer.server(bytes('HTTP/1.1 2xx nope\r\n\r\n'), 1);
  assert.equal(other.counter.framingLost, true);
  assert.deepEqual(other.tally.notes, ["HTTP framing of the server's bytes lost at byte 0: malformed status line"]);
  other.counter.resumed();
  assert.equal(other.counter.framingLost, false);
  const next = new Http1Connection(other.counter);
  next.server(bytes('garbage\r\n'), 2);
  assert.equal(other.counter.framingLost, true);
  assert.equal(other.tally.notes.length, 1, 'a loss after framing resumed is not noted one by one');
});

test('counter: busy periods run from a request while none was outstanding to the response that left none', () => {
  const { tally, framer } = counted();
  framer.client(GET(), 1_000_000);
  framer.server(OK(), 1_002_000);
  // Pipelined: two requests in one write, two responses: one period.
  framer.client(new Uint8Array([...GET(), ...GET()]), 1_010_000);
  framer.server(OK(), 1_011_000);
  framer.server(OK(), 1_012_500);
  // The last request is still waiting at the end: its period has no end.
  framer.client(GET(), 1_020_000);
  assert.deepEqual(tally.busyAt, [1000, 1002, 1010, 1012.5, 1020]);

  // A response without a request seen (a capture joined mid-stream) ends no period.
  const joined = counted();
  joined.framer.server(OK(), 5_000);
  assert.equal(joined.tally.busyAt, undefined);
  joined.framer.client(GET(), 6_000);
  joined.framer.server(OK(), 7_000);
  assert.deepEqual(joined.tally.busyAt, [6, 7]);

  // Framing lost: which bytes were requests is unknown, so no busy periods at all (not wrong ones).
  const lost = counted();
  lost.framer.client(GET(), 0);
  lost.framer.server(OK(), 1_000);
  lost.framer.client(GET(), 2_000);
  lost.framer.server(bytes('HTTP/1.1 2xx nope\r\n\r\n'), 3_000);
  assert.equal(lost.tally.busyAt, undefined);
  lost.counter.resumed();
  const next = new Http1Connection(lost.counter);
  next.client(GET(), 4_000);
  next.server(OK(), 5_000);
  assert.equal(lost.tally.busyAt, undefined, 'not after framing resumed either');
});

test('counter: exchanges, when asked: each request with its status and the end of its response, in order', () => {
  const t = tally();
  const counter = new Http1Counter(t, { serverClose: 0, clientClose: 0 }, true);
  const framer = new Http1Connection(counter, { targets: true });
  // Two pipelined requests, answered in order; the second response's body ends later.
  framer.client(bytes('GET /a?q=<x> HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 0\r\n\r\n'), 1_000);
  framer.server(OK(200), 3_000);
  framer.server(bytes('HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nno'), 4_000);
  framer.server(bytes('ne'), 5_500);
  // A third request that gets no response.
  framer.client(GET(), 9_000);
  assert.deepEqual(t.exchanges, [
    { at: 1, end: 3, method: 'GET', path: '/a?q=<x>', status: 200 },
    { at: 1, end: 5.5, method: 'POST', path: '/b', status: 404 },
    { at: 9, end: null, method: 'GET', path: '/', status: null },
  ]);
  assert.equal(t.exchangesOmitted, undefined);
});

test('counter: exchanges are capped per connection, the rest counted; not asked, none listed', () => {
  const t = tally();
  const counter = new Http1Counter(t, { serverClose: 0, clientClose: 0 }, true);
  const framer = new Http1Connection(counter, { targets: true });
  for (let i = 0; i < MAX_EXCHANGES_LISTED + 5; i++) {
    framer.client(GET(), i * 10);
    framer.server(OK(), i * 10 + 5);
  }
  assert.equal(t.exchanges?.length, MAX_EXCHANGES_LISTED);
  assert.equal(t.exchangesOmitted, 5);
  assert.ok(t.exchanges!.every((x) => x.status === 200 && x.end !== null));
  const { tally: plain, framer: quiet } = counted();
  quiet.client(GET(), 0);
  quiet.server(OK(), 5);
  assert.equal(plain.exchanges, undefined);
});

test('counter: a response before any request seen pairs with none; after server framing is lost, none pairs', () => {
  const t = tally();
  const counter = new Http1Counter(t, { serverClose: 0, clientClose: 0 }, true);
  counter.response({
    status: 200,
    version: '1.1',
    ts: 0,
    keepAlive: true,
    connectionHeader: null,
    request: null,
    informational: false,
  });
  const request = { method: 'GET', target: '/x', version: '1.1', ts: 1_000, keepAlive: true, connectionHeader: null };
  counter.request(request);
  counter.lost('server', 'garbage', 10);
  counter.response({
    status: 500,
    version: '1.1',
    ts: 2_000,
    keepAlive: true,
    connectionHeader: null,
    request: null,
    informational: false,
  });
  assert.deepEqual(t.exchanges, [{ at: 1, end: null, method: 'GET', path: '/x', status: null }]);
});
