/**
 * Client drivers: node:http (node:https for an https:// URL, with its own Agent), fetch (Node's
 * built-in undici, with its own dispatcher) and node:http2 (one session for every request), each
 * behind the same tiny interface so the engine never knows which it drives. Each experiment gets a
 * fresh pool, closed at the end like a program that exits (which is what the article's Go program does).
 *
 * TLS (the lab's https and h2 servers): each client trusts the lab's run-time certificate and that
 * alone (`ca`), and hands every line of its NSS key log to `tls.onKeylog` (Node's 'keylog' event),
 * for the wire to decrypt what it captured. node:https and node:http2 take both as options. Node's
 * fetch takes neither (no `ca`, and undici's own connector keeps its sockets to itself): its dispatcher
 * is given a connector of ours, tls.connect with the lab's `ca` and a 'keylog' listener, that keeps
 * TLS sessions per host as undici's own connector does (its SessionCache); the HTTP/1.1 client on top
 * is undici's, unchanged. Without that, fetch could trust the certificate only through a child process
 * started with NODE_EXTRA_CA_CERTS (and --tls-keylog): a second program, not the lab's.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { ExperimentConfig } from '../model/report.js';

/** A request other than a plain GET (a finding scenario's POST). */
export interface RequestOptions {
  /** Default GET. */
  method?: string;
  /** A body to send (with a Content-Length). */
  body?: string;
  /**
   * Send the request's bytes only once this settles. node:http takes the request's socket from its
   * pool at once (so a socket chosen before a FIN arrived carries bytes sent after it: the race
   * scenario); fetch and node:http2, which take theirs as they send, just start then.
   */
  sendWhen?: Promise<void>;
}

export interface ClientDriver {
  /** One request; resolves when the response is done with (read to the end, or left unread). */
  request(options?: RequestOptions): Promise<void>;
  /** Close the pool: every socket, idle or busy, is closed. */
  close(): Promise<void>;
}

/** What a client needs to speak TLS to the lab's server. */
export interface ClientTls {
  /** The certificate to trust (PEM): the lab's, made at run time. Null: the system's store (a --target). */
  ca: string | null;
  /** Each line of the client's NSS key log (with its newline), as its connections make secrets. */
  onKeylog?: (line: Buffer) => void;
}

/** TLS sessions a client keeps to offer again, per host (node:https's Agent keeps up to 100 too). */
const MAX_CACHED_SESSIONS = 100;

export function createDriver(
  config: ExperimentConfig,
  url: string,
  tlsOptions: ClientTls = { ca: null },
): ClientDriver {
  if (config.client === 'http2') return new Http2Driver(config, url, tlsOptions);
  return config.client === 'fetch' ? new FetchDriver(config, url, tlsOptions) : new HttpDriver(config, url, tlsOptions);
}

/**
 * tls.connect as every TLS client of the lab opens its own connections: to `url`'s host and port,
 * trusting the lab's `ca`, its key log lines handed to `onKeylog`; `extra` adds ALPN, a session...
 */
export function labTlsConnect(url: URL, tlsOptions: ClientTls, extra: tls.ConnectionOptions): tls.TLSSocket {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const socket = tls.connect({
    host,
    port: Number(url.port || 443),
    // No SNI for an address (RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted").
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(tlsOptions.ca !== null ? { ca: tlsOptions.ca } : {}),
    ...extra,
  });
  if (tlsOptions.onKeylog !== undefined) socket.on('keylog', tlsOptions.onKeylog);
  return socket;
}

class HttpDriver implements ClientDriver {
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;
  /** Responses left unread keep their socket busy: they are destroyed with the agent at close(). */
  private readonly unread = new Set<http.IncomingMessage>();

  constructor(
    private readonly config: ExperimentConfig,
    private readonly url: string,
    tlsOptions: ClientTls,
  ) {
    const pool = {
      keepAlive: config.keepAlive,
      maxSockets: config.maxSockets ?? Infinity,
      maxFreeSockets: config.maxFreeSockets,
    };
    if (url.startsWith('https:')) {
      this.mod = https;
      const agent = new https.Agent({
        ...pool,
        // The Agent keeps each host's TLS sessions and offers them on its next connections.
        maxCachedSessions: config.tlsResumption ? MAX_CACHED_SESSIONS : 0,
        ...(tlsOptions.ca !== null ? { ca: tlsOptions.ca } : {}),
      });
      const onKeylog = tlsOptions.onKeylog;
      if (onKeylog !== undefined) agent.on('keylog', (line: Buffer) => onKeylog(line));
      this.agent = agent;
    } else {
      this.mod = http;
      this.agent = new http.Agent(pool);
    }
  }

  request(options: RequestOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      const method = options.method ?? 'GET';
      const req = this.mod.request(this.url, { agent: this.agent, method }, (res) => {
        if (!this.config.consumeBody) {
          // Like a Go program that never reads nor closes resp.Body: the socket stays busy.
          this.unread.add(res);
          resolve();
          return;
        }
        res.on('error', reject);
        res.on('end', () => resolve());
        res.resume();
      });
      req.on('error', reject);
      if (options.sendWhen === undefined) req.end(options.body);
      else
        options.sendWhen.then(
          () => req.end(options.body),
          (error: unknown) => req.destroy(error instanceof Error ? error : new Error(String(error))),
        );
    });
  }

  async close(): Promise<void> {
    for (const res of this.unread) res.destroy();
    this.unread.clear();
    this.agent.destroy();
  }
}

/** The minimal surface of undici's Agent that Node's fetch accepts as `dispatcher`. */
interface Dispatcher {
  close(): Promise<void>;
  destroy(): Promise<void>;
}
type DispatcherClass = new (options: Record<string, unknown>) => Dispatcher;

