/**
 * The pool-churn finding's concurrency on records built in code (src/analyze/findings/pool-churn.ts,
 * timeline.ts): the idle pool it suggests is the most requests the client had in flight at once, from
 * the records' busy periods (busyAt), not the connections it held open (idle in its pool, or closing),
 * and not the busy count when a connection was closed (a floor after a burst). The boundaries of a
 * busy period, and records without busy times.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectFindings } from '../../../src/analyze/findings/index.js';
import { Timeline } from '../../../src/analyze/findings/timeline.js';
import type { ConnectionRecord, Finding } from '../../../src/model/report.js';
import { record } from './records.js';

const CLIENT = '10.0.0.1';
const SERVER = { address: '10.0.0.2', port: 80 };
let nextId = 1;

/** A connection of CLIENT to SERVER: busy over `busy` ([from, to] pairs), ended as `fields` say. */
function conn(start: number, end: number, busy: number[], fields: Partial<ConnectionRecord> = {}): ConnectionRecord {
  const requests = Math.ceil(busy.length / 2);
  return record({
    id: nextId++,
    client: { address: CLIENT, port: 40000 + nextId },
    server: SERVER,
    start,
    end,
    requests,
    responses: requests,
    statusCodes: Array.from({ length: requests }, () => 200),
    busyAt: busy,
    lastResponseEndAt: busy[busy.length - 1]!,
    closedFirstBy: null,
    timeWait: null,
    ...fields,
  });
}

/** One request on a new connection, closed by the client `finAfter` ms after its response; its last packet at `end`. */
function churned(start: number, from: number, to: number, end = to + 1, finAfter = 0.5): ConnectionRecord {
  return conn(start, end, [from, to], { closedFirstBy: 'client', clientFinAt: to + finAfter, timeWait: 'client' });
}

function churn(records: ConnectionRecord[]): Finding {
  const found = detectFindings(records).filter((f) => f.code === 'pool-churn');
  assert.equal(found.length, 1, 'one pool-churn finding');
  return found[0]!;
}

test('pool churn: the suggested pool is the requests in flight at once, not the connections open', () => {
  // One long-lived connection busy most of the time, idle in the pool at moments, and a churned
  // connection per round whose last packet (the peer's FIN) comes after the next one began: open at
  // once there are 3 (the long-lived one, the closing one, the new one), busy at most 2.
  const rounds = 5;
  const records = [conn(0, 1000, Array.from({ length: rounds }, (_, k) => [10 * k + 1, 10 * k + 8]).flat())];
  for (let k = 0; k < rounds; k++) records.push(churned(10 * k, 10 * k + 1, 10 * k + 5, 10 * k + 12));
  const f = churn(records);
  // The last churned connection was followed by no new one.
  assert.equal(f.evidence.count, rounds - 1);
  assert.equal(f.evidence.values.concurrencySeen, 3);
  assert.equal(f.evidence.values.concurrencyBusy, 2);
  assert.equal(f.evidence.values.busyAtCloseMax, 2);
  assert.equal(f.evidence.values.suggestedIdlePool, 2);
  assert.match(f.summary, /with up to 2 requests in flight at once; an idle pool of 2 would keep them$/);
  assert.match(f.fixes.go!, /MaxIdleConnsPerHost: 2\}/);
  assert.match(f.fixes['node-http']!, /maxFreeSockets: 2 \}/);
  assert.match(
    f.evidence.events[0]!.what,
    /^closed by the client 0\.50 ms after a complete keep-alive response, with 1 other connection open \(1 busy\);/,
  );
});

test('pool churn: after a burst the busy count at a close is a floor; the pool suggested is the burst', () => {
  // Rounds of 4 requests at once on 2 pooled connections and 2 new ones; they finish one by one, the
  // pooled ones first: the pool (2) is full when the new ones finish, 2 then 1 still busy.
  const records: ConnectionRecord[] = [];
  const pooled: number[][] = [[], []];
  for (let round = 0; round < 3; round++) {
    const t = 100 * round;
    pooled[0]!.push(t + 1, t + 10);
    pooled[1]!.push(t + 1, t + 11);
    records.push(churned(t, t + 1, t + 12), churned(t, t + 1, t + 13));
  }
  records.push(conn(0, 400, pooled[0]!), conn(0, 400, pooled[1]!));
  const f = churn(records);
  // The last round's closes were followed by no new connection.
  assert.equal(f.evidence.count, 4);
  assert.equal(f.evidence.values.busyAtCloseMax, 2);
  assert.equal(f.evidence.values.concurrencyBusy, 4);
  assert.equal(f.evidence.values.suggestedIdlePool, 4);
});

test('timeline: a busy period counts at both of its ends; an open one lasts to the end; none without requests', () => {
  const timeline = new Timeline();
  for (const r of [
    conn(0, 100, [10, 20]),
    conn(0, 100, [20, 30]),
    conn(0, 100, [31, 40]),
    // Still waiting for its response at the end: busy to its last packet.
    conn(0, 50, [45], { responses: 0, lastResponseEndAt: undefined }),
    // No busy times (framing lost): busy from start to end.
    conn(60, 70, [], { busyAt: undefined, requests: 2, responses: 1 }),
    // No request at all: never busy.
    conn(0, 100, [], { busyAt: undefined, requests: 0, responses: 0 }),
  ])
    timeline.add(r);
  const [group] = [...timeline.all()];
  assert.ok(group);
  assert.deepEqual(
    [9.9, 10, 20, 30, 30.5, 31, 40, 44, 45, 50, 50.1, 60, 70, 70.1].map((t) => group.busyAt(t)),
    [0, 1, 2, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0],
  );
  assert.equal(group.busyPeak(), 2);
  assert.equal(timeline.busyWholeLife, 1);
});
