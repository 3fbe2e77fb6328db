/**
 * The server's own account: connections accepted and requests per connection, from the events of
 * a Node http.Server, https.Server or Http2SecureServer (the lab's in-process server). Who closed
 * first is read from the order of the socket's 'end' (the client's FIN arrived) and 'finish' (our
 * FIN went out) events: on TLS, the TLSSocket's.
 *
 * TLS: each connection's session as the server's OpenSSL tells it (`tls` on the record: version,
 * cipher suite, SNI, the ALPN protocol chosen, and `handshake`, `resumed` when
 * `tlsSocket.isSessionReused()`); the server does not see what the client offered (ALPN, a session),
 * nor records: those fields stay empty (`alpnOffered` [], `resumptionOffered` null, counts 0).
 * HTTP/2: each stream the client opened is a request, its response counted when sent, and the most
 * streams open at once (`http2.peakConcurrentStreams`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import type { Server, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Http1Counter } from '../analyze/http1-counter.js';
import { newConnectionRecord } from '../analyze/record.js';
import { computeTotals } from '../analyze/totals.js';
import { connectionOptions, isPersistent } from '../decode/http1.js';
import type { HttpRequestInfo, HttpResponseInfo } from '../decode/http1.js';
import { normalizeAddress } from '../model/endpoint.js';
import type { ConnectionRecord, HttpEvidence, ObserverReport } from '../model/report.js';
import { nowMicros } from '../model/time.js';
import type { Observer } from './observer.js';
import { tlsSocketFacts } from './tls-facts.js';

interface Entry {
  record: ConnectionRecord;
  clientFinAt: number | null;
  serverFinAt: number | null;
  /** Counts the connection's requests and responses into its record, as the proxy and the analyzer do. */
  counter: Http1Counter;
  closed: boolean;
  reset: boolean;
  /** The connection's TCP socket: its byte counts are the wire's (TLS records included). */
  tcp: Socket;
  /** The TLS socket over it, once its handshake is done. */
  secure: TLSSocket | null;
  /** HTTP/2 streams open now. */
  openStreams: number;
}

