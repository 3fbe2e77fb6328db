/**
 * Whether a named experiment (scenarios.ts, `expect`) showed the counts it is there to show, in every
 * observer that can see each of them: connections (all), requests (those that see HTTP: the wire only
 * when it could decrypt), TLS handshakes full and resumed (those that report TLS: the server's
 * OpenSSL, the wire's hellos), HTTP/2's peak of concurrent streams (those that saw HTTP/2). Pure.
 */
import { ExpectationFailedError } from '../errors.js';
import type { ObserverReport, RunReport } from '../model/report.js';
import type { Scenario } from './scenarios.js';

/** The expectations that did not hold, one line each naming the observer and its count; [] when all did. */
export function unmetExpectations(scenario: Scenario, run: RunReport): string[] {
  const e = scenario.expect;
  if (e === undefined) return [];
  const failures: string[] = [];
  const check = (
    what: string,
    expected: number | undefined,
    among: ObserverReport[],
    pick: (o: ObserverReport) => number,
  ) => {
    if (expected === undefined) return;
    for (const o of among) {
      const seen = pick(o);
      if (seen !== expected) failures.push(`${what}: expected ${expected}, ${o.observer} ${seen}`);
    }
  };
  const available = run.observers.filter((o) => o.available);
  check('connections', e.connections, available, (o) => o.totals.connections);
  check(
    'requests',
    e.requests,
    available.filter((o) => o.seesRequests),
    (o) => o.totals.requests,
  );
  // The kernel's table knows nothing of TLS: the observers that do report it, even with 0 connections.
  const tls = available.filter((o) => o.observer !== 'kernel');
  check('full TLS handshakes', e.fullHandshakes, tls, (o) => o.totals.tls?.fullHandshakes ?? 0);
  check('resumed TLS handshakes', e.resumedHandshakes, tls, (o) => o.totals.tls?.resumedHandshakes ?? 0);
  if (e.minPeakStreams !== undefined) {
    for (const o of available) {
      const peaks = o.connections.flatMap((c) => (c.http2 !== undefined ? [c.http2.peakConcurrentStreams] : []));
      // Only the observers that saw HTTP/2 at all (the wire without the keys sees TLS only).
      if (peaks.length === 0) continue;
      const peak = Math.max(...peaks);
      if (peak < e.minPeakStreams)
        failures.push(`peak concurrent HTTP/2 streams: expected at least ${e.minPeakStreams}, ${o.observer} ${peak}`);
    }
  }
  return failures;
}

/** An ExpectationFailedError naming what did not hold, or null. `about` goes before the message. */
export function missedExpectation(
  scenario: Scenario,
  run: RunReport,
  about = `experiment ${scenario.name}: `,
): ExpectationFailedError | null {
  const failures = unmetExpectations(scenario, run);
  if (failures.length === 0) return null;
  return new ExpectationFailedError(`${about}${failures.join('; ')}`);
}
