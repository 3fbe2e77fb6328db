/**
 * Handshakes that never complete (src/analyze/tcp/table.ts): a connection that has seen only SYNs and
 * SYN/ACKs expires after HANDSHAKE_IDLE_US of capture time without a packet, and at most
 * MAX_HANDSHAKES wait at once, so that memory follows the connections open at once, not the SYNs a
 * capture holds (issue 8: 300,000 unanswered SYNs held 1.5 GB). Each expired record says so.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeSynFloodCapture } from '../../../support/synthetic.js';
import { CaptureAnalysis } from '../../../../src/analyze/capture-analysis.js';
import { HANDSHAKE_IDLE_US, MAX_HANDSHAKES } from '../../../../src/analyze/tcp/table.js';
import { ConnectionTracker } from '../../../../src/analyze/tracker.js';
import type { ConnectionRecord } from '../../../../src/model/report.js';
import type { TcpPacketSpec } from '../../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse, toTcpPacket } from '../../../support/tcp-conversation.js';

const SERVER = { address: '10.0.0.2', port: 80 };
const T0 = 1_700_000_000_000_000;
const SECOND = 1_000_000;
/** When Linux retransmits an unanswered SYN (tcp_syn_retries = 6, RTO from 1 s, doubling), in seconds. */
const SYN_RETRIES_S = [1, 3, 7, 15, 31, 63];

function client(i: number): { address: string; port: number } {
  return { address: `10.1.${(i >> 8) & 255}.${i & 255}`, port: 40000 + (i % 20000) };
}

/** Every record as it is handed over, and the most connections the tracker held at once. */
function track(packets: Iterable<TcpPacketSpec>): {
  records: ConnectionRecord[];
  most: number;
  tracker: ConnectionTracker;
} {
  const records: ConnectionRecord[] = [];
  const tracker = new ConnectionTracker({ onConnection: (r) => records.push(r) });
  let most = 0;
  for (const p of packets) {
    tracker.packet(toTcpPacket(p));
    most = Math.max(most, tracker.liveConnections);
  }
  tracker.end();
  records.sort((a, b) => a.id - b.id);
  return { records, most, tracker };
}

test('handshakes: the named limits are those of Linux (127 s of SYN retries, a SYN queue of 2048)', () => {
  assert.equal(HANDSHAKE_IDLE_US, 127 * SECOND);
  assert.equal(SYN_RETRIES_S.at(-1)! + 64, 127, 'the last retransmission at 63 s, given up 64 s later: 1+2+4+...+64');
  assert.equal(MAX_HANDSHAKES, 2048);
});

test('handshakes: an unanswered SYN expires after 127 s without a packet, and says so', () => {
  const c = new Conversation(client(1), SERVER, { start: T0 });
  c.syn();
  // Another connection's traffic moves the capture clock on.
  const other = new Conversation(client(2), SERVER, { start: T0 + 200 * SECOND }).handshake();
  other.send('client', httpGet(), { ack: true });
  const { records, tracker } = track([...c.packets, ...other.packets]);
  assert.equal(records.length, 2);
  const expired = records[0]!;
  assert.equal(expired.openAtEnd, false, 'given up: not open at the end of the capture');
  assert.equal(expired.closedFirstBy, null);
  assert.equal(expired.resetBy, null);
  assert.deepEqual(expired.notes, ['handshake never completed: no packet for 200 s, expired']);
  assert.equal(records[1]!.openAtEnd, true, 'an established connection, idle or not, is never expired');
  assert.deepEqual(records[1]!.notes, []);
  assert.equal(tracker.result().warnings.length, 0);
});

test('handshakes: SYN retransmissions keep it waiting; answered at last, it is one ordinary connection', () => {
  const c = new Conversation(client(1), SERVER, { start: T0 });
  c.syn();
  for (const s of SYN_RETRIES_S) c.syn({ ts: T0 + s * SECOND, seq: c.isn.client, advance: false });
  c.wait(100_000); // 100 s after the last retransmission: less than 127 s without a packet
  c.synAck();
  c.ack('client');
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(200, 'late'), { ack: true });
  c.close('client');
  const { records } = track(c.packets);
  assert.equal(records.length, 1);
  assert.equal(records[0]!.requests, 1);
  assert.equal(records[0]!.timeWait, 'client');
  assert.deepEqual(records[0]!.notes, ['SYN sent 7 times']);
});

test('handshakes: an expired 4-tuple is remembered: a late packet is ignored, a new SYN is a new connection', () => {
  const c = new Conversation(client(1), SERVER, { start: T0 });
  c.syn();
  c.wait(130_000);
  c.rst('server', { advance: false }); // late: after the expiry
  c.wait(1000);
  c.syn({ seq: 99_999 }); // a new connect() on the same port
  const { records, tracker } = track(c.packets);
  assert.equal(tracker.latePackets, 1, 'the RST');
  assert.deepEqual(
    records.map((r) => [r.id, r.openAtEnd, r.notes.length]),
    [
      [1, false, 1],
      [2, true, 0],
    ],
  );
});

