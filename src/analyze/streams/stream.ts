/**
 * What rides on a TCP connection: one application protocol's analyzer (Zeek's application
 * analyzers), fed the two reassembled directions by the connection (analyze/tcp/connection.ts) and
 * never a packet. Each protocol is a StreamKind in the list of built-ins (streams/index.ts): the
 * first payload of a connection picks the kind that recognises it, which then makes the Stream.
 *
 * A new protocol (TLS, HTTP/2) is a new file here with its StreamKind, and one line in that list.
 */
import type { TlsKeySource } from '../../decode/tls-keylog.js';
import type { ConnectionRecord, HttpEvidence, Side } from '../../model/report.js';
import type { Micros } from '../../model/time.js';

/** What the streams of one tracker share (one object per tracker, nothing per connection). */
export interface StreamContext {
  /** Messages that asked to close their connection, over all connections. */
  readonly http: HttpEvidence;
  /** TLS secrets (a key log): TLS connections are decrypted and their plaintext analyzed. */
  readonly keys?: TlsKeySource;
  /** List each connection's request/response exchanges (ConnectionRecord.exchanges): reads request targets. */
  readonly exchanges?: boolean;
}

/** The analyzer of one connection's application bytes. */
export interface Stream {
  /**
   * Bytes from `side`, in order (a view into the capture: read it during the call, keep no reference).
   * Returns false when the bytes show this is not the stream's protocol after all, for good: the
   * connection feeds it nothing more (its describe() says so in the record).
   */
  data(side: Side, bytes: Uint8Array, ts: Micros): boolean;
  /** `missing` bytes from `side` were not captured (a hole given up, the snap length). */
  gap(side: Side, missing: number, ts: Micros): void;
  /** `side` sent its FIN: nothing more comes from it. */
  end(side: Side, ts: Micros): void;
  /** The connection is retired: nothing more comes at all; let go of what only parsing needed. */
  retire(): void;
  /** Notes on what happened on the way (in order): the first notes of the record. */
  readonly notes: readonly string[];
  /**
   * Writes what it found into the connection's record (requests, responses, status codes, idle gaps,
   * ...), and may add closing notes after the TCP ones already there. Called for every snapshot.
   */
  describe(record: ConnectionRecord): void;
}

/** A protocol that can ride on a connection: how to recognise it, how to analyze it. */
export interface StreamKind {
  /** The protocol as notes name it ("HTTP/1.x"). */
  readonly label: string;
  /**
   * Looks at the first payload of a connection (either side's): the side that sends such bytes (a
   * request: the client; a status line: the server), or null when they are not this protocol.
   */
  sniff(payload: Uint8Array): Side | null;
  create(context: StreamContext): Stream;
}

/** A kind that recognised a payload, and the side that sends such bytes. */
export interface Sniffed {
  readonly kind: StreamKind;
  readonly sender: Side;
}

/** The first of `kinds` that recognises `payload` (a connection's first), or null. */
export function sniffStream(kinds: readonly StreamKind[], payload: Uint8Array): Sniffed | null {
  for (const kind of kinds) {
    const sender = kind.sniff(payload);
    if (sender !== null) return { kind, sender };
  }
  return null;
}

/**
 * The note of a connection whose bytes are none of `kinds` (none recognised its first payload, or the
 * one that did found out otherwise): "not HTTP/1.x", "not A or B".
 */
export function notProtocolNote(kinds: readonly StreamKind[]): string {
  return `not ${kinds.map((k) => k.label).join(' or ')}`;
}
