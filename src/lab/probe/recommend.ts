/**
 * From what was measured to client settings: an idle timeout below the server's with margin, in the
 * exact option names of each client (the vocabulary of analyze/findings/fixes.ts, whose sources are
 * cited there), and notes on the request cap, HTTP/1.0, HTTP/2. Pure: tested with made-up measurements.
 */
import { shorterClientIdleFixes } from '../../analyze/findings/fixes.js';
import type {
  Http1Behaviour,
  Http2Behaviour,
  IdleTimeoutResult,
  ProbeClient,
  ProbeRecommendation,
  RequestCapResult,
} from '../../model/probe.js';
import { secondsText } from './context.js';

/**
 * The margin under the server's timeout: a fifth of it, at least 1 s. The server's timer starts when
 * it wrote the response, the client's when it read it (a round trip later), and a busy client's timer
 * fires late (event loop delay, GC pauses): the client must close well before.
 */
export const MARGIN_FRACTION = 0.2;
export const MIN_MARGIN_MS = 1000;
/** Suggestions are rounded down to this step. */
const STEP_MS = 100;

/** The client idle timeout for a server that keeps connections at least `serverMs`, or null when too short to pool. */
export function clientIdleFor(serverMs: number): number | null {
  const margin = Math.max(MIN_MARGIN_MS, serverMs * MARGIN_FRACTION);
  const ms = Math.floor((serverMs - margin) / STEP_MS) * STEP_MS;
  return ms > 0 ? ms : null;
}

export interface RecommendInput {
  http1: Http1Behaviour;
  /** Null when the server keeps no connection alive (nothing to time). */
  idle: IdleTimeoutResult | null;
  requestCap: RequestCapResult | null;
  http2: Http2Behaviour | null;
}

/** The clients whose wording fixes.ts holds (aiohttp is added here). */
const CLIENTS = ['node-http', 'undici', 'go', 'python-requests', 'okhttp'] as const;

export function recommend(input: RecommendInput): ProbeRecommendation {
  const notes: string[] = [];
  const { http1, idle, requestCap, http2 } = input;
  const advertisedS = http1.advertised?.timeoutS ?? null;
  if (!http1.keepAlive11) {
    notes.push(
      'the server closes the connection after every response (no keep-alive): a pool gains nothing, every ' +
        'request costs a new connection' +
        (http1.responseVersion === 'HTTP/1.0' ? ' (it answers HTTP/1.0)' : ''),
    );
  }
  if (requestCap?.requests != null) {
    notes.push(
      `the server ends a connection after ${requestCap.requests} requests` +
        (requestCap.how === 'connection-close'
          ? ' and says so (Connection: close on the last response): clients open a new connection then, ' +
            'no setting needed'
          : ' without saying so (no Connection: close): the next request on it fails; retry idempotent requests ' +
            'that fail on a reused connection (Node: req.reusedSocket; Go retries replayable requests itself)'),
    );
  }
  if (http2?.maxConcurrentStreams != null)
    notes.push(
      `HTTP/2: at most ${http2.maxConcurrentStreams} streams at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS)`,
    );
  if (http2?.idleGoaway != null)
    notes.push(
      `HTTP/2: an idle connection gets a GOAWAY after ~${secondsText(http2.idleGoaway.afterMs)}: ` +
        'keep HTTP/2 sessions idle for less (the same client idle timeout), or expect a reconnect after each pause',
    );

  // The server's timeout as a client can count on it: the longest idle gap a connection survived, or
  // the advertised one when shorter (a client that follows the header must not be led past the close).
  const measuredLow = idle?.timeoutMs != null ? idle.interval.aliveMs : null;
  if (idle?.timeoutMs != null && advertisedS !== null && advertisedS * 1000 > idle.interval.closedMs!)
    notes.push(
      `the server advertises Keep-Alive: timeout=${advertisedS} but closes idle connections after ` +
        `~${secondsText(idle.timeoutMs)}: ` +
        'clients that follow the header (Node, undici) will send requests into closed connections',
    );
  if (idle?.timeoutMs != null && advertisedS !== null && advertisedS * 1000 < idle.interval.aliveMs)
    notes.push(
      `the server keeps idle connections ~${secondsText(idle.timeoutMs)}, longer than the timeout=${advertisedS} it ` +
        "advertises: a margin for clients that follow the header (Node's server waits keepAliveTimeout + 1 s)",
    );
  const serverMs =
    measuredLow === null ? null : advertisedS === null ? measuredLow : Math.min(measuredLow, advertisedS * 1000);
  if (serverMs === null) {
    return {
      clientIdleMs: null,
      basis: !http1.keepAlive11
        ? 'no keep-alive: nothing to set'
        : `no idle timeout found up to ${secondsText(idle?.maxIdleMs ?? 0)}: probe longer (--max-idle), ` +
          'and keep the clients below whatever is in between (a load balancer, NAT)',
      settings: {},
      notes,
    };
  }
  const clientMs = clientIdleFor(serverMs);
  const basis =
    `the server kept idle connections ${secondsText(serverMs)} at least` +
    (measuredLow !== null && serverMs < measuredLow ? ' (its Keep-Alive header)' : '') +
    `; margin max(${MIN_MARGIN_MS} ms, ${MARGIN_FRACTION * 100}%)`;
  if (clientMs === null) {
    return {
      clientIdleMs: null,
      basis: `${basis}: too short to keep connections idle safely`,
      settings: {
        'node-http': 'new http.Agent({ keepAlive: false }), or retry idempotent requests when req.reusedSocket is true',
        undici: 'new Agent({ pipelining: 0 }) closes each connection after its request (or retry on UND_ERR_SOCKET)',
        go: '&http.Transport{DisableKeepAlives: true}',
      },
      notes,
    };
  }
  const fixes = shorterClientIdleFixes(clientMs, serverMs, advertisedS);
  const settings: Partial<Record<ProbeClient, string>> = {};
  for (const c of CLIENTS) if (fixes[c] !== undefined) settings[c] = fixes[c];
  // https://nodejs.org/api/http.html#new-agentoptions: keepAliveMsecs is the initial delay of TCP
  // keep-alive probes, not how long a free socket is kept.
  settings['node-http'] += ' (keepAliveMsecs is the delay of TCP keep-alive probes, not an idle timeout.)';
  // https://docs.aiohttp.org/en/stable/client_reference.html#tcpconnector: keepalive_timeout
  // (default 15 s) closes a released connection idle that long.
  settings.aiohttp = `aiohttp.TCPConnector(keepalive_timeout=${clientMs / 1000}) (default 15 s).`;
  return { clientIdleMs: clientMs, basis, settings, notes };
}
