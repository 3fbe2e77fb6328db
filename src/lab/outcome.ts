/**
 * What a lab client did, counted as it goes (ClientOutcome): requests sent, completed, and the
 * failed ones by error code. One place for the experiment's workers (engine.ts) and the finding
 * scenarios' own clients (findings-scenarios/), so that an error is named the same way by both.
 */
import type { ClientOutcome } from '../model/report.js';

/** Distinct error messages kept (every failure is counted by code all the same). */
const MAX_ERRORS_KEPT = 10;

export function newOutcome(): ClientOutcome {
  return { requests: 0, completed: 0, errors: [], elapsedMs: 0 };
}

/**
 * The code of a request's error: its own (`ECONNRESET` for node:http, both for "socket hang up"
 * and "read ECONNRESET"), else its cause's (fetch rejects with TypeError('fetch failed') whose cause
 * is undici's error, `UND_ERR_SOCKET` for "other side closed"), else its name.
 */
export function errorCode(error: unknown): string {
  const e = error as NodeJS.ErrnoException & { cause?: unknown };
  if (typeof e?.code === 'string') return e.code;
  const cause = e?.cause as NodeJS.ErrnoException | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.name : 'unknown';
}

/** The error's message, with its cause's ("fetch failed: other side closed"). */
export function errorMessage(error: unknown): string {
  const e = error as Error;
  return e?.cause instanceof Error ? `${e.message}: ${e.cause.message}` : String(e?.message ?? error);
}

/**
 * Counts one failed request: by its code, its message kept (the first ones). `expected`: a finding
 * scenario sent it into the failure it reproduces (see ClientOutcome.expectedFailures).
 */
export function countFailure(outcome: ClientOutcome, error: unknown, expected = false): void {
  const code = errorCode(error);
  const codes = (outcome.errorCodes ??= {});
  codes[code] = (codes[code] ?? 0) + 1;
  if (expected) outcome.expectedFailures = (outcome.expectedFailures ?? 0) + 1;
  const message = errorMessage(error);
  if (outcome.errors.length < MAX_ERRORS_KEPT && !outcome.errors.includes(message)) outcome.errors.push(message);
}
