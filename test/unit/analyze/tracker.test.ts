/**
 * ConnectionTracker fed with TcpPacket objects built in code (test/support/tcp-conversation.ts):
 * each test scripts one exchange, bends it the way real captures do (lost, repeated, reordered or
 * cut segments, sequence wrap, reused ports) and asserts the connection records.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionTracker } from '../../../src/analyze/tracker.js';
import type { TrackerOptions, TrackerResult } from '../../../src/analyze/tracker.js';
import type { ConnectionRecord } from '../../../src/model/report.js';
import type { TcpPacketSpec } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse, toTcpPacket } from '../../support/tcp-conversation.js';

const CLIENT = { address: '10.0.0.1', port: 50000 };
const SERVER = { address: '10.0.0.2', port: 80 };

function track(packets: readonly TcpPacketSpec[], options?: TrackerOptions): TrackerResult {
  const tracker = new ConnectionTracker(options);
  for (const p of packets) tracker.packet(toTcpPacket(p));
  return tracker.result();
}

function only(result: TrackerResult): ConnectionRecord {
  assert.equal(result.connections.length, 1, 'exactly one connection');
  return result.connections[0]!;
}

/** A full keep-alive exchange: handshake, `n` request/response pairs, close by `closer`. */
function keepAlive(n: number, closer: 'client' | 'server' = 'client', options = {}): Conversation {
  const c = new Conversation(CLIENT, SERVER, options);
  c.handshake();
  for (let i = 0; i < n; i++) {
    c.send('client', httpGet(`/${i}`), { ack: true });
    c.send('server', httpResponse(200, 'body' + i), { ack: true });
  }
  c.close(closer);
  return c;
}

test('tracker: handshake RTT is SYN to SYN/ACK, in milliseconds', () => {
  const c = new Conversation(CLIENT, SERVER, { start: 1_700_000_000_000_000 });
  c.handshake(0.25);
  const r = track(c.packets);
  const conn = only(r);
  assert.equal(conn.handshakeRttMs, 0.25);
  assert.equal(conn.start, 1_700_000_000_000);
  assert.equal(r.syns, 1);
  assert.equal(conn.startedBefore, false);
  assert.equal(conn.openAtEnd, true);
  assert.deepEqual(conn.client, CLIENT);
  assert.deepEqual(conn.server, SERVER);
});

test('tracker: a keep-alive connection with three requests, closed by the client', () => {
  const c = new Conversation(CLIENT, SERVER);
  c.handshake();
  c.send('client', httpGet('/a'), { ack: true });
  c.send('server', httpResponse(200, 'aaa'), { ack: true });
  c.wait(500);
  c.send('client', httpGet('/b'), { ack: true });
  c.send('server', httpResponse(404, 'no'), { ack: true });
  c.wait(1500);
  c.send('client', httpGet('/c'), { ack: true });
  c.send('server', httpResponse(200, ''), { ack: true });
  c.close('client');
  const r = track(c.packets);
  const conn = only(r);
  assert.equal(conn.requests, 3);
  assert.equal(conn.responses, 3);
  assert.deepEqual(conn.statusCodes, [200, 404, 200]);
  // From the end of one response to the next request head: the ACK, the wait and one step.
  assert.deepEqual(conn.idleGapsMs, [500.2, 1500.2]);
  assert.equal(conn.closedFirstBy, 'client');
  assert.equal(conn.timeWait, 'client');
  assert.equal(conn.resetBy, null);
  assert.equal(conn.openAtEnd, false);
  assert.equal(conn.startedBefore, false);
  assert.equal(conn.bytesFromClient, httpGet('/a').length + httpGet('/b').length + httpGet('/c').length);
  assert.equal(
    conn.bytesFromServer,
    httpResponse(200, 'aaa').length + httpResponse(404, 'no').length + httpResponse(200, '').length,
  );
  assert.deepEqual(conn.notes, []);
  assert.deepEqual(r.http, { serverClose: 0, clientClose: 0 });
  assert.deepEqual(r.warnings, []);
});

