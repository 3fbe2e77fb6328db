/**
 * What every measurement of a probe shares: the target, the caps on what it may send (a polite
 * measuring client, never a load generator), the sockets it opened (all destroyed on abort and at
 * the end), the clock, and the progress callback.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { VERSION } from '../../version.js';

/** The URL as the probe speaks to it. */
export interface ProbeTarget {
  url: URL;
  /** The host to connect to (brackets of an IPv6 literal removed). */
  host: string;
  port: number;
  tls: boolean;
  /** The path and query of the requests. */
  path: string;
  /** Skip the certificate check (a self-signed test server). */
  insecure: boolean;
}

/** What the probe is doing, for a progress line on a terminal. */
export interface ProbeProgress {
  /** The measurement: `http1`, `idle`, `requests`, `tls`, `http2`. */
  phase: string;
  /** In words: "waiting 4 s idle on 3 connections (gaps 1 s, 2 s, 4 s)". */
  what: string;
}

/** The User-Agent of every request: the tool names itself. */
export const USER_AGENT = `keepalive-lab/${VERSION} probe`;

/** Default and highest caps: `--max-connections`, `--max-requests` never go above the ceilings. */
export const DEFAULT_MAX_CONNECTIONS = 20;
export const CEILING_CONNECTIONS = 100;
export const DEFAULT_MAX_REQUESTS = 500;
export const CEILING_REQUESTS = 5000;

/** The probe would go past a cap: the measurement that asked stops there and says so. */
export class BudgetExhausted extends Error {
  constructor(what: 'connections' | 'requests', max: number) {
    super(`the cap of ${max} ${what} is reached`);
  }
}

/** Connections and requests spent against their caps. */
export class ProbeBudget {
  connections = 0;
  requests = 0;
  constructor(
    readonly maxConnections: number,
    readonly maxRequests: number,
  ) {}

  /** How many connections are left. */
  get connectionsLeft(): number {
    return this.maxConnections - this.connections;
  }

  takeConnection(): void {
    if (this.connections >= this.maxConnections) throw new BudgetExhausted('connections', this.maxConnections);
    this.connections++;
  }

  takeRequests(n = 1): void {
    if (this.requests + n > this.maxRequests) throw new BudgetExhausted('requests', this.maxRequests);
    this.requests += n;
  }
}

export interface ProbeContext {
  target: ProbeTarget;
  budget: ProbeBudget;
  /** How long to wait for a connect, a handshake or a response (ms). */
  timeoutMs: number;
  signal: AbortSignal;
  /** Every socket opened, until it closes: destroyed on abort and when the probe ends. */
  sockets: Set<Socket>;
  /** Monotonic milliseconds. */
  now(): number;
  progress(p: ProbeProgress): void;
}

export function monotonicNow(): number {
  return performance.now();
}

/** Throws the signal's reason when aborted: a measurement checks it between steps. */
export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/** Seconds in words for progress and reports: 1 s, 2.5 s, 250 ms. */
export function secondsText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return `${s.toFixed(2).replace(/\.?0+$/, '')} s`;
}
