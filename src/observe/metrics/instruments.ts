/**
 * The instruments, in one table: name, kind, unit (UCUM, as the OpenTelemetry semantic conventions
 * write them) and the attributes each carries. docs/metrics.md lists the same table (a unit test
 * compares them). The HTTP client metrics of the semantic conventions are used where they exist
 * (https://opentelemetry.io/docs/specs/semconv/http/http-metrics/: `http.client.open_connections`,
 * `http.client.connection.duration`); the rest is ours, under `keepalive_lab.`.
 */
import type { Counter, Histogram, Meter, UpDownCounter } from '@opentelemetry/api';

/** The meter's name (the instrumentation scope Prometheus shows as `otel_scope_name`). */
export const METER_NAME = 'keepalive-lab';

/** Attribute names: the semantic conventions' where they exist, ours under `keepalive_lab.`. */
export const Attr = {
  SERVER_ADDRESS: 'server.address',
  SERVER_PORT: 'server.port',
  PROTOCOL_VERSION: 'network.protocol.version',
  URL_SCHEME: 'url.scheme',
  CONNECTION_STATE: 'http.connection.state',
  ERROR_TYPE: 'error.type',
  REUSED: 'keepalive_lab.request.reused',
  CLOSE_INITIATOR: 'keepalive_lab.close.initiator',
  CLOSE_REASON: 'keepalive_lab.close.reason',
  FINDING_CODE: 'keepalive_lab.finding.code',
} as const;

/** The attributes that name a connection's server (on every connection instrument). */
const SERVER = [Attr.SERVER_ADDRESS, Attr.SERVER_PORT, Attr.PROTOCOL_VERSION, Attr.URL_SCHEME] as const;

export interface InstrumentSpec {
  name: string;
  kind: 'counter' | 'updowncounter' | 'histogram';
  unit: string;
  description: string;
  attributes: readonly string[];
  /** Histogram bucket boundaries (the SDK's view of our advice). */
  buckets?: readonly number[];
}

/**
 * Bucket boundaries the semantic conventions advise for `http.client.connection.duration` (seconds:
 * from 10 ms to 5 minutes).
 */
const CONNECTION_DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];
/** Requests per connection: 1 (no reuse at all) has its own bucket, then roughly 1-2-5 steps. */
const REQUESTS_PER_CONNECTION_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000];

export const INSTRUMENTS = {
  openConnections: {
    name: 'http.client.open_connections',
    kind: 'updowncounter',
    unit: '{connection}',
    description: 'Outbound HTTP connections open now, active (a request in flight) or idle (in the pool).',
    attributes: [Attr.CONNECTION_STATE, ...SERVER],
  },
  connectionDuration: {
    name: 'http.client.connection.duration',
    kind: 'histogram',
    unit: 's',
    description: 'How long each outbound HTTP connection was open, recorded when it closes.',
    attributes: SERVER,
    buckets: CONNECTION_DURATION_BUCKETS,
  },
  requestsPerConnection: {
    name: 'keepalive_lab.connection.requests',
    kind: 'histogram',
    unit: '{request}',
    description: 'Requests each connection carried, recorded when it closes (1: the connection was never reused).',
    attributes: SERVER,
    buckets: REQUESTS_PER_CONNECTION_BUCKETS,
  },
  requests: {
    name: 'keepalive_lab.requests',
    kind: 'counter',
    unit: '{request}',
    description: 'Requests sent, on a reused connection (keepalive_lab.request.reused true) or a new one.',
    attributes: [Attr.REUSED, ...SERVER],
  },
  connections: {
    name: 'keepalive_lab.connections',
    kind: 'counter',
    unit: '{connection}',
    description: 'New connections opened.',
    attributes: SERVER,
  },
  closes: {
    name: 'keepalive_lab.connection.closes',
    kind: 'counter',
    unit: '{connection}',
    description: 'Connections closed, by which side closed first and why.',
    attributes: [Attr.CLOSE_INITIATOR, Attr.CLOSE_REASON, ...SERVER],
  },
  requestErrors: {
    name: 'keepalive_lab.request.errors',
    kind: 'counter',
    unit: '{request}',
    description: 'Requests that failed on their connection (ECONNRESET, socket hang up, ...), reused or not.',
    attributes: [Attr.ERROR_TYPE, Attr.REUSED, ...SERVER],
  },
  findings: {
    name: 'keepalive_lab.findings',
    kind: 'counter',
    unit: '{finding}',
    description: 'Findings raised (keep-alive race, unread body, pool churn...), by code.',
    attributes: [Attr.FINDING_CODE],
  },
} as const satisfies Record<string, InstrumentSpec>;

export interface Instruments {
  openConnections: UpDownCounter;
  connectionDuration: Histogram;
  requestsPerConnection: Histogram;
  requests: Counter;
  connections: Counter;
  closes: Counter;
  requestErrors: Counter;
  findings: Counter;
}

/** Creates every instrument of the table on `meter`. */
export function createInstruments(meter: Meter): Instruments {
  const made: Partial<Record<keyof Instruments, Counter | UpDownCounter | Histogram>> = {};
  for (const [key, spec] of Object.entries(INSTRUMENTS) as [keyof Instruments, InstrumentSpec][]) {
    const options = {
      unit: spec.unit,
      description: spec.description,
      ...(spec.buckets === undefined ? {} : { advice: { explicitBucketBoundaries: [...spec.buckets] } }),
    };
    made[key] =
      spec.kind === 'counter'
        ? meter.createCounter(spec.name, options)
        : spec.kind === 'updowncounter'
          ? meter.createUpDownCounter(spec.name, options)
          : meter.createHistogram(spec.name, options);
  }
  return made as Instruments;
}