test('tracker: the server closes first and holds TIME_WAIT; one FIN alone leaves it open', () => {
  const both = only(track(keepAlive(1, 'server').packets));
  assert.equal(both.closedFirstBy, 'server');
  assert.equal(both.timeWait, 'server');
  assert.equal(both.openAtEnd, false);

  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 'x', { Connection: 'close' }));
  c.fin('server');
  const half = track(c.packets);
  const conn = only(half);
  assert.equal(conn.closedFirstBy, 'server');
  assert.equal(conn.timeWait, null, 'TIME_WAIT only once both FINs went through');
  assert.equal(conn.openAtEnd, true);
  assert.deepEqual(half.http, { serverClose: 1, clientClose: 0 });
});

test('tracker: RST by either side; a RST after the FINs cancels TIME_WAIT', () => {
  for (const side of ['client', 'server'] as const) {
    const c = new Conversation(CLIENT, SERVER).handshake();
    c.send('client', httpGet(), { ack: true });
    c.rst(side);
    const conn = only(track(c.packets));
    assert.equal(conn.resetBy, side, side);
    assert.equal(conn.closedFirstBy, null);
    assert.equal(conn.timeWait, null);
    assert.equal(conn.openAtEnd, false);
    assert.equal(conn.requests, 1);
  }
  const c = keepAlive(1, 'client');
  c.rst('client', { advance: false });
  const conn = only(track(c.packets));
  assert.equal(conn.resetBy, 'client');
  assert.equal(conn.closedFirstBy, 'client');
  assert.equal(conn.timeWait, null);

  // A refused connection: SYN answered by RST/ACK.
  const refused = new Conversation(CLIENT, SERVER);
  refused.syn();
  refused.rst('server');
  const r = track(refused.packets);
  assert.equal(only(r).resetBy, 'server');
  assert.equal(only(r).requests, 0);
  assert.equal(r.syns, 1);
});

test('tracker: client and server by the SYN, whatever the ports say', () => {
  // The client uses port 80, the server listens on 50000: the lower-port guess would be wrong.
  const client = { address: '192.168.1.9', port: 80 };
  const server = { address: '192.168.1.1', port: 50000 };
  const c = new Conversation(client, server).handshake();
  c.send('client', 'not http at all\r\n');
  const conn = only(track(c.packets));
  assert.deepEqual(conn.client, client);
  assert.deepEqual(conn.server, server);
  assert.equal(conn.startedBefore, false);
});

test('tracker: a capture that begins with the SYN/ACK: the receiver is the client, no RTT', () => {
  const c = new Conversation({ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 40000 });
  c.syn();
  c.synAck();
  c.ack('client');
  c.send('client', httpGet(), { ack: true });
  const r = track(c.packets.slice(1));
  const conn = only(r);
  assert.deepEqual(conn.client, { address: '10.0.0.1', port: 80 });
  assert.equal(conn.handshakeRttMs, null);
  assert.equal(conn.startedBefore, true);
  assert.equal(conn.requests, 1);
  assert.equal(r.syns, 0);
});

test('tracker: a SYN that shows up after its SYN/ACK (capture reordering) is the same connection', () => {
  const c = new Conversation(CLIENT, SERVER);
  const syn = c.syn();
  const synAck = c.synAck();
  c.ack('client');
  c.send('client', httpGet(), { ack: true });
  const r = track([synAck, syn, ...c.packets.slice(2)]);
  const conn = only(r);
  assert.deepEqual(conn.client, CLIENT);
  assert.equal(conn.requests, 1);
});

test('tracker: without a SYN, the side that sends the HTTP request is the client (ports misleading)', () => {
  // The client's port is the lower one, so the lower-port guess picks the wrong side.
  const client = { address: '10.1.1.1', port: 1024 };
  const server = { address: '10.1.1.2', port: 40000 };
  const c = new Conversation(client, server);
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 'ok'), { ack: true });
  c.send('client', httpGet('/2'), { ack: true });
  c.send('server', httpResponse(500, 'err'), { ack: true });
  const conn = only(track(c.packets));
  assert.deepEqual(conn.client, client);
  assert.deepEqual(conn.server, server);
  assert.equal(conn.requests, 2);
  assert.deepEqual(conn.statusCodes, [200, 500]);
  assert.equal(conn.startedBefore, true);
  assert.equal(conn.openAtEnd, true);
  assert.equal(conn.bytesFromClient, httpGet().length + httpGet('/2').length);

  // The first payload seen is the response (the capture began after the request).
  const late = new Conversation(client, server);
  late.send('client', httpGet());
  const tail = late.packets.length;
  late.send('server', httpResponse(200, 'ok'), { ack: true });
  late.send('client', httpGet('/2'), { ack: true });
  late.send('server', httpResponse(200, 'ok'), { ack: true });
  const conn2 = only(track(late.packets.slice(tail)));
  assert.deepEqual(conn2.client, client);
  assert.equal(conn2.requests, 1);
  assert.equal(conn2.responses, 2);
});

