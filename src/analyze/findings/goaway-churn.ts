/**
 * Finding 10, GOAWAY churn: a server ends HTTP/2 connections with GOAWAY (RFC 9113 6.8) after a few
 * streams each, and the client opens a new connection every time: a TCP handshake, TLS's, and HTTP/2's
 * SETTINGS exchange every few requests. The usual causes are a request cap set low (nginx
 * keepalive_requests, which ends HTTP/2 connections too since 1.19.7; Envoy max_requests_per_connection),
 * a max connection age of seconds (gRPC MaxConnectionAge), or a program that calls session.close().
 *
 * A connection counts when the server sent the first GOAWAY on it, before any FIN of the client (the
 * server chose to end it, not answered the client's close), after at most GOAWAY_CHURN_MAX_STREAMS
 * streams, and the same client address opened another connection to the server after that GOAWAY.
 * Named per server from GOAWAY_CHURN_MIN_CONNECTIONS such connections (thresholds.ts).
 */
import type { ConnectionRecord, Finding, Http2Goaway } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { median, serverKey } from './facts.js';
import { goawayChurnFixes } from './fixes.js';
import type { ServerFacts } from './servers.js';
import {
  GOAWAY_CHURN_MAX_STREAMS,
  GOAWAY_CHURN_MIN_CONNECTIONS,
  MAX_CANDIDATES,
  SUGGESTED_STREAM_CAP,
} from './thresholds.js';

/** A connection the server ended with GOAWAY after few streams. */
interface Ended {
  id: number;
  client: string;
  streams: number;
  goaway: Http2Goaway;
}

interface Tally {
  server: ServerFacts;
  /** HTTP/2 connections to the server. */
  connections: number;
  /** Connections the server ended with GOAWAY, whatever their streams. */
  goaways: number;
  ended: Ended[];
  /** Candidates beyond MAX_CANDIDATES: counted only. */
  beyond: number;
  /** The latest start of a connection, per client address. */
  lastStart: Map<string, number>;
}

/** The GOAWAY that ended the connection on the server's initiative, if one did (see the header). */
export function serverGoaway(r: ConnectionRecord): Http2Goaway | null {
  const first = r.http2?.goaway[0];
  if (first === undefined || first.by !== 'server') return null;
  if (r.clientFinAt !== undefined && r.clientFinAt < first.at) return null;
  return first;
}

export class GoawayChurnDetector implements FindingDetector {
  private readonly byServer = new Map<string, Tally>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    if (r.http2 === undefined) return;
    const key = serverKey(r.server);
    let t = this.byServer.get(key);
    if (t === undefined) {
      t = { server, connections: 0, goaways: 0, ended: [], beyond: 0, lastStart: new Map() };
      this.byServer.set(key, t);
    }
    t.connections++;
    if (r.start !== null && r.start > (t.lastStart.get(r.client.address) ?? -Infinity))
      t.lastStart.set(r.client.address, r.start);
    const goaway = serverGoaway(r);
    if (goaway === null) return;
    t.goaways++;
    if (r.requests > GOAWAY_CHURN_MAX_STREAMS) return;
    if (t.ended.length < MAX_CANDIDATES)
      t.ended.push({ id: r.id, client: r.client.address, streams: r.requests, goaway });
    else t.beyond++;
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const t of this.byServer.values()) {
      // Followed by a new connection of the same client: it came back and paid for one.
      const replaced = t.ended.filter((e) => (t.lastStart.get(e.client) ?? -Infinity) > e.goaway.at);
      if (replaced.length + t.beyond < GOAWAY_CHURN_MIN_CONNECTIONS) continue;
      const list = new EvidenceList();
      const codes = new Map<string, number>();
      for (const e of replaced) {
        codes.set(e.goaway.errorCode, (codes.get(e.goaway.errorCode) ?? 0) + 1);
        list.add(
          e.id,
          e.goaway.at,
          `the server sent GOAWAY (last stream id ${e.goaway.lastStreamId}, ${e.goaway.errorCode}) after ` +
            `${plural(e.streams, 'stream')}; the client opened a new connection after it`,
        );
      }
      const streams = replaced.map((e) => e.streams);
      const most = Math.max(...streams);
      const mid = median(streams);
      const server = formatEndpoint(t.server.endpoint);
      const count = replaced.length + t.beyond;
      const errors = [...codes].filter(([code]) => code !== 'NO_ERROR');
      out.push({
        code: 'goaway-churn',
        severity: 'warning',
        summary:
          `GOAWAY churn: ${server} ended ${plural(count, 'HTTP/2 connection')} with GOAWAY after ` +
          `${most === mid ? most : `${mid} (median) to ${most}`} streams each, and the client opened a new ` +
          'connection each time; let connections carry more streams (or live longer) on the server',
        reasoning: [
          'A GOAWAY (RFC 9113 6.8) tells the client to open a new connection for its next requests: each costs a ' +
            "TCP handshake, TLS's when encrypted, and HTTP/2's SETTINGS exchange.",
          `Counted: connections where the server sent the first GOAWAY, before any FIN of the client, after at ` +
            `most ${GOAWAY_CHURN_MAX_STREAMS} streams, followed by a new connection of the same client; named from ` +
            `${GOAWAY_CHURN_MIN_CONNECTIONS} (one or two are a restart or a deploy draining). A cap such as ` +
            "nginx's default keepalive_requests 1000 costs one handshake in a thousand requests and is not named.",
          `${plural(t.goaways, 'connection')} of the ${t.connections} HTTP/2 connections to this server ended with ` +
            `a GOAWAY of the server's; ${count} after ${GOAWAY_CHURN_MAX_STREAMS} streams or fewer and were replaced.`,
          errors.length > 0
            ? `Some GOAWAYs carried an error (${errors.map(([c, n]) => `${c}: ${n}`).join(', ')}): the server ended ` +
              'those connections for a fault, not a cap; its logs say which.'
            : 'Every GOAWAY carried NO_ERROR: a graceful close, a cap or an age the server was configured with.',
        ],
        evidence: list.evidence(t.server.endpoint, {
          connections: count,
          http2Connections: t.connections,
          serverGoaways: t.goaways,
          medianStreams: mid,
          mostStreams: most,
          errorGoaways: errors.reduce((n, [, k]) => n + k, 0),
        }),
        fixes: goawayChurnFixes(most, SUGGESTED_STREAM_CAP),
      });
    }
    return out;
  }
}
