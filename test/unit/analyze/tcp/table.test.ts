/**
 * The connection lifecycle of src/analyze/tcp/table.ts, driven through the ConnectionTracker (which
 * hands the records over): finished connections are retired (record handed to onConnection, state
 * let go) so that memory follows the connections open at once: late packets of a retired connection
 * are not a new connection, a SYN on its 4-tuple is, ids stay in order of first appearance, and the
 * records are those of the tracker that keeps everything until the end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_LINGERING } from '../../../../src/analyze/tcp/table.js';
import { ConnectionTracker } from '../../../../src/analyze/tracker.js';
import type { TrackerOptions } from '../../../../src/analyze/tracker.js';
import type { ConnectionRecord } from '../../../../src/model/report.js';
import type { TcpPacketSpec } from '../../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse, toTcpPacket } from '../../../support/tcp-conversation.js';

const CLIENT = { address: '10.0.0.1', port: 50000 };
const SERVER = { address: '10.0.0.2', port: 80 };
/** More than the capture time a closed connection waits for late packets (CLOSED_LINGER_US: 1 s). */
const AFTER_LINGER_MS = 1500;

/** Records as handed over while the packets are fed, then at end(). */
function streamed(
  packets: readonly TcpPacketSpec[],
  options: TrackerOptions = {},
): { tracker: ConnectionTracker; beforeEnd: ConnectionRecord[]; all: ConnectionRecord[] } {
  const all: ConnectionRecord[] = [];
  const tracker = new ConnectionTracker({ ...options, onConnection: (r) => all.push(r) });
  for (const p of packets) tracker.packet(toTcpPacket(p));
  const beforeEnd = [...all];
  tracker.end();
  return { tracker, beforeEnd, all };
}

function kept(packets: readonly TcpPacketSpec[], options: TrackerOptions = {}): ConnectionRecord[] {
  const tracker = new ConnectionTracker(options);
  for (const p of packets) tracker.packet(toTcpPacket(p));
  return tracker.result().connections;
}

function exchange(client = CLIENT, start?: number, clientIsn?: number): Conversation {
  const c = new Conversation(client, SERVER, {
    ...(start === undefined ? {} : { start }),
    ...(clientIsn === undefined ? {} : { clientIsn }),
  }).handshake();
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 'ok'), { ack: true });
  return c;
}

const lateSegmentsName =
  'tracker retire: late ACKs, a retransmitted FIN and a stray data segment ' +
  'after the close are not a new connection';
test(lateSegmentsName, () => {
  const c = exchange();
  c.close('client');
  const lastAck = c.packets[c.packets.length - 1]!;
  const serverFin = c.packets[c.packets.length - 2]!;
  c.wait(AFTER_LINGER_MS);
  // The close is long over: the connection is retired by now (the next packet's time says so).
  c.packets.push({ ...lastAck, ts: c.time + 1 }, { ...serverFin, ts: c.time + 2 }, { ...lastAck, ts: c.time + 3 });
  c.segment('server', 'PA', 'stray bytes', { seq: serverFin.seq! - 5 });
  const { tracker, beforeEnd, all } = streamed(c.packets);
  assert.equal(all.length, 1, 'one connection');
  assert.equal(beforeEnd.length, 1, 'handed over before the end: retired');
  assert.equal(tracker.latePackets, 4, 'every packet after the linger time: ignored');
  assert.equal(all[0]!.requests, 1);
  assert.equal(all[0]!.openAtEnd, false);
  assert.equal(all[0]!.timeWait, 'client');
  assert.equal(all[0]!.end, lastAck.ts! / 1000, 'ends with its last ACK');
  assert.equal(tracker.connectionCount, 1);
  assert.equal(tracker.liveConnections, 0);
  assert.deepEqual(kept(c.packets), all, 'the same records when the tracker keeps them');
});

test('tracker retire: a RST after the close, within the linger time, still counts; after it, it is ignored', () => {
  const soon = exchange();
  soon.close('client');
  soon.rst('client', { advance: false });
  const a = streamed(soon.packets);
  assert.equal(a.all.length, 1);
  assert.equal(a.all[0]!.resetBy, 'client');
  assert.equal(a.all[0]!.timeWait, null);

  const late = exchange();
  late.close('client');
  late.wait(AFTER_LINGER_MS);
  late.ack('server');
  late.rst('client', { advance: false });
  const b = streamed(late.packets);
  assert.equal(b.all.length, 1);
  assert.equal(b.all[0]!.resetBy, null);
  assert.equal(b.all[0]!.timeWait, 'client');
  assert.equal(b.tracker.latePackets, 2, 'the ACK and the RST');
});

test('tracker retire: data still in flight after a RST is framed (the connection lingers)', () => {
  const c = new Conversation(CLIENT, SERVER).handshake();
  c.send('client', httpGet(), { ack: true });
  c.rst('client');
  // The server had sent its response before the RST reached it.
  c.send('server', httpResponse(200, 'late but counted'));
  const { all } = streamed(c.packets);
  assert.equal(all.length, 1);
  assert.equal(all[0]!.resetBy, 'client');
  assert.equal(all[0]!.responses, 1);
});

