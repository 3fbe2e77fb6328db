/**
 * Finding 4, a response body not read (the article's cause), on the wire:
 *  - cut: the client closed or reset the connection before the response body was complete;
 *  - unread: the client reset the connection after a complete response, with no FIN of its own:
 *    closing a socket with unread bytes in its receive buffer sends a RST (RFC 1122 4.2.2.13, as
 *    Linux does); a middlebox's RST after a long idle gap is the idle-reset finding instead;
 *  - stranded: a connection sat idle after a complete response while the same client opened new
 *    connections to the same server: the response never went back to the client's pool (Node's
 *    http.Agent frees a socket only at the response's end, OkHttp and requests likewise).
 * Each makes the client's next request open a new connection: named as the cause of those.
 */
import type { ConnectionRecord, Finding } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { formatDuration, serverKey } from './facts.js';
import { readBodyFixes } from './fixes.js';
import type { ServerFacts, ServerTable } from './servers.js';
import type { Timeline } from './timeline.js';
import { CHURN_MIN_CLOSES, MIDDLEBOX_IDLE_MIN_MS } from './thresholds.js';

type How = 'cut' | 'unread';

/** Status codes whose responses have no content (RFC 9110 15.3.5 204, 15.4.5 304): no body to leave unread. */
const NO_CONTENT = new Set([204, 304]);

/** How the client dropped a response on this connection, or null. */
export function droppedBodyOn(r: ConnectionRecord): How | null {
  const clientEnded = r.closedFirstBy === 'client' || (r.closedFirstBy === null && r.resetBy === 'client');
  if (r.responseIncomplete === true && clientEnded) return 'cut';
  const last = r.lastResponseEndAt;
  const lastStatus = r.statusCodes[r.statusCodes.length - 1];
  if (
    r.resetBy === 'client' &&
    lastStatus !== undefined &&
    !NO_CONTENT.has(lastStatus) &&
    r.resetAt !== undefined &&
    last !== undefined &&
    (r.clientFinAt === undefined || r.clientFinAt > r.resetAt) &&
    r.serverFinAt === undefined &&
    r.unanswered === undefined &&
    r.resetAt - last < MIDDLEBOX_IDLE_MIN_MS
  )
    return 'unread';
  return null;
}

interface Tally {
  server: ServerFacts;
  list: EvidenceList;
  cut: number;
  unread: number;
  stranded: number;
}

export class BodyNotReadDetector implements FindingDetector {
  private readonly byServer = new Map<string, Tally>();

  constructor(private readonly timeline: Timeline) {}

  private static tally(table: Map<string, Tally>, server: ServerFacts): Tally {
    const key = serverKey(server.endpoint);
    let t = table.get(key);
    if (t === undefined) table.set(key, (t = { server, list: new EvidenceList(), cut: 0, unread: 0, stranded: 0 }));
    return t;
  }

  add(r: ConnectionRecord, server: ServerFacts): void {
    const how = droppedBodyOn(r);
    if (how === null) return;
    const t = BodyNotReadDetector.tally(this.byServer, server);
    t[how]++;
    const at = r.resetAt ?? r.clientFinAt ?? r.end ?? 0;
    t.list.add(
      r.id,
      at,
      how === 'cut'
        ? `the client ${r.resetBy === 'client' ? 'reset' : 'closed'} the connection ` +
            'before the response body was complete'
        : `the client reset the connection ${formatDuration(at - r.lastResponseEndAt!)} after a complete response, ` +
            'without a FIN: bytes it never read were still in its buffer',
    );
  }

  finish(servers: ServerTable): Finding[] {
    // Copies: finish() may be called again after more records.
    const table = new Map<string, Tally>();
    for (const [key, t] of this.byServer) table.set(key, { ...t, list: t.list.clone() });
    this.strandedConnections(servers, table);
    const out: Finding[] = [];
    for (const { server, list, cut, unread, stranded } of table.values()) {
      // Stranded connections alone are named only when they repeat (a client may hold a spare connection).
      if (cut + unread === 0 && stranded < CHURN_MIN_CLOSES) continue;
      const parts = [
        cut > 0 && `${cut} closed or reset before the body was complete`,
        unread > 0 && `${unread} reset with unread bytes`,
        stranded > 0 && `${stranded} left idle while new connections were opened`,
      ].filter(Boolean);
      out.push({
        code: 'body-not-read',
        severity: 'warning',
        summary:
          `body not read: ${plural(list.count, 'connection')} to ${formatEndpoint(server.endpoint)} never went back ` +
          `to the client's pool (${parts.join(', ')}), so later requests needed new connections; ` +
          'read every response to its end',
        reasoning: [
          'A client reuses a connection only once the response on it was read to its end.',
          cut > 0
            ? `${plural(cut, 'connection')}: the client's FIN or RST came while the response body was still arriving.`
            : '',
          unread > 0
            ? `${plural(unread, 'connection')}: a RST from the client, no FIN, after a complete response: closing a ` +
              'socket whose receive buffer still holds unread bytes sends a RST (RFC 1122 4.2.2.13).'
            : '',
          stranded > 0
            ? `${plural(stranded, 'connection')}: idle after a complete response, never used again, while the same ` +
              'client opened new connections to this server.'
            : '',
          `The server had ${plural(server.connections, 'connection')} from clients in all.`,
        ].filter((line) => line !== ''),
        evidence: list.evidence(server.endpoint, { cut, unread, stranded, connections: server.connections }),
        fixes: readBodyFixes(),
      });
    }
    return out;
  }

  /** Connections idle after their last response while their client opened new ones (see timeline.ts). */
  private strandedConnections(servers: ServerTable, table: Map<string, Tally>): void {
    for (const g of this.timeline.all()) {
      const server = servers.get(g.server);
      if (server === undefined) continue;
      for (let i = 0; i < g.ids.length; i++) {
        const idleFrom = g.idleFrom[i]!;
        // Closed right after its response: the pool was full (the pool-churn finding), not stranded.
        if (Number.isNaN(idleFrom) || !Number.isNaN(g.closedAfterResponse[i]!)) continue;
        // A new connection while this one could still have been reused: before either side's FIN (one the
        // server closed right after the response was not the client's to reuse, headers seen or not).
        if (!g.startsWithin(idleFrom, g.usableUntil[i]!)) continue;
        const t = BodyNotReadDetector.tally(table, server);
        t.stranded++;
        t.list.add(
          g.ids[i]!,
          idleFrom,
          `idle from its last response on (${formatDuration(g.usableUntil[i]! - idleFrom)}) and never used again, ` +
            'while the client opened a new connection to the same server',
        );
      }
    }
  }
}
