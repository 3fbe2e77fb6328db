import type { ExperimentConfig, Finding, ObserverReport, TlsTotals, Verdict, VerdictCode } from '../model/report.js';
import { headlineFinding } from './findings/index.js';
import { REQUESTS_UNKNOWN_NOTE, requestsUnknownOn } from './streams/tls.js';
import { plural } from '../util/text.js';

/** Observers in order of how much they can tell: the wire sees everything, the kernel the least. */
const PREFERENCE = ['wire', 'proxy', 'server', 'kernel'] as const;

/** The observer whose account a verdict (and a summary row) is based on. */
export function primaryObserver(observers: readonly ObserverReport[]): ObserverReport | undefined {
  for (const name of PREFERENCE) {
    const found = observers.find((o) => o.observer === name && o.available && o.seesRequests);
    if (found) return found;
  }
  return observers.find((o) => o.available);
}

export interface VerdictContext {
  /** The lab's knobs, when the traffic came from the lab: they name the cause precisely. */
  config?: ExperimentConfig | null;
  /** Requests the client made, when known (the kernel alone cannot count them). */
  requests?: number;
  /** The run's findings, most severe first: a fault among them heads the verdict. */
  findings?: readonly Finding[];
}

/**
 * One line in plain words that explains what the connections show and, where the evidence allows,
 * why. The rules go from the most specific cause to the most generic description. When the counts
 * rest on messages a capture held only in part (cut by the snap length), the line says how many.
 */
export function decideVerdict(observers: readonly ObserverReport[], ctx: VerdictContext = {}): Verdict {
  const verdict = verdictFromCounts(observers, ctx);
  const t = primaryObserver(observers)?.totals;
  const partial = partialMessages(t);
  if (partial === null || verdict.code === 'incomplete' || verdict.code === 'no-traffic') return verdict;
  return { code: verdict.code, summary: `${verdict.summary}; counts rest on partial messages (${partial})` };
}

/** "200 of 200 requests and 200 of 200 responses captured only in part", or null when none was. */
function partialMessages(t: ObserverReport['totals'] | undefined): string | null {
  const requests = t?.partialRequests ?? 0;
  const responses = t?.partialResponses ?? 0;
  if (t === undefined || requests + responses === 0) return null;
  const parts: string[] = [];
  if (requests > 0) parts.push(`${requests} of ${plural(t.requests, 'request')}`);
  if (responses > 0) parts.push(`${responses} of ${plural(t.responses, 'response')}`);
  return `${parts.join(' and ')} captured only in part`;
}

/**
 * TLS connections whose requests cannot be counted: what their handshakes show, and the estimate of
 * their exchanges, named as one. `connections` counts every connection of the observer.
 */
function encryptedVerdict(tls: TlsTotals, connections: number): Verdict {
  const n = tls.connections;
  const handshakes = [plural(tls.fullHandshakes, 'full handshake'), `${tls.resumedHandshakes} resumed`];
  if (tls.handshakesUnknown > 0) handshakes.push(`${tls.handshakesUnknown} not seen to the end`);
  const others = connections - n;
  const estimate = tls.estimatedExchanges;
  const per = n === 1 ? 'over it' : `${(estimate / n).toFixed(1)} per connection`;
  return {
    code: 'encrypted',
    summary:
      `${plural(n, 'TLS connection')} (${handshakes.join(', ')})` +
      `${others > 0 ? ` and ${plural(others, 'other connection')}` : ''}: ${REQUESTS_UNKNOWN_NOTE}; ` +
      `an estimated ${plural(estimate, 'request/response exchange')}, ${per}`,
  };
}

/**
 * Appends "; 3 TLS connections not counted (requests unknown without the TLS keys)" when the primary
 * observer's HTTP counts leave some TLS connections out (requestsUnknownOn).
 */
function verdictFromCounts(observers: readonly ObserverReport[], ctx: VerdictContext): Verdict {
  const verdict = verdictFromHttp(observers, ctx);
  const primary = primaryObserver(observers);
  const unknown = primary === undefined ? 0 : requestsUnknownOn(primary);
  if (unknown === 0 || verdict.code === 'incomplete' || verdict.code === 'encrypted') return verdict;
  // A finding heads the verdict with its own sentence; the HTTP counts leave the TLS connections out.
  if (ctx.findings?.some((f) => f.code === verdict.code)) return verdict;
  const suffix = `; ${plural(unknown, 'TLS connection')} not counted (${REQUESTS_UNKNOWN_NOTE})`;
  return { code: verdict.code, summary: verdict.summary + suffix };
}

