/**
 * When each connection of a client to a server was open, and what its end looked like: enough to
 * ask, once every record is in, whether the client opened a new connection while an old one sat idle
 * (a response never went back to the pool) or right after closing one (its idle pool was full), and
 * how many connections it held at once, and how fast it opened connections that leave their TIME_WAIT
 * on it (the port outlook). Grouped by server and client address (one client's pool, and one range
 * of ephemeral ports: Linux needs a local port unique per server address and port).
 * Bounded: the first MAX_TRACKED_CONNECTIONS connections are kept (about 50 bytes each).
 */
import type { ConnectionRecord, Endpoint } from '../../model/report.js';
import { serverKey } from './facts.js';
import { CLOSE_AFTER_RESPONSE_MS, MAX_TRACKED_CONNECTIONS } from './thresholds.js';

/** One client address's connections to one server. */
export class ConnectionGroup {
  readonly ids: number[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** When it went idle for good: its last response ended and nothing followed (NaN: not so). */
  readonly idleFrom: number[] = [];
  /** When the client closed it right after a complete response (NaN: not so). */
  readonly closedAfterResponse: number[] = [];
  /** The end of its last response, for a connection closed right after it (NaN otherwise). */
  readonly responseEnds: number[] = [];
  /**
   * When it began, for a connection opened in the observation (not started before it) whose TIME_WAIT
   * is on the client: its local port stays taken for a while after the close (NaN otherwise).
   */
  readonly clientTimeWaitStarts: number[] = [];
  /** Connections opened in the observation whose TIME_WAIT is on the server. */
  serverTimeWait = 0;
  private sortedStarts: number[] | null = null;
  private sortedEnds: number[] | null = null;

  constructor(
    readonly server: Endpoint,
    readonly client: string,
  ) {}

  /** A connection was added: the sorted copies are out of date. */
  changed(): void {
    this.sortedStarts = null;
    this.sortedEnds = null;
  }

  /** Does a connection of this group start in (from, to]? */
  startsWithin(from: number, to: number): boolean {
    const starts = (this.sortedStarts ??= [...this.starts].sort((a, b) => a - b));
    const i = upperBound(starts, from);
    return i < starts.length && starts[i]! <= to;
  }

  /** Connections open at `t` (started at or before, ended at or after). */
  openAt(t: number): number {
    const starts = (this.sortedStarts ??= [...this.starts].sort((a, b) => a - b));
    const ends = (this.sortedEnds ??= [...this.ends].sort((a, b) => a - b));
    return upperBound(starts, t) - lowerBound(ends, t);
  }

  /** The most connections open at once. */
  peak(): number {
    let best = 0;
    for (const t of this.starts) best = Math.max(best, this.openAt(t));
    return best;
  }
}

export class Timeline {
  private readonly groups = new Map<string, ConnectionGroup>();
  tracked = 0;
  /** Connections not kept (beyond MAX_TRACKED_CONNECTIONS). */
  untracked = 0;

  add(r: ConnectionRecord): void {
    if (r.start === null || r.end === null) return;
    if (this.tracked >= MAX_TRACKED_CONNECTIONS) {
      this.untracked++;
      return;
    }
    this.tracked++;
    const key = `${serverKey(r.server)} ${r.client.address}`;
    let group = this.groups.get(key);
    if (group === undefined) this.groups.set(key, (group = new ConnectionGroup(r.server, r.client.address)));
    group.changed();
    group.ids.push(r.id);
    group.starts.push(r.start);
    group.ends.push(r.end);
    const clean =
      r.responses > 0 &&
      r.lastResponseEndAt !== undefined &&
      r.unanswered === undefined &&
      r.responseIncomplete !== true &&
      r.closeAsked === undefined &&
      r.resetBy === null;
    // Idle after its last response until its end: the client never used it again.
    const last = r.lastResponseEndAt ?? NaN;
    group.idleFrom.push(clean && r.requests === r.responses ? last : NaN);
    const fin = r.clientFinAt;
    const closedRightAfter =
      clean &&
      r.closedFirstBy === 'client' &&
      fin !== undefined &&
      fin - last >= 0 &&
      fin - last <= CLOSE_AFTER_RESPONSE_MS;
    group.closedAfterResponse.push(closedRightAfter ? fin : NaN);
    group.responseEnds.push(closedRightAfter ? last : NaN);
    const opened = !r.startedBefore;
    group.clientTimeWaitStarts.push(opened && r.timeWait === 'client' ? r.start : NaN);
    if (opened && r.timeWait === 'server') group.serverTimeWait++;
  }

  *all(): IterableIterator<ConnectionGroup> {
    yield* this.groups.values();
  }
}

/** The first index whose value is > x (sorted ascending). */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose value is >= x. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
