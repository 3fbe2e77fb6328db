/**
 * Finding 1, the keep-alive race (stale reuse): a request sent on a connection after, or while, the
 * server's FIN was on its way; the RST or the missing response that followed. Seen on the wire as:
 * server FIN, client request, server RST (or no answer), on a connection that had carried a response
 * and then idled about as long as this server lets connections idle (nodejs/node#20256, undici#583).
 *
 * A server that closes with the request already in its receive buffer sends a RST without a FIN:
 * that too is the race when the idle gap before the request reached the server's measured timeout.
 */
import type { ConnectionRecord, Endpoint, Finding } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { crossingWindowMs, formatDuration, isIdempotent, median, serverKey, suggestedClientIdleMs } from './facts.js';
import { shorterClientIdleFixes } from './fixes.js';
import type { ServerFacts } from './servers.js';
import { MAX_CANDIDATES, MIN_IDLE_CLOSE_MS } from './thresholds.js';

type Kind = 'after-fin' | 'crossing' | 'reset-on-arrival';

/** A request lost to the race on one connection. */
export interface RaceLost {
  id: number;
  kind: Kind;
  method: string;
  /** The unanswered request, and the server's FIN or RST (ms since the epoch). */
  requestAt: number;
  closeAt: number;
  /** Idle before the request, and before the server's FIN (null for a reset on arrival). */
  idleBeforeRequestMs: number;
  serverIdleMs: number | null;
  reset: boolean;
  /** Requests lost on the connection (the unanswered ones). */
  requests: number;
  nonIdempotent: number;
  window: number;
}

/** The race on one connection, or null. Exported for the tests of the boundary cases. */
export function raceOn(r: ConnectionRecord): RaceLost | null {
  const request = r.unanswered?.[0];
  const last = r.lastResponseEndAt;
  if (request === undefined || last === undefined) return null;
  const window = crossingWindowMs(r);
  const requests = Math.max(1, r.requests - r.responses);
  const nonIdempotent = (r.unanswered ?? []).filter((u) => !isIdempotent(u.method)).length;
  const reset = r.resetBy === 'server' && r.resetAt !== undefined && r.resetAt >= request.at;
  const base = { id: r.id, method: request.method, requestAt: request.at, idleBeforeRequestMs: request.at - last };
  const fin = r.serverFinAt;
  // A server that announced its close (Connection: close) is not racing: the client ignored it.
  if (r.closeAsked?.server !== undefined) return null;
  if (r.closedFirstBy === 'server' && fin !== undefined && fin >= last && request.at >= fin - window) {
    const kind: Kind = request.at >= fin ? 'after-fin' : 'crossing';
    return { ...base, kind, closeAt: fin, serverIdleMs: fin - last, reset, requests, nonIdempotent, window };
  }
  if (
    r.closedFirstBy === null &&
    reset &&
    r.resetAt! - request.at <= window &&
    request.at - last >= MIN_IDLE_CLOSE_MS
  ) {
    const closeAt = r.resetAt!;
    return { ...base, kind: 'reset-on-arrival', closeAt, serverIdleMs: null, reset, requests, nonIdempotent, window };
  }
  return null;
}

/** "1.05 s", or "1.00 s to 1.20 s". */
function span(min: number, max: number): string {
  const a = formatDuration(min);
  const b = formatDuration(max);
  return a === b ? a : `${a} to ${b}`;
}

/** What happened on the connection, in words, for a finding's events. */
export function describeRace(l: RaceLost): string {
  const sent = `${l.method} sent ${formatDuration(l.idleBeforeRequestMs)} after the last response`;
  const outcome = l.reset
    ? 'the server answered with a RST'
    : 'no response came (the client read the end of the stream)';
  if (l.kind === 'reset-on-arrival')
    return (
      `${sent}; the server reset the connection ${formatDuration(l.closeAt - l.requestAt)} later ` +
      'without a FIN, no response'
    );
  const when =
    l.kind === 'after-fin'
      ? `${formatDuration(l.requestAt - l.closeAt)} after the server's FIN`
      : `${formatDuration(l.closeAt - l.requestAt)} before the server's FIN reached this capture (they crossed)`;
  return `${sent}, ${when}, which the server sent after ${formatDuration(l.serverIdleMs!)} idle; ${outcome}`;
}

