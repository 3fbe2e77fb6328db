/**
 * The proxy observer: a TCP forwarder that counts what it forwards. Each client connection gets its
 * own upstream connection to the target; bytes are relayed untouched in both directions and, as
 * they pass, fed to the same HTTP/1.x framer the capture analyzer uses (decode/http1.ts), which
 * never copies or holds them (split header lines aside). Malformed HTTP is forwarded all the same:
 * the framer gives up on that connection and the record says so.
 *
 * TCP semantics are mirrored, not rebuilt:
 *  - half-close: a FIN from one side becomes end() of the other side's write half (allowHalfOpen),
 *    so "who closed first" is the side whose FIN reached the proxy first;
 *  - reset: an ECONNRESET/EPIPE on one side is answered with resetAndDestroy() (a RST) on the other;
 *  - backpressure: a write that fills the other socket's buffer pauses the reading side until
 *    'drain', as stream.pipe() does, so a slow reader never makes memory grow without bound.
 * The record holds the times the findings compare with the requests' (clientFinAt, serverFinAt,
 * resetAt): when each side's FIN or RST reached the proxy, so the keep-alive race (a request sent
 * after the server's FIN, then its RST) and the idle reset read the same from the proxy as from a capture.
 * One bad connection never takes the proxy down: every socket has an error handler, and the framer
 * calls are fenced so that even a bug there only stops counting on that connection.
 * The proxy is also an InProcessSource (observe/in-process/events.ts), for the metrics of a
 * long-running proxy (`proxy --metrics`): with nobody subscribed that costs one test per request.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Http1Counter } from '../analyze/http1-counter.js';
import { newConnectionRecord } from '../analyze/record.js';
import { IdOrder } from '../analyze/id-order.js';
import type { ObserverHead } from '../analyze/run-report.js';
import { TotalsAccumulator } from '../analyze/totals.js';
import { Http1Connection } from '../decode/http1.js';
import type { Http1Options, HttpRequestInfo, HttpResponseInfo } from '../decode/http1.js';
import { KeepaliveLabError, PortInUseError } from '../errors.js';
// The Link class calls the one host:port formatter by its former local name.
import { formatHostPort as formatEndpoint, normalizeAddress } from '../model/endpoint.js';
import type { ConnectionRecord, Endpoint, ObserverReport, Side, Warning, WarningCode } from '../model/report.js';
import { plural } from '../util/text.js';
import { nowMicros, toMillis, type Micros } from '../model/time.js';
import type { Observer } from './observer.js';
import type { InProcessEvent, InProcessListener, InProcessSource, TrackedConnection } from './in-process/events.js';
import { proxyClose } from './in-process/proxy-events.js';

export interface ProxyOptions {
  /** Address to listen on (default 127.0.0.1: loopback unless asked otherwise). */
  listenHost?: string;
  /** Port to listen on; 0 (default) picks a free one (see `address`). */
  listenPort?: number;
  /** Where every client connection is forwarded. */
  targetHost: string;
  targetPort: number;
  /** On stop, how long connections with a request in flight may take to finish (default 1000 ms). */
  graceMs?: number;
  /**
   * Give up connecting to the target after about this long (default 10000 ms; checked every 1/4 of it, at most
   * every second).
   */
  connectTimeoutMs?: number;
  /**
   * Connections the kernel may hold completed but not yet accepted (listen(2)'s backlog; default
   * DEFAULT_BACKLOG, which Linux caps at net.core.somaxconn). Node's own default, 511, overflows when a
   * thousand clients connect at once.
   */
  backlog?: number;
  /**
   * How many connection records the report keeps: the most recent ones (by id, open or closed); the
   * totals count every connection and `connectionsOmitted` the others. Default: all of them, which
   * makes memory grow with every connection: a proxy that runs for long should keep a few
   * (the CLI keeps the rows it prints) and take every record from `onConnection`.
   */
  keepConnections?: number;
  /**
   * Each connection's record once it has closed, in id order (a connection still open holds back
   * at most ORDER_WINDOW records that closed after it; beyond that, records come in the order
   * connections closed). The record is the proxy's: read it, copy what you keep. At stop, every
   * record has been handed over before the report resolves.
   */
  onConnection?: (record: ConnectionRecord) => void;
  /**
   * Play a NAT gateway or load balancer that drops idle flows: once a connection has carried nothing
   * either way for longer than this (ms), the next bytes or FIN from either side are not forwarded:
   * both sides get a RST instead (no FIN), so a client's request after the idle gap fails as it does
   * behind an AWS NAT gateway (350 s) or ALB (60 s). Default 0: never.
   */
  idleResetMs?: number;
  /** List each connection's request/response exchanges (ConnectionRecord.exchanges; `--html`). Default false. */
  exchanges?: boolean;
}

