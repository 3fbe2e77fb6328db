/**
 * `probe(url, options)`: what a server really does with idle and busy keep-alive connections, measured
 * from the outside with a few raw connections, each measurement in a file of its own: http1.ts (what
 * it speaks), idle-timeout.ts, request-cap.ts, tls.ts, http2.ts; recommend.ts turns the figures into
 * client settings. Every wait is bounded (`timeoutMs`, `maxIdleMs`), the connections and requests it
 * sends are capped (`maxConnections`, `maxRequests`), every request names the tool (User-Agent), and
 * an aborted `signal` closes every socket at once.
 */
import { invalidOption } from '../../errors.js';
import type { IdleTimeoutResult, ProbeReport } from '../../model/probe.js';
import { onAbort } from '../../util/abort.js';
import {
  BudgetExhausted,
  CEILING_CONNECTIONS,
  CEILING_REQUESTS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_REQUESTS,
  ProbeBudget,
  monotonicNow,
  type ProbeContext,
  type ProbeProgress,
  type ProbeTarget,
} from './context.js';
import { probeHttp1 } from './http1.js';
import { probeHttp2 } from './http2.js';
import { ConnectionTrials, idleResult, searchIdleTimeout } from './idle-timeout.js';
import { recommend } from './recommend.js';
import { probeRequestCap } from './request-cap.js';
import { probeTls } from './tls.js';

export {
  CEILING_CONNECTIONS,
  CEILING_REQUESTS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_REQUESTS,
  USER_AGENT,
} from './context.js';
export type { ProbeProgress } from './context.js';
export { QUICK_MAX_IDLE_MS, STANDARD_GAPS_S } from './idle-timeout.js';

export const DEFAULT_MAX_IDLE_MS = 120_000;
export const DEFAULT_PRECISION_MS = 250;
export const DEFAULT_TIMEOUT_MS = 10_000;

export interface ProbeOptions {
  /** The longest idle gap tried (default 120 s; the CLI's --quick: 15 s). */
  maxIdleMs?: number;
  /** Narrow the idle timeout to ± this (default 250 ms). */
  precisionMs?: number;
  /** Connections opened at most (default 20, at most 100). */
  maxConnections?: number;
  /** Requests sent at most (default 500, at most 5000). */
  maxRequests?: number;
  /** How long a connect, a handshake or a response may take (default 10 s). */
  timeoutMs?: number;
  /** Do not check the server's certificate. */
  insecure?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ProbeProgress) => void;
}

/** The URL as a probe target; an invalid one is a usage error about `url`. */
export function probeTarget(url: string | URL, insecure = false): ProbeTarget {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    throw invalidOption('url', `is not a URL: '${String(url)}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw invalidOption('url', `must be an http:// or https:// URL, got '${u.href}'`);
  if (u.hostname === '') throw invalidOption('url', `has no host: '${u.href}'`);
  return {
    url: u,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port),
    tls: u.protocol === 'https:',
    path: `${u.pathname}${u.search}`,
    insecure,
  };
}

function capped(option: string, value: number | undefined, fallback: number, ceiling: number): number {
  const v = value ?? fallback;
  if (!(Number.isInteger(v) && v >= 1 && v <= ceiling))
    throw invalidOption(option, `must be a whole number between 1 and ${ceiling}, got ${v}`);
  return v;
}

