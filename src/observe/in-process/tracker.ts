/**
 * trackConnections(): every outgoing request of node:http, node:https and fetch (undici) in this
 * process, read from Node's public diagnostics channels (channels.ts) and `request.reusedSocket`,
 * never by patching a module. Per request: its origin, its socket and 4-tuple, reused or new, the
 * idle time before reuse, the time to first byte; per socket: when and why it closed (CloseReason).
 *
 * What it adds to the app's objects is listeners that change nothing, on the sockets only: 'free',
 * 'end', 'timeout', 'close', 'connect' (one function each per tracker, put on once per socket); none
 * on a request or a response (their moments come from the channels and the socket's events: no
 * listener to add and remove per request); never 'error' nor 'data' (an 'error' listener would
 * swallow an error the app does not handle, a 'data' one would start the flow of a body the app left
 * unread). A failed node:http request is told on Node 20 by its socket's 'close' without a response
 * (see channels.ts: http.client.request.error is read from 22 on).
 *
 * Cost (bench/register.ts, docs in README "Inside a Node process"): per request of a keep-alive
 * socket, two channel messages (node:http) or four (fetch), one state object, three clock reads and a
 * few counters; a body is known read when the Agent frees its socket ('free' follows the response's
 * 'end') or, at the socket's close, from `res.readableEnded`.
 *
 * Memory: per live socket and per in-flight request (WeakMaps, gone with the objects), per origin
 * counters (origin.ts), the last `recentRequests` requests and `recentConnections` closed connections
 * (rings): nothing grows with the traffic. Every handler runs inside try/catch: the tracker never
 * throws into the app (a failure is one warning, through `onWarning`).
 */
import type { ClientRequest, IncomingMessage, Agent } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { CLOSE_AFTER_RESPONSE_MS, MAX_EVIDENCE_EVENTS, REOPEN_WITHIN_MS } from '../../analyze/findings/thresholds.js';
import { TotalsAccumulator } from '../../analyze/totals.js';
import { newConnectionRecord } from '../../analyze/record.js';
import type { HostFacts } from '../../model/host.js';
import { normalizeAddress } from '../../model/endpoint.js';
import type { ProcessRequest, ProcessSummary } from '../../model/process.js';
import type { ConnectionRecord, Finding, ObserverReport } from '../../model/report.js';
import { tlsSocketFacts } from '../tls-facts.js';
import { callSite, captureStack } from './call-site.js';
import type { CapturedStack } from './call-site.js';
import { hasRequestErrorChannel, missingChannels, subscribeAll } from './channels.js';
import type {
  CloseInitiator,
  CloseReason,
  InProcessEvent,
  InProcessListener,
  InProcessSource,
  TrackedConnection,
} from './events.js';
import { processFindings } from './findings.js';
import { OriginStats } from './origin.js';
import { RecentRing } from './recent.js';

export interface TrackOptions {
  /** Stops tracking when aborted (as dispose()). */
  signal?: AbortSignal;
  /**
   * Capture a request's stack at its start, for the unread-body finding's call site (default true):
   * only while another response's body is pending or once an unread body was counted (wantsStack).
   */
  stackTraces?: boolean;
  /** Recent requests kept for the report (default 100). */
  recentRequests?: number;
  /** Closed connections kept as records for the report (default 1000; totals count them all). */
  recentConnections?: number;
  /** This machine's port range and tcp_tw_reuse, for the port outlook (Linux's defaults without). */
  hostFacts?: HostFacts;
  /** Only connections to origins this accepts are tracked (default: all). */
  origins?: (origin: string) => boolean;
  /** A tracker failure or a missing channel, in one line (default: nothing). */
  onWarning?: (message: string) => void;
}

/** What report() returns: the process's view as an observer, its findings, and the per-origin summary. */
export interface ProcessView {
  observer: ObserverReport;
  findings: Finding[];
  process: ProcessSummary;
}

export interface ConnectionTracker extends InProcessSource {
  report(): ProcessView;
  /**
   * The process is exiting: every connection still open is closed as `process-exit` (events and
   * counts), so that a last report() tells how they ended.
   */
  endOfProcess(): void;
  /** Live connections, and connections opened so far (the lab's observer waits on them). */
  readonly openConnections: number;
  readonly connectionsOpened: number;
  /** Unsubscribes from every channel; safe more than once. */
  dispose(): void;
}

type ClientKind = 'node:http' | 'undici';

interface RequestState {
  client: ClientKind;
  /** node:http's request and response while the request is in flight (dropped once it is settled). */
  req: ClientRequest | null;
  res: IncomingMessage | null;
  origin: string;
  method: string;
  startAt: number;
  stack: CapturedStack | null;
  socket: SocketState | null;
  reused: boolean;
  idleMs: number | null;
  headersAt: number | null;
  status: number | null;
  body: 'pending' | 'read' | 'cancelled' | null;
  /** New connections to the origin opened while this response held its socket unread. */
  extraConnections: number;
  failed: boolean;
}