/** Live connections by the client's address and port: how a TLSSocket or an HTTP/2 session finds its connection. */
function peerKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${normalizeAddress(socket.remoteAddress)}|${socket.remotePort ?? 0}`;
}

export class ServerAccounting implements Observer {
  readonly name = 'server' as const;
  private readonly entries: Entry[] = [];
  private readonly bySocket = new WeakMap<Socket, Entry>();
  private readonly byPeer = new Map<string, Entry>();
  /** Messages that asked to close their connection (the counters add them up). */
  private readonly http: HttpEvidence = { serverClose: 0, clientClose: 0 };
  private readonly onConnection = (socket: Socket) => this.connection(socket);
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse) => this.request(req, res);
  private readonly onSecure = (socket: TLSSocket) => this.secureConnection(socket);
  private readonly onSession = (session: Http2Session) => this.session(session);

  /** An http.Server, an https.Server or an Http2SecureServer. */
  constructor(
    private readonly server: Server,
    /** `exchanges`: list each connection's requests and responses (ConnectionRecord.exchanges). */
    private readonly options: { exchanges?: boolean } = {},
  ) {}

  async start(): Promise<void> {
    this.server.on('connection', this.onConnection);
    this.server.on('request', this.onRequest);
    this.server.on('secureConnection', this.onSecure);
    this.server.on('session', this.onSession);
  }

  settled(expectedConnections: number): boolean {
    return this.entries.length >= expectedConnections && this.entries.every((e) => e.closed);
  }

  get openConnections(): number {
    return this.entries.filter((e) => !e.closed).length;
  }

  get connectionCount(): number {
    return this.entries.length;
  }

  async close(): Promise<void> {
    this.server.off('connection', this.onConnection);
    this.server.off('request', this.onRequest);
    this.server.off('secureConnection', this.onSecure);
    this.server.off('session', this.onSession);
  }

  async stop(): Promise<ObserverReport> {
    await this.close();
    const connections = this.entries.map((e) => ({ ...e.record, openAtEnd: !e.closed }));
    return {
      observer: 'server',
      available: true,
      seesRequests: true,
      totals: computeTotals(connections, null),
      http: { ...this.http },
      connections,
      warnings: [],
    };
  }

  private connection(socket: Socket): void {
    const now = Date.now();
    const record = newConnectionRecord(
      this.entries.length + 1,
      { address: normalizeAddress(socket.remoteAddress), port: socket.remotePort ?? 0 },
      { address: normalizeAddress(socket.localAddress), port: socket.localPort ?? 0 },
      now,
    );
    const entry: Entry = {
      record,
      clientFinAt: null,
      serverFinAt: null,
      counter: new Http1Counter(record, this.http, this.options.exchanges === true),
      closed: false,
      reset: false,
      tcp: socket,
      secure: null,
      openStreams: 0,
    };
    this.entries.push(entry);
    this.bySocket.set(socket, entry);
    const key = peerKey(socket);
    this.byPeer.set(key, entry);
    this.follow(entry, socket);
    // On TLS the closing events come on the TLSSocket (see secureConnection); the TCP socket's own
    // 'close' comes first, and ends the record only of a connection that never finished its handshake.
    socket.once('close', () => {
      if (entry.secure === null) this.closed(entry, socket);
    });
  }

  /** Who closed first and resets, from a socket's events: the TCP socket, then its TLSSocket. */
  private follow(entry: Entry, socket: Socket): void {
    socket.once('end', () => {
      entry.clientFinAt ??= Date.now();
      entry.record.clientFinAt ??= entry.clientFinAt;
      if (entry.record.closedFirstBy === null) entry.record.closedFirstBy = 'client';
    });
    socket.once('finish', () => {
      entry.serverFinAt ??= Date.now();
      entry.record.serverFinAt ??= entry.serverFinAt;
      if (entry.record.closedFirstBy === null) entry.record.closedFirstBy = 'server';
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') entry.reset = true;
    });
  }

  /** The connection ended; `tcp`: its TCP socket, whose bytes are those on the wire (TLS records included). */
  private closed(entry: Entry, tcp: Socket): void {
    if (entry.closed) return;
    const r = entry.record;
    entry.closed = true;
    this.byPeer.delete(peerKey(tcp));
    r.end = Date.now();
    r.bytesFromClient = tcp.bytesRead;
    r.bytesFromServer = tcp.bytesWritten;
    // destroy() without end() sends a FIN too (or a RST), without a 'finish' event.
    if (r.closedFirstBy === null && !entry.reset) r.closedFirstBy = 'server';
    if (entry.reset) r.resetBy = 'client';
    r.timeWait = entry.reset ? null : r.closedFirstBy;
  }

  /** A TLS handshake done: the connection's session, and its TLSSocket's events from now on. */
  private secureConnection(socket: TLSSocket): void {
    const entry = this.byPeer.get(peerKey(socket));
    if (entry === undefined) return;
    entry.secure = socket;
    entry.record.tls = tlsSocketFacts(socket);
    this.bySocket.set(socket, entry);
    this.follow(entry, socket);
    socket.once('close', () => this.closed(entry, entry.tcp));
  }

  /** An HTTP/2 session: each stream the client opens is a request on its connection. */
  private session(session: Http2Session): void {
    const socket = session.socket;
    if (socket === null || socket === undefined) return;
    const entry = this.byPeer.get(peerKey(socket));
    if (entry === undefined) return;
    const facts = (entry.record.http2 ??= {
      // The lab's HTTP/2 is over TLS, chosen by ALPN (RFC 9113 3.2).
      start: 'alpn',
      pushed: 0,
      peakConcurrentStreams: 0,
      maxConcurrentStreams: { client: null, server: null },
      rstStream: { client: 0, server: 0, codes: {} },
      goaway: [],
      refused: { rstStream: 0, afterGoaway: 0 },
    });
    session.on('stream', (stream: ServerHttp2Stream) => {
      const r = entry.record;
      r.requests++;
      entry.openStreams++;
      facts.peakConcurrentStreams = Math.max(facts.peakConcurrentStreams, entry.openStreams);
      stream.once('close', () => {
        entry.openStreams--;
        const status = stream.sentHeaders?.[':status'];
        if (typeof status === 'number' && status >= 200) {
          r.responses++;
          r.statusCodes.push(status);
        }
      });
    });
  }

  /**
   * The same events the framer gives, built from Node's objects: the request when its head is read,
   * the response (head and end at once) when it has been sent. Persistence as RFC 9112 9.3 says, for
   * the request's HTTP version and each message's Connection options (Node answers in the version of
   * the request, as far as persistence goes).
   */
  private request(req: IncomingMessage, res: ServerResponse): void {
    const entry = this.bySocket.get(req.socket);
    if (entry === undefined) return;
    const connectionHeader = req.headers.connection ?? null;
    const request: HttpRequestInfo = {
      method: req.method ?? '',
      target: this.options.exchanges === true ? (req.url ?? '') : '',
      version: req.httpVersion,
      ts: nowMicros(),
      keepAlive: isPersistent(req.httpVersionMinor, connectionOptions(connectionHeader)),
      connectionHeader,
    };
    entry.counter.request(request);
    res.once('finish', () => {
      const header = res.getHeader('connection');
      const connection = header === undefined ? null : typeof header === 'number' ? String(header) : header;
      const response: HttpResponseInfo = {
        status: res.statusCode,
        version: req.httpVersion,
        ts: nowMicros(),
        keepAlive: isPersistent(req.httpVersionMinor, connectionOptions(connection)),
        connectionHeader: connection === null || typeof connection === 'string' ? connection : connection.join(', '),
        request,
        informational: false,
      };
      entry.counter.response(response);
      entry.counter.responseEnd(response, response.ts);
    });
  }
}
