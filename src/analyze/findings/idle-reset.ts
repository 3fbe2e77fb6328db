/**
 * Finding 3, an idle reset by a middlebox: a RST with no FIN before it, after a long idle gap
 * (MIDDLEBOX_IDLE_MIN_MS), from a side that had sent nothing wrong: every request answered, no body
 * cut. A NAT gateway or load balancer that dropped the idle flow answers the next segment with a RST
 * (or sends one to both sides when it expires the flow). When a request drew the RST, it was lost.
 * Unless its idle gap is where this server closes idle connections: the server then closed with the
 * request unread, and the keep-alive race names it (race.ts); which is known once every record is in.
 */
import type { ConnectionRecord, Finding } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { crossingWindowMs, formatDuration, serverKey } from './facts.js';
import { idleResetFixes } from './fixes.js';
import type { ServerFacts } from './servers.js';
import { CLIENT_IDLE_SHARE, MAX_CANDIDATES, MIDDLEBOX_IDLE_MIN_MS } from './thresholds.js';

interface Reset {
  id: number;
  at: number;
  idleMs: number;
  by: 'client' | 'server';
  /** The request that drew the RST, if one did. */
  method: string | null;
  /** The crossing window of its connection (facts.ts). */
  window: number;
}

/** The idle reset on one connection, or null. */
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
  if (idleMs < MIDDLEBOX_IDLE_MIN_MS) return null;
  return { id: r.id, at, idleMs, by: r.resetBy, method: request?.method ?? null, window: crossingWindowMs(r) };
}

/** One server's idle resets: listed (bounded), and counted with their shortest and longest idle gap. */
interface Tally {
  server: ServerFacts;
  list: EvidenceList;
  minIdleMs: number;
  maxIdleMs: number;
  requestsLost: number;
  /** Resets a request drew, kept until the server's idle closes are known (the first MAX_CANDIDATES). */
  drawn: Reset[];
}

export class IdleResetDetector implements FindingDetector {
  private readonly byServer = new Map<string, Tally>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    const reset = idleResetOn(r);
    if (reset === null) return;
    const key = serverKey(r.server);
    let entry = this.byServer.get(key);
    if (entry === undefined) {
      entry = { server, list: new EvidenceList(), minIdleMs: Infinity, maxIdleMs: 0, requestsLost: 0, drawn: [] };
      this.byServer.set(key, entry);
    }
    if (reset.method !== null && entry.drawn.length < MAX_CANDIDATES) entry.drawn.push(reset);
    else IdleResetDetector.count(entry, reset);
  }

  private static count(entry: Tally, reset: Reset): void {
    const what =
      reset.method === null
        ? `RST from the ${reset.by} after ${formatDuration(reset.idleMs)} idle, no FIN before it`
        : `${reset.method} sent after ${formatDuration(reset.idleMs)} idle drew a RST (from the ${reset.by}'s ` +
          'address), no FIN before it';
    entry.list.add(reset.id, reset.at, what);
    entry.minIdleMs = Math.min(entry.minIdleMs, reset.idleMs);
    entry.maxIdleMs = Math.max(entry.maxIdleMs, reset.idleMs);
    if (reset.method !== null) entry.requestsLost++;
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const tally of this.byServer.values()) {
      // A copy: finish() may be called again after more records.
      const t: Tally = { ...tally, list: tally.list.clone(), drawn: [] };
      for (const reset of tally.drawn)
        if (!t.server.closesAround(reset.idleMs, reset.window)) IdleResetDetector.count(t, reset);
      if (t.list.count === 0) continue;
      const { server, list, minIdleMs: shortest, maxIdleMs: longest, requestsLost: lost } = t;
      const clientMs = Math.max(1000, Math.floor((shortest * CLIENT_IDLE_SHARE) / 1000) * 1000);
      const failed = lost > 0 ? `; ${plural(lost, 'request')} drew the RST and failed` : '';
      out.push({
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
          `An idle gap of ${formatDuration(MIDDLEBOX_IDLE_MIN_MS)} or more before a bare RST ` +
            'is the mark of a middlebox ' +
            "that expired the flow (AWS NAT gateway 350 s, ALB 60 s by default); its RST carries the peer's address.",
          server.idleCloses > 0
            ? `The server itself closes idle connections with a FIN after ~${formatDuration(server.idleTimeoutMs!)}.`
            : 'The server was never seen closing an idle connection itself.',
        ],
        evidence: list.evidence(server.endpoint, {
          resets: list.count,
          requestsLost: lost,
          idleBeforeResetMinMs: shortest,
          idleBeforeResetMaxMs: longest,
          suggestedClientIdleTimeoutMs: clientMs,
        }),
        fixes: idleResetFixes(clientMs),
      });
    }
    return out;
  }
}
