/**
 * Byte readers shared by the decoders, and the result codes the layer decoders return.
 *
 * The readers are plain functions on a Uint8Array and an offset: the hot path (one call per header
 * field per packet) must not allocate, so there is no DataView per packet and no cursor object.
 * Callers check bounds before reading; the readers do not.
 *
 * Byte orders: network protocols are big-endian (RFC 1700, "network byte order"); capture files are
 * written in the byte order of the machine that wrote them and say which in their magic number.
 */

/** Unsigned 16-bit big-endian (network byte order) at `o`. */
export function u16be(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

/** Unsigned 16-bit little-endian at `o`. */
export function u16le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

/** Unsigned 32-bit big-endian (network byte order) at `o`. */
export function u32be(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

/** Unsigned 32-bit little-endian at `o`. */
export function u32le(b: Uint8Array, o: number): number {
  return b[o + 3]! * 0x1000000 + ((b[o + 2]! << 16) | (b[o + 1]! << 8) | b[o]!);
}

/** Unsigned 16-bit in the given byte order. */
export function u16(b: Uint8Array, o: number, littleEndian: boolean): number {
  return littleEndian ? u16le(b, o) : u16be(b, o);
}

/** Unsigned 32-bit in the given byte order. */
export function u32(b: Uint8Array, o: number, littleEndian: boolean): number {
  return littleEndian ? u32le(b, o) : u32be(b, o);
}

/**
 * What a layer decoder made of its bytes. The layer decoders return one of these and write their
 * fields into a caller-owned, reused result object, so decoding a packet allocates nothing.
 */
export const Layer = {
  /** Decoded; the result object holds the fields. */
  OK: 0,
  /** The capture stopped (snap length) before the end of this header. */
  TRUNCATED: 1,
  /** The header contradicts itself (bad version, length smaller than the header, ...). */
  MALFORMED: 2,
  /** A link layer that carries something other than IPv4/IPv6 (ARP, LLDP, 802.3 frames, ...). */
  NOT_IP: 3,
  /** An IP packet that does not carry TCP. */
  NOT_TCP: 4,
  /** An IP fragment: the TCP header is not (all) there, reassembly is out of scope. */
  FRAGMENT: 5,
  /** A link-layer type this decoder does not know. */
  UNSUPPORTED: 6,
} as const;
export type LayerStatus = (typeof Layer)[keyof typeof Layer];
