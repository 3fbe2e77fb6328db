/**
 * Connections filed by TCP 4-tuple, found from a packet going either way, without building a string
 * per packet (the tracker's hot path runs once per captured segment, millions of times).
 *
 * Addresses are interned to small integers, so an endpoint is one number (id * 65536 + port) and a
 * 4-tuple is two: the lower endpoint and the higher one, which is the same pair in both directions.
 * The pair is hashed to a small integer key of a Map; the rare entries that share a key are chained.
 * An address is interned while a filed entry uses it, and forgotten (its id free again) when the last
 * one goes: a SYN flood from random sources must not leave an id per address it ever showed.
 */

/** What the table needs on each entry; set by add(), read back by find() and remove(). */
export interface TupleEntry<T> {
  tupleLo: number;
  tupleHi: number;
  tupleHash: number;
  nextInBucket: T | null;
}

const PORTS = 65536;
const TWO_POW_32 = 4294967296;
/** Keys stay small integers (V8 Smis): a Map lookup with no boxing. */
const HASH_MASK = 0x3fffffff;

export class TupleTable<T extends TupleEntry<T>> {
  private readonly buckets = new Map<number, T>();
  private readonly ids = new Map<string, number>();
  /** By address id: the address, and how many ends of filed entries use it (0: the id is free). */
  private readonly names: string[] = [];
  private readonly uses: number[] = [];
  private readonly freeIds: number[] = [];
  // A packet's two addresses are nearly always those of the previous packet: a two-entry cache.
  private cachedA = '';
  private cachedIdA = -1;
  private cachedB = '';
  private cachedIdB = -1;
  private last: T | null = null;
  /** The tuple of the last find(), for add(). */
  private src = '';
  private srcPort = 0;
  private dst = '';
  private dstPort = 0;

  /** Addresses interned now (used by a filed entry). */
  get addresses(): number {
    return this.ids.size;
  }

  /** The entry of src:srcPort <-> dst:dstPort (either way round), or null. */
  find(src: string, srcPort: number, dst: string, dstPort: number): T | null {
    this.src = src;
    this.srcPort = srcPort;
    this.dst = dst;
    this.dstPort = dstPort;
    const idA = this.addressId(src);
    const idB = this.addressId(dst);
    // An address no entry uses: no entry has this tuple.
    if (idA < 0 || idB < 0) return null;
    const a = idA * PORTS + srcPort;
    const b = idB * PORTS + dstPort;
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    // Consecutive packets often belong to the same connection.
    const last = this.last;
    if (last !== null && last.tupleLo === lo && last.tupleHi === hi) return last;
    let entry = this.buckets.get(hashPair(lo, hi)) ?? null;
    while (entry !== null && (entry.tupleLo !== lo || entry.tupleHi !== hi)) entry = entry.nextInBucket;
    if (entry !== null) this.last = entry;
    return entry;
  }

  /**
   * Files `entry` under the tuple of the last find() (which returned null for it, or whose entry was
   * removed since: the ids are taken again, as removing may have freed them).
   */
  add(entry: T): void {
    const a = this.intern(this.src) * PORTS + this.srcPort;
    const b = this.intern(this.dst) * PORTS + this.dstPort;
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    const hash = hashPair(lo, hi);
    entry.tupleLo = lo;
    entry.tupleHi = hi;
    entry.tupleHash = hash;
    entry.nextInBucket = this.buckets.get(hash) ?? null;
    this.buckets.set(hash, entry);
    this.last = entry;
    this.uses[Math.floor(lo / PORTS)]!++;
    this.uses[Math.floor(hi / PORTS)]!++;
  }

  remove(entry: T): void {
    if (this.last === entry) this.last = null;
    const head = this.buckets.get(entry.tupleHash);
    if (head === entry) {
      if (entry.nextInBucket === null) this.buckets.delete(entry.tupleHash);
      else this.buckets.set(entry.tupleHash, entry.nextInBucket);
    } else {
      let prev = head ?? null;
      while (prev !== null && prev.nextInBucket !== entry) prev = prev.nextInBucket;
      if (prev !== null) prev.nextInBucket = entry.nextInBucket;
    }
    entry.nextInBucket = null;
    this.release(Math.floor(entry.tupleLo / PORTS));
    this.release(Math.floor(entry.tupleHi / PORTS));
  }

  /**
   * Files `entry` in the place of `old` (same 4-tuple, same bucket): the tracker leaves a small
   * marker where a finished connection was, so that its late packets are recognised.
   */
  replace(old: T, entry: T): void {
    entry.tupleLo = old.tupleLo;
    entry.tupleHi = old.tupleHi;
    entry.tupleHash = old.tupleHash;
    entry.nextInBucket = old.nextInBucket;
    const head = this.buckets.get(old.tupleHash);
    if (head === old) {
      this.buckets.set(old.tupleHash, entry);
    } else {
      let prev = head ?? null;
      while (prev !== null && prev.nextInBucket !== old) prev = prev.nextInBucket;
      if (prev !== null) prev.nextInBucket = entry;
    }
    old.nextInBucket = null;
    if (this.last === old) this.last = entry;
  }

  /** The id of an interned address, or -1. */
  private addressId(address: string): number {
    if (address === this.cachedA) return this.cachedIdA;
    if (address === this.cachedB) return this.cachedIdB;
    const id = this.ids.get(address);
    if (id === undefined) return -1;
    // Replace the older entry.
    this.cachedB = this.cachedA;
    this.cachedIdB = this.cachedIdA;
    this.cachedA = address;
    this.cachedIdA = id;
    return id;
  }

  /** The id of `address`, interned if it was not (with no use yet: add() counts them). */
  private intern(address: string): number {
    let id = this.ids.get(address);
    if (id === undefined) {
      id = this.freeIds.pop() ?? this.names.length;
      this.names[id] = address;
      this.uses[id] = 0;
      this.ids.set(address, id);
    }
    return id;
  }

  /** One use of address `id` fewer; at none, the address is forgotten and its id free again. */
  private release(id: number): void {
    if (--this.uses[id]! > 0) return;
    const address = this.names[id]!;
    this.ids.delete(address);
    this.names[id] = '';
    this.freeIds.push(id);
    if (this.cachedA === address) this.cachedA = '';
    if (this.cachedB === address) this.cachedB = '';
  }
}

/** Mixes two endpoint numbers (below 2^53) into a small non-negative integer. */
function hashPair(lo: number, hi: number): number {
  let h = Math.imul((lo | 0) ^ ((lo / TWO_POW_32) | 0), 0x9e3779b1);
  h = Math.imul(h ^ (hi | 0) ^ ((hi / TWO_POW_32) | 0), 0x85ebca6b);
  h ^= h >>> 15;
  return h & HASH_MASK;
}
