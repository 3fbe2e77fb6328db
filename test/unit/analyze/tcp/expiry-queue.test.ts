/**
 * ExpiryQueue (src/analyze/tcp/expiry-queue.ts): items wait a fixed lifetime, oldest first, at most
 * `max` at once; cancelled items are stepped over. The connection table keeps its closed connections,
 * its retired 4-tuples and its handshakes in three of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpiryQueue, type Expiring } from '../../../../src/analyze/tcp/expiry-queue.js';

class Item implements Expiring {
  expiresAt = 0;
  queue: object | null = null;
  constructor(readonly name: string) {}
}

/** Everything take() gives at `now`, by name. */
function takeAll(queue: ExpiryQueue<Item>, now: number): string[] {
  const out: string[] = [];
  for (let item = queue.take(now); item !== null; item = queue.take(now)) out.push(item.name);
  return out;
}

test('expiry queue: items go once their lifetime is over, oldest first', () => {
  const q = new ExpiryQueue<Item>(100, 10);
  const [a, b, c] = [new Item('a'), new Item('b'), new Item('c')];
  q.push(a, 0);
  q.push(b, 50);
  q.push(c, 60);
  assert.equal(a.expiresAt, 100);
  assert.equal(q.size, 3);
  assert.equal(q.due(99), false);
  assert.deepEqual(takeAll(q, 99), []);
  assert.equal(q.due(100), true);
  assert.deepEqual(takeAll(q, 155), ['a', 'b']);
  assert.equal(q.has(a), false);
  assert.equal(q.has(c), true);
  assert.equal(q.size, 1);
  assert.deepEqual(takeAll(q, 1000), ['c']);
  assert.equal(q.due(1000), false);
  assert.equal(q.size, 0);
});

test('expiry queue: beyond max, push says so and the oldest go early', () => {
  const q = new ExpiryQueue<Item>(100, 2);
  assert.equal(q.push(new Item('a'), 0), false);
  assert.equal(q.push(new Item('b'), 1), false);
  assert.equal(q.push(new Item('c'), 2), true);
  assert.deepEqual(takeAll(q, 3), ['a']);
  assert.equal(q.size, 2);
});

test('expiry queue: a cancelled item is stepped over and not counted', () => {
  const q = new ExpiryQueue<Item>(100, 2);
  const [a, b, c] = [new Item('a'), new Item('b'), new Item('c')];
  q.push(a, 0);
  q.push(b, 0);
  q.cancel(a);
  q.cancel(a);
  assert.equal(q.has(a), false);
  assert.equal(q.size, 1);
  assert.equal(q.push(c, 0), false, 'two waiting: not beyond max');
  assert.deepEqual(takeAll(q, 100), ['b', 'c']);
});

test('expiry queue: a cancelled item not yet expired ends the walk, even beyond max', () => {
  // The tracker's behaviour since the linger queue was written, kept so that reports do not change.
  const q = new ExpiryQueue<Item>(100, 1);
  const [a, b, c] = [new Item('a'), new Item('b'), new Item('c')];
  q.push(a, 0);
  q.push(b, 0);
  q.cancel(a);
  assert.equal(q.push(c, 0), true);
  assert.deepEqual(takeAll(q, 50), []);
  assert.deepEqual(takeAll(q, 100), ['b', 'c']);
});

test('expiry queue: with strictMax, a cancelled item does not hold the oldest waiting one back', () => {
  const q = new ExpiryQueue<Item>(100, 1, { strictMax: true });
  const [a, b, c] = [new Item('a'), new Item('b'), new Item('c')];
  q.push(a, 0);
  q.push(b, 0);
  q.cancel(a);
  assert.equal(q.push(c, 0), true);
  assert.deepEqual(takeAll(q, 50), ['b']);
  assert.equal(q.size, 1);
  assert.deepEqual(takeAll(q, 100), ['c']);
});

test('expiry queue: with strictMax, cancelled slots do not pile up (every handshake that completes)', () => {
  const q = new ExpiryQueue<Item>(1_000_000, 1000, { strictMax: true });
  for (let t = 0; t < 100_000; t++) {
    const item = new Item(String(t));
    q.push(item, t);
    // One in a thousand is never answered; the others complete (are cancelled) at once.
    if (t % 1000 !== 0) q.cancel(item);
    assert.ok(q.slots <= 1024 + 2 * q.size + 1, `${q.slots} slots for ${q.size} waiting`);
  }
  assert.equal(q.size, 100);
  const taken = takeAll(q, 2_000_000);
  assert.deepEqual(
    taken,
    Array.from({ length: 100 }, (_, k) => String(k * 1000)),
    'the waiting ones, in order',
  );
});

test('expiry queue: an item waits in one queue at a time; its old slot elsewhere is stepped over', () => {
  const first = new ExpiryQueue<Item>(100, 10);
  const second = new ExpiryQueue<Item>(10, 10);
  const [a, b] = [new Item('a'), new Item('b')];
  first.push(a, 0);
  first.push(b, 0);
  first.cancel(a);
  second.push(a, 5);
  assert.equal(first.has(a), false);
  assert.equal(second.has(a), true);
  assert.equal(first.size, 1);
  assert.deepEqual(takeAll(first, 100), ['b'], 'a waits in the other queue: not taken from this one');
  assert.deepEqual(takeAll(second, 15), ['a']);
});

test('expiry queue: many items through it (the array is compacted as the head moves on)', () => {
  const q = new ExpiryQueue<Item>(10, 100_000);
  let taken = 0;
  for (let t = 0; t < 50_000; t++) {
    q.push(new Item(String(t)), t);
    if (q.due(t)) taken += takeAll(q, t).length;
  }
  assert.equal(taken, 50_000 - 10);
  assert.equal(q.size, 10);
  assert.deepEqual(takeAll(q, 1e9), [
    '49990',
    '49991',
    '49992',
    '49993',
    '49994',
    '49995',
    '49996',
    '49997',
    '49998',
    '49999',
  ]);
});
