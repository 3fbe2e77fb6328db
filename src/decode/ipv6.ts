/**
 * IPv6 header and extension headers (RFC 8200, https://www.rfc-editor.org/rfc/rfc8200).
 *
 * |Version| Traffic Class |           Flow Label                  |   fixed header, 40 bytes
 * |         Payload Length        |  Next Header  |   Hop Limit   |   (RFC 8200 section 3)
 * |                    Source Address (16 bytes)                  |
 * |                  Destination Address (16 bytes)               |
 *
 * Extension headers chain through Next Header (section 4); AH is RFC 4302 section 2.
 * Text form of addresses: RFC 5952 (https://www.rfc-editor.org/rfc/rfc5952).
 */
import { formatIpv6 } from '../model/endpoint.js';
import { Layer, u16be, type LayerStatus } from './cursor.js';
import { IP_PROTOCOL_TCP, type IpResult } from './ipv4.js';

/** RFC 5952 text of 16 bytes: one formatter for the decoders and the parsers of addresses typed by users. */
export { formatIpv6 };

export const IPV6_HEADER_LENGTH = 40;
const IPV6_VERSION = 6;
/** Offset of the Payload Length field in the fixed header. */
export const IPV6_PAYLOAD_LENGTH_OFFSET = 4;
const SOURCE_OFFSET = 8;
const DESTINATION_OFFSET = 24;

/** Next Header values of the extension headers we walk (IANA protocol numbers). */
export const Ipv6Header = {
  HOP_BY_HOP: 0,
  ROUTING: 43,
  FRAGMENT: 44,
  /** Authentication Header (RFC 4302): its length counts 4-byte words, minus 2. */
  AUTHENTICATION: 51,
  DESTINATION_OPTIONS: 60,
} as const;

/** Hop-by-hop, routing and destination options: Hdr Ext Len counts 8-byte units beyond the first. */
const EXTENSION_UNIT = 8;
/**
 * The fragment header (RFC 8200 section 4.5): Next Header (1), reserved (1), offset word (2),
 * Identification (4); a fixed 8 bytes.
 */
export const IPV6_FRAGMENT_HEADER_LENGTH = 8;
/** Offset of the 16-bit offset word and of the Identification in the fragment header. */
export const IPV6_FRAGMENT_OFFSET_WORD = 2;
export const IPV6_FRAGMENT_IDENTIFICATION = 4;
/** In the fragment header's offset word: 13-bit offset in 8-byte units (upper bits) and the M flag (bit 0). */
export const IPV6_FRAGMENT_OFFSET_SHIFT = 3;
export const IPV6_MORE_FRAGMENTS = 0x0001;
/** Offset of the Next Header field in the fixed header. */
export const IPV6_NEXT_HEADER_OFFSET = 6;
/** AH: Payload Len counts 4-byte words minus 2 (RFC 4302 section 2.2). */
const AH_UNIT = 4;
const AH_LENGTH_BIAS = 2;

/**
 * Decodes the IPv6 header at `offset` and walks its extension headers; the captured frame ends at
 * `frameEnd` (default: the end of `data`). Returns OK (and fills `out`, with transportOffset on the
 * TCP header), TRUNCATED, MALFORMED, FRAGMENT or NOT_TCP. A fragment header with offset 0 and M = 0
 * (an "atomic fragment", RFC 6946) is not a fragment. `out` is filled for NOT_TCP too (transportOffset
 * on what the last header announces, `protocol` says what) and for FRAGMENT (transportOffset on the
 * fragment header, `protocol` 44).
 */
