import type { ConnectionRecord, Distribution, Totals } from '../model/report.js';

/** Min, median, max and mean of a list of numbers; null when it is empty. */
export function distribution(values: readonly number[]): Distribution | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { min: sorted[0]!, median, max: sorted[sorted.length - 1]!, mean: sum / sorted.length };
}

/**
 * Totals over one observer's connections. `syns` is passed in because only some observers can
 * see SYNs (the wire can; the server and the kernel cannot).
 */
export function computeTotals(connections: readonly ConnectionRecord[], syns: number | null): Totals {
  let requests = 0;
  let responses = 0;
  let reusedRequests = 0;
  let resets = 0;
  let withRequests = 0;
  const closedFirstBy = { client: 0, server: 0, unknown: 0 };
  const timeWait = { client: 0, server: 0 };
  const perConnection: number[] = [];
  for (const c of connections) {
    requests += c.requests;
    responses += c.responses;
    if (c.requests > 0) {
      withRequests++;
      reusedRequests += c.requests - 1;
    }
    perConnection.push(c.requests);
    if (c.closedFirstBy) closedFirstBy[c.closedFirstBy]++;
    else closedFirstBy.unknown++;
    if (c.resetBy) resets++;
    if (c.timeWait) timeWait[c.timeWait]++;
  }
  return {
    connections: connections.length,
    syns,
    requests,
    responses,
    requestsPerConnection: distribution(perConnection),
    reusedRequests,
    // A request "paid a handshake" when it was the first on its connection.
    handshakeShare: requests > 0 ? withRequests / requests : null,
    closedFirstBy,
    resets,
    timeWait,
  };
}

export function emptyTotals(): Totals {
  return computeTotals([], null);
}
