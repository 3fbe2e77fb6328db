/**
 * Puts connection records back in id order. The tracker hands a record over when its connection
 * ends, so records come in the order connections end; a reader of `analyze --json` expects them in
 * the order connections began (id order), as when they were all kept to the end.
 *
 * A record waits here until no smaller id is still live (in the tracker); a connection that stays
 * open for long would hold every later record back, so at most `window` records wait: beyond it the
 * smallest goes out, ahead of the live one (then the output is not sorted by id; it always holds
 * every id once).
 */
import type { ConnectionRecord } from '../model/report.js';

export class IdOrder {
  /** A binary min-heap on id. */
  private readonly heap: ConnectionRecord[] = [];

  constructor(
    /** The smallest id not handed over by the tracker yet (Infinity when none). */
    private readonly oldestLiveId: () => number,
    private readonly emit: (record: ConnectionRecord) => void,
    private readonly window: number,
  ) {}

  get waiting(): number {
    return this.heap.length;
  }

  add(record: ConnectionRecord): void {
    this.push(record);
    const oldest = this.oldestLiveId();
    while (this.heap.length > 0 && (this.heap[0]!.id < oldest || this.heap.length > this.window)) this.emit(this.pop());
  }

  /** Everything still waiting, smallest id first (at the end, when nothing is live). */
  flush(): void {
    while (this.heap.length > 0) this.emit(this.pop());
  }

  private push(record: ConnectionRecord): void {
    const h = this.heap;
    let i = h.length;
    h.push(record);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.id <= record.id) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = record;
  }

  private pop(): ConnectionRecord {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const child = r < h.length && h[r]!.id < h[l]!.id ? r : l;
        if (h[child]!.id >= last.id) break;
        h[i] = h[child]!;
        i = child;
      }
      h[i] = last;
    }
    return top;
  }
}
