/**
 * A closed-loop HTTP/1.1 load generator on raw sockets (node:net, node:tls for https targets): N
 * connection slots, each with one request in flight at a time, in one of two modes:
 *  - `keep-alive`: a slot opens a connection and sends its next request on it as soon as the previous
 *    response has ended (a new connection only when the server closes one, e.g. nginx after
 *    keepalive_requests);
 *  - `new-connection`: a slot opens a connection, sends one request with `Connection: close`, reads
 *    the response to its end, waits for the connection to close, and opens the next.
 * The request is one buffer built once and written as is. Responses are framed by the same framer
 * the analyzer uses (decode/http1.ts): it is not the bottleneck, so no framer of its own. A CPU
 * profile of a run against nginx (`npm run bench:loadgen -- --prof`) put the framer's functions at
 * about 2% of the time, the socket's write (the syscall, which on loopback also delivers the bytes
 * to the server's socket) at over half.
 * Latency (request written to response end) goes into an HDR histogram (hdr-histogram-js, its JS
 * build: recording is one array increment, the WebAssembly build would add a copy per call), in
 * microseconds with 3 significant digits.
 *
 * Counts, not timing, are the contract tests check: every request sent ends exactly once, as a
 * response (`requests`) or an error (`errors`, by code); `connectionsOpened` counts connections that
 * were established.
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { build } from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { Http1Connection } from '../decode/http1.js';
import type { HttpResponseInfo } from '../decode/http1.js';
import type { LatencySummary, LoadMode, LoadResult } from '../model/bench.js';
import { labTlsConnect } from './clients.js';

export type { LoadMode, LoadResult } from '../model/bench.js';

export interface LoadOptions {
  mode: LoadMode;
  /** Connection slots, each with one request in flight at a time (default 10). */
  connections?: number;
  /** Stop sending after this long (default 5000 ms unless `requests` is given). */
  durationMs?: number;
  /** Stop after this many requests were sent (and have ended); with `durationMs`, whichever comes first. */
  requests?: number;
  /** A request (or a connection attempt) with no answer for this long fails with ETIMEDOUT (default 10000 ms). */
  timeoutMs?: number;
  /** https targets: the certificate authority to trust (PEM), e.g. the lab server's `ca`. */
  ca?: string;
  /** https targets: do not verify the server's certificate. */
  insecure?: boolean;
  /** Called about once a second while the load runs. */
  onProgress?(progress: LoadProgress): void;
  /** Aborting closes every socket; runLoad then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface LoadProgress {
  mode: LoadMode;
  elapsedMs: number;
  requests: number;
  errors: number;
}

/** The result, and the local ports the load's connections used (to find their TIME_WAIT sockets). */
export interface LoadOutcome {
  result: LoadResult;
  localPorts: ReadonlySet<number>;
}

const DEFAULT_CONNECTIONS = 10;
const DEFAULT_DURATION_MS = 5000;
const DEFAULT_TIMEOUT_MS = 10_000;
const PROGRESS_INTERVAL_MS = 1000;
/** 64 KiB: what Node reads at once by default. */
const READ_BUFFER_BYTES = 64 * 1024;
/** The histogram's range: 1 µs to an hour, 3 significant digits (0.1 % resolution). */
const HISTOGRAM_MAX_US = 3_600_000_000;
/** Error code of a response the framer could not frame. */
export const ERROR_FRAMING = 'HTTP_FRAMING';
/** Error code of a connection the server closed while a request awaited its response. */
export const ERROR_CLOSED = 'CLOSED_BEFORE_RESPONSE';

