/**
 * What the tracker keeps per origin: counters, and the bounded facts its findings need (findings.ts).
 * Nothing here grows with the number of requests: call sites, race events and evidence are capped.
 */
import { MAX_EVIDENCE_EVENTS } from '../../analyze/findings/thresholds.js';
import type { ProcessOrigin } from '../../model/process.js';
import type { CloseReason } from './events.js';
import { RateWindow } from './recent.js';

/** Unread-body call sites kept per origin; more are counted under the last one's neighbours, not kept. */
const MAX_CALL_SITES = 32;
/** The busiest-span window of the port outlook (analyze/findings/thresholds.ts RATE_SUSTAINED_WINDOW_MS). */
const RATE_SPAN_S = 10;

export interface UnreadSite {
  /** `file:line:column` of the app's frame, or null when the stack showed none (stackTraces off). */
  site: string | null;
  responses: number;
  /** New connections to the origin opened while one of these responses held its socket. */
  extraConnections: number;
  /** Connection ids (the first few) and when the first was left unread. */
  connections: number[];
  firstAt: number;
}

export interface RaceEvent {
  connection: number;
  at: number;
  method: string;
  code: string;
  /** How long the socket sat idle before the request was sent on it. */
  idleMs: number;
}

export class OriginStats {
  readonly clients = new Set<'node:http' | 'undici'>();
  requests = 0;
  reusedRequests = 0;
  responses = 0;
  readonly errors: Record<string, number> = {};
  connectionsOpened = 0;
  connectionsClosed = 0;
  live = 0;
  busy = 0;
  peakBusy = 0;
  readonly closeReasons: Partial<Record<CloseReason, number>> = {};
  ttfbSum = 0;
  ttfbMax = 0;
  keepAliveHintS: number | null = null;
  /** node:http's Agent `timeout` (the client's idle timeout), when one was set. */
  clientIdleTimeoutMs: number | null = null;
  /** Idle connections the server closed: how long they had been idle (its idle timeout, measured). */
  serverIdleCloses = 0;
  serverIdleMinMs = Infinity;
  serverIdleMaxMs = 0;
  // Unread bodies (findings.ts unreadBody).
  readonly unread = new Map<string, UnreadSite>();
  // The keep-alive race: failed requests on reused sockets.
  raceCount = 0;
  readonly raceEvents: RaceEvent[] = [];
  raceIdleMinMs = Infinity;
  raceIdleMaxMs = 0;
  // Pool churn: sockets the http.Agent destroyed because its idle pool was full.
  poolFullCloses = 0;
  /** ...and the new connections opened within REOPEN_WITHIN_MS of one (the churn's cost). */
  poolFullReopened = 0;
  lastPoolFullAt = -Infinity;
  maxFreeSockets: number | null = null;
  readonly poolFullEvents: { connection: number; at: number; free: number }[] = [];
  // Port outlook: connections the client closed first (their TIME_WAIT is the client's), per second.
  readonly clientCloses = new RateWindow(RATE_SPAN_S);

  constructor(
    readonly origin: string,
    readonly serverAddress: string,
    readonly serverPort: number,
  ) {}

  countClose(reason: CloseReason): void {
    this.connectionsClosed++;
    this.closeReasons[reason] = (this.closeReasons[reason] ?? 0) + 1;
  }

  countError(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  addRace(event: RaceEvent): void {
    this.raceCount++;
    this.raceIdleMinMs = Math.min(this.raceIdleMinMs, event.idleMs);
    this.raceIdleMaxMs = Math.max(this.raceIdleMaxMs, event.idleMs);
    if (this.raceEvents.length < MAX_EVIDENCE_EVENTS) this.raceEvents.push(event);
  }

  addUnread(site: string | null, connection: number, extraConnections: number, at: number): void {
    const key = site ?? '?';
    let s = this.unread.get(key);
    if (s === undefined) {
      if (this.unread.size >= MAX_CALL_SITES) return;
      this.unread.set(key, (s = { site, responses: 0, extraConnections: 0, connections: [], firstAt: at }));
    }
    s.responses++;
    s.extraConnections += extraConnections;
    if (s.connections.length < MAX_EVIDENCE_EVENTS) s.connections.push(connection);
  }

  summary(): ProcessOrigin {
    return {
      origin: this.origin,
      clients: [...this.clients].sort(),
      requests: this.requests,
      reusedRequests: this.reusedRequests,
      reuseShare: this.requests > 0 ? this.reusedRequests / this.requests : null,
      responses: this.responses,
      errors: { ...this.errors },
      connectionsOpened: this.connectionsOpened,
      connectionsClosed: this.connectionsClosed,
      connectionsOpen: this.live,
      closeReasons: { ...this.closeReasons },
      ttfbMs: this.responses > 0 ? { mean: this.ttfbSum / this.responses, max: this.ttfbMax } : null,
      keepAliveHintS: this.keepAliveHintS,
    };
  }
}

/** The port of `http://host:port` (the default one when absent); NaN for anything else. */
export function originPort(origin: string): number {
  try {
    const url = new URL(origin);
    return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  } catch {
    return NaN;
  }
}