/** Live counters, cheap to read (for a progress line). */
export interface ProxyProgress {
  connections: number;
  open: number;
  requests: number;
  responses: number;
}

export const DEFAULT_GRACE_MS = 1000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** As deep as the kernel allows: Linux takes min(backlog, net.core.somaxconn), 4096 since Linux 5.4. */
export const DEFAULT_BACKLOG = 65_535;
/**
 * At most this many accepted connections wait for an accept streak to end before they are read (see
 * TcpProxy.startReading): bounds the delay a burst adds to its first connections.
 */
const MAX_WAITING_TO_READ = 1024;
/** Records that wait behind a connection still open before they go to onConnection (see IdOrder). */
const ORDER_WINDOW = 10_000;
/** The fields of the proxy's report known before any connection (what a streamed report writes first). */
export const PROXY_HEAD: ObserverHead = { observer: 'proxy', available: true, seesRequests: true };

/** Warning codes on the proxy's ObserverReport. */
export const ProxyWarning = {
  UPSTREAM_UNREACHABLE: 'KAL_WARN_UPSTREAM_UNREACHABLE',
  CLOSED_AT_STOP: 'KAL_WARN_CLOSED_AT_STOP',
  ACCEPT_FAILED: 'KAL_WARN_ACCEPT_FAILED',
} as const satisfies Record<string, WarningCode>;

/** Error codes that mean the peer reset the connection (or it was reset under our write). */
function isReset(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ECONNRESET' || error.code === 'EPIPE';
}

/** The most telling code of a socket error (autoSelectFamily reports an AggregateError). */
function errorCode(error: Error): string {
  const inner = error instanceof AggregateError && error.errors.length > 0 ? (error.errors[0] as Error) : error;
  return (inner as NodeJS.ErrnoException).code ?? inner.message;
}

/** Accepted TCP sockets inherit TCP_NODELAY from the listening socket (see TcpProxy.listenerNoDelay). */
const INHERITS_NODELAY = process.platform === 'linux';

/** The empty list of every closed connection's record that has none (see Link.finish). */
const NOTHING = Object.freeze([]) as unknown as never[];

/** Request targets are read only to list exchanges (`exchanges`): else no string per request. */
const FRAMER_OPTIONS: Http1Options = { targets: false };
const FRAMER_OPTIONS_TARGETS: Http1Options = { targets: true };

/**
 * One client connection and its upstream connection. It is also its connection's HTTP counter (an
 * Http1Counter, the framer's event sink, counting into the record): no object and closures per
 * connection for that. Connections churn (a client without keep-alive makes one per request), so what
 * is set up per connection is kept to what the forwarding needs.
 */
class Link extends Http1Counter {
  readonly record: ConnectionRecord;
  http: Http1Connection | null;
  upstreamConnected = false;
  /** Why the upstream connection could not be made (ECONNREFUSED, ...), if it could not. */
  private unreachable: string | null = null;
  private socketsOpen = 2;
  /** 'drain' listeners are added on the first write that fills a socket's buffer (as pipe() does). */
  private drainWired = false;
  /** Requests whose response has not ended yet. */
  inFlight = 0;
  /** When a byte or a FIN last went through (performance.now()), kept only with idleResetMs. */
  private lastActivity = 0;
  /** stop() asked this connection to close once idle; `closedByProxy` once it did. */
  closing = false;
  closedByProxy = false;
  closed = false;
  /** The connection as in-process events name it, made on the first event (only with a subscriber). */
  private trackedConnection: TrackedConnection | null = null;
  /** When the last request's head was complete (for a response's time to first byte, with a subscriber). */
  private lastRequestAt: Micros = 0;

  constructor(
    private readonly proxy: TcpProxy,
    readonly id: number,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    server: Endpoint,
    start: number,
  ) {
    const record = newConnectionRecord(
      id,
      { address: proxy.clientAddress(client), port: client.remotePort ?? 0 },
      server,
      start,
    );
    // The counter counts into the record; close asks add up in the proxy's live counters.
    super(record, proxy.counters, proxy.exchanges);
    this.record = record;
    this.http = new Http1Connection(this, proxy.exchanges ? FRAMER_OPTIONS_TARGETS : FRAMER_OPTIONS);
    if (proxy.idleResetMs > 0) this.lastActivity = performance.now();
    this.wire();
  }

