/**
 * CI assertions on a run ("this client must use at most 1 connection"). Pure: a report in, the
 * failed expectations out, each with a message that names the evidence; or, when the evidence is
 * known to be incomplete (packets dropped before the capture read them), neither: a check can
 * then neither pass (what was lost may break it) nor fail (what was lost may be why it seems to).
 */
import { formatEndpoint } from '../model/endpoint.js';
import type { ConnectionRecord, ObserverReport, Side } from '../model/report.js';
import { plural } from '../util/text.js';

export interface Expectations {
  maxConnections?: number;
  minRequestsPerConnection?: number;
  noResets?: boolean;
  closedBy?: Side;
}

export function hasExpectations(e: Expectations): boolean {
  return (
    e.maxConnections !== undefined ||
    e.minRequestsPerConnection !== undefined ||
    e.noResets === true ||
    e.closedBy !== undefined
  );
}

const SHOWN = 5;

function endpoints(list: readonly ConnectionRecord[]): string {
  const shown = list.slice(0, SHOWN).map((c) => `#${c.id} ${formatEndpoint(c.client)} -> ${formatEndpoint(c.server)}`);
  return shown.join(', ') + (list.length > SHOWN ? `, and ${list.length - SHOWN} more` : '');
}

/** What checking expectations on an observer's evidence came to. */
export interface ExpectationResult {
  /** `met`: all hold; `failed`: some do not; `inconclusive`: the evidence is incomplete, nothing was decided. */
  outcome: 'met' | 'failed' | 'inconclusive';
  /** The failed expectations, or why none could be decided; empty when all hold. */
  messages: string[];
}

/** Checks expectations on `o`, unless its evidence is incomplete (see the file's comment). */
export function evaluateExpectations(e: Expectations, o: ObserverReport): ExpectationResult {
  if (o.incomplete) {
    return {
      outcome: 'inconclusive',
      messages: [`not checked: the ${o.observer} observer's counts are incomplete (${o.incomplete.reason})`],
    };
  }
  const failures = checkExpectations(e, o);
  return { outcome: failures.length > 0 ? 'failed' : 'met', messages: failures };
}

/**
 * Failed expectations, as messages; empty when all hold. Takes the evidence as it is: on an
 * observer whose evidence is incomplete, use evaluateExpectations.
 */
export function checkExpectations(e: Expectations, o: ObserverReport): string[] {
  const failures: string[] = [];
  const t = o.totals;
  const by = `(${o.observer} observer)`;
  if (e.maxConnections !== undefined && t.connections > e.maxConnections) {
    failures.push(
      `expected at most ${plural(e.maxConnections, 'connection')}, saw ${t.connections} ${by}: ` +
        endpoints(o.connections),
    );
  }
  if (e.minRequestsPerConnection !== undefined) {
    const mean = t.connections > 0 ? t.requests / t.connections : 0;
    if (!o.seesRequests)
      failures.push(`cannot check requests per connection: the ${o.observer} observer does not see HTTP requests`);
    else if (mean < e.minRequestsPerConnection) {
      const worst = [...o.connections].sort((a, b) => a.requests - b.requests);
      const fewest = worst
        .slice(0, SHOWN)
        .map((c) => `#${c.id} ${c.requests}`)
        .join(', ');
      failures.push(
        `expected at least ${e.minRequestsPerConnection} requests per connection, saw ${mean.toFixed(2)} ` +
          `(${t.requests} requests over ${t.connections} connections) ${by}; fewest: ${fewest}`,
      );
    }
  }
  if (e.noResets && t.resets > 0) {
    const reset = endpoints(o.connections.filter((c) => c.resetBy !== null).map((c) => ({ ...c })));
    const resetBy = [...new Set(o.connections.map((c) => c.resetBy).filter(Boolean))].join(' and ');
    failures.push(`expected no resets, saw ${t.resets} ${by}: ${reset} (reset by ${resetBy})`);
  }
  if (e.closedBy !== undefined) {
    const other = o.connections.filter((c) => c.closedFirstBy !== null && c.closedFirstBy !== e.closedBy);
    const closed = o.connections.filter((c) => c.closedFirstBy !== null);
    if (other.length > 0)
      failures.push(
        `expected connections to be closed first by the ${e.closedBy}, but ${other.length} of ${closed.length} ` +
          `were closed first by the ${other[0]!.closedFirstBy} ${by}: ${endpoints(other)}`,
      );
    else if (closed.length === 0 && t.connections > 0)
      failures.push(`expected connections to be closed first by the ${e.closedBy}, but none was seen closing ${by}`);
  }
  return failures;
}
