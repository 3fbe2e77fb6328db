/**
 * Finding 3, an idle reset by a middlebox: a RST with no FIN before it, after an idle gap, from a
 * side that had sent nothing wrong: every request answered, no body cut. A NAT gateway or load
 * balancer that dropped the idle flow answers the next segment with a RST (or sends one to both
 * sides when it expires the flow). When a request drew the RST, it was lost. The gap is long enough
 * to say so when:
 *  - it is MIDDLEBOX_IDLE_MIN_MS or more (a peer's own reset comes sooner), or
 *  - a request drew the RST from the server's address after a gap shorter than the server's own idle
 *    timeout (measured over its connections, or advertised in Keep-Alive: timeout=N): the server
 *    still kept the connection, so something on the path had dropped it. At or past that timeout it
 *    is the keep-alive race instead (race.ts, "reset on arrival").
 * A RST that a request drew at the very idle gap where this server closes idle connections is not
 * one: the server then closed with the request unread, and the keep-alive race names it (race.ts);
 * which is known once every record is in.
 */
import type { ConnectionRecord, Finding } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { crossingWindowMs, formatDuration, serverKey } from './facts.js';
import { idleResetFixes } from './fixes.js';
import type { ServerFacts } from './servers.js';
import {
  CLIENT_IDLE_SHARE,
  MAX_CANDIDATES,
  MIDDLEBOX_IDLE_MIN_MS,
  MIN_IDLE_CLOSE_MS,
  RESET_ANSWER_MS,
} from './thresholds.js';

interface Reset {
  id: number;
  at: number;
  idleMs: number;
  by: 'client' | 'server';
  /** The request that drew the RST, if one did. */
  method: string | null;
  /**
   * Shorter than MIDDLEBOX_IDLE_MIN_MS: an idle reset only if the server's own timeout is longer
   * (known once every record is in); `window` is the margin (two round trips).
   */
  short: boolean;
  window: number;
}

/** The idle reset on one connection, or null (`short` ones are judged against the server's timeout). */
export function idleResetOn(r: ConnectionRecord): Reset | null {
  const at = r.resetAt;
  const last = r.lastResponseEndAt;
  if (r.resetBy === null || at === undefined || last === undefined) return null;
  // A FIN before the RST: the connection was being closed, a RST then is a close's detail.
  if (r.closedFirstBy !== null) return null;
  if (r.responseIncomplete === true) return null;
  const waiting = r.unanswered ?? [];
  // Only the request that drew the RST may be unanswered, sent after the idle gap.
  if (waiting.length > 1) return null;
  const request = waiting[0];
  const idleMs = (request?.at ?? at) - last;
  const window = crossingWindowMs(r);
  const base = { id: r.id, at, idleMs, by: r.resetBy, method: request?.method ?? null, window };
  if (idleMs >= MIDDLEBOX_IDLE_MIN_MS) return { ...base, short: false };
  // Shorter: only a RST from the server's address in answer to a request (see RESET_ANSWER_MS).
  const drawn =
    request !== undefined &&
    r.resetBy === 'server' &&
    at >= request.at &&
    at - request.at <= Math.max(window, RESET_ANSWER_MS);
  return drawn && idleMs >= MIN_IDLE_CLOSE_MS ? { ...base, short: true } : null;
}

/** One server's idle resets: the long ones, and the short ones to judge once its timeout is known. */
interface Tally {
  server: ServerFacts;
  long: Reset[];
  short: Reset[];
  /** Resets beyond MAX_CANDIDATES of either kind: counted, not listed. */
  beyond: number;
}

