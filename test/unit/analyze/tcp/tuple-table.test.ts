/**
 * TupleTable: the tracker's index of connections by 4-tuple, found from either direction.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TupleTable, type TupleEntry } from '../../../../src/analyze/tcp/tuple-table.js';

class Entry implements TupleEntry<Entry> {
  tupleLo = 0;
  tupleHi = 0;
  tupleHash = 0;
  nextInBucket: Entry | null = null;
  constructor(readonly name: string) {}
}

interface Tuple {
  a: string;
  ap: number;
  b: string;
  bp: number;
}

function tuples(n: number): Tuple[] {
  const out: Tuple[] = [];
  for (let i = 0; i < n; i++) {
    // Few addresses, many ports (as in a capture), and some IPv6 and self-connections.
    const a = i % 7 === 0 ? `2001:db8::${(i % 5).toString(16)}` : `10.0.${i % 3}.${i % 11}`;
    const b = i % 13 === 0 ? a : i % 7 === 0 ? '2001:db8::80' : '10.0.9.80';
    out.push({
      a,
      ap: 1024 + ((i * 7919) % 60000),
      b,
      bp: i % 13 === 0 ? 1024 + ((i * 7919) % 60000) + 1 : 80 + (i % 4),
    });
  }
  // Distinct 4-tuples only (either way round).
  const seen = new Set<string>();
  return out.filter((t) => {
    const k = [`${t.a} ${t.ap}`, `${t.b} ${t.bp}`].sort().join('|');
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

test('tuple table: an entry is found from both directions, and only by its own tuple', () => {
  const table = new TupleTable<Entry>();
  const all = tuples(20000);
  for (const [i, t] of all.entries()) {
    assert.equal(table.find(t.a, t.ap, t.b, t.bp), null);
    table.add(new Entry(String(i)));
  }
  for (const [i, t] of all.entries()) {
    assert.equal(table.find(t.a, t.ap, t.b, t.bp)?.name, String(i));
    assert.equal(table.find(t.b, t.bp, t.a, t.ap)?.name, String(i));
  }
  assert.equal(table.find('10.0.0.1', 1, '10.0.0.2', 2), null);
});

test('tuple table: removed entries are gone, the others stay, a tuple can be filed again', () => {
  const table = new TupleTable<Entry>();
  const all = tuples(5000);
  const entries = all.map((t, i) => {
    table.find(t.a, t.ap, t.b, t.bp);
    const e = new Entry(String(i));
    table.add(e);
    return e;
  });
  // Remove every third, in an order unrelated to insertion.
  const removed = new Set<number>();
  for (let k = 0; k < all.length; k++) {
    const i = (k * 7561) % all.length;
    if (i % 3 === 0) {
      table.remove(entries[i]!);
      removed.add(i);
    }
  }
  for (const [i, t] of all.entries()) {
    const found = table.find(t.b, t.bp, t.a, t.ap);
    assert.equal(found?.name, removed.has(i) ? undefined : String(i));
  }
  // A new connection on a removed tuple (port reuse).
  const t = all[0]!;
  assert.equal(table.find(t.a, t.ap, t.b, t.bp), null);
  table.add(new Entry('again'));
  assert.equal(table.find(t.b, t.bp, t.a, t.ap)?.name, 'again');
});

test('tuple table: replace() files another entry under the same tuple, wherever it sits in its bucket', () => {
  const table = new TupleTable<Entry>();
  const all = tuples(3000);
  const entries = all.map((t) => {
    assert.equal(table.find(t.a, t.ap, t.b, t.bp), null);
    const e = new Entry(`${t.a}:${t.ap}`);
    table.add(e);
    return e;
  });
  // Every other entry replaced by a marker; found from both directions, the others untouched.
  const markers = new Map<Entry, Entry>();
  entries.forEach((e, i) => {
    if (i % 2 === 0) {
      const m = new Entry(`retired ${e.name}`);
      table.replace(e, m);
      markers.set(e, m);
    }
  });
  all.forEach((t, i) => {
    const expected = markers.get(entries[i]!) ?? entries[i]!;
    assert.equal(table.find(t.a, t.ap, t.b, t.bp), expected);
    assert.equal(table.find(t.b, t.bp, t.a, t.ap), expected);
  });
  // The markers can be removed like any entry; the replaced entries are out of the table.
  for (const m of markers.values()) table.remove(m);
  all.forEach((t, i) => assert.equal(table.find(t.a, t.ap, t.b, t.bp), i % 2 === 0 ? null : entries[i]!));
});

test('tuple table: an address is forgotten with the last entry that uses it; its id serves another', () => {
  const table = new TupleTable<Entry>();
  const add = (a: string, ap: number, b: string, bp: number, name: string): Entry => {
    assert.equal(table.find(a, ap, b, bp), null);
    const e = new Entry(name);
    table.add(e);
    return e;
  };
  // A flood from random sources: each address used by one entry, then gone.
  const server = '198.19.0.1';
  for (let i = 0; i < 10_000; i++) {
    const e = add(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1024 + (i % 60000), server, 80, String(i));
    if (i >= 100) table.remove(e);
    else assert.equal(table.addresses, i + 2, 'the server and each source');
  }
  assert.equal(table.addresses, 101, 'the server and the 100 sources still filed');
  // Ids freed and taken again by other addresses: every tuple still finds its own entry only.
  const kept = add('192.0.2.7', 5000, server, 80, 'new');
  for (let i = 0; i < 100; i++) {
    const a = `10.0.0.${i}`;
    assert.equal(table.find(server, 80, a, 1024 + i)?.name, String(i));
    assert.equal(table.find(a, 1024 + i + 1, server, 80), null);
  }
  assert.equal(table.find(server, 80, '192.0.2.7', 5000), kept);
  assert.equal(table.find('10.0.1.0', 1024 + 256, server, 80), null, 'a forgotten address finds nothing');
  // A self-connection uses its address twice.
  const self = add('127.0.0.1', 40000, '127.0.0.1', 40001, 'self');
  table.remove(self);
  assert.equal(table.find('127.0.0.1', 40000, '127.0.0.1', 40001), null);
  assert.equal(table.addresses, 102);
});
