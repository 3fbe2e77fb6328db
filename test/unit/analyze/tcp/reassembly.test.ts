/**
 * TCP reassembly (src/analyze/tcp/reassembly.ts) on its own: a Flow fed segments as a capture shows
 * them, a sink that records what comes out (ordered bytes, gaps, the FIN), and the hold budget.
 * Sequence numbers follow RFC 9293 section 3.4: the SYN and the FIN take one each, and they wrap
 * around at 2^32.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  Flow,
  HoldBudget,
  MAX_SEGMENTS_PAST_HOLE,
  giveUpHoles,
  type FlowSink,
} from '../../../../src/analyze/tcp/reassembly.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Records each call as one line: `data "bytes" @ts`, `gap N @ts`, `fin @ts`; `name` prefixes them. */
class Recorder implements FlowSink {
  constructor(
    readonly log: string[] = [],
    private readonly name = '',
  ) {}
  deliver(bytes: Uint8Array, ts: number): void {
    this.log.push(`${this.name}data "${new TextDecoder().decode(bytes)}" @${ts}`);
  }
  gap(missing: number, ts: number): void {
    this.log.push(`${this.name}gap ${missing} @${ts}`);
  }
  fin(ts: number): void {
    this.log.push(`${this.name}fin @${ts}`);
  }
}

function flow(isn = 1000, budget = new HoldBudget(1 << 20, 1 << 20)) {
  const sink = new Recorder();
  const f = new Flow(sink, budget);
  f.synchronize(isn);
  return { f, log: sink.log, budget };
}

/** A data segment: `data` from `seq`, `fin` after it. */
function send(f: Flow, seq: number, data: string, ts: number, fin = false): boolean {
  const bytes = text(data);
  return f.segment(seq >>> 0, bytes, bytes.length, fin, ts);
}

