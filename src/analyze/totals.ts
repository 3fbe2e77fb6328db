import type { ConnectionRecord, Distribution, TlsTotals, Totals } from '../model/report.js';

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
 * Totals over one observer's connections, one record at a time: `analyze` hands each record over
 * as its connection ends and keeps none, so memory does not grow with the capture. Exact: requests
 * per connection are whole numbers, counted in a histogram (value -> connections), which gives the
 * same median as sorting them all.
 */
export class TotalsAccumulator {
  private connections = 0;
  private requests = 0;
  private responses = 0;
  private partialRequests = 0;
  private partialResponses = 0;
  private reusedRequests = 0;
  private resets = 0;
  private withRequests = 0;
  private readonly closedFirstBy = { client: 0, server: 0, unknown: 0 };
  private readonly timeWait = { client: 0, server: 0 };
  private readonly resetsBy = { client: 0, server: 0 };
  /** Requests per connection -> how many connections carried that many. */
  private readonly perConnection = new Map<number, number>();
  /** TLS connections and their handshakes (null until the first one). */
  private tls: TlsTotals | null = null;

  add(c: ConnectionRecord): void {
    this.connections++;
    this.requests += c.requests;
    this.responses += c.responses;
    this.partialRequests += c.partialRequests ?? 0;
    this.partialResponses += c.partialResponses ?? 0;
    if (c.requests > 0) {
      this.withRequests++;
      this.reusedRequests += c.requests - 1;
    }
    this.perConnection.set(c.requests, (this.perConnection.get(c.requests) ?? 0) + 1);
    if (c.closedFirstBy) this.closedFirstBy[c.closedFirstBy]++;
    else this.closedFirstBy.unknown++;
    if (c.resetBy) {
      this.resets++;
      this.resetsBy[c.resetBy]++;
    }
    if (c.timeWait) this.timeWait[c.timeWait]++;
    if (c.tls) this.addTls(c.tls);
  }

  private addTls(facts: NonNullable<ConnectionRecord['tls']>): void {
    const t = (this.tls ??= emptyTlsTotals());
    t.connections++;
    if (facts.handshake === 'full') t.fullHandshakes++;
    else if (facts.handshake === 'resumed') t.resumedHandshakes++;
    else t.handshakesUnknown++;
    t.estimatedExchanges += facts.estimatedExchanges;
    const version = facts.version ?? 'unknown';
    t.versions[version] = (t.versions[version] ?? 0) + 1;
    const status = facts.decryption?.status;
    if (status !== undefined) {
      const d = (t.decryption ??= {});
      d[status] = (d[status] ?? 0) + 1;
    }
  }

  /** An accumulator that starts where this one is (the proxy adds its open connections to a copy). */
  copy(): TotalsAccumulator {
    const c = new TotalsAccumulator();
    c.connections = this.connections;
    c.requests = this.requests;
    c.responses = this.responses;
    c.reusedRequests = this.reusedRequests;
    c.resets = this.resets;
    c.withRequests = this.withRequests;
    Object.assign(c.closedFirstBy, this.closedFirstBy);
    Object.assign(c.timeWait, this.timeWait);
    Object.assign(c.resetsBy, this.resetsBy);
    for (const [value, count] of this.perConnection) c.perConnection.set(value, count);
    if (this.tls !== null) c.tls = copyTls(this.tls);
    return c;
  }

  /**
   * The totals of the records added so far. `syns` is passed in because only some observers can
   * see SYNs (the wire can; the server and the kernel cannot).
   */
  totals(syns: number | null): Totals {
    const totals: Totals = {
      connections: this.connections,
      syns,
      requests: this.requests,
      responses: this.responses,
      requestsPerConnection: this.requestsPerConnection(),
      reusedRequests: this.reusedRequests,
      // A request "paid a handshake" when it was the first on its connection.
      handshakeShare: this.requests > 0 ? this.withRequests / this.requests : null,
      closedFirstBy: { ...this.closedFirstBy },
      resets: this.resets,
      resetsBy: { ...this.resetsBy },
      timeWait: { ...this.timeWait },
    };
    // Only captures cut short have them: absent otherwise, as the schema says.
    if (this.partialRequests > 0) totals.partialRequests = this.partialRequests;
    if (this.partialResponses > 0) totals.partialResponses = this.partialResponses;
    // Only captures with TLS have them: absent otherwise, so that other reports keep their shape.
    if (this.tls !== null) totals.tls = copyTls(this.tls);
    return totals;
  }

  private requestsPerConnection(): Distribution | null {
    const n = this.connections;
    if (n === 0) return null;
    const values = [...this.perConnection.keys()].sort((a, b) => a - b);
    // The median is the value at index n >> 1 (odd n) or the mean of those at (n >> 1) - 1 and n >> 1.
    const hi = n >> 1;
    const lo = n % 2 === 1 ? hi : hi - 1;
    let seen = 0;
    let atLo = 0;
    let atHi = 0;
    let sum = 0;
    for (const v of values) {
      const count = this.perConnection.get(v)!;
      if (seen <= lo && lo < seen + count) atLo = v;
      if (seen <= hi && hi < seen + count) atHi = v;
      seen += count;
      sum += v * count;
    }
    return {
      min: values[0]!,
      median: lo === hi ? atHi : (atLo + atHi) / 2,
      max: values[values.length - 1]!,
      mean: sum / n,
    };
  }
}

function emptyTlsTotals(): TlsTotals {
  return {
    connections: 0,
    fullHandshakes: 0,
    resumedHandshakes: 0,
    handshakesUnknown: 0,
    estimatedExchanges: 0,
    versions: {},
  };
}

function copyTls(t: TlsTotals): TlsTotals {
  return {
    ...t,
    versions: { ...t.versions },
    ...(t.decryption === undefined ? {} : { decryption: { ...t.decryption } }),
  };
}

/** Totals over a list of records: the same accumulator as `analyze` uses as records stream by. */
export function computeTotals(connections: readonly ConnectionRecord[], syns: number | null): Totals {
  const acc = new TotalsAccumulator();
  for (const c of connections) acc.add(c);
  return acc.totals(syns);
}

export function emptyTotals(): Totals {
  return computeTotals([], null);
}
