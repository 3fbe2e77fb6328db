/**
 * The streams a connection can carry, in the order they are tried on its first payload. A new
 * protocol is one more StreamKind here (its file beside http1.ts).
 */
import type { Side } from '../../model/report.js';
import { http1 } from './http1.js';
import type { StreamKind } from './stream.js';
import { tls } from './tls.js';

export { notProtocolNote, type Stream, type StreamContext, type StreamKind } from './stream.js';

export const BUILT_IN_STREAMS: readonly StreamKind[] = [http1, tls];

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