describe('Flow', () => {
  it('delivers segments in order, then the FIN after the data', () => {
    const { f, log } = flow(1000);
    send(f, 1001, 'GET ', 1);
    send(f, 1005, '/ HTTP/1.1', 2);
    send(f, 1015, '', 3, true);
    assert.deepEqual(log, ['data "GET " @1', 'data "/ HTTP/1.1" @2', 'fin @3']);
    assert.equal(f.bytes, 14);
    assert.deepEqual([f.retransmissions, f.outOfOrder, f.lostBytes], [0, 0, 0]);
  });

  it('a FIN on the last data segment comes after its bytes', () => {
    const { f, log } = flow(0);
    send(f, 1, 'bye', 5, true);
    assert.deepEqual(log, ['data "bye" @5', 'fin @5']);
  });

  it('holds a segment past a hole until the hole is filled, then delivers both in order', () => {
    const { f, log, budget } = flow(1000);
    assert.equal(send(f, 1004, 'def', 1), false);
    assert.deepEqual(log, []);
    assert.equal(f.holding, true);
    assert.equal(budget.bytes, 3);
    assert.deepEqual([...budget.holders], [f]);
    send(f, 1001, 'abc', 2);
    assert.deepEqual(log, ['data "abc" @2', 'data "def" @1']);
    assert.equal(f.outOfOrder, 1);
    assert.equal(f.holding, false);
    assert.equal(budget.bytes, 0);
    assert.equal(budget.holders.size, 0);
  });

  it('several held segments, and a held FIN, are delivered in sequence order whatever their arrival order', () => {
    const { f, log } = flow(0);
    send(f, 7, '', 1, true);
    send(f, 4, 'ccc', 2);
    send(f, 2, 'bb', 3);
    send(f, 1, 'a', 4);
    assert.deepEqual(log, ['data "a" @4', 'data "bb" @3', 'data "ccc" @2', 'fin @1']);
    assert.equal(f.outOfOrder, 3);
  });

  it('keeps a copy of what it holds: the capture buffer may be reused', () => {
    const { f, log } = flow(0);
    const bytes = text('later');
    f.segment(10, bytes, bytes.length, false, 1);
    bytes.fill(0x78);
    send(f, 1, '123456789', 2);
    assert.deepEqual(log, ['data "123456789" @2', 'data "later" @1']);
  });

  it('a retransmission brings only the bytes beyond what came, and is counted', () => {
    const { f, log } = flow(0);
    send(f, 1, 'abcd', 1);
    send(f, 1, 'abcd', 2); // all old
    send(f, 3, 'cdef', 3); // overlaps: "ef" is new
    assert.deepEqual(log, ['data "abcd" @1', 'data "ef" @3']);
    assert.equal(f.retransmissions, 2);
    assert.equal(f.bytes, 6);
  });

  it('a held segment that the filling one overlaps delivers only its new bytes', () => {
    const { f, log } = flow(0);
    send(f, 4, 'defg', 1); // held
    send(f, 1, 'abcdef', 2); // fills the hole and overlaps "def"
    assert.deepEqual(log, ['data "abcdef" @2', 'data "g" @1']);
    send(f, 8, 'hi', 3);
    assert.deepEqual(log.slice(2), ['data "hi" @3']);
  });

  it('a retransmitted FIN is delivered once', () => {
    const { f, log } = flow(0);
    send(f, 1, 'x', 1, true);
    send(f, 1, 'x', 2, true);
    send(f, 2, '', 3, true);
    assert.deepEqual(log, ['data "x" @1', 'fin @1']);
  });

  it('a hole given up: its bytes are a gap, then the segment after it', () => {
    const { f, log, budget } = flow(0);
    send(f, 1, 'ab', 1);
    send(f, 6, 'fg', 2);
    f.skipHole();
    assert.deepEqual(log, ['data "ab" @1', 'gap 3 @2', 'data "fg" @2']);
    assert.equal(f.lostBytes, 3);
    assert.equal(f.bytes, 4, 'bytes seen on the wire: not those of the hole');
    assert.equal(f.holding, false);
    assert.equal(budget.bytes, 0);
    send(f, 8, 'h', 3);
    assert.deepEqual(log.slice(3), ['data "h" @3']);
  });

  it(`asks to give a hole up once ${MAX_SEGMENTS_PAST_HOLE} segments have passed it, or too many bytes`, () => {
    const { f } = flow(0);
    let asked = 0;
    for (let i = 0; i <= MAX_SEGMENTS_PAST_HOLE; i++) if (send(f, 10 + i, 'x', i)) asked = i + 1;
    assert.equal(asked, MAX_SEGMENTS_PAST_HOLE + 1, 'the 65th segment past the hole');
    const small = flow(0, new HoldBudget(10, 1 << 20));
    assert.equal(send(small.f, 5, '0123456789', 1), false);
    assert.equal(send(small.f, 15, 'a', 2), true, 'more than maxPerFlow bytes held');
  });

  it('a segment cut by the snap length: the captured bytes, then the rest as a gap', () => {
    const { f, log } = flow(0);
    const captured = text('GET / HT');
    f.segment(1, captured, 20, false, 1);
    send(f, 21, 'next', 2);
    assert.deepEqual(log, ['data "GET / HT" @1', 'gap 12 @1', 'data "next" @2']);
    assert.equal(f.lostBytes, 12);
    assert.equal(f.bytes, 24);
  });

  it('sequence numbers wrap around at 2^32', () => {
    const { f, log } = flow(2 ** 32 - 3); // data starts at 2^32 - 2
    send(f, 2 ** 32 + 2, 'cd', 1); // held: after "ab" and the wrap
    send(f, 2 ** 32 - 2, 'abXY', 2); // crosses 2^32: "XY" are bytes 0 and 1
    assert.deepEqual(log, ['data "abXY" @2', 'data "cd" @1']);
    send(f, 2 ** 32 + 1, 'Ycd!', 3); // overlap across the wrap: "!" is new
    send(f, 5, '', 4, true);
    assert.deepEqual(log.slice(2), ['data "!" @3', 'fin @4']);
    assert.equal(f.retransmissions, 1);
  });

  it('joined mid-stream (no SYN): the first segment sets where the bytes start', () => {
    const sink = new Recorder();
    const f = new Flow(sink, new HoldBudget(100, 100));
    const bytes = text('middle');
    f.segment(123456, bytes, bytes.length, false, 1);
    assert.deepEqual(sink.log, ['data "middle" @1']);
  });
});

describe('giveUpHoles', () => {
  it("delivers both directions' held segments interleaved in capture order, the first flow first on a tie", () => {
    const log: string[] = [];
    const budget = new HoldBudget(1 << 20, 1 << 20);
    const client = new Flow(new Recorder(log, 'client '), budget);
    const server = new Flow(new Recorder(log, 'server '), budget);
    client.synchronize(0);
    server.synchronize(100);
    send(client, 5, 'c2', 30);
    send(client, 3, 'c1', 10);
    send(server, 105, 's1', 20);
    send(server, 110, 's2', 30);
    assert.deepEqual(log, []);
    giveUpHoles(client, server);
    assert.deepEqual(log, [
      'client gap 2 @10',
      'client data "c1" @10',
      'server gap 4 @20',
      'server data "s1" @20',
      'client data "c2" @30',
      'server gap 3 @30',
      'server data "s2" @30',
    ]);
    assert.equal(budget.bytes, 0);
    assert.equal(budget.holders.size, 0);
  });

  it('the budget lists the holding flows oldest first, over all of them', () => {
    const budget = new HoldBudget(1 << 20, 5);
    const a = new Flow(new Recorder(), budget);
    const b = new Flow(new Recorder(), budget);
    a.synchronize(0);
    b.synchronize(0);
    send(b, 10, 'bbb', 1);
    send(a, 10, 'aaa', 2);
    send(b, 20, 'b', 3);
    assert.deepEqual([...budget.holders], [b, a]);
    assert.equal(budget.bytes, 7);
    assert.equal(budget.over, true);
    giveUpHoles(b, b);
    assert.deepEqual([...budget.holders], [a]);
    assert.equal(budget.over, false);
  });
});