export class IdleResetDetector implements FindingDetector {
  private readonly byServer = new Map<string, Tally>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    const reset = idleResetOn(r);
    if (reset === null) return;
    const key = serverKey(r.server);
    let entry = this.byServer.get(key);
    if (entry === undefined) this.byServer.set(key, (entry = { server, long: [], short: [], beyond: 0 }));
    const list = reset.short ? entry.short : entry.long;
    if (list.length < MAX_CANDIDATES) list.push(reset);
    else if (!reset.short) entry.beyond++;
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const { server, long, short, beyond } of this.byServer.values()) {
      // The server keeps idle connections this long: a reset well before it was not the server's doing.
      const keeps = server.effectiveTimeoutMs;
      const early = keeps === null ? [] : short.filter((s) => s.idleMs < keeps - s.window);
      // A RST a request drew where this server closes idle connections is the race (race.ts), not a middlebox.
      const middlebox = long.filter((l) => l.method === null || !server.closesAround(l.idleMs, l.window));
      const resets = [...middlebox, ...early].sort((a, b) => a.id - b.id);
      if (resets.length === 0) continue;
      out.push(this.finding(server, resets, beyond, early.length, keeps));
    }
    return out;
  }

  private finding(server: ServerFacts, resets: Reset[], beyond: number, early: number, keeps: number | null): Finding {
    const list = new EvidenceList();
    for (const reset of resets) {
      const what =
        reset.method === null
          ? `RST from the ${reset.by} after ${formatDuration(reset.idleMs)} idle, no FIN before it`
          : `${reset.method} sent after ${formatDuration(reset.idleMs)} idle drew a RST (from the ${reset.by}'s ` +
            'address), no FIN before it';
      list.add(reset.id, reset.at, what);
    }
    list.count += beyond;
    const idles = resets.map((r) => r.idleMs);
    const shortest = Math.min(...idles);
    const longest = Math.max(...idles);
    const lost = resets.filter((r) => r.method !== null).length;
    // A whole number of seconds for long gaps; for short ones (seen against a server's longer timeout), 10 ms.
    const unit = shortest >= MIDDLEBOX_IDLE_MIN_MS ? 1000 : 10;
    const clientMs = Math.max(unit, Math.floor((shortest * CLIENT_IDLE_SHARE) / unit) * unit);
    const failed = lost > 0 ? `; ${plural(lost, 'request')} drew the RST and failed` : '';
    const keptBy = server.idleCloses > 0 ? 'measured' : `Keep-Alive: timeout=${server.advertisedTimeoutS}`;
    return {
      code: 'idle-reset',
      severity: lost > 0 ? 'error' : 'warning',
      summary:
        `idle reset: ${plural(list.count, 'connection')} to ${formatEndpoint(server.endpoint)} ` +
        `${list.count === 1 ? 'was' : 'were'} reset without a FIN after ${formatDuration(shortest)} or more idle` +
        `${failed}; a NAT or load balancer on the path likely dropped the idle flow: close idle connections sooner`,
      reasoning: [
        `${plural(list.count, 'connection')} ended with a RST and no FIN from either side, after ` +
          `${formatDuration(shortest)} to ${formatDuration(longest)} without a request.`,
        'Every earlier request on them had been answered and no response was cut: ' +
          'neither peer had a reason to reset.',
        early < resets.length
          ? `An idle gap of ${formatDuration(MIDDLEBOX_IDLE_MIN_MS)} or more before a bare RST ` +
            'is the mark of a middlebox ' +
            "that expired the flow (AWS NAT gateway 350 s, ALB 60 s by default); its RST carries the peer's address."
          : '',
        early > 0 && keeps !== null
          ? `${plural(early, 'request')} drew a RST from the server's address after less idle than the server keeps ` +
            `idle connections, ${formatDuration(keeps)} (${keptBy}): it still held the connection, so something ` +
            'on the path had dropped the flow and answered for it.'
          : '',
        server.idleCloses > 0
          ? `The server itself closes idle connections with a FIN after ~${formatDuration(server.idleTimeoutMs!)}.`
          : 'The server was never seen closing an idle connection itself.',
      ].filter((line) => line !== ''),
      evidence: list.evidence(server.endpoint, {
        resets: list.count,
        requestsLost: lost,
        idleBeforeResetMinMs: shortest,
        idleBeforeResetMaxMs: longest,
        serverKeepsIdleMs: keeps,
        suggestedClientIdleTimeoutMs: clientMs,
      }),
      fixes: idleResetFixes(clientMs),
    };
  }
}
