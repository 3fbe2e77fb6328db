/**
 * The lab's in-process server on loopback: HTTP/1.1 in the clear (node:http), over TLS (`https`,
 * node:https), or HTTP/2 over TLS (`h2`, a node:http2 secure server offering h2 and http/1.1 by ALPN,
 * so that HTTPS/1.1 clients are served by it too), with a certificate made at run time
 * (certificate.ts). Every response that keeps the connection has a
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
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { KeepaliveLabError, PortInUseError } from '../errors.js';
import { formatHostPort } from '../model/endpoint.js';
import type { LabProtocol } from '../model/report.js';
import { labCertificate } from './certificate.js';

export interface LabServerOptions {
  /** `http` (default), `https` (node:https), or `h2` (node:http2 secure server, h2 and http/1.1 by ALPN). */
  protocol?: LabProtocol;
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
  /** An http.Server, an https.Server or an Http2SecureServer (see `protocol`). */
  readonly server: Server;
  readonly protocol: LabProtocol;
  readonly host: string;
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:40123/ (https:// for `https` and `h2`). */
  readonly url: string;
  /** The certificate's PEM, for a client to trust (null for `http`). */
  readonly ca: string | null;
  /**
   * Calls `listener` each time the server closes an idle connection (its keep-alive timeout ran
   * out), right after its FIN went out, in the same turn of the event loop; returns the unsubscribe.
   */
  onIdleClose(listener: (socket: Socket) => void): () => void;
  /**
   * Calls `listener` each time the server arms a connection's idle timer (`ms` long), just before it
   * does; returns the unsubscribe. A timer of the same duration set by the listener fires first (Node
   * runs timers of one duration in the order they were armed): something sent from it reaches the
   * peer no later than the idle close's FIN: in the same turn of the event loop, or, when the clock
   * ticked between the two timers, a turn earlier (then the peer may read it before the FIN leaves).
   */
  onIdleArm(listener: (socket: Socket, ms: number) => void): () => void;
  /**
   * Calls `listener` each time a connection's idle timer runs out, just before the server closes it:
   * in the timer's own turn; the close follows in that turn too, after the `process.nextTick`
   * callbacks the listener queued. So a request a listener starts on another connection through a
   * node:http Agent (which writes it from a nextTick) is on the wire just before this FIN, always in
   * the same turn, however busy the machine is. Returns the unsubscribe.
   */
  onIdleDue(listener: (socket: Socket) => void): () => void;
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
  const dueListeners = new Set<(socket: Socket) => void>();
  const protocol = options.protocol ?? 'http';
  /** Per connection: its socket (TLS: the TLSSocket); per HTTP/2 session: the session. */
  const states = new WeakMap<object, ConnectionState>();
  const h2Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const session = req.stream.session;
    const state = session === undefined ? undefined : states.get(session);
    let last = false;
    if (state !== undefined && session !== undefined) {
      last = track(
        state,
        res,
        req.socket as Socket,
        () => session.closed || session.destroyed,
        () => session.close(),
      );
    }
    req.resume();
    const body = responseBody(req.url);
    res.statusCode = 200;
    res.setHeader('content-type', 'text/plain');
    res.setHeader('content-length', body.length);
    // HTTP/2 has no Connection header (RFC 9113 8.2.2): a session that carried its last stream, or a
    // server told to close, ends with GOAWAY once the response is out.
    if ((connectionClose || last) && session !== undefined) res.once('finish', () => session.close());
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  };
  const handler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    if (req.httpVersionMajor === 2) {
      h2Handler(req as Http2ServerRequest, res as Http2ServerResponse);
      return;
    }
    h1Handler(req as IncomingMessage, res as ServerResponse);
  };
  const h1Handler = (req: IncomingMessage, res: ServerResponse) => {
    const state = states.get(req.socket);
    if (state !== undefined) {
      const socket = req.socket;
      track(
        state,
        res,
        socket,
        () => socket.destroyed,
        () => socket.destroy(),
      );
    }
    // Drain the request body (if any) before answering, as a well-behaved server does.
    req.resume();
    const body = responseBody(req.url);
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
  };
  const certificate = protocol === 'http' ? null : labCertificate(host);
  const tlsOptions = certificate === null ? {} : { cert: certificate.cert, key: certificate.key };
  const server: Server =
    protocol === 'h2'
      ? // allowHTTP1: ALPN offers h2 and http/1.1, and an HTTP/1.1 client is served by the same handler.
        http2.createSecureServer({ ...tlsOptions, allowHTTP1: true }, handler)
      : protocol === 'https'
        ? https.createServer(tlsOptions, h1Handler)
        : http.createServer(h1Handler);
  // Node's own idle timer is off (see the top of this file): ours is armed when a response is sent.
  if (protocol !== 'h2') (server as http.Server).keepAliveTimeout = 0;
  // The timers are the connection's: its TLSSocket once the handshake is done (requests see that one).
  const connectionEvent = protocol === 'http' ? 'connection' : 'secureConnection';
  server.on(connectionEvent, (socket: Socket | TLSSocket) => {
    const state: ConnectionState = { requests: 0, busy: 0, idleTimer: null };
    states.set(socket, state);
    socket.once('close', () => clearIdle(state));
  });
  /** Every TCP connection and HTTP/2 session still open, ended by close(). */
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    const state: ConnectionState = { requests: 0, busy: 0, idleTimer: null };
    states.set(session, state);
    session.once('close', () => clearIdle(state));
  });

  function responseBody(url: string | undefined): Buffer {
    const size = requestedSize(url);
    return size === null || size === defaultBody.length ? defaultBody : Buffer.alloc(Math.min(size, MAX_BODY), 'x');
  }

  /**
   * Counts a request on its connection (or HTTP/2 session), stops the idle timer until its response
   * is sent, then arms it again when nothing else is in flight. True when this was the connection's
   * last request (the cap).
   */
  function track(
    state: ConnectionState,
    res: ServerResponse | Http2ServerResponse,
    socket: Socket,
    gone: () => boolean,
    closeIdle: () => void,
  ): boolean {
    state.requests++;
    state.busy++;
    clearIdle(state);
    (res as ServerResponse).once('finish', () => {
      state.busy--;
      if (state.busy === 0 && !gone()) armIdle(state, socket, gone, closeIdle);
    });
    return state.requests >= maxRequests;
  }

  function clearIdle(state: ConnectionState): void {
    if (state.idleTimer !== null) clearTimeout(state.idleTimer);
    state.idleTimer = null;
  }

  /**
   * What Node's server does when its keep-alive timeout runs out: close(2), a FIN (nothing unread); on
   * HTTP/2, a GOAWAY first. Then the onIdleClose listeners, in the same turn.
   */
  function idleClose(socket: Socket, closeIdle: () => void): void {
    closeIdle();
    for (const listener of idleListeners) listener(socket);
  }

  function armIdle(state: ConnectionState, socket: Socket, gone: () => boolean, closeIdle: () => void): void {
    if (idleMs <= 0) return;
    clearIdle(state);
    for (const listener of armListeners) listener(socket, idleMs);
    state.idleTimer = setTimeout(() => {
      state.idleTimer = null;
      if (state.busy > 0 || gone()) return;
      if (dueListeners.size === 0) return idleClose(socket, closeIdle);
      for (const listener of dueListeners) listener(socket);
      process.nextTick(() => {
        if (state.busy === 0 && !gone()) idleClose(socket, closeIdle);
      });
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
    protocol,
    host,
    port,
    url: `${protocol === 'http' ? 'http' : 'https'}://${formatHostPort(host, port)}/`,
    ca: certificate?.cert ?? null,
    onIdleClose(listener) {
      idleListeners.add(listener);
      return () => idleListeners.delete(listener);
    },
    onIdleArm(listener) {
      armListeners.add(listener);
      return () => armListeners.delete(listener);
    },
    onIdleDue(listener) {
      dueListeners.add(listener);
      return () => dueListeners.delete(listener);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // An Http2SecureServer has no closeAllConnections: its sessions are ended by hand.
        if ('closeAllConnections' in server) (server as http.Server).closeAllConnections();
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
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
