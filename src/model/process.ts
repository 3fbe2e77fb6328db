/**
 * What the in-process tracker (observe/in-process/, `register`) adds to a run's report (a lab run's,
 * the register's, and a watched Node command's, merged from its processes by observe/process-views.ts): per origin,
 * the requests, connections and how they ended, as the process itself counted them. JSON-safe, part
 * of the report schema (docs/report-schema.md, "The process observer").
 */
import type { Finding } from './report.js';

/** One origin (`http://host:port`) as this process used it. */
export interface ProcessOrigin {
  origin: string;
  /** Which clients sent to it. */
  clients: ('node:http' | 'undici')[];
  requests: number;
  /** Requests that went over a connection which had carried one before. */
  reusedRequests: number;
  /** reusedRequests / requests (null without requests). */
  reuseShare: number | null;
  responses: number;
  /** Failed requests by code (ECONNRESET, UND_ERR_SOCKET, ...). */
  errors: Record<string, number>;
  connectionsOpened: number;
  connectionsClosed: number;
  /** Open now (busy or idle in a pool). */
  connectionsOpen: number;
  /** Closed connections by reason (observe/in-process/events.ts CloseReason: server-closed, pool-full, ...). */
  closeReasons: Record<string, number>;
  /** Time to first byte (request start to response headers), ms; null without responses. */
  ttfbMs: { mean: number; max: number } | null;
  /** The server's `Keep-Alive: timeout=N` (seconds) as its last response with one said; null if none. */
  keepAliveHintS: number | null;
}

/** A recent request (the tracker keeps the last few, an LRU: never a growing list). */
export interface ProcessRequest {
  at: number;
  origin: string;
  method: string;
  /** The connection's id in the process report. */
  connection: number | null;
  reused: boolean;
  idleMs: number | null;
  status: number | null;
  ttfbMs: number | null;
  /** The error code when it failed. */
  error: string | null;
}

export interface ProcessSummary {
  /** Node's version, and the channels this runtime does not publish (nothing is measured there). */
  node: string;
  missingChannels: string[];
  origins: ProcessOrigin[];
  recentRequests: ProcessRequest[];
  /**
   * The process's own findings (observe/in-process/findings.ts), in a lab run: there the run's
   * `findings` are the primary observer's (the wire's). Absent in the register's report, whose run
   * `findings` are these.
   */
  findings?: Finding[];
  /** `watch` only: the command's Node processes whose reports are summed here (`node` lists their versions). */
  pids?: number[];
}