/** A request as it starts: no socket, no response yet. */
function newRequest(
  client: ClientKind,
  origin: string,
  method: string,
  stack: CapturedStack | null,
  req: ClientRequest | null,
  at: number,
): RequestState {
  return {
    client,
    req,
    res: null,
    origin,
    method,
    startAt: at,
    stack,
    socket: null,
    reused: false,
    idleMs: null,
    headersAt: null,
    status: null,
    body: null,
    extraConnections: 0,
    failed: false,
  };
}

interface SocketState {
  socket: Socket;
  conn: TrackedConnection;
  stats: OriginStats;
  record: ConnectionRecord;
  openedAt: number;
  requests: number;
  busy: boolean;
  idleSince: number | null;
  current: RequestState | null;
  serverEndedAt: number | null;
  timedOut: boolean;
  pendingReason: CloseReason | null;
  closed: boolean;
  agent: Agent | null;
}

/** undici's public request (one object for every event of a request, undici >= 6.11). */
interface UndiciRequest {
  origin?: string | URL;
  method?: string;
}
interface UndiciConnectParams {
  host?: string;
  hostname?: string;
  protocol?: string;
  port?: string;
}

/** performance.timeOrigin is a getter that asks the runtime each time: read once. */
const TIME_ORIGIN = performance.timeOrigin;

/** Milliseconds since the epoch, sub-millisecond (one clock for `at` and for durations). */
function now(): number {
  return TIME_ORIGIN + performance.now();
}

/** Well-known ports, for an origin whose Host header leaves the port out. */
function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

/** `Keep-Alive: timeout=5, max=100` -> 5 (RFC 9112 does not define it; the de facto header of HTTP/1.0's era). */
export function keepAliveTimeoutS(value: string | undefined): number | null {
  if (value === undefined) return null;
  const m = /(?:^|[,\s])timeout=(\d+)/i.exec(value);
  return m === null ? null : Number(m[1]);
}

const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');

/** A raw header name (undici's) is `Keep-Alive`, in any case, without making a string of every name. */
export function isKeepAliveName(name: Buffer): boolean {
  if (name.length !== KEEP_ALIVE.length) return false;
  // ASCII letters: | 0x20 lowers them; '-' (0x2d) has the bit already.
  for (let i = 0; i < KEEP_ALIVE.length; i++) if ((name[i]! | 0x20) !== KEEP_ALIVE[i]) return false;
  return true;
}

/**
 * A header name (node:http's raw one) is `Keep-Alive`, in any case, read for every header of every
 * response: other lengths, then other first letters (`Connection` has ten letters too), are told
 * without comparing or lowering a string.
 */
export function isKeepAliveText(name: string): boolean {
  if (name.length !== 10 || (name.charCodeAt(0) | 0x20) !== 0x6b) return false;
  return name === 'Keep-Alive' || name.toLowerCase() === 'keep-alive';
}

/** The codes of a request lost on a socket the other side closed (lab/findings-scenarios/common.ts's). */
const RACE_ERROR_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** Origins tracked at most; traffic to more is counted under OTHER_ORIGIN. */
const MAX_ORIGINS = 1000;
const OTHER_ORIGIN = 'other';

export function trackConnections(options: TrackOptions = {}): ConnectionTracker {
  return new Tracker(options);
}

class Tracker implements ConnectionTracker {
  private readonly listeners = new Set<InProcessListener>();
  /** undici's requests in flight (node:http's is its socket's current request, see httpState). */
  private readonly requests = new WeakMap<object, RequestState>();
  private readonly sockets = new WeakMap<Socket, SocketState>();
  private readonly live = new Set<SocketState>();
  private readonly origins = new Map<string, OriginStats>();
  private readonly recentRequests: RecentRing<ProcessRequest>;
  private readonly recentConnections: RecentRing<ConnectionRecord>;
  private readonly totals = new TotalsAccumulator();
  private readonly stackTraces: boolean;
  private readonly missing: string[];
  private nextId = 1;
  private opened = 0;
  private warned = false;
  private unsubscribe: (() => void) | null;
  private readonly offAbort: () => void;
  private readonly emittedFindings = new Set<string>();
  private lastHint: string | undefined = undefined;
  private lastHintS: number | null = null;
  /**
   * The stack of a request's creation (Node 22+), or of a socket's net.connect() (see netSocket);
   * made at the first capture, so that a tracker that never captures looks nothing up per request.
   */
  private createdStacks: WeakMap<ClientRequest, CapturedStack> | null = null;
  private socketStacks: WeakMap<Socket, CapturedStack> | null = null;
  /** node:http sockets whose origin `options.origins` refused (not asked again per request). */
  private readonly ignored: WeakSet<Socket> | null;
  /**
   * Responses whose headers came and whose body is not settled yet (neither known read nor dropped):
   * an upper bound of the bodies really pending (a node:http body read to its end is settled at its
   * socket's 'free', a tick later; see bodyPending()).
   */
  private pendingBodies = 0;
  /** An unread body was counted once: from then on every request's stack is captured. */
  private unreadCounted = false;

