/**
 * Finding 7, the close audit: who asked to close connections and how. `Connection: close` on
 * requests or responses, HTTP/1.0 without keep-alive, framing that obliges a close (RFC 9112 9.3,
 * 9.6), and a server that closes after exactly N requests: a cap (nginx keepalive_requests, Apache
 * MaxKeepAliveRequests, Node server.maxRequestsPerSocket). Information, not a fault: it says why
 * connections ended, and what to change if the reconnections matter.
 */
import type { CloseAsk, ConnectionRecord, Finding, Side } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { serverKey } from './facts.js';
import { capFixes, clientKeepAliveFixes, type Fixes } from './fixes.js';
import type { ServerFacts } from './servers.js';
import { CAP_MIN_CONNECTIONS } from './thresholds.js';

const HOW: Record<CloseAsk, string> = {
  'connection-close': 'Connection: close',
  'http/1.0': 'HTTP/1.0 without keep-alive',
  framing: 'framing that ends with the connection',
};

interface Tally {
  server: ServerFacts;
  list: EvidenceList;
  asked: Record<Side, Record<CloseAsk, number>>;
  /** Connections the server closed first after asking to: requests carried -> connections. */
  capped: Map<number, number>;
  mostRequests: number;
}

const noAsks = (): Record<CloseAsk, number> => ({ 'connection-close': 0, 'http/1.0': 0, framing: 0 });

export class CloseAuditDetector implements FindingDetector {
  private readonly byServer = new Map<string, Tally>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    const key = serverKey(r.server);
    let t = this.byServer.get(key);
    if (t === undefined) {
      t = {
        server,
        list: new EvidenceList(),
        asked: { client: noAsks(), server: noAsks() },
        capped: new Map(),
        mostRequests: 0,
      };
      this.byServer.set(key, t);
    }
    t.mostRequests = Math.max(t.mostRequests, r.requests);
    const asked = r.closeAsked;
    if (asked === undefined) return;
    if (asked.client !== undefined) t.asked.client[asked.client]++;
    if (asked.server !== undefined) t.asked.server[asked.server]++;
    // A cap: the server asked to close a connection the client did not ask to close, after N requests.
    if (asked.server !== undefined && asked.client === undefined && r.requests > 1)
      t.capped.set(r.requests, (t.capped.get(r.requests) ?? 0) + 1);
    const who = [
      asked.client !== undefined && `the client asked (${HOW[asked.client]})`,
      asked.server !== undefined && `the server asked (${HOW[asked.server]})`,
    ].filter(Boolean);
    t.list.add(
      r.id,
      r.serverFinAt ?? r.clientFinAt ?? r.end ?? 0,
      `${who.join(', ')} after ${plural(r.requests, 'request')}`,
    );
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const t of this.byServer.values()) {
      if (t.list.count === 0) continue;
      const client = total(t.asked.client);
      const server = total(t.asked.server);
      // The cap: most connections the server closed unasked share one request count, and none carried more.
      let cap: number | null = null;
      for (const [requests, n] of t.capped)
        if (n >= CAP_MIN_CONNECTIONS && requests === t.mostRequests && (cap === null || n > (t.capped.get(cap) ?? 0)))
          cap = requests;
      const said: string[] = [];
      if (client > 0) said.push(`the client asked to close ${plural(client, 'connection')} (${ways(t.asked.client)})`);
      if (server > 0) said.push(`the server asked to close ${plural(server, 'connection')} (${ways(t.asked.server)})`);
      if (cap !== null)
        said.push(
          `the server closed ${plural(t.capped.get(cap)!, 'connection')} after exactly ${cap} requests ` +
            '(a keepalive_requests-style cap)',
        );
      const fixes: Fixes = { ...(client > 0 ? clientKeepAliveFixes() : {}), ...(cap !== null ? capFixes(cap) : {}) };
      out.push({
        code: 'close-audit',
        severity: 'info',
        summary: `close audit for ${formatEndpoint(t.server.endpoint)}: ${said.join('; ')}`,
        reasoning: [
          'A message that does not keep its connection alive says so: Connection: close, or HTTP/1.0 without ' +
            'Connection: keep-alive, or a body that ends with the connection (RFC 9112 9.3, 9.6).',
          client > 0 && server > 0
            ? 'When the client asks, the server answers Connection: close as it must: the client is the cause.'
            : '',
          cap !== null
            ? `No connection to this server carried more than ${cap} requests, and ${t.capped.get(cap)} it closed ` +
              'itself right at that count, announcing it with the last response.'
            : '',
        ].filter((line) => line !== ''),
        evidence: t.list.evidence(t.server.endpoint, {
          clientAsked: client,
          serverAsked: server,
          clientConnectionClose: t.asked.client['connection-close'],
          clientHttp10: t.asked.client['http/1.0'],
          serverConnectionClose: t.asked.server['connection-close'],
          serverHttp10: t.asked.server['http/1.0'],
          serverFraming: t.asked.server.framing,
          requestCap: cap,
        }),
        fixes,
      });
    }
    return out;
  }
}

function total(asks: Record<CloseAsk, number>): number {
  return asks['connection-close'] + asks['http/1.0'] + asks.framing;
}

function ways(asks: Record<CloseAsk, number>): string {
  return (Object.keys(asks) as CloseAsk[])
    .filter((k) => asks[k] > 0)
    .map((k) => `${asks[k]} by ${HOW[k]}`)
    .join(', ');
}