test('tracker: the content beats a server-port hint that names the client port', () => {
  // `analyze --port P` hints that P is the server's port; P may as well be a client's port.
  const client = { address: '10.1.1.1', port: 41000 };
  const server = { address: '10.1.1.2', port: 8080 };
  const c = new Conversation(client, server);
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 'ok'), { ack: true });
  const conn = only(track(c.packets, { serverPorts: [41000] }));
  assert.deepEqual(conn.client, client);
  assert.equal(conn.requests, 1);
  assert.equal(conn.responses, 1);
});

test('tracker: a server-port hint decides when the content cannot', () => {
  const client = { address: '10.1.1.1', port: 443 };
  const server = { address: '10.1.1.2', port: 40000 };
  const c = new Conversation(client, server);
  // Bytes no stream recognises (a TLS ClientHello would name its sender the client).
  c.send('server', Uint8Array.of(0x00, 3, 1, 0, 5, 1, 2, 3, 4, 5), { ack: true });
  const hinted = only(track(c.packets, { serverPorts: [40000] }));
  assert.deepEqual(hinted.server, server);
  const guessed = only(track(c.packets));
  assert.deepEqual(guessed.server, client, 'without a hint, the lower port is taken for the server');
});

test('tracker: a retransmitted segment is counted once', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  const request = c.send('client', httpGet());
  c.packets.push({ ...request, ts: request.ts! + 200_000 }); // the same segment again, 200 ms later
  c.send('server', httpResponse(), { ack: true });
  c.close('client');
  const conn = only(track(c.packets));
  assert.equal(conn.requests, 1);
  assert.equal(conn.bytesFromClient, httpGet().length);
  assert.deepEqual(conn.notes, ['1 retransmitted segment']);
});

test('tracker: a partly overlapping retransmission delivers only the new bytes', () => {
  const req1 = httpGet('/one');
  const req2 = httpGet('/two');
  const c = new Conversation(CLIENT, SERVER).handshake();
  const start = c.next.client;
  c.send('client', req1.slice(0, 20));
  // Resent from byte 10 with the rest of request 1 and all of request 2.
  c.send('client', req1.slice(10) + req2, { seq: start + 10 });
  c.next.client = (start + req1.length + req2.length) >>> 0;
  c.send('server', httpResponse() + httpResponse(204, ''), { ack: true });
  const conn = only(track(c.packets));
  assert.equal(conn.requests, 2);
  assert.equal(conn.responses, 2);
  assert.deepEqual(conn.statusCodes, [200, 204]);
  assert.equal(conn.bytesFromClient, req1.length + req2.length);
  assert.deepEqual(conn.notes, ['1 retransmitted segment']);
});

test('tracker: out-of-order segments are delivered in order', () => {
  const req = httpGet('/split', { 'X-Long': 'y'.repeat(100) });
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', req.slice(0, 30));
  c.send('client', req.slice(30, 80));
  c.send('client', req.slice(80));
  c.send('server', httpResponse(200, 'ok'), { ack: true });
  const [syn, synAck, ack, a, b, d, ...rest] = c.packets;
  // a arrives last but it is the first: b and d wait for it, then all three are framed.
  const conn = only(track([syn!, synAck!, ack!, d!, b!, a!, ...rest]));
  assert.equal(conn.requests, 1);
  assert.equal(conn.responses, 1);
  assert.equal(conn.bytesFromClient, req.length);
  assert.deepEqual(conn.notes, ['2 out-of-order segments']);
});

