/**
 * A run's summary row, the figures only: which observer each number comes from is decided here
 * once, for every renderer (terminal, HTML). The best observer available gives the counts; SYNs
 * come from the wire, the only one that sees them; TIME_WAIT from the kernel's table (the direct
 * evidence), else from the wire's first FIN.
 */
import { requestsUnknownOn } from '../analyze/streams/tls.js';
import { primaryObserver } from '../analyze/verdict.js';
import type { Finding, ObserverName, ObserverReport, RunReport, Totals } from '../model/report.js';

export interface RunSummary {
  /** The observer the counts come from (none when no observer could run). */
  primary: ObserverReport | undefined;
  /** Requests: the primary observer's count, or the client's when that observer cannot see HTTP. */
  requests: number;
  connections: number | null;
  /** `requests` per connection; null without connections. */
  requestsPerConnection: number | null;
  /**
   * Connections whose requests are unknown (TLS read without the keys): `requests` leaves them out, so
   * it is then a count of the others, and `requestsPerConnection` means nothing.
   */
  requestsUnknownOn: number;
  reusedRequests: number | null;
  /** Connection-opening SYNs on the wire; null without the wire. */
  syns: number | null;
  /** Who sent the first FIN (and resets), by the primary observer. */
  closing: Pick<Totals, 'closedFirstBy' | 'resets' | 'resetsBy'> | null;
  timeWait: Totals['timeWait'] | null;
  /** How long the client ran (lab and watch runs). */
  elapsedMs: number | null;
  /** The observers that could run, in the run's order. */
  available: ObserverName[];
  agree: boolean;
  /** The counts are lower bounds: the observer they come from missed evidence (its `incomplete`). */
  lowerBounds: boolean;
  /** The finding the verdict names (its code is the verdict's), if a finding heads the verdict. */
  headline: Finding | undefined;
}

export function runSummary(run: RunReport): RunSummary {
  const primary = primaryObserver(run.observers);
  const t = primary?.totals;
  const kernel = run.observers.find((o) => o.observer === 'kernel' && o.available);
  const wire = run.observers.find((o) => o.observer === 'wire' && o.available);
  const requests = primary?.seesRequests ? t!.requests : (run.client?.completed ?? 0);
  return {
    primary,
    requests,
    connections: t ? t.connections : null,
    // The row's own requests over its connections (the kernel's table counts no request of its own).
    requestsPerConnection: t?.requestsPerConnection ? requests / Math.max(1, t.connections) : null,
    requestsUnknownOn: primary ? requestsUnknownOn(primary) : 0,
    reusedRequests: t ? t.reusedRequests : null,
    syns: wire?.totals.syns ?? null,
    closing: t ? { closedFirstBy: t.closedFirstBy, resets: t.resets, resetsBy: t.resetsBy } : null,
    timeWait: (kernel ?? wire)?.totals.timeWait ?? null,
    elapsedMs: run.client ? run.client.elapsedMs : null,
    available: run.observers.filter((o) => o.available).map((o) => o.observer),
    agree: run.agreement.agree,
    lowerBounds: primary?.incomplete !== undefined,
    headline: run.findings.find((f) => f.code === run.verdict.code),
  };
}

/**
 * A count of messages beside connections whose messages are unknown (`unknownOn` of `connections`):
 * "12" when none is unknown; "?" when every connection's are (and none was counted); "12+?" when some
 * are. `suffix` follows the number ("12 (3 partial)+?").
 */
export function countWithUnknown(n: number, unknownOn: number, connections: number | null, suffix = ''): string {
  if (unknownOn === 0) return `${n}${suffix}`;
  return n === 0 && unknownOn === connections ? '?' : `${n}${suffix}+?`;
}

/** A run's requests for a table cell (countWithUnknown). */
export function requestsText(f: RunSummary): string {
  return countWithUnknown(f.requests, f.requestsUnknownOn, f.connections);
}

/** Requests per connection for a table cell: "?" when some connections' requests are unknown, "-" without any. */
export function requestsPerConnectionText(f: RunSummary, format: (n: number) => string): string {
  if (f.requestsPerConnection === null) return '-';
  return f.requestsUnknownOn > 0 ? '?' : format(f.requestsPerConnection);
}
