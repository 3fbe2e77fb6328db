/**
 * One raw connection of the probe (node:net, node:tls): exact request bytes out, HTTP/1.x responses
 * framed in, and how the connection ended told apart: a FIN (`end`) or a RST (ECONNRESET), and when.
 * An HTTP client library would hide both (it reconnects, retries, pools), and the probe measures
 * exactly what such a library meets.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ConnectionOption, connectionOptions, isPersistent } from '../../decode/http1.js';
import { TlsHandshakeError, UnreachableError } from '../../errors.js';
import type { CloseKind } from '../../model/probe.js';
import { onAbort } from '../../util/abort.js';
import { USER_AGENT, type ProbeContext } from './context.js';
import { EventWaiter } from './waiter.js';

export interface ProbeResponse {
  /** `HTTP/1.1` */
  version: string;
  status: number;
  /** Header names in lower case; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** When its last byte arrived (the context's clock). */
  at: number;
}

export interface CloseInfo {
  kind: CloseKind;
  /** When it arrived (the context's clock). */
  at: number;
}

export type WaitResult =
  { kind: 'response'; response: ProbeResponse } | { kind: 'closed'; close: CloseInfo } | { kind: 'timeout' };

/** Errors that mean the target cannot be reached at all (before any TCP connection). */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
]);

/** A request's bytes: GET, Host, the tool's User-Agent, and the Connection header asked for. */
export function requestBytes(
  path: string,
  host: string,
  options: { version?: '1.0' | '1.1'; connection?: 'close' | 'keep-alive' } = {},
): string {
  const lines = [
    `GET ${path} HTTP/${options.version ?? '1.1'}`,
    `Host: ${host}`,
    `User-Agent: ${USER_AGENT}`,
    'Accept: */*',
    ...(options.connection === undefined ? [] : [`Connection: ${options.connection}`]),
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

/**
 * HTTP/1.x responses from a byte stream (RFC 9112 section 6: Content-Length, chunked, or to the
 * close; 1xx, 204 and 304 have no body). Only what the probe needs: the head and where each ends.
 */
export class ResponseReader {
  private buffer: Buffer = Buffer.alloc(0);
  private head: { version: string; status: number; headers: Record<string, string> } | null = null;
  /** Body bytes still to skip (Content-Length), or 'chunked', or 'close' (until the connection ends). */
  private body: number | 'chunked' | 'close' = 0;

  /** Bytes in; the responses they completed. `now` stamps them. */
  push(chunk: Buffer, now: number): ProbeResponse[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: ProbeResponse[] = [];
    for (;;) {
      if (this.head === null) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) return out;
        const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        this.buffer = this.buffer.subarray(end + 4);
        const m = /^(HTTP\/\d\.\d) (\d{3})/.exec(lines[0] ?? '');
        if (m === null) throw new Error(`not an HTTP response: ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`);
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon <= 0) continue;
          const name = line.slice(0, colon).trim().toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        const status = Number(m[2]);
        if (status >= 100 && status < 200) continue; // an interim response: the final one follows
        this.head = { version: m[1]!, status, headers };
        const length = headers['content-length'];
        this.body =
          status === 204 || status === 304
            ? 0
            : /chunked/i.test(headers['transfer-encoding'] ?? '')
              ? 'chunked'
              : length !== undefined
                ? Number(length)
                : 'close';
      }
      if (this.body === 'close') return out;
      if (this.body === 'chunked') {
        if (!this.skipChunks()) return out;
      } else {
        if (this.buffer.length < this.body) {
          this.body -= this.buffer.length;
          this.buffer = Buffer.alloc(0);
          return out;
        }
        this.buffer = this.buffer.subarray(this.body);
      }
      out.push({ ...this.head, at: now });
      this.head = null;
      this.body = 0;
    }
  }

  /** The connection ended: a response delimited by the close is complete now. */
  end(now: number): ProbeResponse | null {
    if (this.head === null || this.body !== 'close') return null;
    const response = { ...this.head, at: now };
    this.head = null;
    return response;
  }

  /** Skips whole chunks; true once the last chunk and the trailers are consumed. */
  private skipChunks(): boolean {
    for (;;) {
      const eol = this.buffer.indexOf('\r\n');
      if (eol < 0) return false;
      const size = parseInt(this.buffer.subarray(0, eol).toString('latin1'), 16);
      if (size === 0) {
        const end = this.buffer.indexOf('\r\n\r\n', eol);
        if (end >= 0 && end === eol) {
          this.buffer = this.buffer.subarray(eol + 4);
          return true;
        }
        const trailerEnd = this.buffer.indexOf('\r\n\r\n');
        if (trailerEnd < 0) return false;
        this.buffer = this.buffer.subarray(trailerEnd + 4);
        return true;
      }
      if (this.buffer.length < eol + 2 + size + 2) return false;
      this.buffer = this.buffer.subarray(eol + 2 + size + 2);
    }
  }
}

