/**
 * The server's own account: connections accepted and requests per connection, from the events of
 * a Node http.Server (the lab's in-process server). Who closed first is read from the order of the
 * socket's 'end' (the client's FIN arrived) and 'finish' (our FIN went out) events.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Http1Counter } from '../analyze/http1-counter.js';
import { newConnectionRecord } from '../analyze/record.js';
import { computeTotals } from '../analyze/totals.js';
import { connectionOptions, isPersistent } from '../decode/http1.js';
import type { HttpRequestInfo, HttpResponseInfo } from '../decode/http1.js';
import { normalizeAddress } from '../model/endpoint.js';
import type { ConnectionRecord, HttpEvidence, ObserverReport } from '../model/report.js';
import { nowMicros } from '../model/time.js';
import type { Observer } from './observer.js';

interface Entry {
  record: ConnectionRecord;
  clientFinAt: number | null;
  serverFinAt: number | null;
  /** Counts the connection's requests and responses into its record, as the proxy and the analyzer do. */
  counter: Http1Counter;
  closed: boolean;
  reset: boolean;
}

export class ServerAccounting implements Observer {
  readonly name = 'server' as const;
  private readonly entries: Entry[] = [];
  private readonly bySocket = new WeakMap<Socket, Entry>();
  /** Messages that asked to close their connection (the counters add them up). */
  private readonly http: HttpEvidence = { serverClose: 0, clientClose: 0 };
  private readonly onConnection = (socket: Socket) => this.connection(socket);
  private readonly onRequest = (req: IncomingMessage, res: ServerResponse) => this.request(req, res);

  constructor(private readonly server: Server) {}

  async start(): Promise<void> {
    this.server.on('connection', this.onConnection);
    this.server.on('request', this.onRequest);
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
      counter: new Http1Counter(record, this.http),
      closed: false,
      reset: false,
    };
    this.entries.push(entry);
    this.bySocket.set(socket, entry);
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
    socket.once('close', () => {
      const r = entry.record;
      entry.closed = true;
      r.end = Date.now();
      r.bytesFromClient = socket.bytesRead;
      r.bytesFromServer = socket.bytesWritten;
      // destroy() without end() sends a FIN too (or a RST), without a 'finish' event.
      if (r.closedFirstBy === null && !entry.reset) r.closedFirstBy = 'server';
      if (entry.reset) r.resetBy = 'client';
      r.timeWait = entry.reset ? null : r.closedFirstBy;
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
      target: '',
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