  private wire(): void {
    const { client, upstream } = this;
    // Hot path: one write and one framer call per chunk, nothing copied. Forward first: counting
    // must not delay the bytes, and a framer event that closes the connection (stop() waiting for
    // the end of a response) must come after the chunk that completed it was written.
    client.on('data', (chunk: Buffer) => {
      if (this.proxy.idleResetMs > 0 && this.idleExpired()) return;
      if (!upstream.write(chunk)) this.pauseReading(client);
      if (this.http !== null) this.frameClient(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.proxy.idleResetMs > 0 && this.idleExpired()) return;
      if (!client.write(chunk)) this.pauseReading(upstream);
      if (this.http !== null) this.frameServer(chunk);
    });

    // Half-close, forwarded: a FIN from one side ends the other side's write half.
    client.on('end', () => (this.proxy.idleResetMs > 0 && this.idleExpired()) || this.onEnd('client'));
    upstream.on('end', () => (this.proxy.idleResetMs > 0 && this.idleExpired()) || this.onEnd('server'));

    // 'connect' and 'close' come once: on() spares once()'s wrapper per socket.
    upstream.on('connect', () => this.onConnect());
    client.on('error', (error: NodeJS.ErrnoException) => this.onError('client', error));
    upstream.on('error', (error: NodeJS.ErrnoException) => this.onError('server', error));
    client.on('close', () => this.onSocketClose(client, upstream));
    upstream.on('close', () => this.onSocketClose(upstream, client));
  }

  /**
   * idleResetMs: has the connection been idle longer than that? Then both sides are reset (a RST
   * each, nothing forwarded), as by a middlebox that dropped the flow; else the idle clock restarts.
   */
  private idleExpired(): boolean {
    const now = performance.now();
    const idle = now - this.lastActivity;
    if (idle <= this.proxy.idleResetMs) {
      this.lastActivity = now;
      return false;
    }
    if (this.client.destroyed && this.upstream.destroyed) return true;
    this.note(
      `reset by the proxy after ${Math.round(idle)} ms idle (idleResetMs ${this.proxy.idleResetMs}): ` +
        'a RST to both sides, as from a NAT or load balancer that dropped the flow',
    );
    if (!this.client.destroyed) this.client.resetAndDestroy();
    if (!this.upstream.destroyed) this.upstream.resetAndDestroy();
    return true;
  }

  /** A write filled the other socket's buffer: stop reading `from` until that one drains. */
  private pauseReading(from: net.Socket): void {
    from.pause();
    if (this.drainWired) return;
    this.drainWired = true;
    const { client, upstream } = this;
    upstream.on('drain', () => client.resume());
    client.on('drain', () => upstream.resume());
  }

  private onConnect(): void {
    this.upstreamConnected = true;
    // A host name: record the address it resolved to. An IP literal is already the address
    // (and getpeername(2) per connection is measurable when connections churn).
    if (!this.proxy.targetIsIp) {
      const { upstream } = this;
      this.record.server = {
        address: normalizeAddress(upstream.remoteAddress),
        port: upstream.remotePort ?? this.record.server.port,
      };
    }
  }

  /** Feeds the framer; if it ever threw, only this connection would stop being counted. */
  private frameClient(chunk: Buffer): void {
    try {
      this.http!.client(chunk, nowMicros());
    } catch (error) {
      this.framingFailed(error as Error);
    }
  }

  private frameServer(chunk: Buffer): void {
    try {
      this.http!.server(chunk, nowMicros());
    } catch (error) {
      this.framingFailed(error as Error);
    }
  }

  private framingFailed(error: Error): void {
    this.note(`HTTP framing stopped: internal error (${error.message}); bytes still forwarded`);
    this.http = null;
  }

  // Http1Events, called by the framer: the counter's, plus what the proxy does with them.

  override request(r: HttpRequestInfo): void {
    super.request(r);
    this.inFlight++;
    this.proxy.counters.requests++;
    if (this.proxy.emitting) this.emitRequest(r);
  }

  override response(r: HttpResponseInfo): void {
    super.response(r);
    if (this.proxy.emitting && !r.informational) {
      this.proxy.emit({
        type: 'response',
        at: toMillis(r.ts),
        connection: this.tracked(),
        status: r.status,
        ttfbMs: Math.max(0, toMillis(r.ts - this.lastRequestAt)),
      });
    }
  }

  override responseEnd(r: HttpResponseInfo, ts: Micros): void {
    super.responseEnd(r, ts);
    if (this.inFlight > 0) this.inFlight--;
    this.proxy.counters.responses++;
    if (this.proxy.emitting && this.inFlight === 0)
      this.proxy.emit({ type: 'connection-state', at: toMillis(ts), connection: this.tracked(), state: 'idle' });
    if (this.closing && this.inFlight === 0) this.closeNow();
  }

  /** The connection as in-process events name it (the proxy's target is its server). */
  tracked(): TrackedConnection {
    return (this.trackedConnection ??= {
      id: this.id,
      origin: `http://${formatEndpoint(this.proxy.targetHost, this.proxy.targetPort)}`,
      serverAddress: this.proxy.targetHost,
      serverPort: this.proxy.targetPort,
      local: this.record.client,
      remote: this.record.server,
      protocolVersion: '1.1',
      tls: false,
      client: 'proxy',
    });
  }

