/**
 * The report: one JSON-safe schema shared by every command that reports connections (demo, run,
 * analyze, watch, proxy). `--json` prints a Report as it is; the renderers take a Report and return
 * a string. Documented in docs/report-schema.md; bump REPORT_SCHEMA on any incompatible change.
 */

import type { ProcessSummary } from './process.js';
import type { ProbeReport } from './probe.js';

export const REPORT_SCHEMA = 'keepalive-lab/report@1';

export type Side = 'client' | 'server';

export interface Endpoint {
  address: string;
  port: number;
}

/** Which observer saw what: each counts connections on its own, from its own evidence. */
export type ObserverName = 'server' | 'kernel' | 'wire' | 'proxy' | 'process';

/** Every warning code a report can hold: the warnings table of docs/errors.md (a test compares them). */
export const WARNING_CODES = [
  // Reading a capture (decode/capture.ts, pcap.ts, pcapng.ts).
  'KAL_WARN_TRUNCATED',
  'KAL_WARN_BAD_RECORD_LENGTH',
  'KAL_WARN_MALFORMED_BLOCK',
  'KAL_WARN_UNKNOWN_VERSION',
  // Decoding packets (analyze/capture-analysis.ts) and following connections (analyze/tracker.ts).
  'KAL_WARN_LINK_TYPE',
  'KAL_WARN_FRAGMENTS',
  'KAL_WARN_FRAGMENT_OVERLAP',
  'KAL_WARN_MALFORMED',
  'KAL_WARN_NO_TCP',
  'KAL_WARN_MISSING_BYTES',
  'KAL_WARN_PARTIAL_MESSAGES',
  'KAL_WARN_HANDSHAKES_CUT',
  // Findings (analyze/findings/).
  'KAL_WARN_PATH_HOP_UNSEEN',
  // Live capture (observe/capture.ts).
  'KAL_WARN_CAPTURE_DROPS',
  'KAL_WARN_CAPTURE_STREAM',
  'KAL_WARN_CAPTURE_LAG',
  // The socket table (decode/procnet.ts, decode/ss.ts, observe/{socket-table,socket-events,kernel}.ts).
  'KAL_WARN_PROCNET_MALFORMED_LINE',
  'KAL_WARN_PROCNET_UNKNOWN_STATE',
  'KAL_WARN_PROCNET_TCP6_UNREADABLE',
  'KAL_WARN_SS_MALFORMED_LINE',
  'KAL_WARN_SS_UNKNOWN_STATE',
  'KAL_WARN_SOCKET_TABLE_FALLBACK',
  'KAL_WARN_TIME_WAIT_OVERFLOW',
  'KAL_WARN_SOCKET_EVENTS_UNAVAILABLE',
  'KAL_WARN_SOCKET_EVENTS_INCOMPLETE',
  // Runs (lab/engine.ts, lab/watch.ts).
  'KAL_WARN_NOT_SETTLED',
  'KAL_WARN_OPEN_CONNECTIONS',
  'KAL_WARN_DURATION',
  'KAL_WARN_STOP_ESCALATED',
  'KAL_WARN_TLS',
  // TLS connections a key log did not decrypt (analyze/capture-analysis.ts).
  'KAL_WARN_TLS_KEYS',
  'KAL_WARN_KEYLOG',
  // The proxy (observe/proxy.ts).
  'KAL_WARN_ACCEPT_FAILED',
  'KAL_WARN_UPSTREAM_UNREACHABLE',
  'KAL_WARN_CLOSED_AT_STOP',
  // bench (lab/bench.ts).
  'KAL_WARN_BENCH_TIME_WAIT',
  // The register (src/register.ts): one line on the app's stderr, never an exception.
  'KAL_WARN_REGISTER_REPORT',
  'KAL_WARN_REGISTER_SIGNAL',
  'KAL_WARN_REGISTER_TRACKER',
  // Metrics (observe/metrics/provider.ts): one line on stderr each, the app goes on.
  'KAL_WARN_METRICS_CONFIG',
  'KAL_WARN_METRICS_LISTEN',
  'KAL_WARN_METRICS_EXPORT',
  'KAL_WARN_METRICS_SDK',
] as const;

