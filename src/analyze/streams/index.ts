/**
 * The streams a connection can carry, in the order they are tried on its first payload. A new
 * protocol is one more StreamKind here (its file beside http1.ts).
 */
import { http1 } from './http1.js';
import { http2 } from './http2.js';
import type { StreamKind } from './stream.js';
import { tls } from './tls.js';

export {
  notProtocolNote,
  sniffStream,
  type Sniffed,
  type Stream,
  type StreamContext,
  type StreamKind,
} from './stream.js';

/**
 * Their sniffs are disjoint, so the order steals nothing: HTTP/1.x wants a method or "HTTP/" (printable
 * ASCII, and not the version 2.0 of the h2 preface), HTTP/2 "PRI * HTTP/2.0" (0x50) or a server's
 * SETTINGS frame (its first octet 0: a length of at most 96), TLS a handshake record (0x16 0x03).
 */
export const BUILT_IN_STREAMS: readonly StreamKind[] = [http1, http2, tls];
