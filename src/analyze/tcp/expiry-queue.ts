/**
 * Items that wait out a fixed time, oldest first, with a cap on how many may wait at once: the
 * connection table keeps its closed connections (waiting for packets still in flight), its retired
 * 4-tuples (waiting out TIME_WAIT) and its handshakes (waiting for an answer) in three of them.
 *
 * Every item waits the same `lifetime` from when it was pushed, and the clock (capture time) never
 * goes back, so the queue is in expiry order: taking out is a walk from the head. Items are filed in
 * an array with a moving head (no per-item allocation, no shift()); the array is compacted once the
 * taken-out head is more than half of it. An item waits in one queue at a time (`queue` says which):
 * a connection cancelled from one queue may wait in another while its old slot is still in the first.
 */

/** What the queue keeps on each item; set by push(), changed by take() and cancel(). */
export interface Expiring {
  /** When it expires (the clock of the queue it waits in). */
  expiresAt: number;
  /** The queue it waits in (neither taken out nor cancelled), or null. */
  queue: object | null;
}

/** Taken-out items at the head kept before the array is compacted. */
const COMPACT_AFTER = 1024;

export interface ExpiryQueueOptions {
  /**
   * Beyond `max`, step over cancelled items that have not expired yet to reach the oldest waiting
   * one, so that at most `max` ever wait. Default false: such an item ends the walk (see take()).
   */
  strictMax?: boolean;
}

export class ExpiryQueue<T extends Expiring> {
  private items: T[] = [];
  private head = 0;
  private count = 0;
  private readonly strictMax: boolean;

  /**
   * @param lifetime how long an item waits (the clock's unit)
   * @param max how many may wait at once: beyond it the oldest are taken out early
   */
  constructor(
    private readonly lifetime: number,
    private readonly max: number,
    options: ExpiryQueueOptions = {},
  ) {
    this.strictMax = options.strictMax ?? false;
  }

  /** Items waiting (not taken out, not cancelled). */
  get size(): number {
    return this.count;
  }

  /** Slots in the array: the items waiting, and those cancelled or taken out whose slot is still kept. */
  get slots(): number {
    return this.items.length - this.head;
  }

  /** Whether `item` waits in this queue. */
  has(item: T): boolean {
    return item.queue === this;
  }

  /** Queues `item` until `now + lifetime`. True when more than `max` now wait: take() the oldest out. */
  push(item: T, now: number): boolean {
    item.expiresAt = now + this.lifetime;
    item.queue = this;
    this.items.push(item);
    return ++this.count > this.max;
  }

  /**
   * Takes `item` out without expiring it (it left by another way); its slot stays until the walk
   * passes it, or (strictMax) until cancelled slots outnumber the waiting items: a queue whose every
   * item is cancelled (each handshake that completes) must not hold them, and what they hold, for a
   * whole lifetime.
   */
  cancel(item: T): void {
    if (item.queue !== this) return;
    item.queue = null;
    this.count--;
    if (this.strictMax && this.items.length - this.head > COMPACT_AFTER + 2 * this.count) this.dropCancelled();
  }

  /**
   * Leaves only the waiting items in the array, in their order. Only for a strictMax queue: its walk
   * steps over cancelled slots anyway, so removing them changes nothing it gives (time only moves
   * on, so a cancelled item that has not expired is followed by none that has).
   */
  private dropCancelled(): void {
    const items = this.items;
    let kept = 0;
    for (let i = this.head; i < items.length; i++) {
      const item = items[i]!;
      if (item.queue === this) items[kept++] = item;
    }
    items.length = kept;
    this.head = 0;
  }

  /** The oldest item (waiting or cancelled) has expired at `now`: a cheap test before take(). */
  due(now: number): boolean {
    return this.head < this.items.length && this.items[this.head]!.expiresAt <= now;
  }

  /**
   * The next item to go at `now`, taken out: the oldest if it has expired, or if more than `max`
   * wait. Null when none has to go. Cancelled items are stepped over, but one that has not expired
   * yet ends the walk even beyond `max` (as the tracker always did: reports must not change), unless
   * the queue was made with `strictMax`.
   */
  take(now: number): T | null {
    const items = this.items;
    const over = this.count > this.max;
    while (this.head < items.length) {
      const item = items[this.head]!;
      const waiting = item.queue === this;
      if (item.expiresAt > now && (waiting ? !over : !(over && this.strictMax))) break;
      this.head++;
      if (waiting) {
        item.queue = null;
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