  private emitRequest(r: HttpRequestInfo): void {
    const record = this.record;
    const reused = record.requests > 1;
    const gaps = record.idleGapsMs;
    this.lastRequestAt = r.ts;
    const connection = this.tracked();
    const at = toMillis(r.ts);
    if (this.inFlight === 1) this.proxy.emit({ type: 'connection-state', at, connection, state: 'active' });
    this.proxy.emit({
      type: 'request',
      at,
      connection,
      reused,
      idleMs: reused && gaps.length > 0 ? gaps[gaps.length - 1]! : null,
      method: r.method,
    });
  }

  /** With a subscriber: the close, and a request it cut short (a reset, the target unreachable). */
  emitClose(): void {
    const r = this.record;
    const connection = this.tracked();
    const at = r.end ?? Date.now();
    const { reason, initiator } = proxyClose(r, this.unreachable !== null);
    if (this.inFlight > 0 || this.unreachable !== null) {
      this.proxy.emit({
        type: 'request-error',
        at,
        connection,
        code: this.unreachable ?? (r.resetBy !== null ? 'ECONNRESET' : 'ECONNABORTED'),
        reused: r.requests > 1,
        idleMs: null,
      });
    }
    this.proxy.emit({
      type: 'connection-close',
      at,
      connection,
      reason,
      initiator,
      requests: r.requests,
      durationMs: Math.max(0, at - (r.start ?? at)),
    });
  }

  private onEnd(side: Side): void {
    const ts = nowMicros();
    if (this.http !== null) {
      try {
        this.http.end(side, ts);
      } catch {
        this.http = null;
      }
    }
    // 'end' is the side's FIN reaching the proxy ('end' comes once per socket): when it was sent, for
    // the findings, as a capture on this leg would see it (see analyze/tcp/connection.ts record()).
    const r = this.record;
    if (side === 'client') r.clientFinAt = toMillis(ts);
    else r.serverFinAt = toMillis(ts);
    if (!this.closedByProxy) r.closedFirstBy ??= side;
    const ended = side === 'client' ? this.client : this.upstream;
    const other = side === 'client' ? this.upstream : this.client;
    if (other.destroyed) return;
    // The last FIN of the connection: both peers have sent theirs, `ended` has also sent ours (it closes
    // right after this event) and nothing waits to be written to `other`. Closing `other` sends our FIN
    // just as shutdown(2) would (close(2) sends a RST only over unread bytes, and its peer sent a FIN),
    // without a shutdown(2) and its round through the event loop.
    if (other.readableEnded && ended.writableFinished && other.writableLength === 0 && !other.writableEnded) {
      other.destroy();
    } else {
      other.end();
    }
  }

  private onError(side: Side, error: NodeJS.ErrnoException): void {
    const other = side === 'client' ? this.upstream : this.client;
    if (side === 'server' && !this.upstreamConnected) {
      // The target could not be reached: close the client's connection and say why.
      if (this.unreachable === null) {
        this.unreachable = errorCode(error);
        this.proxy.upstreamUnreachable(this.unreachable);
      }
      this.note(
        `upstream ${formatEndpoint(this.proxy.targetHost, this.proxy.targetPort)} unreachable (${this.unreachable}): ` +
          'client connection closed',
      );
      if (!other.destroyed) other.destroy();
      return;
    }
    if (isReset(error)) {
      // The first RST, and when it came (an EPIPE: it came before this write, the time is a bound).
      const r = this.record;
      if (r.resetBy === null) {
        r.resetBy = side;
        r.resetAt = Date.now();
      }
      // Mirror the RST, so the other peer sees a reset and not a clean close.
      if (!other.destroyed) other.resetAndDestroy();
      return;
    }
    this.note(`${side} socket error: ${errorCode(error)}`);
    if (!other.destroyed) other.destroy();
  }

  private onSocketClose(closed: net.Socket, other: net.Socket): void {
    if (--this.socketsOpen > 0) {
      // Closed without both FINs exchanged (destroyed): the other side must not linger open.
      if (!(closed.readableEnded && closed.writableFinished) && !other.destroyed) other.destroy();
      return;
    }
    this.closed = true;
    this.finish();
    this.proxy.linkClosed(this);
  }

  /** stop(): close now if no request is in flight, else as soon as its response has ended. */
  closeWhenIdle(): void {
    if (this.closed) return;
    this.closing = true;
    if (this.inFlight === 0) this.closeNow();
  }