export interface OpenOptions {
  /** TLS options for this connection (versions, ALPN, a session to resume); ignored on http. */
  tls?: Pick<tls.ConnectionOptions, 'minVersion' | 'maxVersion' | 'ALPNProtocols' | 'session'>;
  /** Keep our side writable after the server's FIN (to send a request into a closed connection); plain TCP only. */
  allowHalfOpen?: boolean;
  /** Called with each TLS session the server gives (a ticket, a session id), from the handshake on. */
  onSession?: (session: Buffer) => void;
}

/** One connection: its responses in order, and how and when it ended. */
export class ProbeConnection {
  private readonly reader = new ResponseReader();
  private readonly responses: ProbeResponse[] = [];
  private readonly waiter: EventWaiter;
  /** How and when the connection ended, once it has. */
  closed: CloseInfo | null = null;
  /** Bytes that did not parse as HTTP (a server that does not speak HTTP/1.x). */
  protocolError: string | null = null;

  private constructor(
    readonly socket: net.Socket,
    private readonly ctx: ProbeContext,
  ) {
    this.waiter = new EventWaiter(ctx.signal);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.responses.push(...this.reader.push(chunk, ctx.now()));
      } catch (error) {
        this.protocolError = (error as Error).message;
        socket.destroy();
      }
      this.wake();
    });
    socket.on('end', () => this.ended('fin'));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.ended(error.code === 'ECONNRESET' || error.code === 'EPIPE' ? 'rst' : 'fin');
    });
    socket.on('close', () => {
      this.ended('fin');
      ctx.sockets.delete(socket);
    });
  }

  /** Opens a connection (one from the budget); rejects with UnreachableError or TlsHandshakeError. */
  static open(ctx: ProbeContext, options: OpenOptions = {}): Promise<ProbeConnection> {
    ctx.budget.takeConnection();
    const { host, port } = ctx.target;
    return new Promise<ProbeConnection>((resolve, reject) => {
      let connected = false;
      const socket = ctx.target.tls
        ? tls.connect({
            host,
            port,
            ...(net.isIP(host) === 0 ? { servername: host } : {}),
            rejectUnauthorized: !ctx.target.insecure,
            ALPNProtocols: ['http/1.1'],
            ...options.tls,
          })
        : net.connect({ host, port, allowHalfOpen: options.allowHalfOpen ?? false });
      ctx.sockets.add(socket);
      if (options.onSession !== undefined) socket.on('session', options.onSession);
      const timer = setTimeout(() => {
        fail(
          connected
            ? new TlsHandshakeError(`TLS handshake with ${host}:${port} did not finish within ${ctx.timeoutMs} ms`)
            : new UnreachableError(`connect to ${host}:${port} did not finish within ${ctx.timeoutMs} ms`),
        );
      }, ctx.timeoutMs);
      const offAbort = onAbort(ctx.signal, () => fail(ctx.signal.reason));
      socket.once('connect', () => (connected = true));
      socket.once('error', (error: NodeJS.ErrnoException & { reason?: string }) => {
        const code = error.code ?? '';
        // OpenSSL's messages run over several lines; its `reason` says the same in a few words.
        const why = error.reason ?? error.message.split('\n')[0]!;
        if (!connected && UNREACHABLE_CODES.has(code))
          fail(new UnreachableError(`cannot connect to ${host}:${port}: ${why}`, { cause: error }));
        else if (ctx.target.tls)
          fail(new TlsHandshakeError(`TLS handshake with ${host}:${port} failed: ${why}`, { cause: error }));
        else fail(new UnreachableError(`connection to ${host}:${port} failed: ${why}`, { cause: error }));
      });
      socket.once('close', () => {
        if (ctx.target.tls)
          fail(new TlsHandshakeError(`TLS handshake with ${host}:${port} failed: the server closed the connection`));
        else fail(new UnreachableError(`connection to ${host}:${port} closed at once`));
      });
      socket.once(ctx.target.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        offAbort();
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        resolve(new ProbeConnection(socket, ctx));
      });
      function fail(error: unknown) {
        clearTimeout(timer);
        offAbort();
        socket.destroy();
        ctx.sockets.delete(socket);
        reject(error);
      }
    });
  }

  /** Sends request bytes, `count` requests from the budget. */
  send(bytes: string, count = 1): void {
    this.ctx.budget.takeRequests(count);
    this.socket.write(bytes);
  }

  /** The usual request for this target (Host: the URL's host, with its port when not the default). */
  request(options: { version?: '1.0' | '1.1'; connection?: 'close' | 'keep-alive' } = {}): string {
    return requestBytes(this.ctx.target.path, this.ctx.target.url.host, options);
  }

  /**
   * The next response, or how the connection ended first, or `timeout` after `timeoutMs`
   * (default the context's). Rejects with the signal's reason on abort.
   */
  async nextResponse(timeoutMs = this.ctx.timeoutMs): Promise<WaitResult> {
    await this.waiter.until(() => this.responses.length > 0 || this.closed !== null, timeoutMs);
    const response = this.responses.shift();
    if (response !== undefined) return { kind: 'response', response };
    if (this.closed !== null) return { kind: 'closed', close: this.closed };
    return { kind: 'timeout' };
  }

  /** Waits `ms` unless the connection ends first: how it ended, or null when it is still open. */
  async idle(ms: number): Promise<CloseInfo | null> {
    await this.waiter.until(() => this.closed !== null, ms);
    return this.closed;
  }

  /** Ends the connection at once (no FIN wait). */
  destroy(): void {
    this.socket.destroy();
  }

  /** The negotiated TLS facts, on https. */
  get tlsSocket(): tls.TLSSocket | null {
    return this.socket instanceof tls.TLSSocket ? this.socket : null;
  }

  private ended(kind: CloseKind): void {
    if (this.closed !== null) return;
    const last = this.reader.end(this.ctx.now());
    if (last !== null) this.responses.push(last);
    this.closed = { kind, at: this.ctx.now() };
    this.wake();
  }

  private wake(): void {
    this.waiter.wake();
  }
}