  constructor(private readonly options: TrackOptions) {
    this.stackTraces = options.stackTraces ?? true;
    this.ignored = options.origins === undefined ? null : new WeakSet();
    this.recentRequests = new RecentRing(options.recentRequests ?? 100);
    this.recentConnections = new RecentRing(options.recentConnections ?? 1000);
    this.missing = missingChannels();
    if (this.missing.length > 0)
      options.onWarning?.(`diagnostics channels missing on Node ${process.versions.node}: ${this.missing.join(', ')}`);
    const guard =
      <T>(fn: (message: T) => void) =>
      (message: unknown) => {
        try {
          fn(message as T);
        } catch (error) {
          this.fail(error);
        }
      };
    // A signal aborted already (the register's in a worker thread): nothing subscribed, not even for a moment.
    this.unsubscribe = options.signal?.aborted
      ? null
      : subscribeAll({
          httpRequestStart: guard((m: { request: ClientRequest }) => this.httpStart(m.request)),
          httpResponseFinish: guard((m: { request: ClientRequest; response: IncomingMessage }) =>
            this.httpResponse(m.request, m.response),
          ),
          ...(hasRequestErrorChannel()
            ? {
                httpRequestError: guard((m: { request: ClientRequest; error: Error }) =>
                  this.httpFailed(m.request, errorCode(m.error)),
                ),
              }
            : {}),
          httpRequestCreated: guard((m: { request: ClientRequest }) => this.httpCreated(m.request)),
          netClientSocket: guard((m: { socket: Socket }) => this.netSocket(m.socket)),
          undiciRequestCreate: guard((m: { request: UndiciRequest }) => this.undiciCreate(m.request)),
          undiciBeforeConnect: guard(() => undefined),
          undiciConnected: guard((m: { socket: Socket; connectParams: UndiciConnectParams }) =>
            this.undiciConnected(m.socket, m.connectParams),
          ),
          undiciSendHeaders: guard((m: { request: UndiciRequest; socket: Socket }) =>
            this.undiciSendHeaders(m.request, m.socket),
          ),
          undiciRequestHeaders: guard(
            (m: { request: UndiciRequest; response: { statusCode: number; headers: Buffer[] } }) =>
              this.undiciHeaders(m.request, m.response),
          ),
          undiciRequestTrailers: guard((m: { request: UndiciRequest }) => this.undiciTrailers(m.request)),
          undiciRequestError: guard((m: { request: UndiciRequest; error: Error }) =>
            this.undiciError(m.request, m.error),
          ),
        });
    const signal = options.signal;
    const onAbort = () => this.dispose();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.offAbort = () => signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) this.dispose();
  }

  get openConnections(): number {
    return this.live.size;
  }

  get connectionsOpened(): number {
    return this.opened;
  }

  subscribe(listener: InProcessListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispose(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.offAbort();
    // The sockets still open stay the app's: nothing of ours is left on them.
    for (const ss of this.live) {
      const socket = ss.socket;
      socket.off('free', this.onSocketFree);
      socket.off('connect', this.onSocketConnect);
      socket.off('end', this.onSocketEnd);
      socket.off('timeout', this.onSocketTimeout);
      socket.off('close', this.onSocketClose);
    }
  }

  private fail(error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.options.onWarning?.(`tracker error, some requests may be uncounted: ${String(error)}`);
  }

  private emit(event: InProcessEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (error) {
        this.fail(error);
      }
    }
  }

  private statsFor(origin: string, serverAddress: string, serverPort: number): OriginStats {
    let s = this.origins.get(origin);
    if (s === undefined) {
      if (this.origins.size >= MAX_ORIGINS) return this.statsFor(OTHER_ORIGIN, '', 0);
      this.origins.set(origin, (s = new OriginStats(origin, serverAddress, serverPort)));
    }
    return s;
  }

  // node:http and node:https ------------------------------------------------------------------------

  /**
   * net.connect()'s sockets: only those that come to carry a request are tracked (httpStart). The
   * channel is published inside net.connect(), so inside http.request() when the Agent opens a new
   * socket: the one moment on Node 20 where the app's frame is on the stack (http.client.request.start
   * comes a tick later, from the socket's nextTick). Kept for the request that takes the socket.
   */
  private netSocket(socket: Socket): void {
    if (this.wantsStack()) (this.socketStacks ??= new WeakMap()).set(socket, captureStack());
  }

  /** Node 22+: http.client.request.created, published in ClientRequest's constructor (the app's frame on the stack). */
  private httpCreated(req: ClientRequest): void {
    if (this.wantsStack()) (this.createdStacks ??= new WeakMap()).set(req, captureStack());
  }

  /**
   * Whether a request starting now gets its stack captured. A capture costs 10 to 40 us (V8 walks
   * and records every frame, 30 deep under fetch: more than the rest of the tracking per request),
   * and it is read only for a body left unread. So it is taken only when the app may be leaving
   * one: while another response's body is pending (a loop that does not read its bodies starts each
   * request with the previous one still pending: all but the first are captured; a loop that reads
   * them starts each with none), and for good once an unread body has been counted.
   */
  private wantsStack(): boolean {
    if (!this.stackTraces) return false;
    if (this.unreadCounted) return true;
    if (this.pendingBodies === 0) return false;
    // A body pending is its socket's current request's (a socket closed settles its own).
    for (const ss of this.live) {
      const rs = ss.current;
      if (rs !== null && bodyPending(rs)) return true;
    }
    return false;
  }

  private httpStart(req: ClientRequest): void {
    // Published from ClientRequest._finish, which asserts the request has its socket (lib/_http_outgoing.js).
    const socket = req.socket;
    if (socket === null) return;
    const at = now();
    let ss = this.sockets.get(socket);
    if (ss === undefined) {
      if (this.ignored?.has(socket)) return;
      // A new socket: its origin from the request's Host header, parsed once per connection.
      const origin = httpOrigin(req);
      if (this.options.origins !== undefined && !this.options.origins(origin.origin)) {
        this.ignored?.add(socket);
        return;
      }
      const agent = (req as unknown as { agent?: Agent | false }).agent;
      ss = this.openSocket(socket, origin.origin, origin.host, origin.port, 'node:http', agent || null);
      // The pool's verdict on a socket whose response ended: kept idle, or destroyed (see httpFree).
      socket.on('free', this.onSocketFree);
    }
    // Published a tick after http.request() (from the socket's nextTick): the app is not on this stack.
    // Node 22+: the stack of the request's constructor; Node 20: of the net.connect() that opened
    // the socket, for the request that opened it only (taken, so that an idle socket holds no stack).
    let stack = this.createdStacks?.get(req) ?? null;
    if (ss.requests === 0 && this.socketStacks !== null) {
      const opened = this.socketStacks.get(socket);
      if (opened !== undefined) {
        stack ??= opened;
        this.socketStacks.delete(socket);
      }
    }
    const rs = newRequest('node:http', ss.conn.origin, req.method, stack, req, at);
    this.startRequest(ss, rs, at);
  }

  /**
   * The request in flight on node:http's socket, if it is `req`: a socket carries one request at a
   * time (node:http does not pipeline), so no map from request to state is needed.
   */
  private httpState(req: ClientRequest): RequestState | undefined {
    const socket = req.socket;
    const rs = socket === null ? null : (this.sockets.get(socket)?.current ?? null);
    return rs !== null && rs.req === req ? rs : undefined;
  }

  private httpResponse(req: ClientRequest, res: IncomingMessage): void {
    const rs = this.httpState(req);
    if (rs === undefined) return;
    rs.res = res;
    // The raw header list, not `res.headers`: that getter builds an object the app may never ask for.
    const raw = res.rawHeaders;
    let text: string | undefined;
    for (let i = 0; i + 1 < raw.length; i += 2)
      if (isKeepAliveText(raw[i]!)) {
        text = raw[i + 1];
        break;
      }
    this.responseHeaders(rs, res.statusCode ?? 0, this.keepAliveHint(text));
  }

  /** keepAliveTimeoutS() of a response's Keep-Alive header: the same on every response of a server, so parsed once. */
  private keepAliveHint(text: string | undefined): number | null {
    if (text !== this.lastHint) {
      this.lastHint = text;
      this.lastHintS = keepAliveTimeoutS(text);
    }
    return this.lastHintS;
  }

  /** Node 22+'s http.client.request.error: a request that failed before its response. */
  private httpFailed(req: ClientRequest, code: string): void {
    const rs = this.httpState(req);
    if (rs === undefined || rs.failed || rs.headersAt !== null) return;
    this.requestFailed(rs, code);
  }

  /**
   * node:http's Agent emits 'free' when a response ended on a keep-alive socket (lib/_http_client.js
   * responseOnEnd -> emitFreeNT, after the response's 'end': its body was read), and in the same turn
   * either keeps it (freeSockets) or destroys it: its idle pool for the origin already held
   * `maxFreeSockets` sockets (lib/_http_agent.js, the 'free' handler), or keepSocketAlive() refused
   * it (a server hint leaving no time). Our listener runs after the Agent's (added later).
   */
  private httpFree(ss: SocketState): void {
    if (ss.closed) return;
    const at = now();
    const rs = ss.current;
    if (rs !== null) this.bodyDone(rs, 'read', at);
    if (ss.socket.destroyed) {
      const agent = ss.agent as (Agent & { keepAlive?: boolean }) | null;
      const free = agent === null ? 0 : freeSocketsFor(agent, ss.socket);
      if (agent !== null && agent.keepAlive === true && free >= agent.maxFreeSockets) {
        ss.pendingReason = 'pool-full';
        const stats = ss.stats;
        stats.poolFullCloses++;
        stats.lastPoolFullAt = at;
        stats.maxFreeSockets = agent.maxFreeSockets;
        if (stats.poolFullEvents.length < MAX_EVIDENCE_EVENTS)
          stats.poolFullEvents.push({ connection: ss.conn.id, at, free });
      } else ss.pendingReason = 'client-closed';
      this.markIdle(ss, at, false);
      return;
    }
    this.markIdle(ss, at, true);
  }

  // fetch (undici) ------------------------------------------------------------------------------------

  private undiciCreate(request: UndiciRequest): void {
    const origin = String(request.origin ?? '');
    if (this.options.origins !== undefined && !this.options.origins(origin)) return;
    const stack = this.wantsStack() ? captureStack() : null;
    this.requests.set(request, newRequest('undici', origin, request.method ?? 'GET', stack, null, now()));
  }

  private undiciConnected(socket: Socket, params: UndiciConnectParams): void {
    const protocol = params.protocol ?? 'http:';
    const host = params.hostname ?? '';
    const port = Number(params.port || defaultPort(protocol));
    const origin = `${protocol}//${params.host ?? host}`;
    if (this.options.origins !== undefined && !this.options.origins(origin)) return;
    if (!this.sockets.has(socket)) this.openSocket(socket, origin, host, port, 'undici', null);
  }

  private undiciSendHeaders(request: UndiciRequest, socket: Socket): void {
    const rs = this.requests.get(request);
    const ss = this.sockets.get(socket);
    if (rs === undefined || ss === undefined) return;
    this.startRequest(ss, rs, now());
  }

  private undiciHeaders(request: UndiciRequest, response: { statusCode: number; headers: Buffer[] }): void {
    const rs = this.requests.get(request);
    if (rs === undefined) return;
    let text: string | undefined;
    const h = response.headers;
    for (let i = 0; i + 1 < h.length; i += 2)
      if (isKeepAliveName(h[i]!)) {
        text = h[i + 1]!.toString('latin1');
        break;
      }
    this.responseHeaders(rs, response.statusCode, this.keepAliveHint(text));
  }

  private undiciTrailers(request: UndiciRequest): void {
    const rs = this.requests.get(request);
    if (rs === undefined) return;
    const at = now();
    this.bodyDone(rs, 'read', at);
    // undici puts the socket back in its pool as the response ends.
    const ss = rs.socket;
    if (ss !== null && !ss.closed && ss.current === rs) this.markIdle(ss, at, true);
  }

  private undiciError(request: UndiciRequest, error: Error): void {
    const rs = this.requests.get(request);
    if (rs === undefined) return;
    if (rs.headersAt === null) this.requestFailed(rs, errorCode(error));
    else if (rs.body === 'pending') this.bodyDone(rs, 'cancelled', now());
  }

  // Both clients ----------------------------------------------------------------------------------------

  private openSocket(
    socket: Socket,
    origin: string,
    host: string,
    port: number,
    client: ClientKind,
    agent: Agent | null,
  ): SocketState {
    const at = now();
    const stats = this.statsFor(origin, host, port);
    stats.clients.add(client);
    const conn: TrackedConnection = {
      id: this.nextId++,
      origin,
      serverAddress: host,
      serverPort: port,
      local: null,
      remote: null,
      protocolVersion: '1.1',
      tls: origin.startsWith('https:'),
      client,
    };
    const record = newConnectionRecord(conn.id, { address: '', port: 0 }, { address: host, port }, at);
    const ss: SocketState = {
      socket,
      conn,
      stats,
      record,
      openedAt: at,
      requests: 0,
      busy: false,
      idleSince: null,
      current: null,
      serverEndedAt: null,
      timedOut: false,
      pendingReason: null,
      closed: false,
      agent,
    };
    if (agent !== null) {
      const timeout = (agent as unknown as { options?: { timeout?: number } }).options?.timeout;
      if (typeof timeout === 'number' && timeout > 0) stats.clientIdleTimeoutMs = timeout;
    }
    this.sockets.set(socket, ss);
    this.live.add(ss);
    this.opened++;
    stats.connectionsOpened++;
    stats.live++;
    if (at - stats.lastPoolFullAt <= REOPEN_WITHIN_MS) stats.poolFullReopened++;
    this.chargeUnread(stats);
    // on(), not once(): no wrapper per socket; each handler is harmless if called again.
    if (socket.connecting) socket.on('connect', this.onSocketConnect);
    else this.socketTuple(ss);
    socket.on('end', this.onSocketEnd);
    socket.on('timeout', this.onSocketTimeout);
    socket.on('close', this.onSocketClose);
    this.emit({ type: 'connection-open', at, connection: conn });
    return ss;
  }

  /**
   * The listeners put on every tracked socket: one function each per tracker (`this` is the socket,
   * its state looked up), not closures per socket; dispose() takes them off the sockets still open.
   */
  private readonly onSocketFree = this.socketListener((ss) => this.httpFree(ss));
  private readonly onSocketConnect = this.socketListener((ss) => this.socketTuple(ss));
  private readonly onSocketEnd = this.socketListener((ss) => {
    ss.serverEndedAt ??= now();
  });
  private readonly onSocketTimeout = this.socketListener((ss) => {
    ss.timedOut = true;
  });
  private readonly onSocketClose = this.socketListener((ss, hadError) => this.socketClosed(ss, hadError === true));

  private socketListener(fn: (ss: SocketState, arg: unknown) => void): (this: Socket, arg?: unknown) => void {
    const sockets = this.sockets;
    const fail = (error: unknown) => this.fail(error);
    return function (this: Socket, arg?: unknown) {
      try {
        const ss = sockets.get(this);
        if (ss !== undefined) fn(ss, arg);
      } catch (error) {
        fail(error);
      }
    };
  }

  /** The socket's 4-tuple, once connected. */
  private socketTuple(ss: SocketState): void {
    const socket = ss.socket;
    if (socket.remoteAddress === undefined) return;
    const conn = ss.conn;
    conn.local = { address: normalizeAddress(socket.localAddress), port: socket.localPort ?? 0 };
    conn.remote = { address: normalizeAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
    ss.record.client = conn.local;
    ss.record.server = conn.remote;
  }

  /** A new connection while a response of the same origin sits unread: the newest such one cost it. */
  private chargeUnread(stats: OriginStats): void {
    let newest: RequestState | null = null;
    for (const ss of this.live) {
      const rs = ss.current;
      if (ss.stats !== stats || rs === null || !bodyPending(rs)) continue;
      if (newest === null || rs.headersAt! > newest.headersAt!) newest = rs;
    }
    if (newest !== null) newest.extraConnections++;
  }

  private startRequest(ss: SocketState, rs: RequestState, at: number): void {
    if (rs.socket !== null) return;
    rs.socket = ss;
    rs.reused = ss.requests > 0;
    rs.idleMs = rs.reused && ss.idleSince !== null ? at - ss.idleSince : null;
    ss.requests++;
    ss.current = rs;
    ss.busy = true;
    ss.idleSince = null;
    const stats = ss.stats;
    stats.requests++;
    if (rs.reused) stats.reusedRequests++;
    stats.busy++;
    stats.peakBusy = Math.max(stats.peakBusy, stats.busy);
    ss.record.requests++;
    if (rs.idleMs !== null && ss.record.idleGapsMs.length < 1000) ss.record.idleGapsMs.push(rs.idleMs);
    if (this.listeners.size > 0) {
      this.emit({ type: 'connection-state', at, connection: ss.conn, state: 'active' });
      this.emit({ type: 'request', at, connection: ss.conn, reused: rs.reused, idleMs: rs.idleMs, method: rs.method });
    }
  }

  private responseHeaders(rs: RequestState, status: number, hint: number | null): void {
    const at = now();
    rs.headersAt = at;
    rs.status = status;
    if (rs.body !== 'pending') this.pendingBodies++;
    rs.body = 'pending';
    const ttfbMs = at - rs.startAt;
    const ss = rs.socket;
    if (ss === null) return;
    const stats = ss.stats;
    stats.responses++;
    stats.ttfbSum += ttfbMs;
    stats.ttfbMax = Math.max(stats.ttfbMax, ttfbMs);
    if (hint !== null) stats.keepAliveHintS = hint;
    ss.record.responses++;
    // The TLS session as this side's OpenSSL tells it (the handshake is over once a response came).
    if (ss.conn.tls && ss.record.tls === undefined && (ss.socket as TLSSocket).encrypted === true)
      ss.record.tls = tlsSocketFacts(ss.socket as TLSSocket);
    if (ss.record.statusCodes.length < 1000) ss.record.statusCodes.push(status);
    if (hint !== null) ss.record.keepAliveTimeoutS = hint;
    if (this.listeners.size > 0) this.emit({ type: 'response', at, connection: ss.conn, status, ttfbMs });
  }

  private bodyDone(rs: RequestState, how: 'read' | 'cancelled', at: number): void {
    if (rs.body !== 'pending') return;
    rs.body = how;
    this.pendingBodies--;
    // Dropped after holding its socket unread longer than a program takes to decide: the body was not read.
    if (how === 'cancelled' && heldUnread(rs, at)) this.countUnread(rs, at);
    this.remember(rs, null);
  }

  private countUnread(rs: RequestState, at: number): void {
    const ss = rs.socket;
    this.unreadCounted = true;
    if (ss === null) return;
    ss.stats.addUnread(callSite(rs.stack), ss.conn.id, rs.extraConnections, at);
  }

  private requestFailed(rs: RequestState, code: string): void {
    rs.failed = true;
    const at = now();
    const ss = rs.socket;
    const stats = ss?.stats ?? this.origins.get(rs.origin);
    stats?.countError(code);
    if (ss !== null && rs.reused && RACE_ERROR_CODES.has(code))
      ss.stats.addRace({ connection: ss.conn.id, at, method: rs.method, code, idleMs: rs.idleMs ?? 0 });
    if (ss !== null) {
      ss.record.unanswered ??= [];
      if (ss.record.unanswered.length < 8) ss.record.unanswered.push({ method: rs.method, at: rs.startAt });
    }
    if (this.listeners.size > 0)
      this.emit({
        type: 'request-error',
        at,
        connection: ss?.conn ?? null,
        code,
        reused: rs.reused,
        idleMs: rs.idleMs,
      });
    this.remember(rs, code);
  }

  /**
   * A settled request into the ring of recent ones: copied into the ring's own objects, so that the
   * state of each request dies young (the ring keeps no new object per request, nor the app's).
   */
  private remember(rs: RequestState, error: string | null): void {
    rs.req = null;
    rs.res = null;
    const r = this.recentRequests.reuse(emptyRequest);
    if (r === null) return;
    r.at = rs.startAt;
    r.origin = rs.origin;
    r.method = rs.method;
    r.connection = rs.socket?.conn.id ?? null;
    r.reused = rs.reused;
    r.idleMs = rs.idleMs;
    r.status = rs.status;
    r.ttfbMs = rs.headersAt === null ? null : rs.headersAt - rs.startAt;
    r.error = error;
  }

  private markIdle(ss: SocketState, at: number, pooled: boolean): void {
    if (!ss.busy) return;
    ss.busy = false;
    ss.stats.busy--;
    ss.idleSince = at;
    ss.current = null;
    ss.record.lastResponseEndAt = at;
    if (pooled && this.listeners.size > 0)
      this.emit({ type: 'connection-state', at, connection: ss.conn, state: 'idle' });
  }

  private socketClosed(ss: SocketState, hadError: boolean, forced?: CloseReason): void {
    if (ss.closed) return;
    ss.closed = true;
    const at = now();
    const errored = (ss.socket as Socket & { errored?: Error | null }).errored;
    let reason: CloseReason;
    if (forced !== undefined) reason = forced;
    else if (ss.pendingReason !== null) reason = ss.pendingReason;
    else if (errored) reason = clientOwnClose(errored) ?? 'error';
    else if (hadError) reason = 'error';
    else if (ss.timedOut) reason = 'timeout';
    else if (ss.serverEndedAt !== null) reason = 'server-closed';
    else reason = 'client-closed';
    const initiator: CloseInitiator =
      reason === 'server-closed' ? 'server' : reason === 'error' || reason === 'unknown' ? 'unknown' : 'client';
    const stats = ss.stats;
    const rs = ss.current;
    // On Node 20 http.client.request.error is not read (channels.ts): a request whose socket closed before its
    // response failed (node:http's own 'close' listener, which runs first, has just told the app).
    if (rs !== null && rs.req !== null && forced === undefined && rs.headersAt === null && !rs.failed)
      this.requestFailed(rs, closedRequestCode(rs.req, rs));
    // A body still pending when its socket went: read to its end ('free' had not come yet), else dropped
    // unread while it held the socket (bodyDone counts it as heldUnread() says).
    if (rs !== null) this.bodyDone(rs, bodyEnded(rs) ? 'read' : 'cancelled', at);
    if (ss.busy) {
      ss.busy = false;
      stats.busy--;
    }
    if (reason === 'server-closed' && ss.idleSince !== null) {
      const idle = at - ss.idleSince;
      stats.serverIdleCloses++;
      stats.serverIdleMinMs = Math.min(stats.serverIdleMinMs, idle);
      stats.serverIdleMaxMs = Math.max(stats.serverIdleMaxMs, idle);
    }
    if (initiator === 'client' && reason !== 'process-exit') stats.clientCloses.add(at);
    stats.countClose(reason);
    stats.live--;
    this.live.delete(ss);
    const r = ss.record;
    r.end = at;
    r.openAtEnd = forced === 'process-exit';
    r.closedFirstBy = initiator === 'unknown' ? null : initiator;
    r.timeWait = r.closedFirstBy;
    r.bytesFromClient = ss.socket.bytesWritten ?? 0;
    r.bytesFromServer = ss.socket.bytesRead ?? 0;
    r.notes = [`closed: ${reason}${errored ? ` (${errorCode(errored)})` : ''}`];
    if (ss.serverEndedAt !== null) r.serverFinAt = ss.serverEndedAt;
    this.totals.add(r);
    this.recentConnections.add(r);
    if (this.listeners.size > 0)
      this.emit({
        type: 'connection-close',
        at,
        connection: ss.conn,
        reason,
        initiator,
        requests: ss.requests,
        durationMs: at - ss.openedAt,
      });
  }

  endOfProcess(): void {
    for (const ss of [...this.live]) {
      try {
        this.socketClosed(ss, false, 'process-exit');
      } catch (error) {
        this.fail(error);
      }
    }
  }

  report(): ProcessView {
    const at = now();
    const origins = [...this.origins.values()];
    // Responses still unread now, held long enough: counted in this report (not kept: they may be read later).
    const pending = new Map<OriginStats, { site: string | null; id: number; extra: number }[]>();
    for (const ss of this.live) {
      const rs = ss.current;
      if (rs === null || !bodyPending(rs) || !heldUnread(rs, at)) continue;
      const list = pending.get(ss.stats) ?? [];
      list.push({ site: callSite(rs.stack), id: ss.conn.id, extra: rs.extraConnections });
      pending.set(ss.stats, list);
    }
    const findings = processFindings(origins, {
      pending,
      ...(this.options.hostFacts ? { hostFacts: this.options.hostFacts } : {}),
    });
    for (const f of findings) {
      const key = `${f.code} ${f.evidence.server?.address}:${f.evidence.server?.port}`;
      if (this.emittedFindings.has(key)) continue;
      this.emittedFindings.add(key);
      this.emit({ type: 'finding', at, finding: f });
    }
    const totals = this.totals.copy();
    const open: ConnectionRecord[] = [];
    for (const ss of this.live) {
      const r = {
        ...ss.record,
        openAtEnd: true,
        bytesFromClient: ss.socket.bytesWritten ?? 0,
        bytesFromServer: ss.socket.bytesRead ?? 0,
      };
      totals.add(r);
      open.push(r);
    }
    const connections = [...this.recentConnections.values(), ...open].sort((a, b) => a.id - b.id);
    const counted = this.totals.totals(null).connections + open.length;
    const observer: ObserverReport = {
      observer: 'process',
      available: this.missing.length === 0,
      seesRequests: true,
      totals: totals.totals(null),
      connections,
      warnings: [],
    };
    if (this.missing.length > 0) {
      observer.reason = `this Node.js (${process.versions.node}) lacks the channels ${this.missing.join(', ')}`;
      observer.fix = 'run Node.js 18.7 or later (20, 22 and 24 publish every channel used)';
    }
    if (counted > connections.length) observer.connectionsOmitted = counted - connections.length;
    return {
      observer,
      findings,
      process: {
        node: process.versions.node,
        missingChannels: [...this.missing],
        origins: origins.map((o) => o.summary()),
        recentRequests: this.recentRequests.values().map((r) => ({ ...r })),
      },
    };
  }
}