  /** Ends both write halves (a FIN each way); the peers are expected to answer with theirs. */
  private closeNow(): void {
    if (this.closedByProxy || this.closed || this.tornDown()) return;
    this.closedByProxy = true;
    if (!this.client.destroyed) this.client.end();
    if (!this.upstream.destroyed) this.upstream.end();
  }

  /** The connect timeout expired (checked by the proxy's sweep, not a timer per socket). */
  connectTimedOut(): void {
    if (!this.upstreamConnected && !this.upstream.destroyed) {
      this.upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }
  }

  /** Grace period over: drop both sockets. */
  destroy(): void {
    if (this.tornDown()) return;
    this.closedByProxy = true;
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Both sockets are already destroyed ('close' events pending): nothing left for stop() to do. */
  private tornDown(): boolean {
    return this.client.destroyed && this.upstream.destroyed;
  }

  note(text: string): void {
    this.record.notes.push(text);
  }

  /** Brings the record up to date while the connection is open (for a snapshot); the counter keeps the rest. */
  refresh(): void {
    const r = this.record;
    r.bytesFromClient = this.client.bytesRead;
    r.bytesFromServer = this.upstream.bytesRead;
  }

  /** Final facts, once both sockets have closed. */
  private finish(): void {
    const r = this.record;
    const http = this.http;
    r.end = Date.now();
    r.bytesFromClient = this.client.bytesRead;
    r.bytesFromServer = this.upstream.bytesRead;
    if (http !== null) {
      if (http.notHttp) this.note('not HTTP/1.x');
      if (http.incomplete.client) this.note('the client stopped in the middle of a request');
      if (http.incomplete.server) this.note('the server stopped in the middle of a response');
    }
    // The framer (and its buffers) is no longer needed; the proxy keeps only the record, so this
    // Link and its sockets can be collected.
    this.http = null;
    r.openAtEnd = this.closedByProxy;
    // A FIN seen before stop() stays in closedFirstBy; the proxy's own closing is not a side's.
    if (this.closedByProxy) this.note('still open at stop: closed by the proxy');
    // The side that sent the first FIN holds TIME_WAIT on its leg; a reset skips TIME_WAIT.
    r.timeWait = r.resetBy === null && !this.closedByProxy ? r.closedFirstBy : null;
    // The record is kept until the report, and every record adds to each garbage collection: keep it
    // small. The status codes and busy times are copied to their length (a first push reserves 17 slots); empty
    // lists become one shared frozen array (records are copied before they leave the proxy).
    r.statusCodes = r.statusCodes.length === 0 ? NOTHING : r.statusCodes.slice();
    if (r.busyAt !== undefined) r.busyAt = r.busyAt.slice();
    if (r.idleGapsMs.length === 0) r.idleGapsMs = NOTHING;
    if (r.notes.length === 0) r.notes = NOTHING;
  }
}

/**
 * `new TcpProxy({ targetHost, targetPort })`, `await start()`, point clients at `address`, then
 * `await stop()` for the report. Also an Observer, so the lab engine or `watch` can run it next to
 * the others.
 */
export class TcpProxy implements Observer, InProcessSource {
  readonly name = 'proxy' as const;
  readonly targetHost: string;
  readonly targetPort: number;
  /** Live counters, updated by the connections as they go. */
  readonly counters = { requests: 0, responses: 0, serverClose: 0, clientClose: 0, unreachable: 0 };
  /** See ProxyOptions.idleResetMs (0: never). */
  readonly idleResetMs: number;
  readonly exchanges: boolean;
  private readonly listenHost: string;
  private readonly listenPort: number;
  private readonly graceMs: number;
  private readonly connectTimeoutMs: number;
  private readonly server: net.Server;
  /** Connections accepted so far (the last id given). */
  private accepted = 0;
  /** The records kept for the report: the most recent `keepConnections`, by id. */
  private readonly kept: RecentRecords;
  /** The totals of every closed connection (a closed connection leaves nothing else behind). */
  private readonly closedTotals = new TotalsAccumulator();
  private closedAtStop = 0;
  /** Open connections, in id order (a Set keeps insertion order). */
  private readonly open = new Set<Link>();
  private readonly order: IdOrder | null;
  private readonly unreachableReasons = new Set<string>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  /** Accepts that failed after listening, by error code (EMFILE...): a count, not a warning each. */
  private readonly acceptFailures = new Map<string, number>();
  private bound: Endpoint | null = null;
  private stopping: Promise<ObserverReport> | null = null;
  /** destroy(): no grace for connections with a request in flight. */
  private hurried = false;
  private endGrace: (() => void) | null = null;
  /** Checks connect timeouts once in a while: cheaper than a timer per connection. */
  private sweep: NodeJS.Timeout | null = null;
  /** The target is an IP literal: no need to ask each upstream socket for its peer address. */
  readonly targetIsIp: boolean;
  private readonly target: Endpoint;
  /** Accepted sockets get TCP_NODELAY one by one (noDelayOne) until the listener's is inherited. */
  private noDelayEach = true;
  private noDelayListener = false;
  private noDelayBatchEnding = false;
  private lastClientAddress = '';
  private readonly backlog: number;
  /** Accepted during the current accept streak, not read yet (see accept). */
  private readonly waitingToRead: net.Socket[] = [];
  /** The end-of-turn check of an accept streak, while one goes on. */
  private streak: NodeJS.Immediate | null = null;
  private acceptedThisTurn = false;
  /** In-process events' listeners (see subscribe); `emitting` while there is one. */
  private listeners: InProcessListener[] = [];
  emitting = false;

