/**
 * Finding 5, an idle pool too small (churn): the client closed connections right after a complete
 * keep-alive response, while other connections of its to the same server were open, and opened a new
 * one soon after: it had no room to keep the connection idle (Node's maxFreeSockets, Go's
 * MaxIdleConnsPerHost, urllib3's pool_maxsize: "Connection pool is full, discarding connection";
 * golang/go#13801).
 *
 * The pool size that stops it is the client's concurrency: the most requests it had in flight at once,
 * from the records' busy periods (busyAt). An idle pool that large keeps a connection for each, and
 * when they all finish, all of them. The most connections open at once overstates it: it counts the
 * connections idle in the pool and those closing, which is what a full pool looks like. The busy count
 * when a connection was closed is shown too, but it is a floor, not the answer: after a burst of N
 * requests the connections finish one by one, and the pool is full (so closes begin) only once as many
 * as it holds have finished, when fewer than N are still busy.
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
  /** The most connections open at once, and busy at once, over the groups that churned. */
  peak: number;
  busyPeak: number;
  /** The most connections busy when one was closed (that one included). */
  busyAtClose: number;
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
      if (t === undefined)
        byServer.set(
          key,
          (t = { server, list: new EvidenceList(), peak: 0, busyPeak: 0, busyAtClose: 0, connections: 0 }),
        );
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
        // Busy as its response ended: this one (its last busy period ends there) and the others.
        const busy = g.busyAt(responseEnd);
        t.busyAtClose = Math.max(t.busyAtClose, busy);
        t.list.add(
          g.ids[i]!,
          fin,
          `closed by the client ${formatDuration(fin - responseEnd)} after a complete keep-alive response, with ` +
            `${plural(others, 'other connection')} open (${Math.max(0, busy - 1)} busy); a new connection followed`,
        );
      }
      if (closes > 0) {
        t.peak = Math.max(t.peak, g.peak());
        t.busyPeak = Math.max(t.busyPeak, g.busyPeak());
      }
    }
    const out: Finding[] = [];
    for (const { server, list, peak, busyPeak, busyAtClose, connections } of byServer.values()) {
      if (list.count < CHURN_MIN_CLOSES || list.count < CHURN_MIN_SHARE * connections) continue;
      // At least one: the connection closed was busy until its response ended.
      const pool = Math.max(1, busyPeak);
      out.push({
        code: 'pool-churn',
        severity: 'warning',
        summary:
          `idle pool too small: the client closed ${plural(list.count, 'connection')} to ` +
          `${formatEndpoint(server.endpoint)} right after a response and opened new ones, with up to ` +
          `${plural(busyPeak, 'request')} in flight at once; an idle pool of ${pool} would keep them`,
        reasoning: [
          `${plural(list.count, 'connection')} ended with the client's FIN less than ` +
            `${formatDuration(CLOSE_AFTER_RESPONSE_MS)} ` +
            'after a complete response that kept the connection alive (no Connection: close on either side).',
          `Other connections of the same client to this server were open at that moment, and a new one began within ` +
            `${formatDuration(REOPEN_WITHIN_MS)}: the client had work for the connection but no room to keep it idle.`,
          `The client had up to ${plural(busyPeak, 'request')} in flight to this server at once (its concurrency, ` +
            'from when each connection had a request outstanding): an idle pool that large keeps a connection for ' +
            `each. It held up to ${plural(peak, 'connection')} open at once (busy, idle in its pool, or closing), ` +
            `over ${plural(connections, 'connection')} in all; when it closed one, up to ${busyAtClose} were busy, ` +
            'that one included (fewer than at its peak: the pool fills as a burst finishes).',
          this.timeline.busyWholeLife > 0
            ? `${plural(this.timeline.busyWholeLife, 'connection')} without request times (framing lost) counted ` +
              'as busy from start to end.'
            : '',
          this.timeline.untracked > 0
            ? `Only the first ${this.timeline.tracked} connections of the capture were examined for this.`
            : '',
        ].filter((line) => line !== ''),
        evidence: list.evidence(server.endpoint, {
          closesAfterResponse: list.count,
          concurrencySeen: peak,
          concurrencyBusy: busyPeak,
          busyAtCloseMax: busyAtClose,
          suggestedIdlePool: pool,
          connections,
        }),
        fixes: poolSizeFixes(pool),
      });
    }
    return out;
  }
}