/** node:http's response was read to its end ('end' emitted), though its socket has not told us yet. */
function bodyEnded(rs: RequestState): boolean {
  return rs.res !== null && rs.res.readableEnded;
}

/** A body neither read to its end nor dropped. */
function bodyPending(rs: RequestState): boolean {
  return rs.body === 'pending' && !bodyEnded(rs);
}

/**
 * A response dropped unread counts when it cost a connection (one was opened to its origin while it
 * held its socket), or held its socket longer than a program takes to decide (CLOSE_AFTER_RESPONSE_MS).
 */
function heldUnread(rs: RequestState, at: number): boolean {
  return rs.extraConnections > 0 || at - rs.headersAt! >= CLOSE_AFTER_RESPONSE_MS;
}

/** An empty slot of the ring of recent requests (remember() fills it). */
function emptyRequest(): ProcessRequest {
  return {
    at: 0,
    origin: '',
    method: '',
    connection: null,
    reused: false,
    idleMs: null,
    status: null,
    ttfbMs: null,
    error: null,
  };
}

/**
 * V8 keeps a field that has only held null and heap numbers as a heap-object field. A duration that
 * comes out whole is a small integer instead (time stamps near 1.8e12 ms step by 2^-12 ms: about one
 * request in 4,000), and storing it deoptimizes every function that writes the field, at a moment the
 * clock decides (bench:register's node:http figure read +1.6%, then +3.1%, in two runs). One whole
 * number stored here, at load, makes the duration fields tagged from the start.
 */
