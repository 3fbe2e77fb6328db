/**
 * Finding 8, TLS without reuse: several TLS connections to one server, each carrying one request and
 * its response (an estimate: the requests are encrypted) and each paying a full handshake. The client
 * neither keeps its connection alive nor resumes its TLS session on the new one: every request costs
 * a TCP handshake, a TLS handshake (one round trip in TLS 1.3, two in TLS 1.2) and the public-key
 * operations of a full handshake, which a resumed session skips (RFC 8446 2.2, RFC 5077).
 *
 * Named only when it is every TLS connection to that server: one that carried several exchanges, or
 * one resumed handshake, shows reuse of some kind, and the picture is then not this one.
 */
import type { ConnectionRecord, Finding, TlsFacts } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import { REQUESTS_UNKNOWN_NOTE, tlsDecrypted } from '../streams/tls.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { formatDuration, median, serverKey } from './facts.js';
import { tlsReuseFixes } from './fixes.js';
import type { ServerFacts } from './servers.js';
import {
  MAX_HANDSHAKE_SAMPLES,
  TLS_H2_SETUP_EXCHANGES,
  TLS_NO_REUSE_MAX_EXCHANGES,
  TLS_NO_REUSE_MIN_CONNECTIONS,
} from './thresholds.js';

interface Tally {
  server: ServerFacts;
  list: EvidenceList;
  connections: number;
  full: number;
  resumed: number;
  /** Connections that carried more exchanges than one request needs. */
  reused: number;
  /** Connections on which the client offered a session to resume. */
  offered: number;
  mostExchanges: number;
  /** Connections decrypted with the keys: their requests are counted, not estimated. */
  decrypted: number;
  handshakeMs: number[];
  /** The server names the client asked for (SNI), at most a few. */
  names: Set<string>;
}

/** The exchanges one request makes on this connection (see thresholds.ts). */
function oneRequestExchanges(t: TlsFacts): number {
  const h2 = t.alpnChosen === 'h2' || (t.alpnChosen === null && t.alpnOffered.includes('h2'));
  return TLS_NO_REUSE_MAX_EXCHANGES + (h2 ? TLS_H2_SETUP_EXCHANGES : 0);
}

export class TlsNoReuseDetector implements FindingDetector {
  private readonly byServer = new Map<string, Tally>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    const t = r.tls;
    if (t === undefined) return;
    const key = serverKey(r.server);
    let tally = this.byServer.get(key);
    if (tally === undefined) {
      tally = {
        server,
        list: new EvidenceList(),
        connections: 0,
        full: 0,
        resumed: 0,
        reused: 0,
        offered: 0,
        mostExchanges: 0,
        decrypted: 0,
        handshakeMs: [],
        names: new Set(),
      };
      this.byServer.set(key, tally);
    }
    tally.connections++;
    if (t.resumptionOffered !== null) tally.offered++;
    if (t.sni !== null && tally.names.size < 3) tally.names.add(t.sni);
    // Decrypted: the requests themselves; else the estimate.
    const decrypted = tlsDecrypted(t);
    if (decrypted) tally.decrypted++;
    const exchanges = decrypted ? r.requests : t.estimatedExchanges;
    tally.mostExchanges = Math.max(tally.mostExchanges, exchanges);
    if (decrypted ? r.requests > 1 : exchanges > oneRequestExchanges(t)) tally.reused++;
    if (t.handshake === 'resumed') tally.resumed++;
    if (t.handshake !== 'full') return;
    tally.full++;
    if (t.handshakeMs !== null && tally.handshakeMs.length < MAX_HANDSHAKE_SAMPLES)
      tally.handshakeMs.push(t.handshakeMs);
    const took = t.handshakeMs === null ? '' : ` (${formatDuration(t.handshakeMs)})`;
    tally.list.add(
      r.id,
      r.start ?? 0,
      `full ${t.version ?? 'TLS'} handshake${took}, ` +
        (decrypted
          ? `${plural(r.requests, 'request')} (decrypted), `
          : `${plural(exchanges, 'exchange')} estimated, `) +
        (t.resumptionOffered === null
          ? 'no session offered'
          : `a session offered (${t.resumptionOffered}) and not resumed`),
    );
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const t of this.byServer.values()) {
      if (t.full < TLS_NO_REUSE_MIN_CONNECTIONS || t.resumed > 0 || t.reused > 0) continue;
      const names = [...t.names];
      const server = formatEndpoint(t.server.endpoint) + (names.length > 0 ? ` (${names.join(', ')})` : '');
      const declined = t.offered > 0;
      const medianMs = t.handshakeMs.length > 0 ? median(t.handshakeMs) : null;
      out.push({
        code: 'tls-no-reuse',
        severity: 'warning',
        summary:
          `${plural(t.full, 'full TLS handshake')} for ${plural(t.connections, 'connection')} to ${server}: ` +
          (declined
            ? 'the client reuses no connection, and the server resumed none of the sessions it offered'
            : 'the client reuses neither connections nor TLS sessions'),
        reasoning: [
          t.decrypted === t.connections
            ? `${plural(t.connections, 'TLS connection')} to this server, each with at most one request ` +
              '(decrypted with the key log).'
            : `${plural(t.connections, 'TLS connection')} to this server, each with at most one request/response ` +
              'exchange: an estimate from the encrypted records (a burst of client records followed by a burst ' +
              `of server records counts one; HTTP/2's setup one more), since ${REQUESTS_UNKNOWN_NOTE}` +
              (t.decrypted > 0 ? ` (${t.decrypted} decrypted with the key log: their requests counted).` : '.'),
          `${plural(t.full, 'handshake was', 'handshakes were')} full and none resumed a session (TLS 1.3: the ` +
            'server selected no pre-shared key; TLS 1.2: the server sent its Certificate).',
          declined
            ? `The client offered a session to resume on ${plural(t.offered, 'connection')}, and the server ` +
              'resumed none: its session cache or tickets are off, or it cannot read the tickets it issued.'
            : 'The client offered no session to resume (no pre_shared_key, no session ticket): it keeps none ' +
              'between connections.',
          medianMs === null
            ? 'Each full handshake costs round trips and public-key operations that a kept connection skips.'
            : `Each full handshake took ${formatDuration(medianMs)} (median, ClientHello to Finished), on top ` +
              'of the TCP handshake: a kept connection skips both, a resumed session the public-key work.',
        ],
        evidence: t.list.evidence(t.server.endpoint, {
          connections: t.connections,
          fullHandshakes: t.full,
          resumedHandshakes: t.resumed,
          sessionsOffered: t.offered,
          mostExchangesEstimated: t.mostExchanges,
          medianHandshakeMs: medianMs,
        }),
        fixes: tlsReuseFixes(declined),
      });
    }
    return out;
  }
}
