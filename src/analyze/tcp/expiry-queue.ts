/**
 * Items that wait out a fixed time, oldest first, with a cap on how many may wait at once: the
 * connection table keeps its closed connections (waiting for packets still in flight) and its
 * retired 4-tuples (waiting out TIME_WAIT) in two of them.
 *
 * Every item waits the same `lifetime` from when it was pushed, and the clock (capture time) never
 * goes back, so the queue is in expiry order: taking out is a walk from the head. Items are filed in
 * an array with a moving head (no per-item allocation, no shift()); the array is compacted once the
 * taken-out head is more than half of it.
 */

/** What the queue keeps on each item; set by push(), changed by take() and cancel(). */
export interface Expiring {
  /** When it expires (the queue's clock). */
  expiresAt: number;
  /** In the queue, neither taken out nor cancelled. */
  waiting: boolean;
}

/** Taken-out items at the head kept before the array is compacted. */
const COMPACT_AFTER = 1024;

export class ExpiryQueue<T extends Expiring> {
  private items: T[] = [];
  private head = 0;
  private count = 0;

  /**
   * @param lifetime how long an item waits (the clock's unit)
   * @param max how many may wait at once: beyond it the oldest are taken out early
   */
  constructor(
    private readonly lifetime: number,
    private readonly max: number,
  ) {}

  /** Items waiting (not taken out, not cancelled). */
  get size(): number {
    return this.count;
  }

  /** Queues `item` until `now + lifetime`. True when more than `max` now wait: take() the oldest out. */
  push(item: T, now: number): boolean {
    item.expiresAt = now + this.lifetime;
    item.waiting = true;
    this.items.push(item);
    return ++this.count > this.max;
  }

  /** Takes `item` out without expiring it (it left by another way); its slot stays until the walk passes it. */
  cancel(item: T): void {
    if (!item.waiting) return;
    item.waiting = false;
    this.count--;
  }

  /** The oldest item (waiting or cancelled) has expired at `now`: a cheap test before take(). */
  due(now: number): boolean {
    return this.head < this.items.length && this.items[this.head]!.expiresAt <= now;
  }

  /**
   * The next item to go at `now`, taken out: the oldest if it has expired, or if more than `max`
   * wait. Null when none has to go. Cancelled items are stepped over, but one that has not expired
   * yet ends the walk even beyond `max` (as the tracker always did: reports must not change).
   */
  take(now: number): T | null {
    const items = this.items;
    while (this.head < items.length) {
      const item = items[this.head]!;
      if (item.expiresAt > now && (!item.waiting || this.count <= this.max)) break;
      this.head++;
      if (item.waiting) {
        item.waiting = false;
        this.count--;
        return item;
      }
    }
    if (this.head > COMPACT_AFTER && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return null;
  }
}