test('tracker: a hole never filled: its bytes are lost, counting goes on', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet('/big'), { ack: true });
  const body = 'b'.repeat(3000);
  const head = httpResponse(200, body).slice(0, -3000);
  c.send('server', head + body.slice(0, 1000));
  const lost = c.packets.length;
  c.send('server', body.slice(1000, 2000));
  c.send('server', body.slice(2000), { ack: true });
  c.send('client', httpGet('/next'), { ack: true });
  c.send('server', httpResponse(200, 'small'), { ack: true });
  c.close('client');
  const packets = c.packets.filter((_, i) => i !== lost);
  const r = track(packets);
  const conn = only(r);
  assert.equal(conn.requests, 2);
  assert.equal(conn.responses, 2);
  assert.deepEqual(conn.statusCodes, [200, 200]);
  assert.equal(conn.bytesFromServer, head.length + 2000 + httpResponse(200, 'small').length);
  assert.ok(conn.notes.includes('1000 payload bytes not captured'), conn.notes.join('; '));
  // The first response lost part of its body: a partial message, the rest of the record whole.
  assert.equal(conn.partialResponses, 1);
  assert.equal(conn.partialRequests, undefined);
  assert.deepEqual(
    r.warnings.map((w) => w.code),
    ['KAL_WARN_MISSING_BYTES', 'KAL_WARN_PARTIAL_MESSAGES'],
  );
  assert.equal(conn.closedFirstBy, 'client');
  assert.equal(conn.openAtEnd, false);
});

test('tracker: a hole is given up after enough later segments (bounded buffering)', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet('/0'), { ack: true });
  const lostAt = c.packets.length;
  c.send('server', httpResponse(200, 'zero'));
  const requests = 200;
  for (let i = 1; i < requests; i++) {
    c.send('client', httpGet(`/${i}`), { ack: true });
    c.send('server', httpResponse(200, 'r' + i), { ack: true });
  }
  const conn = only(track(c.packets.filter((_, i) => i !== lostAt)));
  assert.equal(conn.requests, requests);
  // The first response is lost with its whole head: framing resumes at the next status line.
  assert.equal(conn.responses, requests - 1);
  assert.ok(
    conn.notes.some((n) => /HTTP framing of the server's bytes lost at byte 0/.test(n)),
    conn.notes.join('; '),
  );
  assert.ok(conn.notes.includes('HTTP framing resumed 1 time at the next message start'), conn.notes.join('; '));
  assert.ok(
    conn.notes.includes(`${httpResponse(200, 'zero').length} payload bytes not captured`),
    conn.notes.join('; '),
  );
});

test('tracker: sequence numbers wrap around at 2^32 in the middle of a request', () => {
  const req = httpGet('/wrap', { 'X-Pad': 'p'.repeat(50) });
  for (const isnOffset of [1, 10, 40, req.length - 1, req.length]) {
    const isn = 2 ** 32 - isnOffset; // the SYN takes isn, data starts at isn + 1
    const c = new Conversation(CLIENT, SERVER, { clientIsn: isn, serverIsn: 2 ** 32 - 1 });
    c.handshake();
    c.send('client', req.slice(0, 30));
    c.send('client', req.slice(30), { ack: true });
    c.send('server', httpResponse(), { ack: true });
    c.send('client', httpGet('/after'), { ack: true });
    c.send('server', httpResponse(), { ack: true });
    c.close('client');
    const conn = only(track(c.packets));
    assert.equal(conn.requests, 2, `isn 2^32-${isnOffset}`);
    assert.equal(conn.responses, 2, `isn 2^32-${isnOffset}`);
    assert.equal(conn.bytesFromClient, req.length + httpGet('/after').length);
    assert.deepEqual(conn.notes, [], `isn 2^32-${isnOffset}`);
    assert.equal(conn.timeWait, 'client');

    // Reordered across the wrap: still in order after reassembly.
    const swapped = [...c.packets];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    const conn2 = only(track(swapped));
    assert.equal(conn2.requests, 2);
    assert.deepEqual(conn2.notes, ['1 out-of-order segment']);
  }
});