/** Whether the connection persists after `response`: the one rule of RFC 9112 section 9.3 (decode/http1.ts). */
export function persists(response: ProbeResponse): boolean {
  const minor = Number(response.version.slice(-1));
  return isPersistent(minor, connectionOptions(response.headers['connection']));
}

/** Whether a response says `Connection: close`. */
export function saysClose(response: ProbeResponse): boolean {
  return (connectionOptions(response.headers['connection']) & ConnectionOption.CLOSE) !== 0;
}

/** Whether a response says `Connection: keep-alive`, which an HTTP/1.0 client needs to keep the connection. */
export function saysKeepAlive(response: ProbeResponse): boolean {
  const options = connectionOptions(response.headers['connection']);
  return (options & ConnectionOption.KEEP_ALIVE) !== 0 && (options & ConnectionOption.CLOSE) === 0;
}

/** The numbers of a `Keep-Alive: timeout=5, max=100` header (RFC 2068 section 19.7.1.1). */
export function parseKeepAlive(
  value: string | undefined,
): { timeoutS: number | null; max: number | null; raw: string } | null {
  if (value === undefined) return null;
  const param = (name: string) => {
    const m = new RegExp(`(?:^|[,;\\s])${name}\\s*=\\s*(\\d+)`, 'i').exec(value);
    return m ? Number(m[1]) : null;
  };
  return { timeoutS: param('timeout'), max: param('max'), raw: value };
}
