/**
 * The lab's in-process HTTP/1.1 server on loopback. Every response that keeps the connection has a
 * Content-Length (so that HTTP/1.0 clients such as `ab -k` can keep it: without one Node answers
 * `Connection: close`); a response that ends the connection is close-delimited. Bodies have the
 * configured size (or `?size=N` per request).
 *
 * Idle connections are closed by the lab's own timer, not Node's `server.keepAliveTimeout`: since
 * Node 20 that one fires a second later than set (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER, a margin
 * against the very race the lab reproduces), so a 300 ms setting closed after 1.3 s. Here a
 * connection is closed exactly `keepAliveTimeoutMs` after its last response was sent, and the
 * `Keep-Alive: timeout=N` hint is the lab's to send or not (`keepAliveHint`).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KeepaliveLabError, PortInUseError } from '../errors.js';
import { formatHostPort } from '../model/endpoint.js';

export interface LabServerOptions {
  host?: string;
  /** 0 (default) picks a free ephemeral port. */
  port?: number;
  /** Response body size in bytes. */
  bodySize?: number;
  /** How long the server keeps an idle connection open, in ms (default 5000; 0: for ever). */
  keepAliveTimeoutMs?: number;
  /**
   * Advertise the idle timeout in each keep-alive response, `Keep-Alive: timeout=N` with N in whole
   * seconds rounded down, as Node's server does (default true). Many servers send no such hint (nginx
   * sends one only when told to), and clients that read it (Node's http.Agent, undici) close their
   * idle sockets before it runs out: without it they keep them past the server's timeout.
   */
  keepAliveHint?: boolean;
  /** Answer every request with `Connection: close`. */
  connectionClose?: boolean;
  /**
   * Close each connection after this many requests: the last response says `Connection: close`
   * (nginx keepalive_requests, Apache MaxKeepAliveRequests). Default: no limit.
   */
  maxRequestsPerConnection?: number;
}

export interface LabServer {
  readonly server: http.Server;
  readonly host: string;
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:40123/ */
  readonly url: string;
  /**
   * Calls `listener` each time the server closes an idle connection (its keep-alive timeout ran
   * out), right after its FIN went out, in the same turn of the event loop; returns the unsubscribe.
   */
  onIdleClose(listener: (socket: Socket) => void): () => void;
  /**
   * Calls `listener` each time the server arms a connection's idle timer (`ms` long), just before it
   * does; returns the unsubscribe. A timer of the same duration set by the listener fires first (Node
   * runs timers of one duration in the order they were armed): something sent from it reaches the
   * peer right before the idle close's FIN.
   */
  onIdleArm(listener: (socket: Socket, ms: number) => void): () => void;
  close(): Promise<void>;
}

/** Largest body one response may ask for with ?size=N (keeps a typo from allocating gigabytes). */
const MAX_BODY = 64 * 1024 * 1024;

/** One connection's state, for the idle timer and the request cap. */
interface ConnectionState {
  requests: number;
  /** Responses not finished yet. */
  busy: number;
  idleTimer: NodeJS.Timeout | null;
}

export async function startLabServer(options: LabServerOptions = {}): Promise<LabServer> {
  const host = options.host ?? '127.0.0.1';
  const defaultBody = Buffer.alloc(options.bodySize ?? 11, 'x');
  const connectionClose = options.connectionClose ?? false;
  const idleMs = options.keepAliveTimeoutMs ?? 5000;
  const hint = options.keepAliveHint ?? true;
  const maxRequests = options.maxRequestsPerConnection ?? Infinity;
  const idleListeners = new Set<(socket: Socket) => void>();
  const armListeners = new Set<(socket: Socket, ms: number) => void>();
  const states = new WeakMap<Socket, ConnectionState>();
  const server = http.createServer((req, res) => {
    const state = states.get(req.socket);
    if (state !== undefined) {
      state.requests++;
      state.busy++;
      clearIdle(state);
      res.once('finish', () => {
        state.busy--;
        if (state.busy === 0 && !req.socket.destroyed) armIdle(req.socket, state);
      });
    }
    // Drain the request body (if any) before answering, as a well-behaved server does.
    req.resume();
    const size = requestedSize(req.url);
    const body =
      size === null || size === defaultBody.length ? defaultBody : Buffer.alloc(Math.min(size, MAX_BODY), 'x');
    res.statusCode = 200;
    res.setHeader('content-type', 'text/plain');
    const capped = (state?.requests ?? 0) >= maxRequests;
    if (connectionClose || capped || !res.shouldKeepAlive) {
      // This response ends the connection (we were told to close, the connection carried its last
      // request, or the client asked to with Connection: close or HTTP/1.0 without keep-alive). Send it
      // close-delimited (RFC 9112 6.3: no Content-Length, not chunked): the body ends with our FIN, so
      // the server is always the side that closes first, whatever the scheduling. With a
      // Content-Length, a fast client (curl) that has read the body races Node's FIN, which comes two
      // event-loop turns later.
      res.setHeader('connection', 'close');
      (res as { useChunkedEncodingByDefault: boolean }).useChunkedEncodingByDefault = false;
    } else {
      res.setHeader('content-length', body.length);
      // Set by hand, the Connection header keeps Node from adding a Keep-Alive header of its own.
      res.setHeader('Connection', 'keep-alive');
      if (hint && idleMs > 0) res.setHeader('Keep-Alive', `timeout=${Math.floor(idleMs / 1000)}`);
    }
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  // Node's own idle timer is off (see the top of this file): ours is armed when a response is sent.
  server.keepAliveTimeout = 0;
  server.on('connection', (socket: Socket) => {
    const state: ConnectionState = { requests: 0, busy: 0, idleTimer: null };
    states.set(socket, state);
    socket.once('close', () => clearIdle(state));
  });

  function clearIdle(state: ConnectionState): void {
    if (state.idleTimer !== null) clearTimeout(state.idleTimer);
    state.idleTimer = null;
  }

  function armIdle(socket: Socket, state: ConnectionState): void {
    if (idleMs <= 0) return;
    clearIdle(state);
    for (const listener of armListeners) listener(socket, idleMs);
    state.idleTimer = setTimeout(() => {
      state.idleTimer = null;
      if (state.busy > 0 || socket.destroyed) return;
      // What Node's server does when its keep-alive timeout runs out: close(2), a FIN (nothing unread).
      socket.destroy();
      for (const listener of idleListeners) listener(socket);
    }, idleMs);
    state.idleTimer.unref();
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') reject(new PortInUseError(host, options.port ?? 0, { cause: error }));
      else
        reject(
          new KeepaliveLabError('KAL_ERR_LISTEN', `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`, {
            cause: error,
          }),
        );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(options.port ?? 0, host);
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const labServer: LabServer = {
    server,
    host,
    port,
    url: `http://${formatHostPort(host, port)}/`,
    onIdleClose(listener) {
      idleListeners.add(listener);
      return () => idleListeners.delete(listener);
    },
    onIdleArm(listener) {
      armListeners.add(listener);
      return () => armListeners.delete(listener);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
  return labServer;
}

function requestedSize(url: string | undefined): number | null {
  const q = url?.indexOf('?size=') ?? -1;
  if (q < 0 || url === undefined) return null;
  const n = Number.parseInt(url.slice(q + 6), 10);
  return Number.isFinite(n) && n >= 0 ? n : null;
}
