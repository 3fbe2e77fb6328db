/**
 * Finding 11, refused streams: requests the server did not process, or clients held back by its limit
 * of concurrent streams. RFC 9113 8.7: a stream reset with REFUSED_STREAM, or above the last stream id
 * of a GOAWAY, was not processed and is safe to retry; whether the application saw an error depends on
 * the client (Go's transport and gRPC retry such streams; Node's http2 fails the request). And a
 * connection whose streams reached the server's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 5.1.2) with
 * more streams than that in all: the client had to keep the rest waiting (or send them elsewhere).
 *
 * A warning when a stream was refused (each is a request resent or failed); information when a client
 * only reached the limit (queued requests cost time, not requests, and the capture cannot tell how long
 * they waited).
 */
import type { ConnectionRecord, Finding } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { plural } from '../../util/text.js';
import type { FindingDetector } from './detector.js';
import { EvidenceList } from './evidence.js';
import { serverKey } from './facts.js';
import { refusedStreamsFixes } from './fixes.js';
import type { ServerFacts } from './servers.js';

interface Tally {
  server: ServerFacts;
  list: EvidenceList;
  refusedByRst: number;
  refusedAfterGoaway: number;
  /** Connections whose streams reached the server's limit. */
  atLimit: number;
  /** The limits those connections met (the last one seen, and the lowest). */
  limit: number | null;
}

/** The connection's streams reached the server's limit, with more streams in all than it allows. */
function reachedLimit(r: ConnectionRecord): number | null {
  const limit = r.http2?.maxConcurrentStreams.server ?? null;
  if (limit === null || limit === 0) return null;
  return r.http2!.peakConcurrentStreams >= limit && r.requests > limit ? limit : null;
}

export class RefusedStreamsDetector implements FindingDetector {
  private readonly byServer = new Map<string, Tally>();

  add(r: ConnectionRecord, server: ServerFacts): void {
    const h2 = r.http2;
    if (h2 === undefined) return;
    const limit = reachedLimit(r);
    const refused = h2.refused.rstStream + h2.refused.afterGoaway;
    if (refused === 0 && limit === null) return;
    const key = serverKey(r.server);
    let t = this.byServer.get(key);
    if (t === undefined) {
      t = { server, list: new EvidenceList(), refusedByRst: 0, refusedAfterGoaway: 0, atLimit: 0, limit: null };
      this.byServer.set(key, t);
    }
    t.refusedByRst += h2.refused.rstStream;
    t.refusedAfterGoaway += h2.refused.afterGoaway;
    if (limit !== null) {
      t.atLimit++;
      t.limit = t.limit === null ? limit : Math.min(t.limit, limit);
    }
    const said: string[] = [];
    if (h2.refused.rstStream > 0) said.push(`${plural(h2.refused.rstStream, 'stream')} reset with REFUSED_STREAM`);
    if (h2.refused.afterGoaway > 0) {
      const g = h2.goaway.find((x) => x.by === 'server');
      said.push(
        `${plural(h2.refused.afterGoaway, 'stream')} above the last stream id of the server's GOAWAY` +
          (g === undefined ? '' : ` (${g.lastStreamId}, ${g.errorCode})`),
      );
    }
    if (limit !== null)
      said.push(
        `${h2.peakConcurrentStreams} streams open at once, the server's limit (SETTINGS_MAX_CONCURRENT_STREAMS ` +
          `${limit}), ${r.requests} in all`,
      );
    const at = h2.goaway.find((x) => x.by === 'server')?.at ?? r.start ?? 0;
    t.list.add(r.id, at, said.join('; '));
  }

  finish(): Finding[] {
    const out: Finding[] = [];
    for (const t of this.byServer.values()) {
      const refused = t.refusedByRst + t.refusedAfterGoaway;
      const server = formatEndpoint(t.server.endpoint);
      const limitText = t.limit === null ? '' : ` of ${t.limit}`;
      const parts: string[] = [];
      if (refused > 0) {
        const how = [
          t.refusedByRst > 0 && `${t.refusedByRst} reset with REFUSED_STREAM`,
          t.refusedAfterGoaway > 0 && `${t.refusedAfterGoaway} above a GOAWAY's last stream id`,
        ].filter(Boolean);
        parts.push(
          `${server} refused ${plural(refused, 'HTTP/2 stream')} (${how.join(', ')}): requests not processed, ` +
            'to be retried by the client or failed',
        );
      }
      if (t.atLimit > 0)
        parts.push(
          `${plural(t.atLimit, 'connection')} reached the server's limit${limitText} concurrent streams with more ` +
            'streams to send, which had to wait',
        );
      out.push({
        code: 'refused-streams',
        severity: refused > 0 ? 'warning' : 'info',
        summary: `refused streams: ${parts.join('; ')}`,
        reasoning: [
          'A stream reset by the server with REFUSED_STREAM, or opened above the last stream id of a GOAWAY the ' +
            'server sent, was not processed (RFC 9113 8.7, 6.8): it is safe to retry. Go and gRPC retry such ' +
            "requests by themselves; Node's http2 fails them (ERR_HTTP2_STREAM_ERROR).",
          'A server refuses the streams beyond its SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 5.1.2), typically ' +
            'those a client sent before its SETTINGS arrived, and drops those above its GOAWAY when it closes.',
          t.atLimit > 0
            ? `On ${plural(t.atLimit, 'connection')} the client had as many streams open as the server allows` +
              `${limitText}, and opened more streams than that in all: the rest waited for a stream to close ` +
              '(a client keeps to the limit and queues), and how long is not in the capture.'
            : '',
          `Every stream opened counts in requests; ${refused} of them were refused here.`,
        ].filter((line) => line !== ''),
        evidence: t.list.evidence(t.server.endpoint, {
          refused,
          refusedByRstStream: t.refusedByRst,
          refusedAfterGoaway: t.refusedAfterGoaway,
          connectionsAtLimit: t.atLimit,
          serverMaxConcurrentStreams: t.limit,
        }),
        fixes: refusedStreamsFixes(t.limit, refused > 0),
      });
    }
    return out;
  }
}