test('tracker: a new SYN on a 4-tuple whose connection ended is a new connection', () => {
  const first = keepAlive(2, 'client', { clientIsn: 1000 });
  const second = keepAlive(3, 'client', { clientIsn: 900_000, start: first.time + 1000 });
  const r = track([...first.packets, ...second.packets]);
  assert.equal(r.connections.length, 2);
  assert.deepEqual(
    r.connections.map((c) => [c.id, c.requests, c.startedBefore, c.openAtEnd, c.timeWait]),
    [
      [1, 2, false, false, 'client'],
      [2, 3, false, false, 'client'],
    ],
  );
  assert.equal(r.syns, 2);

  // Same after a RST, and after a connection that only half-closed but comes with a new ISN.
  const reset = new Conversation(CLIENT, SERVER).handshake();
  reset.send('client', httpGet(), { ack: true });
  reset.rst('client');
  const again = keepAlive(1, 'client', { clientIsn: 77_777, start: reset.time + 10 });
  const r2 = track([...reset.packets, ...again.packets]);
  assert.deepEqual(
    r2.connections.map((c) => [c.requests, c.resetBy]),
    [
      [1, 'client'],
      [1, null],
    ],
  );
});

test('tracker: a retransmitted SYN is not a new connection', () => {
  const c = new Conversation(CLIENT, SERVER);
  const syn = c.syn();
  c.packets.push({ ...syn, ts: syn.ts! + 1_000_000 }); // resent after 1 s
  c.wait(1000);
  c.synAck();
  c.ack('client');
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(), { ack: true });
  const r = track(c.packets);
  const conn = only(r);
  assert.equal(r.syns, 1);
  assert.equal(conn.requests, 1);
  assert.deepEqual(conn.notes, ['SYN sent 2 times']);
  // RTT from the first SYN: the handshake cost the retransmission timeout.
  assert.equal(conn.handshakeRttMs, 1000.1);
});

test('tracker: payloads cut by the snap length: requests still counted, missing bytes said', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet('/a'), { ack: true });
  c.send('server', httpResponse(200, 5000), { ack: true });
  c.send('client', httpGet('/b'), { ack: true });
  c.send('server', httpResponse(200, 7000), { ack: true });
  c.close('client');
  const tracker = new ConnectionTracker();
  for (const p of c.packets) {
    const text = Buffer.from(p.payload ?? '').toString('latin1');
    // Only the server's big responses are cut: each keeps its head and 100 bytes of body.
    const cut = p.srcPort === SERVER.port && text.length > 1000 ? text.indexOf('\r\n\r\n') + 4 + 100 : undefined;
    tracker.packet(toTcpPacket(p, cut));
  }
  const r = tracker.result();
  const conn = only(r);
  assert.equal(conn.requests, 2);
  assert.equal(conn.responses, 2);
  assert.equal(conn.bytesFromServer, httpResponse(200, 5000).length + httpResponse(200, 7000).length);
  assert.ok(conn.notes.includes(`${4900 + 6900} payload bytes not captured`), conn.notes.join('; '));
  assert.equal(conn.partialResponses, 2, 'both responses lost part of their body');
  assert.equal(conn.partialRequests, undefined);
  assert.deepEqual(
    r.warnings.map((w) => w.code),
    ['KAL_WARN_MISSING_BYTES', 'KAL_WARN_PARTIAL_MESSAGES'],
  );
  assert.equal(conn.timeWait, 'client');
});

test('tracker: bytes cut by the snap length are counted as lost on any connection, HTTP framed or not', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', 'x'.repeat(500), { ack: true });
  for (const http of [true, false]) {
    const tracker = new ConnectionTracker({ http });
    for (const p of c.packets) tracker.packet(toTcpPacket(p, 0));
    const r = tracker.result();
    assert.equal(only(r).bytesFromClient, 500);
    assert.ok(only(r).notes.includes('500 payload bytes not captured'), `http ${http}: ${only(r).notes.join('; ')}`);
    assert.deepEqual(
      r.warnings.map((w) => w.code),
      ['KAL_WARN_MISSING_BYTES'],
      `http ${http}`,
    );
  }
});

test('tracker: pipelined requests in one segment, responses in another', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet('/1') + httpGet('/2') + httpGet('/3'), { ack: true });
  c.send('server', httpResponse(200, 'a') + httpResponse(301, '') + httpResponse(200, 'ccc'), { ack: true });
  c.close('client');
  const conn = only(track(c.packets));
  assert.equal(conn.requests, 3);
  assert.equal(conn.responses, 3);
  assert.deepEqual(conn.statusCodes, [200, 301, 200]);
});