export type WarningCode = (typeof WARNING_CODES)[number];

/** A partial failure or an oddity, shown to the user and kept in the JSON. */
export interface Warning {
  /** Stable code, e.g. KAL_WARN_TRUNCATED. */
  code: WarningCode;
  message: string;
}

/** One TCP connection as one observer saw it. Fields an observer cannot know are null. */
export interface ConnectionRecord {
  /** 1-based, in order of first appearance within the observer. */
  id: number;
  client: Endpoint;
  server: Endpoint;
  /** First and last evidence of the connection, milliseconds since the Unix epoch. */
  start: number | null;
  end: number | null;
  /** Handshake round trip (SYN to SYN/ACK) in milliseconds, when seen. */
  handshakeRttMs: number | null;
  /** HTTP/1.x requests sent and responses received on the connection. */
  requests: number;
  responses: number;
  /**
   * Of those, the messages a capture held only in part (absent when none): the snap length or lost
   * packets cut their head after the start line (counted from it, as tshark does; their end taken
   * at the next start line), or part of their body.
   */
  partialRequests?: number;
  partialResponses?: number;
  statusCodes: number[];
  /** Idle time between the end of one response and the next request, milliseconds. */
  idleGapsMs: number[];
  /** The side that sent the first FIN (and so holds TIME_WAIT afterwards), if any. */
  closedFirstBy: Side | null;
  /** The side that sent a RST, if any. */
  resetBy: Side | null;
  /** The side whose socket was seen in (or must go through) TIME_WAIT. */
  timeWait: Side | null;
  /** The connection began before the observation started (no SYN seen, socket existed already). */
  startedBefore: boolean;
  /** The connection was still open when the observation ended. */
  openAtEnd: boolean;
  bytesFromClient: number;
  bytesFromServer: number;
  /** Observer-specific facts worth showing ("3 retransmissions", "HTTP framing lost at byte 1234"). */
  notes: string[];
  // Timed facts the findings are computed from (analyze/findings/), milliseconds since the Unix epoch.
  // Each is present only when it happened and the observer could see it.
  /** When the client sent its FIN (the first one seen). */
  clientFinAt?: number;
  /** When the server sent its FIN. */
  serverFinAt?: number;
  /** When the first RST was sent (by `resetBy`). */
  resetAt?: number;
  /** When the body of the last complete final response ended. */
  lastResponseEndAt?: number;
  /**
   * When the connection was busy, a request outstanding: flat [from, to, from, to, ...] pairs, from a
   * request (its head complete) while none was outstanding to the end of the response that left none
   * (pipelined requests share a period). A last `from` without its `to`: still busy at the end. Absent
   * without a request, or when HTTP framing was lost (which bytes were requests is then unknown).
   */
  busyAt?: number[];
  /**
   * Requests that got no response before the connection ended, oldest first (at most 8 listed):
   * the method and when the request's head was complete.
   */
  unanswered?: UnansweredRequest[];
  /** True when a response head came but its body was not complete when the connection ended. */
  responseIncomplete?: boolean;
  /** The server's `Keep-Alive: timeout=N` (seconds), as its last response with one said. */
  keepAliveTimeoutS?: number;
  /** Which side's messages asked to close the connection, and how (its first such message). */
  closeAsked?: { client?: CloseAsk; server?: CloseAsk };
  /** The connection carried TLS: what its handshake and records show, decrypted or not (absent otherwise). */
  tls?: TlsFacts;
  /** HTTP/2 facts (RFC 9113), for a connection that spoke HTTP/2; absent otherwise. */
  http2?: Http2Facts;
  /**
   * The request/response exchanges, oldest first, at most MAX_EXCHANGES_LISTED (50; the timeline of the
   * HTML report draws one bar each). Present only when asked for (`exchanges: true`, which `--html`
   * sets) and the observer frames HTTP/1.x; `exchangesOmitted` counts those beyond the cap.
   */
  exchanges?: Exchange[];
  exchangesOmitted?: number;
}

