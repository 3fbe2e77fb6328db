/**
 * The idle-timeout search (src/lab/probe/idle-timeout.ts) against fake servers: a trial runner that
 * answers from a known timeout, with no clock at all. The search must bracket the timeout within the
 * precision it states, within the connection budget, and say so when it cannot.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  firstRoundGaps,
  gapsInside,
  idleResult,
  narrow,
  searchIdleTimeout,
  type TrialRunner,
} from '../../../../src/lab/probe/idle-timeout.js';
import type { IdleTrial } from '../../../../src/model/probe.js';

/** A server that closes idle connections after `timeoutMs`: with a FIN the client sees (`fin`), or silently. */
function fakeServer(timeoutMs: number, how: 'fin' | 'silent' = 'fin') {
  const calls: number[][] = [];
  const run: TrialRunner = async (gaps) => {
    calls.push([...gaps]);
    return gaps.map((gapMs): IdleTrial => {
      if (gapMs < timeoutMs) return { gapMs, outcome: 'answered' };
      return how === 'fin'
        ? { gapMs, outcome: 'closed', closeKind: 'fin', closedAfterMs: timeoutMs }
        : { gapMs, outcome: 'no-answer', closeKind: 'silent' };
    });
  };
  return { run, calls };
}

test('first round: the standard gaps below --max-idle, and --max-idle itself', () => {
  assert.deepEqual(firstRoundGaps(8000), [1000, 2000, 4000, 8000]);
  assert.deepEqual(firstRoundGaps(15000), [1000, 2000, 4000, 8000, 15000]);
  assert.deepEqual(firstRoundGaps(120000), [1000, 2000, 4000, 8000, 15000, 30000, 60000, 120000]);
  assert.deepEqual(firstRoundGaps(6000), [1000, 2000, 4000, 6000]);
});

test('gaps inside an interval are spread evenly and strictly inside', () => {
  assert.deepEqual(gapsInside(2000, 4000, 3), [2500, 3000, 3500]);
  assert.deepEqual(gapsInside(0, 3, 3), [1, 2]);
});

test('narrow: a FIN seen on an idle connection bounds the close before its gap', () => {
  const n = narrow({ aliveMs: 0, closedMs: null }, [
    { gapMs: 2000, outcome: 'answered' },
    { gapMs: 4000, outcome: 'closed', closeKind: 'fin', closedAfterMs: 3010.4 },
  ]);
  assert.deepEqual(n, { aliveMs: 2000, closedMs: 3011, contradictions: 0 });
});

test('narrow: a close that arrived after the gap ended (a late request) shows the connection alive at the gap', () => {
  const n = narrow({ aliveMs: 0, closedMs: null }, [
    { gapMs: 2900, outcome: 'closed', closeKind: 'fin', closedAfterMs: 3010 },
    { gapMs: 2950, outcome: 'failed', closeKind: 'fin', closedAfterMs: 3012 },
  ]);
  assert.deepEqual(n, { aliveMs: 2900, closedMs: 3010, contradictions: 0 });
});

test('narrow: an answer above a close is counted as a contradiction, not taken', () => {
  const n = narrow({ aliveMs: 1000, closedMs: 3000 }, [{ gapMs: 3500, outcome: 'answered' }]);
  assert.deepEqual(n, { aliveMs: 1000, closedMs: 3000, contradictions: 1 });
});

for (const [timeoutMs, how, precisionMs] of [
  [3000, 'fin', 250],
  [2000, 'fin', 100],
  [3000, 'silent', 250],
  [47_000, 'silent', 500],
  [500, 'fin', 50],
] as const) {
  test(`finds a ${timeoutMs} ms idle timeout (${how}) within ±${precisionMs} ms`, async () => {
    const server = fakeServer(timeoutMs, how);
    const search = await searchIdleTimeout(server.run, {
      maxIdleMs: 60_000,
      precisionMs,
      connectionsLeft: () => 100,
    });
    const result = idleResult(search, 60_000, null);
    assert.ok(result.timeoutMs !== null && result.precisionMs !== null);
    assert.ok(result.precisionMs <= precisionMs, `precision ${result.precisionMs}`);
    assert.ok(
      Math.abs(result.timeoutMs - timeoutMs) <= result.precisionMs,
      `${result.timeoutMs} ± ${result.precisionMs} misses ${timeoutMs}`,
    );
    assert.ok(search.aliveMs < timeoutMs && search.closedMs! >= timeoutMs);
    assert.equal(result.closeKind, how);
    // The first round is the standard gaps; each later one at most three connections.
    assert.deepEqual(server.calls[0], firstRoundGaps(60_000));
    for (const round of server.calls.slice(1)) assert.ok(round.length <= 3);
  });
}

test('no close up to --max-idle: no timeout, and the note says up to where', async () => {
  const server = fakeServer(200_000);
  const result = idleResult(
    await searchIdleTimeout(server.run, { maxIdleMs: 8000, precisionMs: 250, connectionsLeft: () => 20 }),
    8000,
    null,
  );
  assert.equal(result.timeoutMs, null);
  assert.equal(server.calls.length, 1);
  assert.match(result.note ?? '', /no idle timeout up to 8 s/);
});

test('the connection budget bounds the search and the note says so', async () => {
  const server = fakeServer(3000, 'silent');
  let left = 6;
  const run: TrialRunner = async (gaps, round) => {
    left -= gaps.length;
    return server.run(gaps, round);
  };
  const search = await searchIdleTimeout(run, { maxIdleMs: 8000, precisionMs: 10, connectionsLeft: () => left });
  assert.equal(server.calls.flat().length, 6, 'four in the first round, two in the second: never more than the budget');
  assert.match(search.note ?? '', /cap on connections/);
  assert.ok(search.aliveMs < 3000 && search.closedMs! >= 3000);
});

test('requests that fail in flight are counted, and the close kind is the most frequent', () => {
  const result = idleResult(
    {
      aliveMs: 2000,
      closedMs: 2500,
      rounds: [
        [
          { gapMs: 2000, outcome: 'answered' },
          { gapMs: 2500, outcome: 'failed', closeKind: 'rst', closedAfterMs: 2500.5 },
          { gapMs: 4000, outcome: 'closed', closeKind: 'rst', closedAfterMs: 2400 },
          { gapMs: 8000, outcome: 'closed', closeKind: 'fin', closedAfterMs: 2402 },
        ],
      ],
    },
    8000,
    'reset',
  );
  assert.equal(result.closeKind, 'rst');
  assert.deepEqual(result.inFlight, { sent: 2, failed: 1 });
  assert.equal(result.observedCloseMs, 2401);
  assert.equal(result.timeoutMs, 2250);
  assert.equal(result.precisionMs, 250);
});
