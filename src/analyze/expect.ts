/**
 * CI assertions on a run ("this client must use at most 1 connection"). Pure: a report in, the
 * failed expectations out, each with a message that names the evidence; or, when the evidence is
 * known to be incomplete (packets dropped before the capture read them), neither: a check can
 * then neither pass (what was lost may break it) nor fail (what was lost may be why it seems to).
 * The same for one expectation the evidence cannot decide: requests per connection over TLS
 * connections read without the keys, whose requests are unknown (not 0).
 */
import { formatEndpoint } from '../model/endpoint.js';
import type { ConnectionRecord, ObserverReport, Side } from '../model/report.js';
import { plural } from '../util/text.js';
import { REQUESTS_UNKNOWN_NOTE, requestsUnknownOn } from './streams/tls.js';

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
  /**
   * `met`: all hold; `failed`: some do not; `inconclusive`: none failed, and the evidence could not
   * decide some (or, incomplete, any) of them.
   */
  outcome: 'met' | 'failed' | 'inconclusive';
  /** The failed expectations, or (inconclusive) why some were not decided ("not checked: ..."); empty when all hold. */
  messages: string[];
  /** With `failed`: the expectations that could not be checked beside those that failed (absent otherwise). */
  notChecked?: string[];
}

/** Checks expectations on `o`, unless its evidence is incomplete (see the file's comment). */
export function evaluateExpectations(e: Expectations, o: ObserverReport): ExpectationResult {
  if (o.incomplete) {
    return {
      outcome: 'inconclusive',
      messages: [`not checked: the ${o.observer} observer's counts are incomplete (${o.incomplete.reason})`],
    };
  }
  const { failures, notChecked } = assess(e, o);
  if (failures.length > 0)
    return notChecked.length > 0
      ? { outcome: 'failed', messages: failures, notChecked }
      : { outcome: 'failed', messages: failures };
  return notChecked.length > 0 ? { outcome: 'inconclusive', messages: notChecked } : { outcome: 'met', messages: [] };
}

/**
 * Failed expectations, as messages; empty when all hold. Takes the evidence as it is: on an
 * observer whose evidence is incomplete, use evaluateExpectations, which also says which
 * expectations the evidence could not decide (those are not failures, and not listed here).
 */
export function checkExpectations(e: Expectations, o: ObserverReport): string[] {
  return assess(e, o).failures;
}

/** The failed expectations, and those the evidence cannot decide ("not checked: ..."). */
function assess(e: Expectations, o: ObserverReport): { failures: string[]; notChecked: string[] } {
  const failures: string[] = [];
  const notChecked: string[] = [];
  const t = o.totals;
  const by = `(${o.observer} observer)`;
  if (e.maxConnections !== undefined && t.connections > e.maxConnections) {
    failures.push(
      `expected at most ${plural(e.maxConnections, 'connection')}, saw ${t.connections} ${by}: ` +
        endpoints(o.connections),
    );
  }
  if (e.minRequestsPerConnection !== undefined) {
    const min = e.minRequestsPerConnection;
    const mean = t.connections > 0 ? t.requests / t.connections : 0;
    // TLS read without the keys: those connections' requests are unknown, not 0. Counted as 0 they give
    // the least the mean can be: enough when that reaches the minimum, and otherwise nothing is known.
    const unknown = requestsUnknownOn(o);
    if (!o.seesRequests)
      failures.push(`cannot check requests per connection: the ${o.observer} observer does not see HTTP requests`);
    else if (unknown > 0 && mean < min) {
      const others = t.connections - unknown;
      notChecked.push(
        `not checked: at least ${min} requests per connection: ${unknown} of ${plural(t.connections, 'connection')} ` +
          `carried TLS, ${REQUESTS_UNKNOWN_NOTE}` +
          (others > 0 ? ` (the ${plural(others, 'other')} carried ${plural(t.requests, 'request')})` : '') +
          ` ${by}`,
      );
    } else if (mean < min) {
      const worst = [...o.connections].sort((a, b) => a.requests - b.requests);
      const fewest = worst
        .slice(0, SHOWN)
        .map((c) => `#${c.id} ${c.requests}`)
        .join(', ');
      failures.push(
        `expected at least ${min} requests per connection, saw ${mean.toFixed(2)} ` +
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
  return { failures, notChecked };
}