/** At most this many exchanges are listed per connection (ConnectionRecord.exchanges). */
export const MAX_EXCHANGES_LISTED = 50;

/** One HTTP request and its response on a connection (ConnectionRecord.exchanges), times in ms since the epoch. */
export interface Exchange {
  /** When the request's head was complete. */
  at: number;
  /** When the response's body ended; null when it did not (no response, or cut). */
  end: number | null;
  method: string;
  /** The request-target as sent ("" when the observer does not read it). */
  path: string;
  /** The final response's status; null without a response. */
  status: number | null;
}

/**
 * A TLS connection as a capture shows it (analyze/streams/tls.ts): the hellos are in the clear; without
 * the keys the rest is told from record types, lengths and positions, its requests are unknown
 * (`requests` stays 0 and a note says so) and `estimatedExchanges` is an estimate, named as one. With
 * keys that open its records (`decryption`), the handshake, alerts and data are read from the plaintext
 * and the record's requests are those of the HTTP inside.
 */
export interface TlsFacts {
  /** The version the server chose ("TLS 1.3", "TLS 1.2", ...); null when no ServerHello was seen. */
  version: string | null;
  /** The cipher suite the server chose (IANA name, or "0xNNNN"); null when no ServerHello was seen. */
  cipherSuite: string | null;
  /** The server name the client asked for (SNI); null when it sent none. */
  sni: string | null;
  /** The ALPN protocols the client offered, in its order ([] when none). */
  alpnOffered: string[];
  /** The ALPN protocol the server chose, when the capture shows it (TLS 1.2 and below); else null... */
  alpnChosen: string | null;
  /**
   * ...and why: `encrypted` (TLS 1.3 sends it in EncryptedExtensions), `none-chosen` (the ServerHello
   * had none), `none-offered`, `no-server-hello`. Absent when `alpnChosen` is set.
   */
  alpnChosenWhyNull?: TlsAlpnUnknown;
  /**
   * `full`, or `resumed`: TLS 1.3, the server selected a pre-shared key; TLS 1.2 and below, the server
   * went on without a Certificate (the abbreviated handshake) after echoing the client's session id or
   * taking its ticket. Null when the capture does not show the handshake that far.
   */
  handshake: 'full' | 'resumed' | null;
  /** How it was resumed: `psk` (TLS 1.3), `ticket` or `session-id` (TLS 1.2 and below); absent unless resumed. */
  resumedWith?: TlsResumption;
  /** What the client offered to resume (null: nothing; a TLS 1.3 client's random session id is not an offer). */
  resumptionOffered: TlsResumption | null;
  /** The server answered the first ClientHello with a HelloRetryRequest (absent otherwise). */
  helloRetry?: true;
  /**
   * ClientHello to the end of the handshake: the client's Finished (TLS 1.3), the later of the two
   * Finished (TLS 1.2), else the client's first application data; milliseconds. Null when not seen.
   */
  handshakeMs: number | null;
  /**
   * Application-data records and their bytes (as sent: encrypted, with the cipher's overhead), per
   * direction. TLS 1.3's post-handshake messages (NewSessionTicket) look the same and are counted in.
   */
  applicationData: { client: TlsRecordCount; server: TlsRecordCount };
  /**
   * An ESTIMATE of the request/response exchanges: application data that alternates direction, a
   * burst of client records followed by a burst of server records counting one. Pipelined or
   * multiplexed requests count fewer; HTTP/2's connection setup counts one more.
   */
  estimatedExchanges: number;
  /** The alerts, in order (at most 8); level and description null when encrypted. Absent when none. */
  alerts?: TlsAlertFact[];
  /** With TLS keys given (a key log): what they decrypted. Absent when the analysis had no keys. */
  decryption?: TlsDecryption;
}

