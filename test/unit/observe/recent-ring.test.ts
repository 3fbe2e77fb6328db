/**
 * The rings the in-process tracker keeps its recent requests and connections in (observe/in-process/
 * recent.ts): a fixed size whatever the traffic; reuse() hands back the ring's own objects in turn.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentRing } from '../../../src/observe/in-process/recent.js';

test('add(): the last `capacity` values, oldest first', () => {
  const ring = new RecentRing<number>(3);
  for (let i = 1; i <= 5; i++) ring.add(i);
  assert.deepEqual(ring.values(), [3, 4, 5]);
});

test('reuse(): makes each slot once, then hands the same objects back in turn, oldest first', () => {
  const ring = new RecentRing<{ n: number }>(2);
  let made = 0;
  const make = () => {
    made++;
    return { n: 0 };
  };
  const first = ring.reuse(make)!;
  first.n = 1;
  const second = ring.reuse(make)!;
  second.n = 2;
  const third = ring.reuse(make)!;
  assert.equal(third, first);
  third.n = 3;
  assert.equal(made, 2);
  assert.deepEqual(
    ring.values().map((v) => v.n),
    [2, 3],
  );
});

test('a ring of capacity 0 keeps nothing', () => {
  const ring = new RecentRing<{ n: number }>(0);
  assert.equal(
    ring.reuse(() => ({ n: 0 })),
    null,
  );
  ring.add({ n: 1 });
  assert.deepEqual(ring.values(), []);
});