export function decodeIpv6(data: Uint8Array, offset: number, out: IpResult, frameEnd = data.length): LayerStatus {
  const available = frameEnd - offset;
  if (available <= 0) return Layer.TRUNCATED;
  if (data[offset]! >> 4 !== IPV6_VERSION) return Layer.MALFORMED;
  if (available < IPV6_HEADER_LENGTH) return Layer.TRUNCATED;
  let payloadLength = u16be(data, offset + IPV6_PAYLOAD_LENGTH_OFFSET);
  // 0 means a jumbogram (RFC 2675) or, far more often, a segmentation-offload super-segment seen
  // before the NIC split it: the captured length is the best we have.
  if (payloadLength === 0) payloadLength = available - IPV6_HEADER_LENGTH;
  const end = offset + IPV6_HEADER_LENGTH + payloadLength;
  const capturedEnd = end < frameEnd ? end : frameEnd;
  let next = data[offset + IPV6_NEXT_HEADER_OFFSET]!;
  let p = offset + IPV6_HEADER_LENGTH;
  // Every extension header is at least 8 bytes, so the walk ends by the packet length at the latest.
  for (;;) {
    let length: number;
    if (next === Ipv6Header.HOP_BY_HOP || next === Ipv6Header.ROUTING || next === Ipv6Header.DESTINATION_OPTIONS) {
      if (p + 2 > end) return Layer.MALFORMED;
      if (p + 2 > capturedEnd) return Layer.TRUNCATED;
      length = (data[p + 1]! + 1) * EXTENSION_UNIT;
    } else if (next === Ipv6Header.AUTHENTICATION) {
      if (p + 2 > end) return Layer.MALFORMED;
      if (p + 2 > capturedEnd) return Layer.TRUNCATED;
      length = (data[p + 1]! + AH_LENGTH_BIAS) * AH_UNIT;
    } else if (next === Ipv6Header.FRAGMENT) {
      if (p + IPV6_FRAGMENT_HEADER_LENGTH > end) return Layer.MALFORMED;
      if (p + IPV6_FRAGMENT_HEADER_LENGTH > capturedEnd) return Layer.TRUNCATED;
      const word = u16be(data, p + IPV6_FRAGMENT_OFFSET_WORD);
      if (word >> IPV6_FRAGMENT_OFFSET_SHIFT !== 0 || (word & IPV6_MORE_FRAGMENTS) !== 0) break;
      length = IPV6_FRAGMENT_HEADER_LENGTH;
    } else {
      break;
    }
    if (p + length > end) return Layer.MALFORMED;
    next = data[p]!;
    p += length;
  }
  out.transportOffset = p;
  out.transportLength = end - p;
  out.capturedEnd = capturedEnd;
  out.srcOffset = offset + SOURCE_OFFSET;
  out.dstOffset = offset + DESTINATION_OFFSET;
  out.protocol = next;
  if (next === IP_PROTOCOL_TCP) return Layer.OK;
  // The walk stops at a fragment header only when it is a real fragment.
  return next === Ipv6Header.FRAGMENT ? Layer.FRAGMENT : Layer.NOT_TCP;
}

/** Size of the address-string cache (a power of two): direct-mapped, so a miss just overwrites. */
const CACHE_SIZE = 1024;
/** Four 32-bit words per slot. */
const cacheKeys = new Int32Array(CACHE_SIZE * 4);
const cacheValues: (string | undefined)[] = new Array<string | undefined>(CACHE_SIZE).fill(undefined);

function word(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

/** The IPv6 address at `offset` in RFC 5952 text form, from a small cache keyed by its value. */
export function ipv6ToString(data: Uint8Array, offset: number): string {
  const w0 = word(data, offset);
  const w1 = word(data, offset + 4);
  const w2 = word(data, offset + 8);
  const w3 = word(data, offset + 12);
  let h = Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35), 0x27d4eb2f);
  h ^= h >>> 15;
  const slot = h & (CACHE_SIZE - 1);
  const k = slot * 4;
  const cached = cacheValues[slot];
  if (
    cached !== undefined &&
    cacheKeys[k] === w0 &&
    cacheKeys[k + 1] === w1 &&
    cacheKeys[k + 2] === w2 &&
    cacheKeys[k + 3] === w3
  ) {
    return cached;
  }
  const text = formatIpv6(data, offset);
  cacheKeys[k] = w0;
  cacheKeys[k + 1] = w1;
  cacheKeys[k + 2] = w2;
  cacheKeys[k + 3] = w3;
  cacheValues[slot] = text;
  return text;
}