/**
 * What the keys did for one connection. When its records were decrypted (`decrypted`, `partial`),
 * the record's requests, responses and HTTP/2 facts are those of the plaintext; else they stay 0 and
 * a note says why.
 */
export interface TlsDecryption {
  status: TlsDecryptionStatus;
  /** Encrypted records opened (handshake, alerts and application data). */
  recordsOpened: number;
  /**
   * Encrypted records that did not open: with a wrong key, or after a record missing from the capture
   * (a side's sequence numbers are lost then). TLS 1.3 handshake records are not counted when the key
   * log has only the traffic secrets and the application data opened.
   */
  recordsFailed: number;
}

/**
 * `decrypted`: every encrypted record opened; `partial`: some did not (recordsFailed); `no-keys`: the
 * key log has no secrets for this connection's ClientHello random; `wrong-keys`: it has, and none of
 * the records opened with them; `unsupported-suite`: a cipher suite this tool does not decrypt (not
 * an AEAD one of RFC 8446 B.4, RFC 5289 or RFC 7905); `no-server-hello`: the capture lacks the hellos.
 */
export type TlsDecryptionStatus =
  'decrypted' | 'partial' | 'no-keys' | 'wrong-keys' | 'unsupported-suite' | 'no-server-hello';

export type TlsResumption = 'psk' | 'ticket' | 'session-id';
export type TlsAlpnUnknown = 'encrypted' | 'none-chosen' | 'none-offered' | 'no-server-hello';

export interface TlsRecordCount {
  records: number;
  bytes: number;
}

export interface TlsAlertFact {
  from: Side;
  /** When it was sent (ms since the Unix epoch). */
  at: number;
  /** `warning`, `fatal`; null when encrypted. */
  level: string | null;
  /** `close_notify`, `handshake_failure`, ...; null when encrypted. */
  description: string | null;
}

/**
 * What an HTTP/2 connection showed (analyze/streams/http2.ts). Its `requests` count the streams the
 * client opened with HEADERS, `responses` the final responses (HEADERS with a :status of 200 or more).
 */
export interface Http2Facts {
  /**
   * How HTTP/2 began: the client's preface without asking (h2c by prior knowledge), after an
   * HTTP/1.1 `Upgrade: h2c` and its 101, or over TLS (decrypted) where ALPN chose h2 (RFC 9113 3.2).
   */
  start: 'prior-knowledge' | 'upgrade' | 'alpn';
  /** Streams the server reserved with PUSH_PROMISE. */
  pushed: number;
  /** The most streams open at once (opened by the client, not yet closed by both ends or a RST_STREAM). */
  peakConcurrentStreams: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS as each side last announced it; null when it announced none (no limit). */
  maxConcurrentStreams: { client: number | null; server: number | null };
  /** RST_STREAM frames each side sent, and their error codes by name (RFC 9113 7: "CANCEL": 3). */
  rstStream: { client: number; server: number; codes: Record<string, number> };
  /** GOAWAY frames, in order (at most 8 listed). */
  goaway: Http2Goaway[];
  /**
   * Streams the client opened that the server did not process (RFC 9113 8.7: safe to retry), each
   * counted once: `rstStream`, reset by the server with REFUSED_STREAM; `afterGoaway`, opened above
   * the last stream id of a GOAWAY the server sent (RFC 9113 6.8), before or after it.
   */
  refused: { rstStream: number; afterGoaway: number };
}

/** One GOAWAY (RFC 9113 6.8): who sent it, the last stream it may have processed, why. */
export interface Http2Goaway {
  by: Side;
  lastStreamId: number;
  /** The error code's name (NO_ERROR for a graceful close), or its value in hex. */
  errorCode: string;
  /** Octets of opaque debug data it carried. */
  debugDataLength: number;
  /** When it was sent (ms since the Unix epoch). */
  at: number;
}

/** A request that got no response: its method and when its head was complete (ms since the epoch). */
export interface UnansweredRequest {
  method: string;
  at: number;
}

