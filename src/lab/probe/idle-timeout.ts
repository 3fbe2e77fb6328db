/**
 * The server's idle timeout, as a client meets it. Several connections carry one request each, then
 * the next request after different idle gaps, all at once (1, 2, 4, 8, 15, 30, 60, 120 s, up to
 * `maxIdleMs`); the close lies between the longest gap a connection survived and the shortest it did
 * not (or the moment the server's FIN arrived on an idle connection, when that is earlier: a FIN seen at
 * 3.02 s means a request at 3.02 s would have met a closed connection). Then rounds of a few
 * connections each, spread evenly inside that interval, narrow it until it is at most twice the
 * precision asked for. The search (`searchIdleTimeout`) only sees trials, so it is tested with a fake
 * server; `connectionTrials` runs them on real connections.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { CloseKind, IdleTimeoutResult, IdleTrial } from '../../model/probe.js';
import { BudgetExhausted, checkAborted, secondsText, type ProbeContext } from './context.js';
import { ProbeConnection } from './connection.js';

/** The standard gaps of the first round (s), cut at `maxIdleMs`; `--quick` stops at 15 s. */
export const STANDARD_GAPS_S = [1, 2, 4, 8, 15, 30, 60, 120] as const;
export const QUICK_MAX_IDLE_MS = 15_000;
/** Connections per narrowing round: each round divides the interval by this plus one. */
export const TRIALS_PER_ROUND = 3;
/** Narrowing rounds at most (each waits up to the interval's upper end). */
export const MAX_ROUNDS = 6;

/** Runs one trial per gap, all at once, on connections of their own. */
export type TrialRunner = (gapsMs: readonly number[], round: number) => Promise<IdleTrial[]>;

export interface IdleSearchOptions {
  maxIdleMs: number;
  /** The precision asked for: narrowing stops once the interval is at most twice this. */
  precisionMs: number;
  /** Connections the budget still allows (asked before each round). */
  connectionsLeft: () => number;
  trialsPerRound?: number;
  maxRounds?: number;
}

/** The gaps of the first round: the standard ones up to `maxIdleMs`, and `maxIdleMs` itself. */
export function firstRoundGaps(maxIdleMs: number): number[] {
  const gaps: number[] = STANDARD_GAPS_S.map((s) => s * 1000).filter((ms) => ms < maxIdleMs);
  gaps.push(maxIdleMs);
  return gaps;
}

/** `count` gaps spread evenly strictly inside (lo, hi), whole milliseconds. */
export function gapsInside(lo: number, hi: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= count; i++) out.push(Math.round(lo + ((hi - lo) * i) / (count + 1)));
  return [...new Set(out)].filter((g) => g > lo && g < hi);
}

/**
 * Where a trial says the close is: the moment the close arrived when seen (a request due at its gap may
 * have gone out a little late on a busy machine, so the gap itself is no sure bound), else its gap.
 */
function closedBy(trial: IdleTrial): number {
  return trial.closedAfterMs !== undefined ? Math.ceil(trial.closedAfterMs) : trial.gapMs;
}

/** Whether a trial shows the connection alive at its gap: answered, or closed only after the gap ended. */
function aliveAtGap(trial: IdleTrial): boolean {
  return (
    trial.outcome === 'answered' ||
    (trial.outcome === 'closed' && trial.closedAfterMs !== undefined && trial.closedAfterMs > trial.gapMs)
  );
}

/** The interval after a set of trials: the longest gap answered below the first close, and that close. */
export function narrow(
  interval: { aliveMs: number; closedMs: number | null },
  trials: readonly IdleTrial[],
): { aliveMs: number; closedMs: number | null; contradictions: number } {
  let { aliveMs, closedMs } = interval;
  for (const t of trials) if (t.outcome !== 'answered') closedMs = Math.min(closedMs ?? Infinity, closedBy(t));
  let contradictions = 0;
  for (const t of trials) {
    if (!aliveAtGap(t)) continue;
    if (closedMs !== null && t.gapMs >= closedMs) contradictions++;
    else aliveMs = Math.max(aliveMs, t.gapMs);
  }
  return { aliveMs, closedMs, contradictions };
}