export async function probe(url: string | URL, options: ProbeOptions = {}): Promise<ProbeReport> {
  const target = probeTarget(url, options.insecure);
  const maxConnections = capped('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS, CEILING_CONNECTIONS);
  const maxRequests = capped('maxRequests', options.maxRequests, DEFAULT_MAX_REQUESTS, CEILING_REQUESTS);
  const maxIdleMs = options.maxIdleMs ?? DEFAULT_MAX_IDLE_MS;
  const precisionMs = options.precisionMs ?? DEFAULT_PRECISION_MS;
  const controller = new AbortController();
  const offAbort = onAbort(options.signal, () => controller.abort(options.signal!.reason));
  const ctx: ProbeContext = {
    target,
    budget: new ProbeBudget(maxConnections, maxRequests),
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: controller.signal,
    sockets: new Set(),
    now: monotonicNow,
    progress: options.onProgress ?? (() => undefined),
  };
  const startedAt = new Date();
  const start = ctx.now();
  const warnings: string[] = [];
  try {
    ctx.progress({ phase: 'http1', what: 'HTTP/1.x: keep-alive, HTTP/1.0, Connection: close, pipelining' });
    const h1 = await probeHttp1(ctx);
    const tls = target.tls ? await probeTls(ctx) : null;
    // One connection kept for the TLS session tried again at the end.
    const reserved = tls !== null ? 1 : 0;
    // Requests kept for the other measurements: two per connection.
    const capLimit = Math.max(1, maxRequests - ctx.budget.requests - 2 * maxConnections - 4);
    // HTTP/2 first: it takes its connection before the idle search counts what is left.
    const [http2, idleTimeout, requestCap] = await Promise.all([
      tls?.behaviour.alpn === 'h2'
        ? probeHttp2(ctx, maxIdleMs).catch((error: unknown) => failed(error, 'HTTP/2'))
        : Promise.resolve(null),
      h1.behaviour.keepAlive11 ? measureIdle(ctx, maxIdleMs, precisionMs, reserved, warnings) : Promise.resolve(null),
      h1.open !== null
        ? probeRequestCap(ctx, capLimit, { conn: h1.open, answered: h1.answered }).catch((error: unknown) =>
            failed(error, 'the request cap'),
          )
        : Promise.resolve(null),
    ]);
    if (tls !== null) await tls.resumeLater().catch((error: unknown) => failed(error, 'TLS resumption later'));
    return {
      url: target.url.href,
      address: `${target.host}:${target.port}`,
      startedAt: startedAt.toISOString(),
      elapsedMs: Math.round(ctx.now() - start),
      budget: {
        connections: ctx.budget.connections,
        maxConnections,
        requests: ctx.budget.requests,
        maxRequests,
      },
      http1: h1.behaviour,
      idleTimeout: idleTimeout ?? notMeasured(maxIdleMs, 'the server keeps no connection alive: nothing to time'),
      requestCap: requestCap ?? { requests: null, how: null, maxRequests: 0 },
      tls: tls?.behaviour ?? null,
      http2,
      recommendation: recommend({ http1: h1.behaviour, idle: idleTimeout, requestCap, http2 }),
      warnings,
    };
  } finally {
    offAbort();
    for (const s of ctx.sockets) s.destroy();
  }

  /** A measurement that failed after the first answer: a warning, the others go on. Aborts go through. */
  function failed(error: unknown, what: string): null {
    if (controller.signal.aborted) throw controller.signal.reason;
    warnings.push(`${what} not measured: ${(error as Error).message}`);
    return null;
  }
}

async function measureIdle(
  ctx: ProbeContext,
  maxIdleMs: number,
  precisionMs: number,
  reserved: number,
  warnings: string[],
): Promise<IdleTimeoutResult | null> {
  const trials = new ConnectionTrials(ctx);
  try {
    const search = await searchIdleTimeout(trials.run, {
      maxIdleMs,
      precisionMs,
      connectionsLeft: () => ctx.budget.connectionsLeft - reserved,
    });
    return idleResult(search, maxIdleMs, trials.afterClose);
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const why = error instanceof BudgetExhausted ? error.message : (error as Error).message;
    warnings.push(`idle timeout not measured: ${why}`);
    return notMeasured(maxIdleMs, why);
  }
}

function notMeasured(maxIdleMs: number, note: string): IdleTimeoutResult {
  return {
    timeoutMs: null,
    precisionMs: null,
    interval: { aliveMs: 0, closedMs: null },
    maxIdleMs,
    closeKind: null,
    observedCloseMs: null,
    afterClose: null,
    inFlight: { sent: 0, failed: 0 },
    trials: [],
    note,
  };
}