function settleDurationFields(): void {
  newRequest('node:http', '', 'GET', null, null, now()).idleMs = 0;
  const slot = emptyRequest();
  slot.idleMs = 0;
  slot.ttfbMs = 0;
}
settleDurationFields();

interface HttpOrigin {
  origin: string;
  host: string;
  port: number;
}

/** `http://host:port` of a ClientRequest: its protocol and Host header (the port is in it unless default). */
function httpOrigin(req: ClientRequest): HttpOrigin {
  const protocol = req.protocol || 'http:';
  const header = req.getHeader('host');
  const hostHeader = typeof header === 'string' ? header : req.host;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(hostHeader);
  const host = (m?.[1] ?? req.host).replace(/^\[|\]$/g, '');
  const port = m?.[2] !== undefined ? Number(m[2]) : defaultPort(protocol);
  const shown = host.includes(':') ? `[${host}]` : host;
  return { origin: `${protocol}//${shown}:${port}`, host, port };
}

/** The idle sockets node:http's Agent keeps for the socket's server (its freeSockets list for that name). */
function freeSocketsFor(agent: Agent, socket: Socket): number {
  for (const list of Object.values(agent.freeSockets)) {
    const first = list?.[0];
    if (first !== undefined && first.remotePort === socket.remotePort && first.remoteAddress === socket.remoteAddress)
      return list!.length;
  }
  return 0;
}