  constructor(options: ProxyOptions) {
    this.listenHost = options.listenHost ?? '127.0.0.1';
    this.listenPort = options.listenPort ?? 0;
    this.targetHost = options.targetHost;
    this.targetPort = options.targetPort;
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.backlog = options.backlog ?? DEFAULT_BACKLOG;
    this.idleResetMs = Math.max(0, options.idleResetMs ?? 0);
    this.exchanges = options.exchanges === true;
    this.kept = new RecentRecords(Math.max(0, Math.floor(options.keepConnections ?? Infinity)));
    const onConnection = options.onConnection;
    this.order = onConnection === undefined ? null : new IdOrder(() => this.oldestOpenId(), onConnection, ORDER_WINDOW);
    this.targetIsIp = net.isIP(this.targetHost) !== 0;
    this.target = { address: this.targetHost, port: this.targetPort };
    // noDelay: forward each chunk as it comes; Nagle would hold a small write back for an ACK. Set on
    // the listening socket when accepted sockets inherit it (see listenerNoDelay), else on each of them.
    // pauseOnConnect: an accepted socket is read when accept() says so.
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server.once('listening', () => this.listenerNoDelay());
  }

  /** Where the proxy listens (after start()). */
  get address(): Endpoint {
    if (this.bound === null)
      throw new KeepaliveLabError('KAL_ERR_NOT_STARTED', 'the proxy is not listening: call start() first');
    return this.bound;
  }