/**
 * How a message asked to close its connection (RFC 9112 9.3, 9.6): `Connection: close`; HTTP/1.0
 * without `Connection: keep-alive`; or framing that obliges a close (a response body delimited by
 * the close, Transfer-Encoding in HTTP/1.0 or with Content-Length).
 */
export type CloseAsk = 'connection-close' | 'http/1.0' | 'framing';

export interface Distribution {
  min: number;
  median: number;
  max: number;
  mean: number;
}

export interface Totals {
  connections: number;
  /** Connections opened with a SYN seen by this observer (null: the observer cannot see SYNs). */
  syns: number | null;
  requests: number;
  responses: number;
  /** Of those, the messages captured only in part (ConnectionRecord's; absent when none was). */
  partialRequests?: number;
  partialResponses?: number;
  requestsPerConnection: Distribution | null;
  /** Requests that went over a connection which had already carried a request. */
  reusedRequests: number;
  /** Share (0..1) of requests that paid for a new connection; null without requests. */
  handshakeShare: number | null;
  closedFirstBy: { client: number; server: number; unknown: number };
  resets: number;
  /** Connections reset, by the side that sent the first RST (client + server = resets). */
  resetsBy: { client: number; server: number };
  timeWait: { client: number; server: number };
  /** TLS connections and their handshakes (absent when there was none). */
  tls?: TlsTotals;
}

export interface TlsTotals {
  connections: number;
  fullHandshakes: number;
  resumedHandshakes: number;
  /** TLS connections whose handshake the capture does not show to its end (neither full nor resumed). */
  handshakesUnknown: number;
  /** The sum of the connections' `estimatedExchanges` (an estimate; requests are unknown without the keys). */
  estimatedExchanges: number;
  /** Connections per version chosen ("TLS 1.3": 12); null-version connections under "unknown". */
  versions: Record<string, number>;
  /** With TLS keys given: connections per decryption status (TlsDecryption; statuses seen only). */
  decryption?: Partial<Record<TlsDecryptionStatus, number>>;
}

export interface ObserverReport {
  observer: ObserverName;
  /** False when the observer could not run; `reason` and `fix` then say why and what to do. */
  available: boolean;
  reason?: string;
  fix?: string;
  /** Whether this observer can see HTTP requests at all (the kernel socket table cannot). */
  seesRequests: boolean;
  /**
   * The kernel observer: how it read the socket table, 'ss' (netlink sock_diag, filtered in the
   * kernel: exact) or 'proc' (/proc/net/tcp{,6}, the fallback without ss: on a busy host slower, and
   * not an atomic snapshot).
   */
  socketTable?: 'ss' | 'proc';
  totals: Totals;
  /** Present when the observer saw HTTP messages. */
  http?: HttpEvidence;
  /**
   * The connections, in id order. All of them, unless the command kept only the first ones (e.g.
   * `analyze` without --json keeps the rows it prints) or the last ones (`proxy` without --json): then
   * `connectionsOmitted` counts the rest.
   * Totals always count every connection.
   */
  connections: ConnectionRecord[];
  /** Connections counted in `totals` but left out of `connections` (absent when none was). */
  connectionsOmitted?: number;
  /**
   * Present when this observer knows it missed evidence (the kernel dropped packets before the
   * capture read them): every count is then a lower bound, the verdict says so, and expectations
   * are neither met nor failed on it. Absent when nothing is known to be missing.
   */
  incomplete?: Incomplete;
  warnings: Warning[];
}

/** What an observer knows it missed. */
export interface Incomplete {
  /** Packets the kernel dropped before the capture read them (tcpdump's own count; 0 when unknown). */
  packetsDropped: number;
  /** Why, in words: "192 packets dropped by the kernel before tcpdump read them". */
  reason: string;
}

export type VerdictCode =
  | 'no-traffic'
  | 'reuse'
  | 'one-per-request'
  | 'churn'
  | 'keepalive-disabled'
  | 'server-closes'
  | 'resets'
  | 'single-request'
  | 'incomplete'
  // A finding of severity error or warning heads the verdict (its code, see FindingCode).
  | 'keepalive-race'
  | 'idle-reset'
  | 'body-not-read'
  | 'pool-churn'
  | 'idle-timeout-order'
  | 'port-exhaustion'
  | 'tls-no-reuse'
  | 'goaway-churn'
  | 'refused-streams'
  // TLS connections whose requests cannot be counted without the keys.
  | 'encrypted';