/**
 * Why a request closed without a response, on Node 20 (http.client.request.error not read): the error it
 * was destroyed with, its socket's, or the server's FIN before the response, which node:http reports
 * as "socket hang up" (ECONNRESET, lib/_http_client.js socketOnEnd).
 */
function closedRequestCode(req: ClientRequest, rs: RequestState): string {
  const own = (req as ClientRequest & { errored?: Error | null }).errored;
  if (own) return errorCode(own);
  const socketError = (req.socket as (Socket & { errored?: Error | null }) | null)?.errored;
  if (socketError) return errorCode(socketError);
  if (rs.socket?.serverEndedAt != null) return 'ECONNRESET';
  return req.destroyed ? 'ABORTED' : 'UNKNOWN';
}

/**
 * undici destroys its own sockets with an error of its own, which is not a failure: UND_ERR_INFO
 * "socket idle timeout" (its keepAliveTimeout ran out, lib/dispatcher/client-h1.js) is the client's
 * idle timeout; UND_ERR_DESTROYED / UND_ERR_CLOSED (the dispatcher was destroyed or closed), another
 * UND_ERR_INFO (a reset it asked for) or an abort are the client closing it. Null: a real error.
 */
function clientOwnClose(error: Error): CloseReason | null {
  const code = errorCode(error);
  if (code === 'UND_ERR_INFO') return /timeout/i.test(error.message) ? 'timeout' : 'client-closed';
  if (code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR')
    return 'client-closed';
  return null;
}

function errorCode(error: unknown): string {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return 'UNKNOWN';
}
