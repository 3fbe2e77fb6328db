/**
 * Facts read from one connection record, shared by the detectors: the rules (when is a FIN an idle
 * close, when do a request and a FIN cross, is a method idempotent) are written once, here.
 */
import type { ConnectionRecord, Endpoint } from '../../model/report.js';
import { formatEndpoint } from '../../model/endpoint.js';
import { CLIENT_IDLE_SHARE, CROSSING_MIN_MS, CROSSING_RTTS, MIN_IDLE_CLOSE_MS } from './thresholds.js';

/** Requests and a FIN at most this far apart crossed on the way (see thresholds.ts). */
export function crossingWindowMs(r: ConnectionRecord): number {
  return Math.max(CROSSING_MIN_MS, CROSSING_RTTS * (r.handshakeRttMs ?? 0));
}

/**
 * How long the connection had been idle when the server sent its FIN, when that FIN was an idle
 * close: the server closed first, after a complete response, without asking to close in a response,
 * with no request waiting (one that crossed the FIN was not there yet), at least MIN_IDLE_CLOSE_MS
 * after the response. Null otherwise.
 */
export function serverIdleCloseMs(r: ConnectionRecord): number | null {
  const fin = r.serverFinAt;
  const last = r.lastResponseEndAt;
  if (r.closedFirstBy !== 'server' || fin === undefined || last === undefined) return null;
  if (r.closeAsked?.server !== undefined) return null;
  const waiting = r.unanswered?.[0];
  if (waiting !== undefined && waiting.at < fin - crossingWindowMs(r)) return null;
  const idle = fin - last;
  return idle >= MIN_IDLE_CLOSE_MS ? idle : null;
}

/**
 * How long the connection had been idle when the client sent its FIN, when that FIN was an idle
 * close of the client's own (its pool's idle timeout, or its program ending): the client closed
 * first, after a complete response, every request answered, without asking to close in a request,
 * at least MIN_IDLE_CLOSE_MS after the response (a pool that closes at the response's end, because
 * it is full, does so within a millisecond). Null otherwise.
 */
export function clientIdleCloseMs(r: ConnectionRecord): number | null {
  const fin = r.clientFinAt;
  const last = r.lastResponseEndAt;
  if (r.closedFirstBy !== 'client' || fin === undefined || last === undefined) return null;
  if (r.closeAsked?.client !== undefined || r.responseIncomplete === true) return null;
  if (r.requests > r.responses || (r.unanswered?.length ?? 0) > 0) return null;
  const idle = fin - last;
  return idle >= MIN_IDLE_CLOSE_MS ? idle : null;
}

/**
 * The longest idle gap after which the client sent a request on this connection, answered or not:
 * how long the client kept the connection idle and still took it from its pool.
 */
export function longestReuseIdleMs(r: ConnectionRecord): number {
  let max = 0;
  for (const gap of r.idleGapsMs) max = Math.max(max, gap);
  return max;
}

/**
 * The longest idle gap after which a request on this connection was answered: the server was still
 * keeping the connection then (a lower bound of its idle timeout). Unanswered requests come last.
 */
export function longestAnsweredIdleMs(r: ConnectionRecord): number {
  const answered = r.idleGapsMs.length - Math.max(0, r.requests - r.responses);
  let max = 0;
  for (let i = 0; i < answered; i++) max = Math.max(max, r.idleGapsMs[i]!);
  return max;
}

/** The client idle timeout to suggest against a server's `serverMs`: CLIENT_IDLE_SHARE of it, in tens of ms. */
export function suggestedClientIdleMs(serverMs: number): number {
  return Math.max(1, Math.floor((serverMs * CLIENT_IDLE_SHARE) / 10) * 10);
}

/** Idempotent methods (RFC 9110 9.2.2): safe to send again when the connection failed under them. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/** A server's key in the detectors' tables. */
export function serverKey(server: Endpoint): string {
  return formatEndpoint(server);
}

/** "0.21 ms", "38 ms", "1.00 s", "6.0 min": a measured time for a sentence. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  // 999.6 ms is "1.00 s", not "1000 ms".
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A setting's delay for a sentence: `1 s`, `250 ms`. */
export function formatDelay(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** The median of a list (not modified). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
