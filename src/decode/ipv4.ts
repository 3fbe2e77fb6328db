/**
 * IPv4 header (RFC 791 section 3.1, https://www.rfc-editor.org/rfc/rfc791#section-3.1).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |Version|  IHL  |Type of Service|          Total Length         |
 * |         Identification        |Flags|      Fragment Offset    |
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * |                       Source Address                          |
 * |                    Destination Address                        |
 * |                    Options (IHL > 5)                          |
 */
import { Layer, u16be, type LayerStatus } from './cursor.js';

/** Header length without options (IHL = 5 words). */
export const IPV4_MIN_HEADER_LENGTH = 20;
const IPV4_VERSION = 4;
const TOTAL_LENGTH_OFFSET = 2;
/** Identification: with the addresses and the protocol, names the datagram a fragment belongs to. */
export const IPV4_IDENTIFICATION_OFFSET = 4;
export const IPV4_FLAGS_FRAGMENT_OFFSET = 6;
const PROTOCOL_OFFSET = 9;
const SOURCE_OFFSET = 12;
const DESTINATION_OFFSET = 16;
/** The "more fragments" flag (MF) in the flags/fragment-offset word. */
export const IPV4_MORE_FRAGMENTS = 0x2000;
/** The 13-bit fragment offset in the flags/fragment-offset word, in 8-byte units. */
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;
/** IP protocol number of TCP (https://www.iana.org/assignments/protocol-numbers/). */
export const IP_PROTOCOL_TCP = 6;

/**
 * What the IP layer (v4 or v6) found. Written by decodeIpv4/decodeIpv6; reuse one object.
 */
export interface IpResult {
  /** Offset of the transport (TCP) header. */
  transportOffset: number;
  /** Transport header + payload length according to the IP header (what was on the wire). */
  transportLength: number;
  /** End of the IP packet within the captured bytes: min(end per IP header, captured end). */
  capturedEnd: number;
  /** Offsets of the source and destination addresses (4 or 16 bytes each). */
  srcOffset: number;
  dstOffset: number;
  /**
   * What the transport offset holds (IANA protocol numbers): 6 for TCP, else what a NOT_TCP packet
   * carries (a tunnel's inner packet, for one); for an IPv6 FRAGMENT, 44: the fragment header.
   */
  protocol: number;
}

/**
 * Decodes the IPv4 header at `offset`; the captured frame ends at `end` (default: the end of `data`).
 * Returns OK, TRUNCATED (header not all captured), MALFORMED, FRAGMENT (any fragment, whatever it
 * carries) or NOT_TCP; `out` is filled for OK, FRAGMENT and NOT_TCP (its transport offset is then
 * where the fragment's or the other protocol's bytes start).
 */
export function decodeIpv4(data: Uint8Array, offset: number, out: IpResult, end = data.length): LayerStatus {
  const available = end - offset;
  if (available <= 0) return Layer.TRUNCATED;
  const versionIhl = data[offset]!;
  if (versionIhl >> 4 !== IPV4_VERSION) return Layer.MALFORMED;
  const headerLength = (versionIhl & 0x0f) * 4;
  if (headerLength < IPV4_MIN_HEADER_LENGTH) return Layer.MALFORMED;
  if (available < headerLength) return Layer.TRUNCATED;
  let totalLength = u16be(data, offset + TOTAL_LENGTH_OFFSET);
  // A total length of 0 appears in captures of TCP segmentation offload (the kernel hands the
  // capture a super-segment before the NIC splits it); the captured length is the best we have.
  if (totalLength === 0) totalLength = available;
  if (totalLength < headerLength) return Layer.MALFORMED;
  const ipEnd = offset + totalLength;
  const protocol = data[offset + PROTOCOL_OFFSET]!;
  out.transportOffset = offset + headerLength;
  out.transportLength = totalLength - headerLength;
  // Ethernet pads short frames to 60 bytes: the IP total length, not the frame, says where IP ends.
  out.capturedEnd = ipEnd < end ? ipEnd : end;
  out.srcOffset = offset + SOURCE_OFFSET;
  out.dstOffset = offset + DESTINATION_OFFSET;
  out.protocol = protocol;
  if ((u16be(data, offset + IPV4_FLAGS_FRAGMENT_OFFSET) & (IPV4_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) !== 0)
    return Layer.FRAGMENT;
  if (protocol !== IP_PROTOCOL_TCP) return Layer.NOT_TCP;
  return Layer.OK;
}

/** Size of the address-string cache (a power of two): direct-mapped, so a miss just overwrites. */
const CACHE_SIZE = 1024;
const cacheKeys = new Int32Array(CACHE_SIZE);
const cacheValues: (string | undefined)[] = new Array<string | undefined>(CACHE_SIZE).fill(undefined);

/** The IPv4 address at `offset` as a dotted quad, from a small cache keyed by its numeric value. */
export function ipv4ToString(data: Uint8Array, offset: number): string {
  const a = data[offset]!;
  const b = data[offset + 1]!;
  const c = data[offset + 2]!;
  const d = data[offset + 3]!;
  const key = (a << 24) | (b << 16) | (c << 8) | d;
  const slot = (key ^ (key >>> 10) ^ (key >>> 20)) & (CACHE_SIZE - 1);
  const cached = cacheValues[slot];
  if (cached !== undefined && cacheKeys[slot] === key) return cached;
  const text = `${a}.${b}.${c}.${d}`;
  cacheKeys[slot] = key;
  cacheValues[slot] = text;
  return text;
}