/** The one request of a mode, as bytes: GET of the URL's path, Host, and `Connection: close` for new-connection. */
export function requestBytes(url: URL, mode: LoadMode): Buffer {
  const path = (url.pathname || '/') + url.search;
  const close = mode === 'new-connection' ? 'Connection: close\r\n' : '';
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: keepalive-lab\r\n${close}\r\n`,
    'latin1',
  );
}

/** Runs one load against `target` (an http:// or https:// URL) and resolves once every request sent has ended. */
export async function runLoad(target: URL, options: LoadOptions): Promise<LoadOutcome> {
  return new Load(target, options).run();
}

/** A connection slot: its socket and the request in flight on it. */
interface Slot {
  socket: Socket | null;
  framer: Http1Connection | null;
  /** When the request in flight was written (performance.now()), -1 when none is. */
  sentAt: number;
  /** When the current connection attempt started, -1 once connected. */
  connectingSince: number;
  /** The last response said the connection ends: no next request on it. */
  closing: boolean;
  /** Why the socket failed, if it did (its error's code). */
  failure: string | null;
}

class Load {
  private readonly mode: LoadMode;
  private readonly connections: number;
  private readonly durationMs: number | undefined;
  private readonly maxRequests: number;
  private readonly timeoutMs: number;
  private readonly request: Buffer;
  private readonly secure: boolean;
  private readonly host: string;
  private readonly port: number;
  private readonly histogram: Histogram;
  private readonly errorCodes: Record<string, number> = {};
  private readonly localPorts = new Set<number>();
  private readonly slots: Slot[] = [];
  /** Where plain sockets read (one for all: the framer is done with a read before the next one comes). */
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private sent = 0;
  private completed = 0;
  private errors = 0;
  private non2xx = 0;
  private opened = 0;
  private stopping = false;
  private active = 0;
  private startedAt = 0;
  private finish: (() => void) | null = null;

  constructor(
    private readonly target: URL,
    private readonly options: LoadOptions,
  ) {
    this.mode = options.mode;
    this.connections = Math.max(1, options.connections ?? DEFAULT_CONNECTIONS);
    this.durationMs = options.durationMs ?? (options.requests === undefined ? DEFAULT_DURATION_MS : undefined);
    this.maxRequests = options.requests ?? Infinity;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.request = requestBytes(target, options.mode);
    this.secure = target.protocol === 'https:';
    // URL keeps the brackets of an IPv6 literal; net.connect wants the address alone.
    this.host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(target.port) || (this.secure ? 443 : 80);
    this.histogram = build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: HISTOGRAM_MAX_US,
      numberOfSignificantValueDigits: 3,
    });
  }

  async run(): Promise<LoadOutcome> {
    const signal = this.options.signal;
    signal?.throwIfAborted();
    this.startedAt = performance.now();
    const done = new Promise<void>((resolve) => (this.finish = resolve));
    const stopTimer = this.durationMs === undefined ? null : setTimeout(() => this.stop(), this.durationMs).unref();
    const tick = setInterval(() => this.tick(), PROGRESS_INTERVAL_MS).unref();
    const onAbort = () => this.destroyAll();
    signal?.addEventListener('abort', onAbort, { once: true });
    for (let i = 0; i < this.connections; i++) {
      const slot: Slot = { socket: null, framer: null, sentAt: -1, connectingSince: -1, closing: false, failure: null };
      this.slots.push(slot);
      this.active++;
      this.next(slot);
    }
    try {
      await done;
    } finally {
      if (stopTimer !== null) clearTimeout(stopTimer);
      clearInterval(tick);
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.throwIfAborted();
    const elapsedMs = performance.now() - this.startedAt;
    return { result: this.result(elapsedMs), localPorts: this.localPorts };
  }

  private result(elapsedMs: number): LoadResult {
    const h = this.histogram;
    const ms = (us: number) => us / 1000;
    const latencyMs: LatencySummary =
      h.totalCount === 0
        ? { p50: null, p90: null, p99: null, max: null, mean: null }
        : {
            p50: ms(h.getValueAtPercentile(50)),
            p90: ms(h.getValueAtPercentile(90)),
            p99: ms(h.getValueAtPercentile(99)),
            max: ms(h.maxValue),
            mean: ms(h.mean),
          };
    return {
      mode: this.mode,
      connections: this.connections,
      durationMs: elapsedMs,
      requests: this.completed,
      requestsPerSecond: elapsedMs > 0 ? (this.completed * 1000) / elapsedMs : 0,
      non2xx: this.non2xx,
      errors: this.errors,
      errorCodes: { ...this.errorCodes },
      connectionsOpened: this.opened,
      latencyMs,
    };
  }

  /** No more requests: each slot ends once its request in flight has. */
  private stop(): void {
    this.stopping = true;
    for (const slot of this.slots) {
      // An idle keep-alive connection (one still connecting sends the request it claimed first).
      if (slot.sentAt < 0 && slot.connectingSince < 0 && slot.socket !== null && !slot.closing) this.retire(slot);
    }
  }

  private canSend(): boolean {
    return !this.stopping && this.sent < this.maxRequests;
  }

  /** The slot's next step: a request on its connection, a new connection, or its end. */
  private next(slot: Slot): void {
    if (!this.canSend()) {
      if (slot.socket !== null) this.retire(slot);
      else this.slotDone();
      return;
    }
    if (slot.socket !== null && !slot.closing && this.mode === 'keep-alive') this.send(slot);
    else if (slot.socket === null) this.connect(slot);
    // else: the connection is closing; its 'close' calls next() again.
  }

  private slotDone(): void {
    if (--this.active === 0) this.finish?.();
  }

  /** Ends the slot's connection; its 'close' ends the slot (canSend() is false). */
  private retire(slot: Slot): void {
    slot.closing = true;
    slot.socket?.end();
  }

  private connect(slot: Slot): void {
    // Claim the request now: a slot that connects sends one, so the count of connections attempted
    // never exceeds what `requests` allows.
    this.sent++;
    slot.closing = false;
    slot.failure = null;
    slot.connectingSince = performance.now();
    const framer = new Http1Connection(
      {
        response: (r) => this.response(slot, r),
        responseEnd: (r) => this.responseEnd(slot, r),
        lost: () => this.fail(slot, ERROR_FRAMING),
      },
      { targets: false },
    );
    slot.framer = framer;
    const connected = () => {
      this.opened++;
      slot.connectingSince = -1;
      if (socket.localPort !== undefined) this.localPorts.add(socket.localPort);
      this.write(slot);
    };
    const socket: Socket = this.secure
      ? labTlsConnect(
          this.target,
          { ca: this.options.ca ?? null },
          { rejectUnauthorized: this.options.insecure !== true, ALPNProtocols: ['http/1.1'] },
        ).once('secureConnect', connected)
      : net.connect(
          {
            host: this.host,
            port: this.port,
            noDelay: true,
            // Reads land in one buffer of the load's, framed where they are: no Buffer per read, no
            // stream machinery ('data' events) between the socket and the framer.
            onread: {
              buffer: this.readBuffer,
              callback: (n, buffer) => {
                framer.server(buffer.subarray(0, n), 0);
                return true;
              },
            },
          },
          connected,
        );
    if (this.secure) {
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => framer.server(chunk, 0));
    }
    slot.socket = socket;
    socket.on('end', () => framer.end('server', 0));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      slot.failure ??= error.code ?? error.name;
    });
    socket.on('close', () => {
      if (slot.socket !== socket) return;
      slot.socket = null;
      slot.framer = null;
      if (slot.sentAt >= 0 || slot.connectingSince >= 0) {
        // A request in flight, or the one a connection that never opened had claimed (refused, reset).
        slot.sentAt = -1;
        slot.connectingSince = -1;
        this.error(slot.failure ?? ERROR_CLOSED);
      }
      if (this.options.signal?.aborted) this.slotDone();
      else this.next(slot);
    });
  }

  /** The request of a connection just opened, or the next one on a kept connection. */
  private send(slot: Slot): void {
    this.sent++;
    this.write(slot);
  }

  private write(slot: Slot): void {
    slot.sentAt = performance.now();
    // Framed as the client's bytes too, so that each response is paired with its request (HEAD-safe).
    slot.framer!.client(this.request, 0);
    slot.socket!.write(this.request);
  }

  private response(slot: Slot, r: HttpResponseInfo): void {
    if (!r.informational && (r.status < 200 || r.status > 299)) this.non2xx++;
    if (!r.keepAlive) slot.closing = true;
  }

  private responseEnd(slot: Slot, r: HttpResponseInfo): void {
    if (r.informational || slot.sentAt < 0) return;
    const us = Math.round((performance.now() - slot.sentAt) * 1000);
    this.histogram.recordValue(us < 1 ? 1 : us);
    slot.sentAt = -1;
    this.completed++;
    if (slot.closing || this.mode === 'new-connection') {
      // The server closes (it said so): its FIN comes, and 'close' opens the next connection. A
      // response that kept the connection in new-connection mode (a server ignoring our close) is
      // closed by us.
      if (r.keepAlive) slot.socket?.end();
      return;
    }
    this.next(slot);
  }

  private fail(slot: Slot, code: string): void {
    slot.failure ??= code;
    slot.socket?.destroy();
  }

  private error(code: string): void {
    this.errors++;
    this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1;
  }

  /** Once a second: progress, and requests (or connection attempts) that waited too long fail. */
  private tick(): void {
    const now = performance.now();
    for (const slot of this.slots) {
      const since = slot.sentAt >= 0 ? slot.sentAt : slot.connectingSince;
      if (since >= 0 && now - since > this.timeoutMs) this.fail(slot, 'ETIMEDOUT');
    }
    this.options.onProgress?.({
      mode: this.mode,
      elapsedMs: now - this.startedAt,
      requests: this.completed,
      errors: this.errors,
    });
  }

  private destroyAll(): void {
    this.stopping = true;
    for (const slot of this.slots) slot.socket?.destroy();
  }
}