test('tracker: a connection that is not HTTP: bytes counted, no request, said in the notes', () => {
  const c = new Conversation({ address: '10.0.0.1', port: 40022 }, { address: '10.0.0.2', port: 22 }).handshake();
  c.send('server', 'SSH-2.0-OpenSSH_9.2\r\n', { ack: true });
  c.send('client', 'SSH-2.0-OpenSSH_9.2\r\n', { ack: true });
  c.send(
    'client',
    Uint8Array.from({ length: 300 }, (_, i) => i & 0xff),
    { ack: true },
  );
  c.close('client');
  const r = track(c.packets);
  const conn = only(r);
  assert.equal(conn.requests, 0);
  assert.equal(conn.responses, 0);
  assert.equal(conn.bytesFromClient, 321);
  assert.equal(conn.bytesFromServer, 21);
  assert.deepEqual(conn.notes, ['not HTTP/1.x or HTTP/2 or TLS']);
  assert.equal(conn.timeWait, 'client');
  // --no-http: nothing is framed, so nothing is said about HTTP.
  assert.deepEqual(only(track(c.packets, { http: false })).notes, []);
});

test('tracker: a connection that began and ended outside the capture', () => {
  const c = keepAlive(4, 'client');
  // Keep only the middle: from the second request to the third response (no SYN, no FIN).
  const middle = c.packets.slice(7, 15);
  const r = track(middle);
  const conn = only(r);
  assert.equal(conn.startedBefore, true);
  assert.equal(conn.openAtEnd, true);
  assert.equal(conn.handshakeRttMs, null);
  assert.equal(conn.closedFirstBy, null);
  assert.equal(conn.requests, 2);
  assert.equal(r.syns, 0);
});

test('tracker: a capture that joins in the middle of a response body still counts the later requests', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet('/first'), { ack: true });
  const response = httpResponse(200, 3000);
  c.send('server', response.slice(0, 1000));
  const joinAt = c.packets.length;
  c.send('server', response.slice(1000, 2000));
  c.send('server', response.slice(2000), { ack: true });
  for (let i = 0; i < 3; i++) {
    c.send('client', httpGet(`/later${i}`), { ack: true });
    c.send('server', httpResponse(200, 'ok'), { ack: true });
  }
  const conn = only(track(c.packets.slice(joinAt)));
  assert.deepEqual(conn.client, CLIENT);
  assert.equal(conn.requests, 3);
  assert.equal(conn.responses, 3);
  assert.equal(conn.startedBefore, true);
});

test('tracker: many connections at once are kept apart; openConnections follows them', () => {
  const tracker = new ConnectionTracker();
  const convs = Array.from({ length: 20 }, (_, i) => {
    const c = new Conversation({ address: '10.0.0.1', port: 40000 + i }, SERVER, { clientIsn: i * 1_000_003 });
    c.handshake();
    c.send('client', httpGet(`/${i}`), { ack: true });
    c.send('server', httpResponse(200, i), { ack: true });
    if (i % 2 === 0) c.close('server');
    return c.packets;
  });
  // Interleave: one segment of each connection in turn.
  const longest = Math.max(...convs.map((c) => c.length));
  for (let k = 0; k < longest; k++) for (const c of convs) if (c[k]) tracker.packet(toTcpPacket(c[k]!));
  assert.equal(tracker.connectionCount, 20);
  assert.equal(tracker.openConnections, 10);
  const r = tracker.result();
  assert.equal(r.connections.length, 20);
  assert.equal(r.syns, 20);
  assert.deepEqual(
    r.connections.map((c) => c.requests),
    new Array<number>(20).fill(1),
  );
  assert.deepEqual(
    r.connections.map((c) => c.client.port),
    convs.map((_, i) => 40000 + i),
  );
  assert.equal(r.connections.filter((c) => c.timeWait === 'server').length, 10);
});

test('tracker: result() can be asked twice and the tracker goes on', () => {
  const c = keepAlive(2, 'client');
  const tracker = new ConnectionTracker();
  const half = c.packets.length >> 1;
  for (const p of c.packets.slice(0, half)) tracker.packet(toTcpPacket(p));
  const early = tracker.result();
  assert.equal(early.connections[0]!.openAtEnd, true);
  for (const p of c.packets.slice(half)) tracker.packet(toTcpPacket(p));
  const late = tracker.result();
  assert.equal(late.connections.length, 1);
  assert.equal(late.connections[0]!.requests, 2);
  assert.equal(late.connections[0]!.openAtEnd, false);
});

