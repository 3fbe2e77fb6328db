/**
 * A byte-string builder for test fixtures, in the style of pg-protocol's BufferList: each call
 * appends one field, so a test reads like the header diagram of the spec it exercises.
 *
 * Specs the fixtures follow:
 *   pcap    https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/
 *   pcapng  https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/
 *   links   https://www.tcpdump.org/linktypes.html
 *   IPv4    https://www.rfc-editor.org/rfc/rfc791#section-3.1
 *   IPv6    https://www.rfc-editor.org/rfc/rfc8200
 *   TCP     https://www.rfc-editor.org/rfc/rfc9293#section-3.1
 *
 *   new BufferList('le').uint32(0xa1b2c3d4).uint16(2).uint16(4).join()
 */
export type ByteOrder = 'le' | 'be';

export class BufferList {
  private readonly parts: Uint8Array[] = [];
  private size = 0;
  /** Default byte order of the multi-byte numbers; network protocols are 'be'. */
  byteOrder: ByteOrder;

  constructor(byteOrder: ByteOrder = 'be') {
    this.byteOrder = byteOrder;
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.size;
  }

  uint8(value: number): this {
    return this.push(Uint8Array.of(value & 0xff));
  }

  uint16(value: number, order: ByteOrder = this.byteOrder): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value & 0xffff, order === 'le');
    return this.push(b);
  }

  uint32(value: number, order: ByteOrder = this.byteOrder): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, order === 'le');
    return this.push(b);
  }

  int32(value: number, order: ByteOrder = this.byteOrder): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value | 0, order === 'le');
    return this.push(b);
  }

  /** A 64-bit value (BigInt for values beyond 2^53), unsigned unless negative. */
  uint64(value: bigint | number, order: ByteOrder = this.byteOrder): this {
    const b = new Uint8Array(8);
    const v = BigInt.asUintN(64, BigInt(value));
    new DataView(b.buffer).setBigUint64(0, v, order === 'le');
    return this.push(b);
  }

  bytes(value: Uint8Array | readonly number[] | string): this {
    if (typeof value === 'string') return this.push(new TextEncoder().encode(value));
    return this.push(value instanceof Uint8Array ? value.slice() : Uint8Array.from(value));
  }

  zeros(count: number): this {
    return this.push(new Uint8Array(count));
  }

  /** Zero bytes up to the next multiple of `alignment`. */
  pad(alignment: number): this {
    const rest = this.size % alignment;
    return rest === 0 ? this : this.zeros(alignment - rest);
  }

  /** Everything appended, as one array. */
  join(): Uint8Array {
    const out = new Uint8Array(this.size);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const list = new BufferList();
  for (const part of parts) list.bytes(part);
  return list.join();
}
