/**
 * Finding 9, uneven spread: a client sends all (or nearly all) of its requests to a server over one
 * HTTP/2 connection, many streams over a long time. That is HTTP/2 as designed (RFC 9113 9.1: one
 * connection per origin), and it defeats a load balancer that picks a backend per connection (a
 * Kubernetes Service, an L4 or network balancer): one backend gets every request of this client, and
 * backends added later get none until the connection ends (akka/akka-grpc#880, gRPC's load-balancing
 * guide). A capture cannot see the balancer, so this is information: what the connection pattern means
 * if there is one, and how to rotate or spread connections.
 *
 * Named per client address and server, when its busiest HTTP/2 connection carried SPREAD_MIN_STREAMS
 * streams or more, lasted SPREAD_MIN_AGE_MS or more, and carried SPREAD_MIN_SHARE or more of that
 * client's HTTP/2 streams to the server (thresholds.ts says why each).
 */
import type { ConnectionRecord, Finding } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { formatCount, plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { formatDuration, serverKey } from './facts.js';
import { unevenSpreadFixes } from './fixes.js';
import type { ServerFacts } from './servers.js';
import {
  SPREAD_MIN_AGE_MS,
  SPREAD_MIN_SHARE,
  SPREAD_MIN_STREAMS,
  SUGGESTED_MAX_CONNECTION_AGE_MS,
} from './thresholds.js';

/** One connection, as the busiest of its client so far. */
interface Busiest {
  id: number;
  start: number;
  streams: number;
  ageMs: number;
  peak: number;
  openAtEnd: boolean;
}

/** One client address's HTTP/2 connections to one server. */
interface ClientTally {
  client: string;
  connections: number;
  streams: number;
  busiest: Busiest | null;
}

interface ServerTally {
  server: ServerFacts;
  clients: Map<string, ClientTally>;
}

/** How long a connection was seen: its first to its last evidence (a lower bound when it was open at either end). */
function ageMs(r: ConnectionRecord): number {
  return r.start !== null && r.end !== null ? Math.max(0, r.end - r.start) : 0;
}

export class UnevenSpreadDetector implements FindingDetector {
  private readonly byServer = new Map<string, ServerTally>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    const h2 = r.http2;
    if (h2 === undefined) return;
    const key = serverKey(r.server);
    let s = this.byServer.get(key);
    if (s === undefined) {
      s = { server, clients: new Map() };
      this.byServer.set(key, s);
    }
    let c = s.clients.get(r.client.address);
    if (c === undefined) {
      c = { client: r.client.address, connections: 0, streams: 0, busiest: null };
      s.clients.set(r.client.address, c);
    }
    c.connections++;
    c.streams += r.requests;
    if (c.busiest === null || r.requests > c.busiest.streams)
      c.busiest = {
        id: r.id,
        start: r.start ?? 0,
        streams: r.requests,
        ageMs: ageMs(r),
        peak: h2.peakConcurrentStreams,
        openAtEnd: r.openAtEnd,
      };
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const s of this.byServer.values()) {
      const list = new EvidenceList();
      let clients = 0;
      let streams = 0;
      let pinned = 0;
      let shortestAge = Infinity;
      let lowestShare = 1;
      for (const c of s.clients.values()) {
        const b = c.busiest;
        if (b === null || b.streams < SPREAD_MIN_STREAMS || b.ageMs < SPREAD_MIN_AGE_MS) continue;
        const share = b.streams / c.streams;
        if (share < SPREAD_MIN_SHARE) continue;
        clients++;
        streams += c.streams;
        pinned += b.streams;
        shortestAge = Math.min(shortestAge, b.ageMs);
        lowestShare = Math.min(lowestShare, share);
        list.add(
          b.id,
          b.start,
          `client ${c.client}: ${formatCount(b.streams)} of its ${formatCount(c.streams)} HTTP/2 streams to this ` +
            `server (${percent(share)}) on this connection, over ${formatDuration(b.ageMs)}` +
            `${b.openAtEnd ? ' (still open at the end)' : ''}, up to ${plural(b.peak, 'stream')} at once; ` +
            `${plural(c.connections, 'HTTP/2 connection')} in all`,
        );
      }
      if (clients === 0) continue;
      const server = formatEndpoint(s.server.endpoint);
      const whose = clients === 1 ? 'a client sent' : `${clients} clients each sent`;
      out.push({
        code: 'uneven-spread',
        severity: 'info',
        summary:
          `uneven spread: ${whose} ${clients === 1 ? percent(lowestShare) : `${percent(lowestShare)} or more`} of ` +
          `its HTTP/2 requests to ${server} over one connection (${formatCount(pinned)} streams, kept ` +
          `${formatDuration(shortestAge)}${clients === 1 ? '' : ' or more'}): behind a load balancer that balances ` +
          'by connection, one backend gets all of them; give connections a maximum age or spread them',
        reasoning: [
          `HTTP/2 carries every request to an origin over one connection (RFC 9113 9.1); a load balancer that ` +
            'balances by connection (a Kubernetes Service, an L4 or network load balancer) picks a backend once, ' +
            'when the connection opens, so one backend gets everything it carries (akka/akka-grpc#880).',
          `Named when a client's busiest HTTP/2 connection to a server carried at least ${SPREAD_MIN_STREAMS} ` +
            `streams, was seen for at least ${formatDuration(SPREAD_MIN_AGE_MS)} (a burst ends sooner; a connection ` +
            'held that long is steady traffic that backends added meanwhile never see), and carried at least ' +
            `${percent(SPREAD_MIN_SHARE)} of that client's HTTP/2 streams to the server; a few requests on one ` +
            'connection, or streams spread or rotated over several connections, are not named.',
          `Here: ${plural(clients, 'client address', 'client addresses')}, ${formatCount(pinned)} of their ` +
            `${formatCount(streams)} streams on one connection each.`,
          'The capture cannot show whether a balancer is on the path: if the server is one process, this costs ' +
            'nothing; if it is a balancer by connection, the load is as uneven as the clients are few.',
        ],
        evidence: list.evidence(s.server.endpoint, {
          clients,
          streams,
          streamsOnOneConnection: pinned,
          lowestShare: Math.round(lowestShare * 1000) / 1000,
          shortestConnectionAgeMs: shortestAge,
          suggestedMaxConnectionAgeMs: SUGGESTED_MAX_CONNECTION_AGE_MS,
        }),
        fixes: unevenSpreadFixes(SUGGESTED_MAX_CONNECTION_AGE_MS),
      });
    }
    return out;
  }
}

/** 0.987 -> "98.7%", 1 -> "100%". */
function percent(share: number): string {
  const p = Math.floor(share * 1000) / 10;
  return `${Number.isInteger(p) ? p : p.toFixed(1)}%`;
}
