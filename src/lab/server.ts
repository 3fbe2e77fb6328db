/**
 * The lab's in-process HTTP/1.1 server on loopback. Every response that keeps the connection has a
 * Content-Length (so that HTTP/1.0 clients such as `ab -k` can keep it: without one Node answers
 * `Connection: close`); a response that ends the connection is close-delimited. Bodies have the
 * configured size (or `?size=N` per request).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeepaliveLabError, PortInUseError } from '../errors.js';
import { formatHostPort } from '../model/endpoint.js';

export interface LabServerOptions {
  host?: string;
  /** 0 (default) picks a free ephemeral port. */
  port?: number;
  /** Response body size in bytes. */
  bodySize?: number;
  /** How long the server keeps an idle connection open (Node's server.keepAliveTimeout). */
  keepAliveTimeoutMs?: number;
  /** Answer every request with `Connection: close`. */
  connectionClose?: boolean;
  /**
   * Tell clients the idle timeout in `Keep-Alive: timeout=N` (default true, as Node's server does).
   * Without it a client cannot learn the timeout but by meeting it, as with nginx, which sends none.
   */
  keepAliveHint?: boolean;
}

export interface LabServer {
  readonly server: http.Server;
  readonly host: string;
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:40123/ */
  readonly url: string;
  close(): Promise<void>;
}

/** Largest body one response may ask for with ?size=N (keeps a typo from allocating gigabytes). */
const MAX_BODY = 64 * 1024 * 1024;

export async function startLabServer(options: LabServerOptions = {}): Promise<LabServer> {
  const host = options.host ?? '127.0.0.1';
  const defaultBody = Buffer.alloc(options.bodySize ?? 11, 'x');
  const connectionClose = options.connectionClose ?? false;
  const keepAliveHint = options.keepAliveHint ?? true;
  const server = http.createServer((req, res) => {
    // Drain the request body (if any) before answering, as a well-behaved server does.
    req.resume();
    const size = requestedSize(req.url);
    const body =
      size === null || size === defaultBody.length ? defaultBody : Buffer.alloc(Math.min(size, MAX_BODY), 'x');
    res.statusCode = 200;
    res.setHeader('content-type', 'text/plain');
    if (connectionClose || !res.shouldKeepAlive) {
      // This response ends the connection (we were told to close, or the client asked to with
      // Connection: close or HTTP/1.0 without keep-alive). Send it close-delimited (RFC 9112 6.3:
      // no Content-Length, not chunked): the body ends with our FIN, so the server is always the
      // side that closes first, whatever the scheduling. With a Content-Length, a fast client
      // (curl) that has read the body races Node's FIN, which comes two event-loop turns later.
      res.setHeader('connection', 'close');
      (res as { useChunkedEncodingByDefault: boolean }).useChunkedEncodingByDefault = false;
    } else {
      res.setHeader('content-length', body.length);
      // Node writes Keep-Alive: timeout=N only when the handler set no Connection header.
      if (!keepAliveHint) res.setHeader('connection', 'keep-alive');
    }
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5000;
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
