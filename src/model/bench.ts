/**
 * What `bench` measures: the same load run twice against one server, reusing connections and opening
 * one per request. `bench --json` prints a BenchReport as it is (docs/report-schema.md, "bench").
 */
import type { Warning } from './report.js';
import type { Millis } from './time.js';

export const BENCH_SCHEMA = 'keepalive-lab/bench@1';

/** `keep-alive`: the next request on the same connection; `new-connection`: one request per connection. */
export type LoadMode = 'keep-alive' | 'new-connection';
export const LOAD_MODES: readonly LoadMode[] = ['keep-alive', 'new-connection'];

/**
 * Latency from the request's write to its response's end, from an HDR histogram (3 significant
 * digits); null without any response.
 */
export interface LatencySummary {
  p50: Millis | null;
  p90: Millis | null;
  p99: Millis | null;
  max: Millis | null;
  mean: Millis | null;
}

/** One load's counts. */
export interface LoadResult {
  mode: LoadMode;
  /** Connection slots (requests in flight at once). */
  connections: number;
  /** From the first connection attempt to the end of the last request. */
  durationMs: Millis;
  /** Responses received whole. */
  requests: number;
  requestsPerSecond: number;
  /** Of those, final responses outside 2xx. */
  non2xx: number;
  /** Requests that got no whole response (refused, reset, closed before the response, timed out, unframeable). */
  errors: number;
  /** The errors by code: the socket's (ECONNREFUSED, ECONNRESET, ETIMEDOUT) or CLOSED_BEFORE_RESPONSE, HTTP_FRAMING. */
  errorCodes: Record<string, number>;
  /** TCP connections established. */
  connectionsOpened: number;
  latencyMs: LatencySummary;
}

/** TIME_WAIT sockets of one load's connections (by their client ports) right after it, by the side that holds them. */
export interface TimeWaitLeft {
  client: number;
  server: number;
}

export interface BenchRun extends LoadResult {
  /** Null when the socket table could not be read (see the report's warnings). */
  timeWait: TimeWaitLeft | null;
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  /** The URL loaded. */
  target: string;
  /** True when the target was the in-process lab server (no --target). */
  labServer: boolean;
  /** The duration asked for, per load. */
  durationMs: Millis;
  connections: number;
  /** keep-alive first, then new-connection (so the latter's TIME_WAIT sockets cannot weigh on the former). */
  runs: BenchRun[];
  /** keep-alive divided by new-connection; null where the latter is 0 or missing. */
  ratio: { requestsPerSecond: number | null; p50: number | null; p99: number | null };
  warnings: Warning[];
}
