/** The last `capacity` values added, oldest first: a fixed ring, so memory never grows with traffic. */
export class RecentRing<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(Math.max(0, capacity));
  }

  add(value: T): void {
    if (this.capacity === 0) return;
    this.items[this.next] = value;
    this.advance();
  }

  /**
   * The slot the next value goes in, to be overwritten in place (`make` fills an empty ring's slot
   * once): a ring of fixed objects, so that what it keeps is never a new object per value.
   */
  reuse(make: () => T): T | null {
    if (this.capacity === 0) return null;
    const slot = (this.items[this.next] ??= make());
    this.advance();
    return slot;
  }

  /** The slot just filled counts; the next one is the oldest's (a ring of capacity > 0). */
  private advance(): void {
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  values(): T[] {
    const out: T[] = [];
    const start = (this.next - this.size + this.capacity) % Math.max(1, this.capacity);
    for (let i = 0; i < this.size; i++) out.push(this.items[(start + i) % this.capacity]!);
    return out;
  }
}

/**
 * Events per second at the busiest second and over the busiest `spanS` seconds, from a ring of
 * one-second buckets: constant memory however long the process runs.
 */
export class RateWindow {
  private readonly buckets: number[];
  private readonly seconds: number[];
  total = 0;
  busiestSecond = 0;
  busiestSpan = 0;
  /** The first and last event (ms): the span actually measured when shorter than `spanS`. */
  first = NaN;
  last = NaN;

  constructor(private readonly spanS: number) {
    this.buckets = new Array<number>(spanS).fill(0);
    this.seconds = new Array<number>(spanS).fill(-1);
  }

  add(atMs: number): void {
    const s = Math.floor(atMs / 1000);
    const i = s % this.spanS;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.buckets[i] = 0;
    }
    this.buckets[i]!++;
    this.total++;
    if (Number.isNaN(this.first)) this.first = atMs;
    this.last = atMs;
    this.busiestSecond = Math.max(this.busiestSecond, this.buckets[i]!);
    let span = 0;
    for (let k = 0; k < this.spanS; k++) if (this.seconds[k]! > s - this.spanS) span += this.buckets[k]!;
    this.busiestSpan = Math.max(this.busiestSpan, span);
  }

  /** The sustained rate (per second): the busiest span over its length, or over the events' own span if shorter. */
  sustainedPerS(): number {
    if (this.total === 0) return 0;
    const measuredS = Math.min(this.spanS, Math.max(1, (this.last - this.first) / 1000));
    return this.busiestSpan / measuredS;
  }
}