function verdictFromHttp(observers: readonly ObserverReport[], ctx: VerdictContext): Verdict {
  const primary = primaryObserver(observers);
  const t = primary?.totals;
  const connections = t?.connections ?? 0;
  const requests = primary?.seesRequests ? t!.requests : (ctx.requests ?? 0);
  const cfg = ctx.config ?? null;
  const http = primary?.http;
  const perConn = connections > 0 ? requests / connections : 0;

  // Evidence known to be missing: every count is a lower bound, and a cause read from them
  // could be an artefact of what was lost (11 connections for 20 requests reads as reuse).
  if (primary?.incomplete) {
    const what = primary.seesRequests
      ? `${plural(connections, 'connection')} and ${plural(requests, 'request')}`
      : plural(connections, 'connection');
    return { code: 'incomplete', summary: `counts incomplete: at least ${what}; ${primary.incomplete.reason}` };
  }

  // A named fault is the headline. The lab's knobs name their own cause more precisely than the
  // wire can (a body never read, a pool of 2): there only failed requests (an error) take over.
  const headline = headlineFinding(ctx.findings ?? []);
  if (headline !== undefined && (cfg === null || headline.severity === 'error'))
    return { code: headline.code as VerdictCode, summary: headline.summary };

  if (connections === 0 && requests === 0) {
    return { code: 'no-traffic', summary: 'no TCP connection was seen' };
  }
  // Requests inside TLS are not counted: with (almost) none counted, the TLS connections are the story.
  if (t?.tls !== undefined && requests <= 1 && requestsUnknownOn(primary!) > 0)
    return encryptedVerdict(t.tls, connections);
  if (requests <= 1) {
    return {
      code: 'single-request',
      summary: `${plural(requests, 'request')} over ${plural(connections, 'connection')}: nothing to reuse`,
    };
  }
  const resets = t?.resets ?? 0;
  // Closing a socket whose receive buffer still holds unread data sends a RST, not a FIN
  // (RFC 1122 section 4.2.2.13): no TIME_WAIT then.
  const resetNote =
    resets === 0
      ? ''
      : cfg && !cfg.consumeBody
        ? ` (${plural(resets, 'connection')} reset: closed with unread data, RST instead of FIN)`
        : ` (${plural(resets, 'connection')} ended with a reset)`;

  // Ideal: one connection per concurrent worker at most.
  const concurrency = cfg?.concurrency ?? 1;
  const ideal = Math.min(requests, cfg ? concurrency : connections);
  // Without the lab's knobs, reuse means most connections carried several requests; when the
  // median connection carried one, connections are being opened and dropped (churn).
  const medianOne = primary?.seesRequests === true && (t?.requestsPerConnection?.median ?? 0) <= 1;
  if (connections <= ideal && (cfg !== null || (perConn > 1 && !medianOne))) {
    return {
      code: 'reuse',
      summary: `reuse working: ${plural(requests, 'request')} over ${plural(connections, 'connection')}${resetNote}`,
    };
  }

  const onePerRequest = connections >= requests;
  if (cfg && !cfg.keepAlive) {
    return {
      code: 'keepalive-disabled',
      summary: `keep-alive disabled on the client: each request needed a new connection${resetNote}`,
    };
  }
  // A client that asks to close is the cause, even though the server, as it must, answers
  // Connection: close too: check the client first.
  if (onePerRequest && http && http.clientClose >= requests) {
    return {
      code: 'keepalive-disabled',
      summary:
        'the client asks to close every connection (Connection: close or HTTP/1.0): ' +
        `one connection per request${resetNote}`,
    };
  }
  if (onePerRequest && (cfg?.serverConnectionClose || (http && http.serverClose >= requests))) {
    const summary = cfg?.serverConnectionClose
      ? 'the server closes every connection (Connection: close)'
      : 'the server does not keep connections alive (it answers Connection: close, or HTTP/1.0 without keep-alive)';
    return { code: 'server-closes', summary: `${summary}: each request needed a new connection${resetNote}` };
  }
  if (onePerRequest && cfg && !cfg.consumeBody) {
    return { code: 'one-per-request', summary: `body never read: each request needed a new connection${resetNote}` };
  }
  if (onePerRequest) {
    const closer =
      t && t.closedFirstBy.server > t.closedFirstBy.client
        ? ' (the server closed first)'
        : t && t.closedFirstBy.client > 0
          ? ' (the client closed first)'
          : '';
    return {
      code: 'one-per-request',
      summary: `one connection per request: no connection was reused${closer}${resetNote}`,
    };
  }
  if (cfg && !cfg.consumeBody) {
    return {
      code: 'churn',
      summary:
        `body not read: ${plural(connections, 'connection')} for ${plural(requests, 'request')}, ` +
        `only some connections went back to the pool${resetNote}`,
    };
  }
  if (cfg && cfg.serverMaxRequests !== null && perConn <= cfg.serverMaxRequests) {
    return {
      code: 'server-closes',
      summary:
        `the server closes each connection after ${plural(cfg.serverMaxRequests, 'request')}: ` +
        `${plural(connections, 'connection')} for ${plural(requests, 'request')}${resetNote}`,
    };
  }
  if (cfg && cfg.client === 'http' && cfg.maxFreeSockets < concurrency) {
    return {
      code: 'churn',
      summary:
        `idle pool too small: ${plural(connections, 'connection')} for ${requests} requests; ` +
        `with ${concurrency} workers and room for ${cfg.maxFreeSockets} idle sockets, ` +
        `the rest were closed and reopened${resetNote}`,
    };
  }
  return {
    code: 'churn',
    summary:
      `connections churned: ${plural(connections, 'connection')} for ${requests} requests ` +
      `(${perConn.toFixed(1)} per connection)${resetNote}`,
  };
}