test('handshakes: unanswered SYNs spread over capture time expire by idleness alone, bounded', () => {
  // 10 SYNs a second for 1000 s: each waits between 127 and 254 s (checked lazily), so about 2540 at most.
  const total = 10_000;
  function* syns(): Generator<TcpPacketSpec> {
    for (let i = 0; i < total; i++) yield new Conversation(client(i), SERVER, { start: T0 + i * 100_000 }).syn();
  }
  const { records, most, tracker } = track(syns());
  assert.equal(records.length, total);
  assert.ok(most <= 2 * (HANDSHAKE_IDLE_US / 100_000) + 1, `${most} held at once`);
  assert.ok(most < MAX_HANDSHAKES, 'the cap was never reached');
  assert.equal(tracker.result().warnings.length, 0);
  const expired = records.filter((r) => /^handshake never completed: no packet for \d+ s, expired$/.test(r.notes[0]!));
  assert.ok(expired.length > total * 0.7, `${expired.length} expired before the end`);
  assert.equal(records.filter((r) => r.openAtEnd).length + expired.length, total, 'the rest still open at the end');
});

test('handshakes: a SYN flood file keeps at most MAX_HANDSHAKES; the oldest are given up early, with a warning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-flood-'));
  try {
    const path = join(dir, 'flood.pcap');
    const total = 20_000;
    const meta = writeSynFloodCapture({ path, connections: total });
    assert.equal(meta.bytes, 24 + total * 70, 'bare SYNs: 70 bytes a record');
    const bytes = readFileSync(path);
    const records: ConnectionRecord[] = [];
    const analysis = new CaptureAnalysis({ keepConnections: 0, onConnection: (r) => records.push(r) });
    let most = 0;
    for (let at = 0; at < bytes.length; at += 65536) {
      analysis.push(bytes.subarray(at, at + 65536));
      most = Math.max(most, analysis.tracker.liveConnections);
    }
    analysis.end();
    const { report } = analysis.result();
    assert.equal(most, MAX_HANDSHAKES);
    assert.equal(report.totals.connections, total);
    assert.equal(report.totals.syns, total);
    assert.equal(records.length, total);
    const cut = total - MAX_HANDSHAKES;
    assert.deepEqual(report.warnings, [
      {
        code: 'KAL_WARN_HANDSHAKES_CUT',
        message:
          `${cut} connections still in their handshake were given up early: more than ${MAX_HANDSHAKES} at once ` +
          '(a SYN flood?); an answer after that counts as another connection',
      },
    ]);
    assert.equal(records.filter((r) => /given up early/.test(r.notes.join())).length, cut);
    assert.equal(records.filter((r) => r.openAtEnd).length, MAX_HANDSHAKES, 'the last ones, open at the end');
    // One SYN every 100 us: 2048 of them span 0.2 s.
    assert.match(records[0]!.notes[0]!, /^handshake not completed after 0\.2 s: given up early, more than 2048/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('handshakes: one given up early and answered after all: the rest of it is still seen', () => {
  // MAX_HANDSHAKES + 1 SYNs within a millisecond: the first is given up; then its answer comes.
  const first = new Conversation(client(0), SERVER, { start: T0 });
  first.syn();
  const flood = Array.from({ length: MAX_HANDSHAKES }, (_, i) =>
    new Conversation(client(i + 1), SERVER, { start: T0 + 1 }).syn(),
  );
  first.wait(5);
  first.synAck();
  first.ack('client');
  first.send('client', httpGet(), { ack: true });
  first.send('server', httpResponse(200, 'ok'), { ack: true });
  const { records, tracker } = track([first.packets[0]!, ...flood, ...first.packets.slice(1)]);
  assert.equal(tracker.connectionCount, MAX_HANDSHAKES + 2);
  const [given, , ...rest] = records;
  assert.match(given!.notes[0]!, /given up early/);
  const answered = rest.at(-1)!;
  assert.deepEqual(answered.client, client(0));
  assert.equal(answered.startedBefore, true, 'its SYN went with the first record');
  assert.equal(answered.requests, 1);
  assert.equal(answered.responses, 1);
  assert.equal(tracker.result().warnings[0]!.code, 'KAL_WARN_HANDSHAKES_CUT');
});

test('handshakes: a SYN repeated out of order, a SYN/ACK seen before its SYN: records as of whole connections', () => {
  // Retransmissions captured out of order: the connection starts at the earliest, ends at the latest.
  const c = new Conversation(client(1), SERVER, { start: T0 });
  c.syn({ ts: T0 + 2 * SECOND });
  c.syn({ ts: T0 + SECOND, seq: c.isn.client, advance: false });
  c.syn({ ts: T0 + 3 * SECOND, seq: c.isn.client, advance: false });
  const { records } = track(c.packets);
  assert.equal(records.length, 1);
  assert.equal(records[0]!.start, (T0 + SECOND) / 1000);
  assert.equal(records[0]!.end, (T0 + 3 * SECOND) / 1000);
  assert.deepEqual(records[0]!.notes, ['SYN sent 3 times']);
  assert.equal(records[0]!.startedBefore, false);

  // `-i any` on several CPUs: the SYN/ACK first, then its SYN, then the rest.
  const r = new Conversation(client(2), SERVER, { start: T0 });
  r.handshake();
  r.send('client', httpGet(), { ack: true });
  r.send('server', httpResponse(200, 'ok'), { ack: true });
  r.close('client');
  const [syn, synAck, ...rest] = r.packets;
  const swapped = track([{ ...synAck!, ts: syn!.ts }, { ...syn!, ts: synAck!.ts }, ...rest]);
  assert.equal(swapped.records.length, 1);
  assert.equal(swapped.tracker.result().syns, 1);
  assert.deepEqual(swapped.records[0]!.client, client(2));
  assert.equal(swapped.records[0]!.startedBefore, false);
  assert.equal(swapped.records[0]!.requests, 1);
  assert.equal(swapped.records[0]!.timeWait, 'client');
});
