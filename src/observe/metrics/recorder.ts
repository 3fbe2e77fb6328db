/**
 * Turns an in-process source's events (observe/in-process/events.ts: the `register` tracker, the
 * proxy) into OpenTelemetry measurements on a Meter. Depends on `@opentelemetry/api` only: with an
 * app's own MeterProvider, this is all of keepalive-lab's metrics that runs (provider.ts picks the
 * provider).
 *
 * Memory: one entry per connection open now (its server's attribute sets and its state, for the
 * open-connections count), removed when it closes; the attribute sets of at most MAX_SERVERS_CACHED
 * servers; everything else is in the SDK, one series per attribute set.
 */
import type { Attributes, Meter } from '@opentelemetry/api';
import type { InProcessEvent, InProcessSource, TrackedConnection } from '../in-process/events.js';
import { Attr, createInstruments } from './instruments.js';
import type { Instruments } from './instruments.js';

type ConnectionState = 'active' | 'idle';

/**
 * The attribute sets of one server, made once and shared by its connections: the SDK looks a series
 * up by its attributes on every measurement, and a connection churn should not make objects for that.
 */
interface ServerSeries {
  attributes: Attributes;
  active: Attributes;
  idle: Attributes;
  reused: Attributes;
  fresh: Attributes;
}

/** What is kept of a connection while it is open. */
interface OpenConnection {
  series: ServerSeries;
  /** The open-connections series it counts in now. */
  state: ConnectionState;
}

/** Distinct servers whose attribute sets are kept (an app calling more servers makes them again). */
const MAX_SERVERS_CACHED = 1024;

/** The semantic conventions' server attributes of a connection. */
function serverAttributes(c: TrackedConnection): Attributes {
  return {
    [Attr.SERVER_ADDRESS]: c.serverAddress,
    [Attr.SERVER_PORT]: c.serverPort,
    [Attr.PROTOCOL_VERSION]: c.protocolVersion,
    [Attr.URL_SCHEME]: c.tls ? 'https' : 'http',
  };
}

export class MetricsRecorder {
  private readonly instruments: Instruments;
  private readonly open = new Map<number, OpenConnection>();
  private readonly servers = new Map<string, ServerSeries>();

  constructor(meter: Meter) {
    this.instruments = createInstruments(meter);
  }

  /** Records each event of `source` until the returned function is called. */
  follow(source: InProcessSource): () => void {
    return source.subscribe((event) => this.record(event));
  }

  /** Connections open now, as this recorder counts them. */
  get openConnections(): number {
    return this.open.size;
  }

  record(event: InProcessEvent): void {
    const m = this.instruments;
    switch (event.type) {
      case 'connection-open': {
        const series = this.seriesOf(event.connection);
        m.connections.add(1, series.attributes);
        this.track(event.connection, series, 'idle');
        return;
      }
      case 'connection-state':
        this.setState(event.connection, event.state);
        return;
      case 'request': {
        // A request makes its connection busy, whether or not the source says so with a state event.
        const { series } = this.setState(event.connection, 'active');
        m.requests.add(1, event.reused ? series.reused : series.fresh);
        return;
      }
      case 'response':
        return;
      case 'request-error': {
        const attributes = event.connection === null ? {} : this.seriesOf(event.connection).attributes;
        m.requestErrors.add(1, { ...attributes, [Attr.ERROR_TYPE]: event.code, [Attr.REUSED]: event.reused });
        return;
      }
      case 'connection-close': {
        const c = event.connection;
        const open = this.open.get(c.id);
        const attributes = (open?.series ?? this.seriesOf(c)).attributes;
        if (open !== undefined) {
          this.open.delete(c.id);
          m.openConnections.add(-1, open.series[open.state]);
        }
        m.connectionDuration.record(Math.max(0, event.durationMs) / 1000, attributes);
        m.requestsPerConnection.record(event.requests, attributes);
        m.closes.add(1, {
          ...attributes,
          [Attr.CLOSE_INITIATOR]: event.initiator,
          [Attr.CLOSE_REASON]: event.reason,
        });
        return;
      }
      case 'finding':
        m.findings.add(1, { [Attr.FINDING_CODE]: event.finding.code });
        return;
    }
  }

  /** The attribute sets of the connection's server (made once per server). */
  private seriesOf(c: TrackedConnection): ServerSeries {
    const key = `${c.serverAddress}\0${c.serverPort}\0${c.protocolVersion}\0${c.tls}`;
    let series = this.servers.get(key);
    if (series === undefined) {
      const attributes = serverAttributes(c);
      series = {
        attributes,
        active: { ...attributes, [Attr.CONNECTION_STATE]: 'active' },
        idle: { ...attributes, [Attr.CONNECTION_STATE]: 'idle' },
        reused: { ...attributes, [Attr.REUSED]: true },
        fresh: { ...attributes, [Attr.REUSED]: false },
      };
      if (this.servers.size >= MAX_SERVERS_CACHED) this.servers.clear();
      this.servers.set(key, series);
    }
    return series;
  }

  private track(c: TrackedConnection, series: ServerSeries, state: ConnectionState): OpenConnection {
    const open: OpenConnection = { series, state };
    this.open.set(c.id, open);
    this.instruments.openConnections.add(1, series[state]);
    return open;
  }

  /**
   * Moves a connection to `state` in the open-connections count. A connection first heard of now
   * (opened before the subscription) starts counting here.
   */
  private setState(c: TrackedConnection, state: ConnectionState): OpenConnection {
    const open = this.open.get(c.id);
    if (open === undefined) return this.track(c, this.seriesOf(c), state);
    if (open.state === state) return open;
    this.instruments.openConnections.add(-1, open.series[open.state]);
    open.state = state;
    this.instruments.openConnections.add(1, open.series[state]);
    return open;
  }
}
