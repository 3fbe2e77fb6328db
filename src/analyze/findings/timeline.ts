/**
 * When each connection of a client to a server was open, when it was busy (a request outstanding,
 * ConnectionRecord.busyAt), and what its end looked like: enough to ask, once every record is in,
 * whether the client opened a new connection while an old one sat idle (a response never went back to
 * the pool) or right after closing one (its idle pool was full), how many connections it held at once,
 * how many requests it had in flight at once, and how fast it opened connections that leave their
 * TIME_WAIT on it (the port outlook). Grouped by server and client address (one client's pool, and one
 * range of ephemeral ports: Linux needs a local port unique per server address and port). Bounded: the
 * first MAX_TRACKED_CONNECTIONS connections are kept (about 50 bytes each), with at most
 * MAX_TRACKED_BUSY_PERIODS busy periods (16 bytes each); a connection beyond that, or whose record has
 * no busy times, counts as busy from its start to its end.
 */
import type { ConnectionRecord, Endpoint } from '../../model/report.js';
import { serverKey } from './facts.js';
import { CLOSE_AFTER_RESPONSE_MS, MAX_TRACKED_BUSY_PERIODS, MAX_TRACKED_CONNECTIONS } from './thresholds.js';

/** One client address's connections to one server. */
export class ConnectionGroup {
  readonly ids: number[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** When it went idle for good: its last response ended and nothing followed (NaN: not so). */
  readonly idleFrom: number[] = [];
  /** Until when it could have been reused: its first FIN or RST, else its end. */
  readonly usableUntil: number[] = [];
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
  /** When its connections were busy: the starts and ends of the periods, in the same order. */
  readonly busyFrom: number[] = [];
  readonly busyTo: number[] = [];
  private sortedStarts: number[] | null = null;
  private sortedEnds: number[] | null = null;
  private sortedBusyFrom: number[] | null = null;
  private sortedBusyTo: number[] | null = null;

  constructor(
    readonly server: Endpoint,
    readonly client: string,
  ) {}

  /** A connection was added: the sorted copies are out of date. */
  changed(): void {
    this.sortedStarts = null;
    this.sortedEnds = null;
    this.sortedBusyFrom = null;
    this.sortedBusyTo = null;
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

  /**
   * Connections busy at `t`: a request outstanding (a period that began at or before `t` and ended at
   * or after it). A connection's periods never overlap, so each counts once.
   */
  busyAt(t: number): number {
    const from = (this.sortedBusyFrom ??= [...this.busyFrom].sort((a, b) => a - b));
    const to = (this.sortedBusyTo ??= [...this.busyTo].sort((a, b) => a - b));
    return upperBound(from, t) - lowerBound(to, t);
  }

  /** The most connections busy at once: the requests the client had in flight at once (its concurrency). */
  busyPeak(): number {
    let best = 0;
    for (const t of this.busyFrom) best = Math.max(best, this.busyAt(t));
    return best;
  }
}

export class Timeline {
  private readonly groups = new Map<string, ConnectionGroup>();
  tracked = 0;
  /** Connections not kept (beyond MAX_TRACKED_CONNECTIONS). */
  untracked = 0;
  /** Busy periods kept, and connections counted busy from start to end instead (see the header). */
  busyPeriods = 0;
  busyWholeLife = 0;

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
    group.usableUntil.push(
      Math.min(r.end, r.clientFinAt ?? Infinity, r.serverFinAt ?? Infinity, r.resetAt ?? Infinity),
    );
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
    this.addBusy(group, r, r.start, r.end);
  }

  private addBusy(group: ConnectionGroup, r: ConnectionRecord, start: number, end: number): void {
    const busy = r.busyAt;
    if (busy === undefined || this.busyPeriods + busy.length / 2 > MAX_TRACKED_BUSY_PERIODS) {
      if (r.requests === 0) return;
      this.busyWholeLife++;
      this.busyPeriods++;
      group.busyFrom.push(start);
      group.busyTo.push(end);
      return;
    }
    for (let i = 0; i < busy.length; i += 2) {
      this.busyPeriods++;
      group.busyFrom.push(busy[i]!);
      // A last period without its end: busy until the connection ended.
      group.busyTo.push(busy[i + 1] ?? end);
    }
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