export class RaceDetector implements FindingDetector {
  private readonly byServer = new Map<string, { server: ServerFacts; lost: RaceLost[]; beyond: number }>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    const lost = raceOn(r);
    if (lost === null) return;
    const key = serverKey(r.server);
    let entry = this.byServer.get(key);
    if (entry === undefined) this.byServer.set(key, (entry = { server, lost: [], beyond: 0 }));
    if (entry.lost.length < MAX_CANDIDATES) entry.lost.push(lost);
    else entry.beyond++;
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const { server } of this.byServer.values()) {
      const lost = this.lostTo(server.endpoint);
      if (lost.length > 0) out.push(this.finding(server, lost));
    }
    return out;
  }

  /**
   * The requests lost to the race on connections to `server` (the first MAX_CANDIDATES connections),
   * once every record is in: a reset on arrival counts only when the idle gap reached what this
   * server is known to allow.
   */
  lostTo(server: Endpoint): RaceLost[] {
    const entry = this.byServer.get(serverKey(server));
    if (entry === undefined) return [];
    const timeout = entry.server.effectiveTimeoutMs;
    return entry.lost.filter(
      (l) => l.kind !== 'reset-on-arrival' || (timeout !== null && l.idleBeforeRequestMs >= timeout - l.window),
    );
  }

  private finding(server: ServerFacts, lost: RaceLost[]): Finding {
    const list = new EvidenceList();
    for (const l of lost) list.add(l.id, l.requestAt, describeRace(l));
    const requests = lost.reduce((n, l) => n + l.requests, 0);
    const nonIdempotent = lost.reduce((n, l) => n + l.nonIdempotent, 0);
    const finIdles = lost.filter((l) => l.serverIdleMs !== null).map((l) => l.serverIdleMs!);
    const serverMs = server.idleTimeoutMs ?? (finIdles.length > 0 ? median(finIdles) : server.effectiveTimeoutMs);
    const idles = lost.map((l) => l.idleBeforeRequestMs);
    const kinds = (k: Kind) => lost.filter((l) => l.kind === k).length;
    const resets = lost.filter((l) => l.reset).length;
    const closedAfter = serverMs === null ? '' : ` after ~${formatDuration(serverMs)} idle`;
    const unsafe =
      nonIdempotent > 0 ? ` (${plural(nonIdempotent, 'was', 'were')} not idempotent, so not safe to retry)` : '';
    const summary =
      `keep-alive race: ${plural(requests, 'request was', 'requests were')} sent on connections the server had ` +
      `closed${closedAfter}${unsafe}; make the client's idle timeout shorter than the server's`;
    const advertised = server.advertisedTimeoutS;
    const basis = serverMs ?? Math.min(...idles);
    const clientMs = suggestedClientIdleMs(basis);
    const reasoning = [
      `${plural(lost.length, 'connection')} to ${formatEndpoint(server.endpoint)} carried a response, ` +
        'idled, then got a ' +
        `request that was never answered: ${kinds('after-fin')} sent after the server's FIN, ${kinds('crossing')} ` +
        `crossing it (within ${formatDuration(lost[0]!.window)}, two round trips), ` +
        `${kinds('reset-on-arrival')} reset ` +
        `on arrival without a FIN; ${resets} drew a RST from the server.`,
      `The client had let those connections idle ${span(Math.min(...idles), Math.max(...idles))} before reusing them.`,
      server.idleCloses > 0
        ? `Over all its connections this server closed idle ones after ${formatDuration(server.idleCloseMinMs)} to ` +
          `${formatDuration(server.idleCloseMaxMs)} (median ${formatDuration(server.idleTimeoutMs!)}, ` +
          `${plural(server.idleCloses, 'idle close')}); the longest idle gap it still answered after was ` +
          `${formatDuration(server.longestAnsweredIdleMs)}.`
        : 'No idle close of this server was seen apart from these.',
      advertised === null
        ? 'Its responses carry no Keep-Alive: timeout=N, so a client cannot learn the timeout from them.'
        : `Its responses advertise Keep-Alive: timeout=${advertised}.`,
      'A client that reuses a connection as long as or longer than the server keeps it will sometimes write into a ' +
        'connection the server is closing: the request is lost (ECONNRESET, "socket hang up", UND_ERR_SOCKET).',
      nonIdempotent > 0
        ? `${plural(nonIdempotent, 'lost request')} used a method that is not idempotent (RFC 9110 9.2.2): a client ` +
          'must not resend it blindly.'
        : 'Every lost request was idempotent: a client may resend it on a new connection.',
    ];
    return {
      code: 'keepalive-race',
      severity: 'error',
      summary,
      reasoning,
      evidence: list.evidence(server.endpoint, {
        requestsLost: requests,
        nonIdempotent,
        resets,
        clientIdleMinMs: Math.min(...idles),
        clientIdleMaxMs: Math.max(...idles),
        ...server.values(),
        suggestedClientIdleTimeoutMs: clientMs,
      }),
      fixes: shorterClientIdleFixes(clientMs, basis, advertised),
    };
  }
}