export interface IdleSearch {
  aliveMs: number;
  closedMs: number | null;
  rounds: IdleTrial[][];
  note?: string;
}

/** The search: a first round over the standard gaps, then narrowing rounds, within the budget. */
export async function searchIdleTimeout(run: TrialRunner, options: IdleSearchOptions): Promise<IdleSearch> {
  const perRound = options.trialsPerRound ?? TRIALS_PER_ROUND;
  const maxRounds = options.maxRounds ?? MAX_ROUNDS;
  const rounds: IdleTrial[][] = [];
  const notes: string[] = [];
  let gaps = firstRoundGaps(options.maxIdleMs);
  if (gaps.length > options.connectionsLeft()) gaps = gaps.slice(-Math.max(1, options.connectionsLeft()));
  let interval: { aliveMs: number; closedMs: number | null } = { aliveMs: 0, closedMs: null };
  let contradictions = 0;
  for (let round = 1; ; round++) {
    let trials: IdleTrial[];
    try {
      trials = await run(gaps, round);
    } catch (error) {
      if (!(error instanceof BudgetExhausted)) throw error;
      notes.push(`narrowing stopped: ${error.message}`);
      break;
    }
    rounds.push(trials);
    const next = narrow(interval, trials);
    contradictions += next.contradictions;
    interval = { aliveMs: next.aliveMs, closedMs: next.closedMs };
    const { aliveMs, closedMs } = interval;
    if (closedMs === null) break;
    if (closedMs - aliveMs <= 2 * options.precisionMs) break;
    if (round >= maxRounds) {
      notes.push(`narrowing stopped after ${maxRounds} rounds`);
      break;
    }
    const left = options.connectionsLeft();
    if (left <= 0) {
      notes.push('narrowing stopped: the cap on connections is reached');
      break;
    }
    gaps = gapsInside(aliveMs, closedMs, Math.min(perRound, left));
    if (gaps.length === 0) break;
  }
  if (contradictions > 0)
    notes.push(
      `${contradictions} connection(s) survived a gap longer than one that was closed: ` +
        'servers with different timeouts behind one address, or a close that is not by idle time',
    );
  return { ...interval, rounds, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
}

/** The most frequent value, or null for none. */
function mostFrequent<T>(values: readonly T[]): T | null {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: T | null = null;
  for (const [v, n] of counts) if (best === null || n > counts.get(best)!) best = v;
  return best;
}

function medianOf(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The result from a search and what the trials saw of how connections were closed. */
export function idleResult(
  search: IdleSearch,
  maxIdleMs: number,
  afterClose: IdleTimeoutResult['afterClose'],
): IdleTimeoutResult {
  const all = search.rounds.flat();
  const ended = all.filter((t) => t.closeKind !== undefined);
  const { aliveMs, closedMs } = search;
  const inWindow = all.filter((t) => t.outcome === 'answered' || t.outcome === 'failed');
  return {
    timeoutMs: closedMs === null ? null : Math.round((aliveMs + closedMs) / 2),
    precisionMs: closedMs === null ? null : Math.round((closedMs - aliveMs) / 2),
    interval: { aliveMs, closedMs },
    maxIdleMs,
    closeKind: mostFrequent<CloseKind>(ended.map((t) => t.closeKind!)),
    observedCloseMs: medianOf(
      all.filter((t) => t.outcome === 'closed' && t.closedAfterMs !== undefined).map((t) => t.closedAfterMs!),
    ),
    afterClose,
    inFlight: {
      sent: inWindow.filter((t) => closedMs !== null && t.gapMs >= aliveMs).length,
      failed: all.filter((t) => t.outcome === 'failed').length,
    },
    trials: search.rounds,
    ...(search.note !== undefined
      ? { note: search.note }
      : closedMs === null
        ? { note: `no idle timeout up to ${secondsText(maxIdleMs)} (--max-idle)` }
        : {}),
  };
}

/**
 * Trials on real connections: each opens a connection, sends one request, waits its gap from the end
 * of the response (or until the connection ends), then sends the next request and reads how it fares.
 * The first connection found closed by a FIN also gets a request written after that FIN (on plain
 * TCP, kept half open): how a client that did not notice the close fails (`afterClose`).
 */
export class ConnectionTrials {
  afterClose: IdleTimeoutResult['afterClose'] = null;
  private afterCloseTried = false;

  constructor(private readonly ctx: ProbeContext) {}

  readonly run: TrialRunner = async (gapsMs, round) => {
    const { ctx } = this;
    const longest = Math.max(...gapsMs);
    ctx.progress({
      phase: 'idle',
      what:
        `round ${round}: idle gaps ${gapsMs.map(secondsText).join(', ')} on ${gapsMs.length} connection(s)` +
        ` (up to ${secondsText(longest)})`,
    });
    // Open all first (each takes a connection from the budget before any wait starts).
    const opened: ProbeConnection[] = [];
    try {
      for (const _ of gapsMs) opened.push(await ProbeConnection.open(ctx, { allowHalfOpen: !ctx.target.tls }));
    } catch (error) {
      for (const c of opened) c.destroy();
      throw error;
    }
    try {
      const trials = await Promise.all(gapsMs.map((gap, i) => this.trial(opened[i]!, gap)));
      return trials;
    } finally {
      for (const c of opened) c.destroy();
    }
  };

  private async trial(conn: ProbeConnection, gapMs: number): Promise<IdleTrial> {
    const { ctx } = this;
    conn.send(conn.request());
    const first = await conn.nextResponse();
    if (first.kind !== 'response')
      throw new Error(`the first request of an idle trial got no response (${first.kind})`);
    const idleStart = first.response.at;
    const close = await conn.idle(Math.max(0, gapMs - (ctx.now() - idleStart)));
    checkAborted(ctx.signal);
    if (close !== null) {
      if (close.kind === 'fin' && !ctx.target.tls && !this.afterCloseTried) await this.requestAfterClose(conn);
      return { gapMs, outcome: 'closed', closeKind: close.kind, closedAfterMs: round1(close.at - idleStart) };
    }
    conn.send(conn.request());
    const next = await conn.nextResponse();
    if (next.kind === 'response') return { gapMs, outcome: 'answered' };
    if (next.kind === 'closed')
      return { gapMs, outcome: 'failed', closeKind: next.close.kind, closedAfterMs: round1(next.close.at - idleStart) };
    return { gapMs, outcome: 'no-answer', closeKind: 'silent' };
  }

  /**
   * A request written after the server's FIN, as a pool that did not notice the close would send it:
   * in two writes 50 ms apart, since a RST in answer to the first only shows on the next write
   * (EPIPE or ECONNRESET) once our side has read the end of the stream.
   */
  private async requestAfterClose(conn: ProbeConnection): Promise<void> {
    this.afterCloseTried = true;
    if (conn.socket.destroyed || !conn.socket.writable) return;
    const bytes = conn.request();
    const cut = bytes.indexOf('\r\n') + 2;
    const errors: NodeJS.ErrnoException[] = [];
    conn.socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e));
    try {
      conn.send(bytes.slice(0, cut));
    } catch {
      return; // the budget: leave afterClose unknown
    }
    await sleep(AFTER_CLOSE_WAIT_MS, this.ctx.signal);
    if (!conn.socket.destroyed) conn.socket.write(bytes.slice(cut));
    await sleep(AFTER_CLOSE_WAIT_MS, this.ctx.signal);
    this.afterClose = errors.some((e) => e.code === 'ECONNRESET' || e.code === 'EPIPE') ? 'reset' : 'closed';
  }
}

/** How long the request written after a FIN waits for the RST to show (loopback answers in microseconds). */
const AFTER_CLOSE_WAIT_MS = 50;

async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal });
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}
