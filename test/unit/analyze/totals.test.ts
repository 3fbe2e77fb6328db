import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TotalsAccumulator, computeTotals, distribution, emptyTotals } from '../../../src/analyze/totals.js';
import type { ConnectionRecord, Totals } from '../../../src/model/report.js';
import { record, records } from './records.js';

test('totals: distribution of a list', () => {
  assert.equal(distribution([]), null);
  assert.deepEqual(distribution([7]), { min: 7, median: 7, max: 7, mean: 7 });
  assert.deepEqual(distribution([5, 1, 3]), { min: 1, median: 3, max: 5, mean: 3 });
  assert.deepEqual(distribution([4, 1, 10, 2]), { min: 1, median: 3, max: 10, mean: 4.25 });
  const input = [3, 2, 1];
  distribution(input);
  assert.deepEqual(input, [3, 2, 1], 'the input is not sorted in place');
});

test('totals: one keep-alive connection with 10 requests', () => {
  const t = computeTotals([record({ requests: 10, responses: 10 })], 1);
  assert.deepEqual(t, {
    connections: 1,
    syns: 1,
    requests: 10,
    responses: 10,
    requestsPerConnection: { min: 10, median: 10, max: 10, mean: 10 },
    reusedRequests: 9,
    handshakeShare: 0.1,
    closedFirstBy: { client: 1, server: 0, unknown: 0 },
    resets: 0,
    resetsBy: { client: 0, server: 0 },
    timeWait: { client: 1, server: 0 },
  });
});

test('totals: a mix of connections (reused, single, not HTTP, reset, still open)', () => {
  const t = computeTotals(
    [
      record({ requests: 3, responses: 3, closedFirstBy: 'server', timeWait: 'server' }),
      record({ requests: 1, responses: 1 }),
      record({ requests: 0, responses: 0, statusCodes: [] }),
      record({ requests: 2, responses: 1, closedFirstBy: null, timeWait: null, resetBy: 'client' }),
      record({ requests: 2, responses: 2, closedFirstBy: null, timeWait: null, openAtEnd: true }),
    ],
    4,
  );
  assert.equal(t.connections, 5);
  assert.equal(t.syns, 4);
  assert.equal(t.requests, 8);
  assert.equal(t.responses, 7);
  // A connection without requests counts in the distribution, not in the handshake share.
  assert.deepEqual(t.requestsPerConnection, { min: 0, median: 2, max: 3, mean: 1.6 });
  assert.equal(t.reusedRequests, 2 + 0 + 1 + 1);
  assert.equal(t.handshakeShare, 4 / 8);
  assert.deepEqual(t.closedFirstBy, { client: 2, server: 1, unknown: 2 });
  assert.equal(t.resets, 1);
  assert.deepEqual(t.resetsBy, { client: 1, server: 0 });
  assert.deepEqual(t.timeWait, { client: 2, server: 1 });
});

test('totals: one connection per request: every request paid a handshake', () => {
  const t = computeTotals(records(50, 1, { closedFirstBy: 'server', timeWait: 'server' }), 50);
  assert.equal(t.handshakeShare, 1);
  assert.equal(t.reusedRequests, 0);
  assert.deepEqual(t.timeWait, { client: 0, server: 50 });
});

test('totals: no connections, and connections without any request', () => {
  assert.deepEqual(emptyTotals(), computeTotals([], null));
  const empty = emptyTotals();
  assert.equal(empty.connections, 0);
  assert.equal(empty.syns, null);
  assert.equal(empty.requestsPerConnection, null);
  assert.equal(empty.handshakeShare, null);
  const noHttp = computeTotals(records(3, 0), 3);
  assert.equal(noHttp.handshakeShare, null);
  assert.deepEqual(noHttp.requestsPerConnection, { min: 0, median: 0, max: 0, mean: 0 });
});

/** The totals as they were computed before the accumulator: every count in a list, sorted. */
function totalsBySorting(connections: readonly ConnectionRecord[], syns: number | null): Totals {
  const perConnection = connections.map((c) => c.requests);
  const requests = perConnection.reduce((a, b) => a + b, 0);
  const withRequests = connections.filter((c) => c.requests > 0).length;
  const count = (pick: (c: ConnectionRecord) => unknown, value: unknown) =>
    connections.filter((c) => pick(c) === value).length;
  return {
    connections: connections.length,
    syns,
    requests,
    responses: connections.reduce((a, c) => a + c.responses, 0),
    requestsPerConnection: distribution(perConnection),
    reusedRequests: requests - withRequests,
    handshakeShare: requests > 0 ? withRequests / requests : null,
    closedFirstBy: {
      client: count((c) => c.closedFirstBy, 'client'),
      server: count((c) => c.closedFirstBy, 'server'),
      unknown: count((c) => c.closedFirstBy, null),
    },
    resets: connections.length - count((c) => c.resetBy, null),
    resetsBy: { client: count((c) => c.resetBy, 'client'), server: count((c) => c.resetBy, 'server') },
    timeWait: { client: count((c) => c.timeWait, 'client'), server: count((c) => c.timeWait, 'server') },
  };
}

const side = fc.constantFrom<'client' | 'server' | null>('client', 'server', null);
const arbitraryRecord = fc
  .record({
    // Mostly small counts (many ties: the median lands inside a run of equal values), some large.
    requests: fc.oneof(fc.nat(4), fc.nat(1_000_000)),
    responses: fc.nat(10),
    closedFirstBy: side,
    resetBy: side,
    timeWait: side,
  })
  .map((fields) => record(fields));

const accumulatorName =
  'totals: the accumulator, fed one record at a time in any order, ' + 'equals sorting every count (exact median)';
test(accumulatorName, () => {
  fc.assert(
    fc.property(fc.array(arbitraryRecord, { maxLength: 60 }), fc.option(fc.nat(100)), (list, syns) => {
      const expected = totalsBySorting(list, syns);
      assert.deepEqual(computeTotals(list, syns), expected);
      const acc = new TotalsAccumulator();
      for (const c of [...list].reverse()) acc.add(c);
      assert.deepEqual(acc.totals(syns), expected);
    }),
    { numRuns: 500 },
  );
});

test('totals: the accumulator can be read, then fed more', () => {
  const acc = new TotalsAccumulator();
  const first = records(3, 2);
  for (const c of first) acc.add(c);
  assert.deepEqual(acc.totals(3), computeTotals(first, 3));
  const more = [...first, ...records(2, 7)];
  for (const c of more.slice(3)) acc.add(c);
  assert.deepEqual(acc.totals(5), computeTotals(more, 5));
  assert.deepEqual(acc.totals(5).requestsPerConnection, { min: 2, median: 2, max: 7, mean: 4 });
});

test('totals: a copy of the accumulator goes on by itself; the original is untouched', () => {
  const acc = new TotalsAccumulator();
  const closed = [
    ...records(3, 2, { closedFirstBy: 'client', timeWait: 'client' }),
    ...records(1, 0, { resetBy: 'server' }),
  ];
  for (const c of closed) acc.add(c);
  const copy = acc.copy();
  const open = records(2, 5);
  for (const c of open) copy.add(c);
  assert.deepEqual(copy.totals(null), computeTotals([...closed, ...open], null));
  assert.deepEqual(acc.totals(null), computeTotals(closed, null));
});