test('tracker retire: a new SYN on a retired 4-tuple is a new connection; ids in order of first appearance', () => {
  const first = exchange();
  first.close('server');
  // A new connection on the 4-tuple starts from a new initial sequence number (RFC 9293 section 3.4.1).
  const second = exchange(CLIENT, first.time + AFTER_LINGER_MS * 1000 * 3, 900_000);
  second.close('client');
  const third = exchange({ ...CLIENT, port: 50001 }, second.time + 10);
  const packets = [...first.packets, ...second.packets, ...third.packets];
  const { all, beforeEnd, tracker } = streamed(packets);
  assert.deepEqual(
    all.map((r) => [r.id, r.client.port, r.closedFirstBy, r.openAtEnd]),
    [
      [1, 50000, 'server', false],
      [2, 50000, 'client', false],
      [3, 50001, null, true],
    ],
  );
  assert.equal(
    beforeEnd.length,
    1,
    'the first was retired by the time the second began; the second closed moments before the end',
  );
  assert.equal(tracker.latePackets, 0);
  assert.deepEqual(kept(packets), all);
});

test('tracker retire: the first SYN again (same ISN) after the close is a late packet, not a new connection', () => {
  // As tshark's tcp.stream: a SYN duplicated on the way, or captured again, arriving after the close;
  // whether the connection still lingers (closed moments before) or was retired already.
  for (const wait of [10, AFTER_LINGER_MS * 1000 * 3]) {
    const c = exchange();
    c.close('client');
    const syn = c.packets[0]!;
    const packets = [...c.packets, { ...syn, ts: c.time + wait }];
    const { all, tracker } = streamed(packets);
    assert.equal(all.length, 1, `${wait} µs after the close`);
    assert.equal(all[0]!.requests, 1);
    assert.equal(all[0]!.closedFirstBy, 'client');
    if (wait > 10) assert.equal(tracker.latePackets, 1, 'counted as a late packet of the retired connection');
    else assert.deepEqual(all[0]!.notes, ['SYN sent 2 times']);
  }
});

test('tracker retire: a SYN reusing the 4-tuple of a connection still open retires it at once (open at end)', () => {
  const first = exchange();
  const second = exchange(CLIENT, first.time + 1000);
  second.packets[0] = { ...second.packets[0]!, seq: 777 };
  const { all, beforeEnd } = streamed([...first.packets, ...second.packets]);
  assert.equal(beforeEnd.length, 1);
  assert.deepEqual(
    all.map((r) => [r.id, r.openAtEnd, r.requests]),
    [
      [1, true, 1],
      [2, true, 1],
    ],
  );
});

test('tracker retire: end() hands over the connections still open in id order', () => {
  const convs = [0, 1, 2, 3].map((i) => exchange({ ...CLIENT, port: 50100 + i }, 1_700_000_000_000_000 + i * 10));
  // Interleaved; the last to start closes first.
  const packets = convs.flatMap((c) => c.packets).sort((a, b) => a.ts! - b.ts!);
  convs[3]!.close('client');
  packets.push(...convs[3]!.packets.slice(-3));
  const { all, beforeEnd } = streamed(packets);
  assert.equal(beforeEnd.length, 0, 'closed moments ago: still waiting for late packets');
  assert.deepEqual(
    all.map((r) => r.id),
    [1, 2, 3, 4],
  );
});

test('tracker retire: on a long churn of short connections, the connections held stay bounded', () => {
  const tracker = new ConnectionTracker({ onConnection: () => undefined });
  let most = 0;
  let ts = 1_700_000_000_000_000;
  const total = 20_000;
  // 10 at a time, as `ab -c 10` without keep-alive: each on its own ephemeral port, reused in turn.
  for (let i = 0; i < total; i += 10) {
    const batch = Array.from({ length: 10 }, (_, k) => {
      const c = new Conversation({ ...CLIENT, port: 32768 + ((i + k) % 28000) }, SERVER, {
        start: ts + k,
        step: 10,
        clientIsn: i + k,
      });
      c.handshake(0.01);
      c.send('client', httpGet(), { ack: true });
      c.send('server', httpResponse(200, 'x'), { ack: true });
      c.close('server');
      return c.packets;
    });
    const packets = batch.flat().sort((a, b) => a.ts! - b.ts!);
    for (const p of packets) {
      tracker.packet(toTcpPacket(p));
      most = Math.max(most, tracker.liveConnections);
    }
    ts = packets[packets.length - 1]!.ts! + 50;
  }
  tracker.end();
  assert.equal(tracker.connectionCount, total);
  assert.equal(tracker.liveConnections, 0);
  assert.equal(tracker.latePackets, 0);
  // Open at once: 10; closed and waiting for late packets: at most MAX_LINGERING (1024).
  assert.equal(MAX_LINGERING, 1024);
  assert.ok(most <= MAX_LINGERING + 10, `at most ${most} connections held`);
});
