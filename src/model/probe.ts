/**
 * What `keepalive-lab probe URL` measured about a server's keep-alive behaviour: plain JSON-safe
 * types, the `probe` section of `--json` (docs/report-schema.md, section "probe"). Durations are
 * milliseconds; a value the probe could not measure is null, with the reason beside it.
 */

/** How a connection ended, as the client saw it: a FIN (`end`), a RST (ECONNRESET), or nothing (no answer). */
export type CloseKind = 'fin' | 'rst' | 'silent';

/** One request sent after an idle gap on a connection that had carried one request. */
export interface IdleTrial {
  /** How long the connection was idle (from the end of the first response) when the request was due. */
  gapMs: number;
  /**
   * `answered`: the request got its response on the same connection; `closed`: the server closed the
   * connection before the gap ended (the request was not sent); `failed`: the request was sent and the
   * connection ended without a response (a request in flight at the close); `no-answer`: nothing came
   * back within the response timeout and the connection was not closed.
   */
  outcome: 'answered' | 'closed' | 'failed' | 'no-answer';
  /** How the connection ended, when it did before or instead of the answer. */
  closeKind?: CloseKind;
  /** When the close arrived, counted from the start of the idle gap (ms). */
  closedAfterMs?: number;
}

export interface IdleTimeoutResult {
  /** The measured idle timeout (middle of the interval), or null when none was found up to `maxIdleMs`. */
  timeoutMs: number | null;
  /** Half the width of the interval the timeout lies in: the timeout is `timeoutMs` ± `precisionMs`. */
  precisionMs: number | null;
  /** The last gap a connection survived and the first one it did not. */
  interval: { aliveMs: number; closedMs: number | null };
  /** The longest gap tried (`--max-idle`). */
  maxIdleMs: number;
  /** How the server closed idle connections (the most frequent kind among closed trials), or null. */
  closeKind: CloseKind | null;
  /** The median time from the start of the idle gap to the FIN or RST, as the client saw it. */
  observedCloseMs: number | null;
  /**
   * A request sent on a connection whose close had already arrived but was not yet noticed (the
   * keep-alive race, as a client that does not watch its idle sockets meets it): how it failed.
   * `reset`: the server answered the bytes with a RST; `closed`: the connection ended with no response.
   */
  afterClose: 'reset' | 'closed' | null;
  /** Requests sent at gaps from the last one reused on, and those that failed with the close (in flight then). */
  inFlight: { sent: number; failed: number };
  /** Every trial, in the order they ended, round by round. */
  trials: IdleTrial[][];
  /** Why the timeout was not measured (or only in part), when it was not. */
  note?: string;
}

export interface RequestCapResult {
  /**
   * Requests answered on one connection before the server closed it or said Connection: close; null
   * when it did neither up to `maxRequests`.
   */
  requests: number | null;
  /** How the end was told: a `Connection: close` response header, or the connection closing after the last answer. */
  how: 'connection-close' | 'closed' | null;
  maxRequests: number;
}

/** What the server speaks on HTTP/1.x. */
export interface Http1Behaviour {
  /** The status line's version of the first response (`HTTP/1.1`). */
  responseVersion: string;
  /** The `Server` header, when sent. */
  server: string | null;
  /** HTTP/1.1 request without Connection: the connection stays open for a second request. */
  keepAlive11: boolean;
  /** HTTP/1.0 request with `Connection: keep-alive`: the server keeps it open. */
  keepAlive10: boolean;
  /** A request with `Connection: close`: the header echoed or not, and how the connection was closed then. */
  connectionClose: { echoed: boolean; closeKind: CloseKind | null };
  /** The `Keep-Alive` header of the first response: `timeout=` (s) and `max=`, null when absent. */
  advertised: { timeoutS: number | null; max: number | null; raw: string } | null;
  /** Two requests in one write: how many answers came back, in order, before the connection ended. */
  pipelining: { sent: number; answered: number; accepted: boolean };
}

/** TLS, when the URL is https. */
export interface TlsBehaviour {
  /** Which of the versions tried the server accepts. */
  versions: { version: 'TLSv1.2' | 'TLSv1.3'; accepted: boolean; cipher: string | null }[];
  /** The ALPN protocol the server chose from `h2, http/1.1`, or null when it chose none. */
  alpn: string | null;
  /**
   * Resumption per version: how (a ticket or PSK, a TLS 1.2 session id) and whether it worked at once
   * and after the probe's longest wait.
   */
  resumption: {
    version: 'TLSv1.2' | 'TLSv1.3';
    mechanism: 'ticket' | 'session-id' | null;
    immediate: boolean;
    /** The session resumed again after `afterMs` (the probe's longest idle wait), or null when not tried. */
    later: { afterMs: number; resumed: boolean } | null;
    /** The lifetime the server gave its ticket (TLS ticket_lifetime_hint, seconds), null when none. */
    ticketLifetimeS: number | null;
  }[];
}

/** HTTP/2, when the server chose h2 by ALPN. */
export interface Http2Behaviour {
  /** SETTINGS_MAX_CONCURRENT_STREAMS of the server's SETTINGS, null when it sent none (unlimited). */
  maxConcurrentStreams: number | null;
  /**
   * A GOAWAY on an idle connection: after how long (from the end of the last stream), its error code;
   * null when none came within `waitedMs`.
   */
  idleGoaway: { afterMs: number; errorCode: number; closeKind: CloseKind | null } | null;
  waitedMs: number;
}

/** A client runtime the recommendation names. */
export type ProbeClient = 'node-http' | 'undici' | 'go' | 'python-requests' | 'aiohttp' | 'okhttp';

export interface ProbeRecommendation {
  /** The client idle timeout that stays below the server's with margin, or null when none was measured. */
  clientIdleMs: number | null;
  /** Why that figure: the server's lower bound and the margin taken. */
  basis: string;
  /** Per client, the setting (its exact option names) and what to know about it. */
  settings: Partial<Record<ProbeClient, string>>;
  /** Other advice: the request cap, HTTP/1.0, HTTP/2. */
  notes: string[];
}

/** The `probe` section of `--json` (a Report whose `command` is `probe` and whose `runs` is empty). */
export interface ProbeReport {
  url: string;
  /** The address connected to. */
  address: string;
  startedAt: string;
  elapsedMs: number;
  /** What the probe spent, against its caps. */
  budget: { connections: number; maxConnections: number; requests: number; maxRequests: number };
  http1: Http1Behaviour;
  idleTimeout: IdleTimeoutResult;
  requestCap: RequestCapResult;
  tls: TlsBehaviour | null;
  http2: Http2Behaviour | null;
  recommendation: ProbeRecommendation;
  warnings: string[];
}
