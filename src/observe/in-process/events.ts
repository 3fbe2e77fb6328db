/**
 * What an in-process source (the `register` tracker inside an app, or the `proxy`) tells its
 * listeners, one plain event at a time: the metrics exporter (observe/metrics/) and the reports are
 * both fed from it, so a count is computed once. Events are JSON-safe values; a listener must not
 * keep them past its call (the source may reuse nothing, but a listener that stores them grows).
 */
import type { Endpoint, Finding } from '../../model/report.js';

/** Why a connection closed, as far as the process can tell. */
export type CloseReason =
  /** The server closed it (FIN or `Connection: close`). */
  | 'server-closed'
  /** The client's pool dropped it: its idle pool was full (http.Agent `maxFreeSockets`, undici `connections`). */
  | 'pool-full'
  /** An idle or socket timeout of the client. */
  | 'timeout'
  /** A socket error (ECONNRESET, EPIPE, UND_ERR_SOCKET, ...). */
  | 'error'
  /** The client closed it for another reason (agent destroyed, `Connection: close` asked, dispose). */
  | 'client-closed'
  /** Still open when the process exited. */
  | 'process-exit'
  | 'unknown';

/** Which side closed first, when known. */
export type CloseInitiator = 'client' | 'server' | 'unknown';

/** One connection as the process knows it. */
export interface TrackedConnection {
  /** Unique in the process for its lifetime (a counter, not a file descriptor). */
  id: number;
  /** `http://host:port` or `https://host:port`. */
  origin: string;
  /** The server's name and port as the app asked for them (semantic conventions' server.address/port). */
  serverAddress: string;
  serverPort: number;
  /** 4-tuple once connected (null before, or when the socket never connected). */
  local: Endpoint | null;
  remote: Endpoint | null;
  /** '1.1' or '2' (semantic conventions' network.protocol.version). */
  protocolVersion: '1.0' | '1.1' | '2';
  tls: boolean;
  /** Which client made it. */
  client: 'node:http' | 'undici' | 'proxy';
}

export type InProcessEvent =
  | { type: 'connection-open'; at: number; connection: TrackedConnection }
  /** A connection goes busy (a request started on it) or idle (back in the pool). */
  | { type: 'connection-state'; at: number; connection: TrackedConnection; state: 'active' | 'idle' }
  | {
      type: 'request';
      at: number;
      connection: TrackedConnection;
      /** True when the connection had carried a request before. */
      reused: boolean;
      /** How long the connection sat idle before this request (null for a new connection). */
      idleMs: number | null;
      method: string;
    }
  | {
      type: 'response';
      at: number;
      connection: TrackedConnection;
      status: number;
      /** Request start to the response's headers. */
      ttfbMs: number;
    }
  | {
      type: 'request-error';
      at: number;
      connection: TrackedConnection | null;
      /** ECONNRESET, UND_ERR_SOCKET, ... */
      code: string;
      reused: boolean;
      idleMs: number | null;
    }
  | {
      type: 'connection-close';
      at: number;
      connection: TrackedConnection;
      reason: CloseReason;
      initiator: CloseInitiator;
      /** Requests it carried. */
      requests: number;
      /** Open to close. */
      durationMs: number;
    }
  | { type: 'finding'; at: number; finding: Finding };

export type InProcessListener = (event: InProcessEvent) => void;

/** A source of events: `subscribe` returns the function that unsubscribes. */
export interface InProcessSource {
  subscribe(listener: InProcessListener): () => void;
}
