/**
 * Finding 5, an idle pool too small (churn): the client closed connections right after a complete
 * keep-alive response, while other connections of its to the same server were open, and opened a new
 * one soon after: it had no room to keep the connection idle (Node's maxFreeSockets, Go's
 * MaxIdleConnsPerHost, urllib3's pool_maxsize: "Connection pool is full, discarding connection";
 * golang/go#13801). The concurrency seen is the most connections the client held at once; an idle
 * pool that large would have kept them all.
 */
import type { Finding } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { formatDuration, serverKey } from './facts.js';
import { poolSizeFixes } from './fixes.js';
import type { ServerFacts, ServerTable } from './servers.js';
import type { Timeline } from './timeline.js';
import { CHURN_MIN_CLOSES, CHURN_MIN_SHARE, CLOSE_AFTER_RESPONSE_MS, REOPEN_WITHIN_MS } from './thresholds.js';

interface Tally {
  server: ServerFacts;
  list: EvidenceList;
  peak: number;
  connections: number;
}

export class PoolChurnDetector implements FindingDetector {
  constructor(private readonly timeline: Timeline) {}

  add(): void {}

  finish(servers: ServerTable): Finding[] {
    const byServer = new Map<string, Tally>();
    for (const g of this.timeline.all()) {
      const server = servers.get(g.server);
      if (server === undefined) continue;
      const key = serverKey(g.server);
      let t = byServer.get(key);
      if (t === undefined) byServer.set(key, (t = { server, list: new EvidenceList(), peak: 0, connections: 0 }));
      t.connections += g.ids.length;
      let closes = 0;
      for (let i = 0; i < g.ids.length; i++) {
        const fin = g.closedAfterResponse[i]!;
        if (Number.isNaN(fin)) continue;
        const responseEnd = g.responseEnds[i]!;
        // Others open while this one finished its response (itself excluded), and a new one soon after.
        const others = g.openAt(responseEnd) - 1;
        if (others < 1 || !g.startsWithin(responseEnd, fin + REOPEN_WITHIN_MS)) continue;
        closes++;
        t.list.add(
          g.ids[i]!,
          fin,
          `closed by the client ${formatDuration(fin - responseEnd)} after a complete keep-alive response, with ` +
            `${plural(others, 'other connection')} open; a new connection followed`,
        );
      }
      if (closes > 0) t.peak = Math.max(t.peak, g.peak());
    }
    const out: Finding[] = [];
    for (const { server, list, peak, connections } of byServer.values()) {
      if (list.count < CHURN_MIN_CLOSES || list.count < CHURN_MIN_SHARE * connections) continue;
      out.push({
        code: 'pool-churn',
        severity: 'warning',
        summary:
          `idle pool too small: the client closed ${plural(list.count, 'connection')} to ` +
          `${formatEndpoint(server.endpoint)} right after a response and opened new ones while up to ${peak} were ` +
          `in use at once; an idle pool of ${peak} would keep them`,
        reasoning: [
          `${plural(list.count, 'connection')} ended with the client's FIN less than ` +
            `${formatDuration(CLOSE_AFTER_RESPONSE_MS)} ` +
            'after a complete response that kept the connection alive (no Connection: close on either side).',
          `Other connections of the same client to this server were open at that moment, and a new one began within ` +
            `${formatDuration(REOPEN_WITHIN_MS)}: the client had work for the connection but no room to keep it idle.`,
          `The client held up to ${plural(peak, 'connection')} to this server at once (the concurrency seen), ` +
            `over ${plural(connections, 'connection')} in all.`,
          this.timeline.untracked > 0
            ? `Only the first ${this.timeline.tracked} connections of the capture were examined for this.`
            : '',
        ].filter((line) => line !== ''),
        evidence: list.evidence(server.endpoint, {
          closesAfterResponse: list.count,
          concurrencySeen: peak,
          suggestedIdlePool: peak,
          connections,
        }),
        fixes: poolSizeFixes(peak),
      });
    }
    return out;
  }
}
