/**
 * The server's own account: connections accepted and requests per connection, from the events of
 * a Node http.Server (the lab's in-process server). Who closed first is read from the order of the
 * socket's 'end' (the client's FIN arrived) and 'finish' (our FIN went out) events.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { newConnectionRecord } from '../analyze/record.js';
import { computeTotals } from '../analyze/totals.js';
import { normalizeAddress } from '../model/endpoint.js';
import type { ConnectionRecord, ObserverReport } from '../model/report.js';
import type { Observer } from './observer.js';

interface Entry {
  record: ConnectionRecord;
  clientFinAt: number | null;
  serverFinAt: number | null;
  lastResponseEnd: number | null;
  closed: boolean;
  reset: boolean;
}

export class ServerAccounting implements Observer {
  readonly name = 'server' as const;
  private readonly entries: Entry[] = [];
  private readonly bySocket = new WeakMap<Socket, Entry>();
  private serverClose = 0;
  private clientClose = 0;
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
      http: { serverClose: this.serverClose, clientClose: this.clientClose },
      connections,
      warnings: [],
    };
  }

  private connection(socket: Socket): void {
    const now = Date.now();
    const entry: Entry = {
      record: newConnectionRecord(
        this.entries.length + 1,
        { address: normalizeAddress(socket.remoteAddress), port: socket.remotePort ?? 0 },
        { address: normalizeAddress(socket.localAddress), port: socket.localPort ?? 0 },
        now,
      ),
      clientFinAt: null,
      serverFinAt: null,
      lastResponseEnd: null,
      closed: false,
      reset: false,
    };
    this.entries.push(entry);
    this.bySocket.set(socket, entry);
    socket.once('end', () => {
      entry.clientFinAt ??= Date.now();
      if (entry.record.closedFirstBy === null) entry.record.closedFirstBy = 'client';
    });
    socket.once('finish', () => {
      entry.serverFinAt ??= Date.now();
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

  private request(req: IncomingMessage, res: ServerResponse): void {
    const entry = this.bySocket.get(req.socket);
    if (entry === undefined) return;
    const now = Date.now();
    const r = entry.record;
    r.requests++;
    if (entry.lastResponseEnd !== null) r.idleGapsMs.push(Math.max(0, now - entry.lastResponseEnd));
    if (
      !req.headers.connection?.toLowerCase().includes('keep-alive') &&
      (req.httpVersion === '1.0' || req.headers.connection?.toLowerCase().includes('close'))
    ) {
      this.clientClose++;
    }
    res.once('finish', () => {
      r.responses++;
      r.statusCodes.push(res.statusCode);
      entry.lastResponseEnd = Date.now();
      const connection = String(res.getHeader('connection') ?? '').toLowerCase();
      if (connection.includes('close') || (req.httpVersion === '1.0' && !connection.includes('keep-alive')))
        this.serverClose++;
    });
  }
}