  /** Listens; rejects with PortInUseError when the port is taken. */
  async start(): Promise<void> {
    const host = this.listenHost;
    const port = this.listenPort;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        if (error.code === 'EADDRINUSE')
          reject(
            new PortInUseError(host, port, {
              cause: error,
              option: 'listenPort',
              hint: (option) => `choose another port with ${option}, or port 0 for a free one`,
            }),
          );
        else
          reject(
            new KeepaliveLabError(
              'KAL_ERR_LISTEN',
              `cannot listen on ${formatEndpoint(host, port)}: ${error.message}`,
              { cause: error },
            ),
          );
      };
      const onListening = () => {
        this.server.off('error', onError);
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ port, host, backlog: this.backlog });
    });
    // Errors after listening (EMFILE on accept, ...) concern one connection, never the proxy.
    this.server.on('error', (error: NodeJS.ErrnoException) => {
      const code = errorCode(error);
      this.acceptFailures.set(code, (this.acceptFailures.get(code) ?? 0) + 1);
    });
    this.sweep = setInterval(() => this.expireConnects(), Math.max(10, Math.min(1000, this.connectTimeoutMs / 4)));
    this.sweep.unref();
    const a = this.server.address() as AddressInfo;
    this.bound = { address: normalizeAddress(a.address), port: a.port };
  }

  /**
   * Each connection's open, requests, responses, busy/idle and close, as in-process events (for the
   * metrics of `proxy --metrics`). A listener that throws is the listener's problem: the proxy goes on.
   */
  subscribe(listener: InProcessListener): () => void {
    this.listeners = [...this.listeners, listener];
    this.emitting = true;
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
      this.emitting = this.listeners.length > 0;
    };
  }

  /** Called by the connections (only while `emitting`). */
  emit(event: InProcessEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not take a connection down.
      }
    }
  }

  progress(): ProxyProgress {
    return {
      connections: this.accepted,
      open: this.open.size,
      requests: this.counters.requests,
      responses: this.counters.responses,
    };
  }

  settled(expectedConnections: number): boolean {
    return this.accepted >= expectedConnections && this.open.size === 0;
  }

  /** Resolves once at least `count` connections have been accepted and all of them have closed. */
  whenSettled(count: number): Promise<void> {
    if (this.settled(count)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /**
   * What the proxy has seen so far, without stopping it: the totals of every connection (those still
   * open as they are now), and the records kept (`keepConnections`).
   */
  snapshot(): ObserverReport {
    const totals = this.closedTotals.copy();
    for (const link of this.open) {
      link.refresh();
      totals.add(link.record);
    }
    const connections = this.kept.inIdOrder().map(copyRecord);
    const omitted = this.accepted - connections.length;
    const { serverClose, clientClose, unreachable } = this.counters;
    const warnings: Warning[] = [];
    for (const [code, count] of this.acceptFailures) {
      warnings.push({
        code: ProxyWarning.ACCEPT_FAILED,
        message: `proxy: accepting a connection failed${count > 1 ? ` ${count} times` : ''}: ${code}`,
      });
    }
    if (unreachable > 0) {
      warnings.push({
        code: ProxyWarning.UPSTREAM_UNREACHABLE,
        message:
          `proxy: ${plural(unreachable, 'client connection')} closed because ` +
          `${formatEndpoint(this.targetHost, this.targetPort)} could not be reached ` +
          `(${[...this.unreachableReasons].join(', ')})`,
      });
    }
    const closedAtStop = this.closedAtStop;
    if (this.stopping !== null && closedAtStop > 0) {
      warnings.push({
        code: ProxyWarning.CLOSED_AT_STOP,
        message:
          `proxy: ${plural(closedAtStop, 'connection was', 'connections were')} still open at stop ` +
          'and closed by the proxy (who would have closed first is unknown)',
      });
    }
    // `connections` right after the head: a streamed report (proxy --json) writes the records there.
    return {
      ...PROXY_HEAD,
      connections,
      ...(omitted > 0 ? { connectionsOmitted: omitted } : {}),
      totals: totals.totals(null),
      http: { serverClose, clientClose },
      warnings,
    };
  }

  /**
   * Stops accepting, closes idle connections, gives those with a request in flight `graceMs` to
   * finish, destroys the rest; resolves with the report once every socket has closed. Idempotent.
   */
  stop(): Promise<ObserverReport> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** stop() without the grace (or cutting short a grace under way): open connections are destroyed now. */
  destroy(): Promise<ObserverReport> {
    this.hurried = true;
    this.endGrace?.();
    return this.stop();
  }

  async close(): Promise<void> {
    await this.destroy();
  }

  private expireConnects(): void {
    const before = Date.now() - this.connectTimeoutMs;
    for (const link of this.open) if (link.record.start! <= before) link.connectTimedOut();
  }

  private async shutdown(): Promise<ObserverReport> {
    const serverClosed = this.server.listening
      ? new Promise<void>((resolve) => this.server.close(() => resolve()))
      : Promise.resolve();
    this.endStreak();
    for (const link of this.open) link.closeWhenIdle();
    if (this.open.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        this.endGrace = resolve;
        timer = setTimeout(resolve, this.hurried ? 0 : this.graceMs);
      });
      await Promise.race([this.whenSettled(0), graceOver]);
      clearTimeout(timer);
      this.endGrace = null;
      for (const link of this.open) link.destroy();
      await this.whenSettled(0);
    }
    await serverClosed;
    clearInterval(this.sweep ?? undefined);
    this.sweep = null;
    this.order?.flush();
    return this.snapshot();
  }

  private accept(client: net.Socket): void {
    if (this.stopping !== null) {
      client.destroy();
      return;
    }
    if (this.noDelayEach) this.noDelayOne(client);
    // Reading is started (or put off) first, as a socket created without pauseOnConnect starts it: a
    // request already received is then read before an upstream that refuses at once closes the client.
    this.startReading(client);
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort, allowHalfOpen: true, noDelay: true });
    // The records share one target endpoint (never modified in place: a host name's resolved
    // address replaces it, and snapshots copy it).
    const link = new Link(this, ++this.accepted, client, upstream, this.target, Date.now());
    this.kept.add(link.record);
    this.open.add(link);
    if (this.emitting) this.emit({ type: 'connection-open', at: link.record.start!, connection: link.tracked() });
  }

  /**
   * Accepts are starved under load unless reading waits. libuv accepts one connection per turn of the
   * event loop (libuv 1.45, Node 20: "don't accept() connections in a loop", it relies on the listening
   * socket staying readable), and a turn handles every socket that has bytes to read: with 500
   * connections busy, a turn takes tens of milliseconds, so a thousand clients connecting at once wait
   * seconds in the accept queue (wrk -c1000 through the proxy: 164-189 requests timed out per 10 s
   * run, the queue full for 4-6 s; straight at nginx: none).
   *
   * So the first connection of a streak is read at once, and the others accepted in the turns right
   * after it (the listening socket was still readable: more were queued) wait until a turn accepts
   * none, or until MAX_WAITING_TO_READ wait: turns stay short while the queue drains, then every
   * waiting socket is read. Their upstream connections are made meanwhile. A lone connection (the
   * usual case) is read at once and costs two setImmediate callbacks.
   */
  private startReading(client: net.Socket): void {
    this.acceptedThisTurn = true;
    if (this.streak === null) {
      client.resume();
      this.streak = setImmediate(this.turnEnded);
      return;
    }
    this.waitingToRead.push(client);
    if (this.waitingToRead.length >= MAX_WAITING_TO_READ) this.readWaiting();
  }

  /** After the poll phase of each turn of a streak: did that turn accept a connection? */
  private readonly turnEnded = (): void => {
    if (this.acceptedThisTurn) {
      this.acceptedThisTurn = false;
      // The next turn polls without blocking, and this check follows it.
      this.streak = setImmediate(this.turnEnded);
      return;
    }
    this.streak = null;
    this.readWaiting();
  };

  private readWaiting(): void {
    const waiting = this.waitingToRead;
    for (let i = 0; i < waiting.length; i++) if (!waiting[i]!.destroyed) waiting[i]!.resume();
    waiting.length = 0;
  }

  /** stop(): whatever waits is read now, so that its connection can close as the others do. */
  private endStreak(): void {
    if (this.streak !== null) clearImmediate(this.streak);
    this.streak = null;
    this.readWaiting();
  }

  /**
   * On Linux an accepted socket is a copy of the listening one and inherits its TCP_NODELAY: set there
   * once, it spares a setsockopt(2) per connection (what net.Server's noDelay option makes). Elsewhere,
   * or if the listening handle does not take it, every accepted socket gets it (noDelayOne).
   */
  private listenerNoDelay(): void {
    const handle = (this.server as unknown as { _handle?: { setNoDelay?(on: boolean): number } | null })._handle;
    if (!INHERITS_NODELAY || typeof handle?.setNoDelay !== 'function' || handle.setNoDelay(true) !== 0) return;
    this.noDelayListener = true;
  }

  /**
   * TCP_NODELAY on an accepted socket. Connections the kernel completed before the listener had it do
   * not inherit it: they wait in the accept queue, which the first accept drains in one go (libuv
   * accepts until EAGAIN), so that first batch still gets it here, and later connections inherit it.
   */
  private noDelayOne(client: net.Socket): void {
    client.setNoDelay(true);
    if (!this.noDelayListener || this.noDelayBatchEnding) return;
    this.noDelayBatchEnding = true;
    setImmediate(() => (this.noDelayEach = false));
  }

  /**
   * The client's address: the same string as the previous connection's when they are equal, so that
   * the records of many connections from one client share it instead of a string each.
   */
  clientAddress(client: net.Socket): string {
    const address = normalizeAddress(client.remoteAddress);
    return address === this.lastClientAddress ? this.lastClientAddress : (this.lastClientAddress = address);
  }

  /** Called by a Link whose upstream connection could not be made. */
  upstreamUnreachable(reason: string): void {
    this.counters.unreachable++;
    this.unreachableReasons.add(reason);
  }

  /** The smallest id still open (Infinity when none is). */
  private oldestOpenId(): number {
    for (const link of this.open) return link.id;
    return Infinity;
  }

  /** Called by a Link once both of its sockets have closed: its record is final. */
  linkClosed(link: Link): void {
    this.open.delete(link);
    if (this.emitting) link.emitClose();
    const record = link.record;
    this.closedTotals.add(record);
    if (record.openAtEnd) this.closedAtStop++;
    this.order?.add(record);
    if (this.waiters.length === 0) return;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (this.settled(w.count)) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}

/**
 * The most recent `size` records by id, in a ring: records are added in id order (1, 2, 3...), so
 * record `id` sits at (id - 1) % size and the oldest kept is the one after the newest.
 */
class RecentRecords {
  private readonly ring: ConnectionRecord[] = [];
  private added = 0;

  constructor(private readonly size: number) {}

  add(record: ConnectionRecord): void {
    if (this.size <= 0) return;
    if (this.ring.length < this.size) this.ring.push(record);
    else this.ring[this.added % this.size] = record;
    this.added++;
  }

  inIdOrder(): ConnectionRecord[] {
    if (this.ring.length < this.size) return this.ring.slice();
    const oldest = this.added % this.size;
    return [...this.ring.slice(oldest), ...this.ring.slice(0, oldest)];
  }
}

/** A copy that shares nothing with the live record. */
function copyRecord(r: ConnectionRecord): ConnectionRecord {
  return {
    ...r,
    client: { ...r.client },
    server: { ...r.server },
    statusCodes: [...r.statusCodes],
    idleGapsMs: [...r.idleGapsMs],
    ...(r.busyAt === undefined ? {} : { busyAt: [...r.busyAt] }),
    notes: [...r.notes],
  };
}
