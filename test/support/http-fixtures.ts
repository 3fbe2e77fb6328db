/**
 * Test helpers for the HTTP/1.x framer (src/decode/http1.ts): HTTP messages built from text, an
 * event recorder that turns every framer callback into one line of a log, and a player that feeds a
 * scripted conversation (client bytes, server bytes, gaps, FINs) with any chunking.
 *
 * Message syntax: RFC 9112 (https://www.rfc-editor.org/rfc/rfc9112); a test reads best with the
 * exact bytes in sight, so messages are written as strings with explicit "\r\n".
 */
import {
  Http1Connection,
  type Http1Events,
  type HttpRequestInfo,
  type HttpResponseInfo,
} from '../../src/decode/http1.js';

/** Text to bytes, one byte per char (ISO-8859-1), so any byte value can be written "\xNN". */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A chunked body (RFC 9112 7.1) from its chunks, with an optional extension and trailer fields. */
export function chunked(chunks: string[], options: { ext?: string; trailers?: string[] } = {}): string {
  const ext = options.ext ?? '';
  let out = '';
  for (const c of chunks) out += `${c.length.toString(16)}${ext}\r\n${c}\r\n`;
  out += `0${ext}\r\n`;
  for (const t of options.trailers ?? []) out += `${t}\r\n`;
  return `${out}\r\n`;
}

/** One step of a conversation, in the order the framer sees it. */
export type Step =
  | { side: 'client' | 'server'; data: string | Uint8Array; ts?: number }
  | { side: 'client' | 'server'; gap: number; ts?: number }
  | { side: 'client' | 'server'; end: true; ts?: number };

export const client = (data: string | Uint8Array, ts?: number): Step =>
  ts === undefined ? { side: 'client', data } : { side: 'client', data, ts };
export const server = (data: string | Uint8Array, ts?: number): Step =>
  ts === undefined ? { side: 'server', data } : { side: 'server', data, ts };
export const gap = (side: 'client' | 'server', length: number, ts?: number): Step =>
  ts === undefined ? { side, gap: length } : { side, gap: length, ts };
export const fin = (side: 'client' | 'server', ts?: number): Step =>
  ts === undefined ? { side, end: true } : { side, end: true, ts };

const describeRequest = (r: HttpRequestInfo | null): string => (r === null ? '-' : `${r.method} ${r.target}`);

/** Events as log lines; `withTs` adds the timestamp to each (off when splits may move them). */
export function recorder(log: string[], withTs = true): Http1Events {
  const at = (ts: number): string => (withTs ? ` @${ts}` : '');
  return {
    request: (r) =>
      log.push(
        `request ${r.method} ${r.target} HTTP/${r.version} keepAlive=${r.keepAlive} ` +
          `connection=${r.connectionHeader ?? '-'}${r.cut === true ? ' cut' : ''}${at(r.ts)}`,
      ),
    requestEnd: (ts) => log.push(`requestEnd${at(ts)}`),
    response: (r: HttpResponseInfo) =>
      log.push(
        `response ${r.status}${r.informational ? ' informational' : ''} HTTP/${r.version} keepAlive=${r.keepAlive} ` +
          `connection=${r.connectionHeader ?? '-'} for=${describeRequest(r.request)}${r.cut === true ? ' cut' : ''}` +
          at(r.ts),
      ),
    responseEnd: (r, ts) => log.push(`responseEnd ${r.status} for=${describeRequest(r.request)}${at(ts)}`),
    upgrade: (side, ts) => log.push(`upgrade ${side}${at(ts)}`),
    lost: (side, reason, atByte) => log.push(`lost ${side} at ${atByte}: ${reason}`),
    cut: (side) => log.push(`cut ${side}`),
  };
}

export interface Played {
  conn: Http1Connection;
  log: string[];
  /** The largest bufferedBytes seen after any call. */
  maxBuffered: number;
}

/**
 * Feeds a conversation. `split` cuts the data of step `index` into chunks (default: whole); each
 * step's timestamp is its `ts` or its index, the same for all its chunks, so splitting never moves
 * an event in time.
 */
export function play(
  steps: Step[],
  split: (data: Uint8Array, index: number) => Uint8Array[] = (data) => [data],
  options?: { maxHeadBytes?: number; maxPendingRequests?: number },
): Played {
  const log: string[] = [];
  const conn = new Http1Connection(recorder(log), options);
  let maxBuffered = 0;
  steps.forEach((step, index) => {
    const ts = step.ts ?? index;
    if ('data' in step) {
      const data = typeof step.data === 'string' ? latin1Bytes(step.data) : step.data;
      for (const piece of split(data, index)) {
        if (step.side === 'client') conn.client(piece, ts);
        else conn.server(piece, ts);
        maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
      }
    } else if ('gap' in step) {
      conn.gap(step.side, step.gap, ts);
    } else {
      conn.end(step.side, ts);
    }
  });
  return { conn, log, maxBuffered };
}

/** Splitters for play(). */
export const whole = (data: Uint8Array): Uint8Array[] => [data];
export const byteAtATime = (data: Uint8Array): Uint8Array[] =>
  Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
/** Cuts step `step` at `offset` (two chunks, the first possibly empty); other steps whole. */
export const cutAt =
  (step: number, offset: number) =>
  (data: Uint8Array, index: number): Uint8Array[] =>
    index === step ? [data.subarray(0, offset), data.subarray(offset)] : [data];
/** Cuts every step at the given offsets (sorted, in range). */
export const cutEvery =
  (offsets: number[]) =>
  (data: Uint8Array): Uint8Array[] => {
    const out: Uint8Array[] = [];
    let from = 0;
    for (const o of offsets) {
      const to = Math.min(Math.max(o, from), data.length);
      out.push(data.subarray(from, to));
      from = to;
    }
    out.push(data.subarray(from));
    return out;
  };

/** Total data bytes of a step (0 for gaps and FINs). */
export function stepLength(step: Step): number {
  return 'data' in step ? step.data.length : 0;
}