export interface Verdict {
  code: VerdictCode;
  /** One line in plain words that names the cause. */
  summary: string;
}

/** The findings the analyzer knows (docs/report-schema.md, "Findings"). */
export const FINDING_CODES = [
  'keepalive-race',
  'idle-reset',
  'body-not-read',
  'pool-churn',
  'close-audit',
  'idle-timeout-order',
  'port-exhaustion',
  'tls-no-reuse',
  'uneven-spread',
  'goaway-churn',
  'refused-streams',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

/** error: requests failed; warning: connections wasted or cut; info: how connections ended, no harm seen. */
export type FindingSeverity = 'error' | 'warning' | 'info';

/** The clients and servers a fix is written for (the keys of `Finding.fixes`). */
export const FIX_RUNTIMES = [
  'node-http',
  'undici',
  'go',
  'python-requests',
  'httpx',
  'okhttp',
  'nginx-upstream',
  'curl',
  // HTTP/2: Node's http2 module (client and server), gRPC (grpc-go, grpc-java, gRPC core), nginx as the server.
  'node-http2',
  'grpc',
  'nginx',
  // Load balancers, as the client of their upstream connections (the idle-timeout-order finding).
  'envoy',
  'haproxy',
  'aws-alb',
  'server',
  // The client machine's kernel settings (sysctl).
  'host',
] as const;
export type FixRuntime = (typeof FIX_RUNTIMES)[number];

/** One connection's part in a finding: what happened on it, when. */
export interface FindingEvent {
  /** The connection's id in the observer's records. */
  connection: number;
  /** When it happened (ms since the Unix epoch). */
  at: number;
  /** What happened, in words, with the measured times ("GET sent 0.2 ms after the server's FIN, ..."). */
  what: string;
}

/** What a finding rests on: a reader can check each claim against the capture. */
export interface FindingEvidence {
  /** The server the finding is about, when it is about one. */
  server: Endpoint | null;
  /** How many connections show it, and the ids of the first ones (at most 20). */
  count: number;
  connections: number[];
  /** The first connections' events (at most 10). */
  events: FindingEvent[];
  /** Measured values and header values, named per finding (docs/report-schema.md). */
  values: Record<string, number | string | null>;
}

/** A named cause found in the connections, its evidence, and what to change. */
export interface Finding {
  code: FindingCode;
  severity: FindingSeverity;
  /** One plain sentence. */
  summary: string;
  /** How the finding was reached, step by step (`--explain` prints it). */
  reasoning: string[];
  evidence: FindingEvidence;
  /** What to change, per client or server runtime (exact option names). */
  fixes: Partial<Record<FixRuntime, string>>;
}

/** Facts from the HTTP messages that explain a verdict (counted by the wire, proxy or server). */
export interface HttpEvidence {
  /** Responses that carried `Connection: close` (or were HTTP/1.0 without keep-alive). */
  serverClose: number;
  /** Requests that asked for `Connection: close` (or were HTTP/1.0 without keep-alive). */
  clientClose: number;
}

/** What a lab experiment was asked to do: every knob. */
/** What the lab's server speaks: HTTP/1.1 in the clear, over TLS (node:https), or HTTP/2 over TLS (node:http2). */
export type LabProtocol = 'http' | 'https' | 'h2';

export interface ExperimentConfig {
  /**
   * The client: node:http's Agent (node:https for `https`/`h2` servers), fetch, or node:http2 (one
   * session for every request, `h2` only).
   */
  client: 'http' | 'fetch' | 'http2';
  /** What the in-process server speaks (`https`, `h2`: a certificate made at run time). */
  protocol: LabProtocol;
  requests: number;
  concurrency: number;
  intervalMs: number;
  keepAlive: boolean;
  consumeBody: boolean;
  bodySize: number;
  /** Agent maxSockets / undici connections; null for unlimited. */
  maxSockets: number | null;
  /** Agent maxFreeSockets: the idle pool (Go's MaxIdleConnsPerHost). */
  maxFreeSockets: number;
  /**
   * TLS: the client keeps the sessions its server gives it and offers them on its next connections
   * (node:https Agent `maxCachedSessions`, fetch's connector); false: every connection a full handshake.
   */
  tlsResumption: boolean;
  serverKeepAliveTimeoutMs: number;
  /** The server advertises its idle timeout (`Keep-Alive: timeout=N`) in keep-alive responses. */
  serverKeepAliveHint: boolean;
  serverConnectionClose: boolean;
  /** The server closes each connection after this many requests (Connection: close); null for no limit. */
  serverMaxRequests: number | null;
  /** External target instead of the in-process server. */
  target: string | null;
  timeoutMs: number;
}

export interface ClientOutcome {
  requests: number;
  completed: number;
  /** The distinct messages of the failed requests (the first 10). */
  errors: string[];
  elapsedMs: number;
  /**
   * Failed requests by error code: `ECONNRESET` (node:http's "socket hang up" and "read ECONNRESET"),
   * `UND_ERR_SOCKET` (fetch's "other side closed"), ...; absent when none failed.
   */
  errorCodes?: Record<string, number>;
  /**
   * Of the failed requests, those a finding scenario sent into the failure it reproduces (the
   * keep-alive race's requests timed to meet the server's close): counted, and not a failure of the
   * run. Absent when there were none.
   */
  expectedFailures?: number;
}

/** What a capture held (analyze, and the wire observer's capture). */
export interface CaptureSummary {
  format: 'pcap' | 'pcapng' | null;
  /** LINKTYPE_ values seen (https://www.tcpdump.org/linktypes.html). */
  linkTypes: number[];
  bytes: number;
  frames: number;
  tcpPackets: number;
  /** Packets that passed the --port/--server focus and were analyzed. */
  analyzedPackets: number;
  nonIp: number;
  nonTcp: number;
  /** IP fragments seen (decode/fragments.ts reassembles them). */
  fragments: number;
  truncated: number;
  malformed: number;
  /** IP datagrams reassembled from fragments (absent when none was). */
  datagramsReassembled?: number;
  /** Fragmented datagrams given up with fragments missing: never captured, or past the timeout (absent when none). */
  datagramsIncomplete?: number;
  /** Fragmented datagrams discarded because their fragments overlapped (RFC 5722; absent when none). */
  datagramsDiscarded?: number;
  /** TCP segments that came out of a tunnel: GRE, VXLAN, Geneve, IP in IP (absent when none). */
  tunnelled?: number;
}

/** One run: a lab experiment, one analyzed capture, one watched command, one proxy session. */
export interface RunReport {
  name: string;
  title: string;
  /** Where the traffic went (URL or host:port), or the capture file. */
  subject: string;
  config: ExperimentConfig | null;
  client: ClientOutcome | null;
  observers: ObserverReport[];
  /** Do the available observers agree on the counts? Differences are spelled out. */
  agreement: { agree: boolean; differences: string[] };
  verdict: Verdict;
  /** Named causes found in the primary observer's connections, most severe first (analyze/findings/). */
  findings: Finding[];
  warnings: Warning[];
  /** For runs read from a capture (analyze). */
  capture?: CaptureSummary;
  /** What the process's own tracker counted per origin (`register`, model/process.ts). */
  process?: ProcessSummary;
}

export interface Report {
  schema: typeof REPORT_SCHEMA;
  tool: { name: 'keepalive-lab'; version: string };
  command: 'demo' | 'run' | 'analyze' | 'watch' | 'proxy' | 'register' | 'probe';
  createdAt: string;
  runs: RunReport[];
  /** `probe` only (its `runs` is empty): what the probe measured (model/probe.ts). */
  probe?: ProbeReport;
}
