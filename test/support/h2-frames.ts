/**
 * HTTP/2 frames built in code for tests (RFC 9113 4.1 frame layout, 6 frame definitions,
 * https://www.rfc-editor.org/rfc/rfc9113), with header blocks in the simplest HPACK
 * (RFC 7541 6.2.2 literals without indexing, raw strings, or 6.1 indexed static entries): a test
 * reads the exact frames it feeds. `recordHttp2` turns every decoder event into one log line.
 */
import { FrameFlag, FrameType, HTTP2_CLIENT_PREFACE, type Http2Events } from '../../src/decode/http2.js';
import { concat, latin1Bytes } from './http-fixtures.js';

export { HTTP2_CLIENT_PREFACE, FrameFlag, FrameType };

/** A frame: 9-octet header then the payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = (payload.length >> 16) & 0xff;
  out[1] = (payload.length >> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId >>> 0);
  out.set(payload, 9);
  return out;
}

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0);
  return b;
}

/** An HPACK integer with an N-bit prefix (RFC 7541 5.1) whose first octet carries `high` bits. */
function hpackInt(value: number, prefixBits: number, high: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** Static entries whose name and value both match (RFC 7541 Appendix A), sent as one indexed octet. */
const STATIC_EXACT = new Map<string, number>([
  [':method GET', 2],
  [':method POST', 3],
  [':path /', 4],
  [':scheme http', 6],
  [':scheme https', 7],
  [':status 200', 8],
  [':status 204', 9],
  [':status 404', 13],
]);

/** A header block: indexed static entries where they match exactly, literals without indexing otherwise. */
export function headerBlock(fields: [string, string][]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const index = STATIC_EXACT.get(`${name} ${value}`);
    if (index !== undefined) {
      out.push(...hpackInt(index, 7, 0x80));
      continue;
    }
    out.push(0x00, ...hpackInt(name.length, 7, 0), ...latin1Bytes(name));
    out.push(...hpackInt(value.length, 7, 0), ...latin1Bytes(value));
  }
  return Uint8Array.from(out);
}

/** A dynamic table size update (RFC 7541 6.3), to put at the start of a block. */
export function sizeUpdate(size: number): Uint8Array {
  return Uint8Array.from(hpackInt(size, 5, 0x20));
}

export interface HeadersOptions {
  endStream?: boolean;
  /** Default true: the block is whole in this frame. */
  endHeaders?: boolean;
  padding?: number;
  priority?: { exclusive: boolean; dependency: number; weight: number };
}

/** HEADERS (RFC 9113 6.2) carrying `block` (a fragment of it when endHeaders is false). */
export function headers(streamId: number, block: Uint8Array, options: HeadersOptions = {}): Uint8Array {
  let flags = 0;
  if (options.endStream) flags |= FrameFlag.END_STREAM;
  if (options.endHeaders ?? true) flags |= FrameFlag.END_HEADERS;
  const parts: Uint8Array[] = [];
  if (options.padding !== undefined) {
    flags |= FrameFlag.PADDED;
    parts.push(Uint8Array.of(options.padding));
  }
  if (options.priority) {
    flags |= FrameFlag.PRIORITY;
    const p = options.priority;
    parts.push(u32(p.dependency | (p.exclusive ? 0x80000000 : 0)), Uint8Array.of(p.weight - 1));
  }
  parts.push(block, new Uint8Array(options.padding ?? 0));
  return frame(FrameType.HEADERS, flags, streamId, concat(parts));
}

export function continuation(streamId: number, fragment: Uint8Array, endHeaders = true): Uint8Array {
  return frame(FrameType.CONTINUATION, endHeaders ? FrameFlag.END_HEADERS : 0, streamId, fragment);
}

export function data(
  streamId: number,
  length: number,
  options: { endStream?: boolean; padding?: number } = {},
): Uint8Array {
  let flags = options.endStream ? FrameFlag.END_STREAM : 0;
  const body = new Uint8Array(length).fill(0x61);
  if (options.padding === undefined) return frame(FrameType.DATA, flags, streamId, body);
  flags |= FrameFlag.PADDED;
  return frame(
    FrameType.DATA,
    flags,
    streamId,
    concat([Uint8Array.of(options.padding), body, new Uint8Array(options.padding)]),
  );
}