/**
 * Node's built-in fetch has no public Agent class without installing undici itself; the global
 * dispatcher (undici's Agent, registered under Symbol.for('undici.globalDispatcher.1'), the
 * interoperability slot undici documents) gives us its constructor, so we measure Node's own fetch.
 */
async function undiciAgentClass(): Promise<DispatcherClass> {
  const slot = Symbol.for('undici.globalDispatcher.1');
  const globals = globalThis as unknown as Record<symbol, Dispatcher | undefined>;
  if (globals[slot] === undefined) await (await fetch('data:,')).arrayBuffer(); // created lazily
  const dispatcher = globals[slot];
  if (dispatcher === undefined)
    throw new Error("this Node.js has no undici global dispatcher: fetch can't be configured");
  return dispatcher.constructor as DispatcherClass;
}

/** What undici gives a connector (lib/core/connect.js), as far as we read it. */
interface ConnectParams {
  hostname: string;
  protocol: string;
  port: string;
}
type ConnectCallback = (error: Error | null, socket: tls.TLSSocket | null) => void;

/**
 * A connector for undici (its `connect` option) that opens TLS as undici's own does (tls.connect,
 * ALPN http/1.1, the host's last session offered again) and also trusts the lab's `ca` and hands the
 * key log on (see the top of this file). Plain http:// is left to undici: this is for https only.
 */
function labConnector(config: ExperimentConfig, tlsOptions: ClientTls) {
  const sessions = new Map<string, Buffer>();
  return (params: ConnectParams, callback: ConnectCallback): tls.TLSSocket => {
    const url = new URL(`https://${params.hostname}:${params.port || 443}`);
    const key = url.host;
    const session = config.tlsResumption ? sessions.get(key) : undefined;
    const socket = labTlsConnect(url, tlsOptions, {
      ALPNProtocols: ['http/1.1'],
      ...(session !== undefined ? { session } : {}),
    });
    if (config.tlsResumption)
      socket.on('session', (s: Buffer) => {
        if (sessions.size >= MAX_CACHED_SESSIONS && !sessions.has(key)) return;
        sessions.set(key, s);
      });
    socket.setNoDelay(true);
    const onError = (error: Error) => callback(error, null);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      callback(null, socket);
    });
    return socket;
  };
}

class FetchDriver implements ClientDriver {
  private dispatcher: Promise<Dispatcher>;
  private readonly bodies = new Set<ReadableStream<Uint8Array>>();

  constructor(
    private readonly config: ExperimentConfig,
    private readonly url: string,
    tlsOptions: ClientTls,
  ) {
    const secure = url.startsWith('https:');
    this.dispatcher = undiciAgentClass().then(
      (Agent) =>
        new Agent({
          // pipelining: 0 is undici's way to turn keep-alive off.
          pipelining: config.keepAlive ? 1 : 0,
          ...(config.maxSockets !== null ? { connections: config.maxSockets } : {}),
          ...(secure ? { connect: labConnector(config, tlsOptions) } : {}),
        }),
    );
  }

  async request(options: RequestOptions = {}): Promise<void> {
    if (options.sendWhen !== undefined) await options.sendWhen;
    const dispatcher = await this.dispatcher;
    const init = { dispatcher, method: options.method ?? 'GET', body: options.body };
    const res = await fetch(this.url, init as RequestInit);
    if (this.config.consumeBody) {
      await res.arrayBuffer();
    } else if (res.body) {
      this.bodies.add(res.body);
    }
  }

  async close(): Promise<void> {
    for (const body of this.bodies) await body.cancel().catch(() => {});
    this.bodies.clear();
    await (await this.dispatcher).destroy();
  }
}

/**
 * node:http2: one session (one TLS connection, ALPN h2) for every request, each request a stream;
 * concurrent requests are concurrent streams. Keep-alive and the idle pool mean nothing here.
 */
class Http2Driver implements ClientDriver {
  private session: ClientHttp2Session | null = null;
  private readonly origin: URL;

  constructor(
    private readonly config: ExperimentConfig,
    url: string,
    private readonly tlsOptions: ClientTls,
  ) {
    this.origin = new URL(url);
    if (this.origin.protocol !== 'https:') throw new Error(`the http2 client speaks h2 over TLS: ${url} is not https`);
  }

  private connect(): ClientHttp2Session {
    if (this.session !== null && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(this.origin, {
      createConnection: () => labTlsConnect(this.origin, this.tlsOptions, { ALPNProtocols: ['h2'] }),
    });
    // A failed session fails its streams (their own 'error'); this keeps it from being unhandled.
    session.on('error', () => undefined);
    this.session = session;
    return session;
  }

  request(options: RequestOptions = {}): Promise<void> {
    const { sendWhen, ...now } = options;
    if (sendWhen !== undefined) return sendWhen.then(() => this.request(now));
    return new Promise((resolve, reject) => {
      const stream = this.connect().request(
        { ':method': options.method ?? 'GET', ':path': this.origin.pathname },
        { endStream: options.body === undefined },
      );
      stream.on('error', reject);
      if (!this.config.consumeBody) {
        stream.once('response', () => resolve());
      } else {
        stream.on('end', () => resolve());
        stream.resume();
      }
      if (options.body !== undefined) stream.end(options.body);
    });
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (session === null || session.destroyed) return;
    // GOAWAY, then the connection closes once no stream is open; streams left unread are cut.
    await new Promise<void>((resolve) => {
      session.close(() => resolve());
      if (!this.config.consumeBody) session.destroy();
    });
  }
}