test('tracker: IPv6 endpoints', () => {
  const c = new Conversation({ address: '2001:db8::1', port: 50000 }, { address: '2001:db8::2', port: 8080 });
  c.handshake();
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(), { ack: true });
  c.close('server');
  const conn = only(track(c.packets));
  assert.equal(conn.client.address, '2001:db8::1');
  assert.equal(conn.requests, 1);
  assert.equal(conn.timeWait, 'server');
});

test('tracker: out-of-order bytes held over all connections stay under maxTotalBufferedBytes', () => {
  // 300 connections, each missing one response segment and holding the 10 that follow it.
  const limit = 100_000;
  const tracker = new ConnectionTracker({ maxTotalBufferedBytes: limit });
  let peak = 0;
  const chunk = 'c'.repeat(1000);
  for (let i = 0; i < 300; i++) {
    const c = new Conversation({ address: '10.0.0.1', port: 20000 + i }, SERVER).handshake();
    c.send('client', httpGet(), { ack: true });
    c.send('server', httpResponse(200, 11_000).slice(0, -11_000));
    const lost = c.packets.length;
    for (let k = 0; k < 11; k++) c.send('server', chunk);
    c.packets.forEach((p, k) => {
      if (k !== lost) tracker.packet(toTcpPacket(p));
      peak = Math.max(peak, tracker.bufferedBytes);
    });
  }
  assert.ok(peak <= limit, `peak ${peak} bytes buffered`);
  assert.ok(peak > limit - 20_000, `the limit was reached (peak ${peak})`);
  const r = tracker.result();
  assert.equal(tracker.bufferedBytes, 0);
  assert.equal(r.connections.length, 300);
  for (const conn of r.connections) {
    assert.equal(conn.requests, 1);
    assert.equal(conn.responses, 1);
    assert.equal(conn.bytesFromServer, httpResponse(200, 11_000).length - 1000);
    assert.ok(conn.notes.includes('1000 payload bytes not captured'), conn.notes.join('; '));
  }
});

/** A keep-alive connection of `n` request/response pairs whose packets `lose` never reached the capture. */
function lossy(
  n: number,
  lose: (i: number, side: 'client' | 'server') => boolean,
): { packets: TcpPacketSpec[]; lost: number } {
  const c = new Conversation(CLIENT, SERVER).handshake();
  const dropped = new Set<TcpPacketSpec>();
  let lost = 0;
  for (let i = 0; i < n; i++) {
    const req = c.send('client', httpGet(`/${i}`), { ack: true });
    const res = c.send('server', httpResponse(200, 'r' + i), { ack: true });
    if (lose(i, 'client')) dropped.add(req);
    if (lose(i, 'server')) dropped.add(res);
    if (lose(i, 'client') || lose(i, 'server')) lost++;
  }
  c.close('client');
  return { packets: c.packets.filter((p) => !dropped.has(p)), lost };
}

test('tracker: a request and its response missing from the capture: framing resumes at the next request', () => {
  const { packets } = lossy(10, (i) => i === 2);
  const conn = only(track(packets));
  assert.equal(conn.requests, 9);
  assert.equal(conn.responses, 9);
  assert.deepEqual(conn.statusCodes, new Array<number>(9).fill(200));
  assert.ok(conn.notes.includes('HTTP framing resumed 1 time at the next message start'), conn.notes.join('; '));
  assert.equal(conn.timeWait, 'client');
});

test('tracker: losses all along a long keep-alive connection (holes given up while streaming)', () => {
  // Every 10th exchange lost: 30 holes, each given up after 64 later segments or at the end.
  const { packets, lost } = lossy(300, (i) => i % 10 === 5);
  const conn = only(track(packets));
  assert.equal(lost, 30);
  assert.equal(conn.requests, 270);
  assert.equal(conn.responses, 270);
  // Only the client's requests lost: the responses to them are framed without a request.
  const clientOnly = only(track(lossy(100, (i, side) => side === 'client' && i % 25 === 3).packets));
  assert.equal(clientOnly.requests, 96);
  assert.ok(clientOnly.responses >= 96 - 4, `${clientOnly.responses} responses`);
});