export function settings(params: [number, number][]): Uint8Array {
  const payload = new Uint8Array(params.length * 6);
  const view = new DataView(payload.buffer);
  params.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value >>> 0);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const settingsAck = (): Uint8Array => frame(FrameType.SETTINGS, FrameFlag.ACK, 0);
export const ping = (ack = false): Uint8Array => frame(FrameType.PING, ack ? FrameFlag.ACK : 0, 0, new Uint8Array(8));
export const rstStream = (streamId: number, errorCode: number): Uint8Array =>
  frame(FrameType.RST_STREAM, 0, streamId, u32(errorCode));
export const windowUpdate = (streamId: number, increment: number): Uint8Array =>
  frame(FrameType.WINDOW_UPDATE, 0, streamId, u32(increment));
export const priority = (streamId: number, dependency: number, weight: number, exclusive = false): Uint8Array =>
  frame(
    FrameType.PRIORITY,
    0,
    streamId,
    concat([u32(dependency | (exclusive ? 0x80000000 : 0)), Uint8Array.of(weight - 1)]),
  );
export const goaway = (lastStreamId: number, errorCode: number, debug = ''): Uint8Array =>
  frame(FrameType.GOAWAY, 0, 0, concat([u32(lastStreamId), u32(errorCode), latin1Bytes(debug)]));
export const pushPromise = (streamId: number, promised: number, block: Uint8Array): Uint8Array =>
  frame(FrameType.PUSH_PROMISE, FrameFlag.END_HEADERS, streamId, concat([u32(promised), block]));

/** A request's header block: method, scheme http, path, authority, then `extra` fields. */
export function requestBlock(method: string, path: string, extra: [string, string][] = []): Uint8Array {
  return headerBlock([
    [':method', method],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'example.test'],
    ...extra,
  ]);
}

export function responseBlock(status: number, extra: [string, string][] = []): Uint8Array {
  return headerBlock([[':status', String(status)], ...extra]);
}

/** Every decoder event as one log line (timestamps left out: splits may move them). */
export function recordHttp2(log: string[]): Http2Events {
  return {
    headers: (side, b) =>
      log.push(
        `${side} HEADERS ${b.streamId}${b.endStream ? ' END_STREAM' : ''}` +
          `${b.priority ? ` prio=${b.priority.dependency}/${b.priority.weight}${b.priority.exclusive ? 'x' : ''}` : ''} ` +
          b.fields.map((f) => `${f.name}=${f.value}`).join(' ') +
          (b.error ? ` error=${b.error.code}` : ''),
      ),
    pushPromise: (side, b) =>
      log.push(`${side} PUSH_PROMISE ${b.streamId} promised=${b.promisedStreamId} ${b.method} ${b.path}`),
    data: (side, d) => log.push(`${side} DATA ${d.streamId} ${d.length}${d.endStream ? ' END_STREAM' : ''}`),
    rstStream: (side, r) => log.push(`${side} RST_STREAM ${r.streamId} ${r.errorCode}`),
    settings: (side, s) =>
      log.push(
        `${side} SETTINGS${s.ack ? ' ACK' : ''} ${s.params.map((p) => `${p.name}=${p.value}`).join(' ')}`.trim(),
      ),
    ping: (side, p) => log.push(`${side} PING${p.ack ? ' ACK' : ''}`),
    goaway: (side, g) => log.push(`${side} GOAWAY last=${g.lastStreamId} code=${g.errorCode} debug=${g.debugLength}`),
    windowUpdate: (side, w) => log.push(`${side} WINDOW_UPDATE ${w.streamId} +${w.increment}`),
    priority: (side, p) =>
      log.push(`${side} PRIORITY ${p.streamId} on ${p.dependency}/${p.weight}${p.exclusive ? 'x' : ''}`),
    problem: (side, p) => log.push(`${side} problem ${p.code} on ${p.streamId}: ${p.message}`),
    lost: (side, reason, atByte) => log.push(`${side} lost at ${atByte}: ${reason}`),
  };
}
