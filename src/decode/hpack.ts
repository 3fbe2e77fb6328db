/**
 * HPACK, the header compression of HTTP/2: a decoder of header blocks (RFC 7541,
 * https://www.rfc-editor.org/rfc/rfc7541). Pure, no I/O, and it never throws on any input: a block it
 * cannot decode is an error value on the result (HpackError), which the caller turns into a note.
 *
 *  - 5.1 integers with an N-bit prefix, 5.2 string literals (raw or Huffman coded, Appendix B);
 *  - 2.3 the index space: the static table (Appendix A) then the dynamic table, newest first;
 *  - 4 the dynamic table: entry size (name + value + 32 octets), eviction from the oldest, size
 *    updates (6.3) bounded by the limit the decoding side set with SETTINGS_HEADER_TABLE_SIZE.
 *
 * One HpackDecoder per connection and direction: a header block changes the table the next block of
 * the same direction is decoded with. A block that fails leaves the table in an unknown state (the
 * peer would end the connection: COMPRESSION_ERROR, RFC 9113 4.3), so later blocks are refused
 * (`desynchronized`) rather than decoded into wrong values; so are blocks after one the caller could
 * not decode at all (markDesynchronized: a block too large to keep, or cut by another frame).
 *
 * Names and values are strings of one char per octet (latin1): their length is their size in octets.
 *
 * Memory: the dynamic table holds at most its maximum size (at most HPACK_MAX_TABLE_SIZE octets plus
 * 32 per entry); a decoded header list is kept up to `maxHeaderListSize` (beyond it the block is still
 * decoded, to keep the table in step, but its fields are no longer collected).
 */
import { Buffer } from 'node:buffer';

/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 6.5.2): the dynamic table's limit until changed. */
export const HPACK_DEFAULT_TABLE_SIZE = 4096;
/** The size of a dynamic table entry is its name and value lengths plus 32 octets (RFC 7541 4.1). */
export const HPACK_ENTRY_OVERHEAD = 32;
/**
 * The largest dynamic table followed. A side may announce up to 2^32-1 octets; common ones announce
 * 4096 (Node, Go, nghttp2) or 65536 (browsers). A size update beyond this is an error value.
 */
export const HPACK_MAX_TABLE_SIZE = 1024 * 1024;
/** Default bound on a decoded header list (RFC 9113 6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE counts the same way). */
export const HPACK_DEFAULT_MAX_HEADER_LIST_SIZE = 256 * 1024;

/** One header field as decoded: latin1 strings (one char per octet). */
export interface HeaderField {
  name: string;
  value: string;
}

/** Why a header block could not be decoded (in full). */
export type HpackErrorCode =
  /** The block ended inside a representation (an integer, a string). */
  | 'truncated'
  /** An integer beyond 2^32-1 (RFC 7541 5.1 leaves the bound to the implementation). */
  | 'integer-overflow'
  /** Index 0, or past the static and dynamic tables (RFC 7541 2.3.3). */
  | 'bad-index'
  /** Huffman padding longer than 7 bits or not the EOS prefix, or EOS itself in a string (5.2). */
  | 'bad-huffman'
  /** A dynamic table size update above the limit the decoding side set (6.3, 4.2). */
  | 'table-size'
  /** A dynamic table size update after a header field representation (4.2: at the start of a block). */
  | 'size-update-late'
  /** The decoded header list passed maxHeaderListSize: fields after that are not kept (table kept in step). */
  | 'header-list-too-large'
  /** An earlier block failed (or was lost): the dynamic table is not known any more. */
  | 'desynchronized';

export interface HpackError {
  code: HpackErrorCode;
  message: string;
}

/** A decoded block: its fields (those decoded before an error, if any) and the error, or null. */
export interface HpackResult {
  headers: HeaderField[];
  error: HpackError | null;
}

export interface HpackDecoderOptions {
  /**
   * The limit on the dynamic table the decoding side set (SETTINGS_HEADER_TABLE_SIZE); default 4096.
   * Also the table's maximum size until a size update changes it.
   */
  maxTableSize?: number;
  /** Bound on a decoded header list, in RFC 9113 6.5.2 octets (name + value + 32 per field). */
  maxHeaderListSize?: number;
}

// ------------------------------------------------------------------------------------------------
// Appendix A: the static table (index 1..61).

const STATIC_TABLE: readonly HeaderField[] = (
  [
    [':authority', ''],
    [':method', 'GET'],
    [':method', 'POST'],
    [':path', '/'],
    [':path', '/index.html'],
    [':scheme', 'http'],
    [':scheme', 'https'],
    [':status', '200'],
    [':status', '204'],
    [':status', '206'],
    [':status', '304'],
    [':status', '400'],
    [':status', '404'],
    [':status', '500'],
    ['accept-charset', ''],
    ['accept-encoding', 'gzip, deflate'],
    ['accept-language', ''],
    ['accept-ranges', ''],
    ['accept', ''],
    ['access-control-allow-origin', ''],
    ['age', ''],
    ['allow', ''],
    ['authorization', ''],
    ['cache-control', ''],
    ['content-disposition', ''],
    ['content-encoding', ''],
    ['content-language', ''],
    ['content-length', ''],
    ['content-location', ''],
    ['content-range', ''],
    ['content-type', ''],
    ['cookie', ''],
    ['date', ''],
    ['etag', ''],
    ['expect', ''],
    ['expires', ''],
    ['from', ''],
    ['host', ''],
    ['if-match', ''],
    ['if-modified-since', ''],
    ['if-none-match', ''],
    ['if-range', ''],
    ['if-unmodified-since', ''],
    ['last-modified', ''],
    ['link', ''],
    ['location', ''],
    ['max-forwards', ''],
    ['proxy-authenticate', ''],
    ['proxy-authorization', ''],
    ['range', ''],
    ['referer', ''],
    ['refresh', ''],
    ['retry-after', ''],
    ['server', ''],
    ['set-cookie', ''],
    ['strict-transport-security', ''],
    ['transfer-encoding', ''],
    ['user-agent', ''],
    ['vary', ''],
    ['via', ''],
    ['www-authenticate', ''],
  ] as const
).map(([name, value]) => ({ name, value }));

/** Entries of the static table (RFC 7541 Appendix A): the dynamic table's indices start after it. */
export const HPACK_STATIC_TABLE_LENGTH = STATIC_TABLE.length;

/** The static table entry at `index` (1-based), or undefined. */
export function hpackStaticEntry(index: number): HeaderField | undefined {
  return STATIC_TABLE[index - 1];
}

// ------------------------------------------------------------------------------------------------
// Appendix B: the Huffman code. It is canonical (Appendix B: "a canonical Huffman code"): the code of
// each symbol follows from the code lengths alone, symbols taken by length, then by value. So the
// table is typed here as its "len in bits" column, and the codes are computed from it; the tests
// check the codes against rows of the appendix and that the lengths make a complete prefix code.

/** RFC 7541 Appendix B, the code length of each symbol 0..255 and EOS (256), 16 a row. */
// prettier-ignore
const HUFFMAN_CODE_LENGTHS: readonly number[] = [
  // 0-15 (control characters)
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  // 16-31
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  // 32-47: ' ' ! " # $ % & ' ( ) * + , - . /
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  // 48-63: 0-9 : ; < = > ?
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  // 64-79: @ A-O
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  // 80-95: P-Z [ \ ] ^ _
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  // 96-111: ` a-o
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  // 112-127: p-z { | } ~ DEL
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128-143
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  // 144-159
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  // 160-175
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  // 176-191
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  // 192-207
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  // 208-223
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  // 224-239
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  // 240-255
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // 256: EOS
  30,
];

/** The EOS symbol (RFC 7541 5.2): never in a string; its leading bits pad the last octet. */
const EOS = 256;
/** The longest code (EOS's). */
const MAX_CODE_LENGTH = 30;

/**
 * The canonical decoding tables (as in zlib's puff.c): how many codes have each length, and the
 * symbols ordered by (length, value).
 */
const HUFFMAN_COUNTS = new Uint16Array(MAX_CODE_LENGTH + 1);
const HUFFMAN_SYMBOLS = new Uint16Array(HUFFMAN_CODE_LENGTHS.length);
{
  for (const length of HUFFMAN_CODE_LENGTHS) HUFFMAN_COUNTS[length]!++;
  const offsets = new Uint16Array(MAX_CODE_LENGTH + 2);
  for (let len = 1; len <= MAX_CODE_LENGTH; len++) offsets[len + 1] = offsets[len]! + HUFFMAN_COUNTS[len]!;
  HUFFMAN_CODE_LENGTHS.forEach((length, symbol) => (HUFFMAN_SYMBOLS[offsets[length]!++] = symbol));
}

/**
 * The code of every symbol (0..256), computed from the lengths as a canonical code is: by
 * increasing length, then value, each code one more than the last, shifted left when the length grows.
 */
export function huffmanCodes(): { code: number; length: number }[] {
  const out: { code: number; length: number }[] = [];
  let code = 0;
  let length = 0;
  for (const symbol of HUFFMAN_SYMBOLS) {
    const len = HUFFMAN_CODE_LENGTHS[symbol]!;
    code *= 2 ** (len - length);
    length = len;
    out[symbol] = { code, length };
    code++;
  }
  return out;
}

/** Why a Huffman string failed, or null (RFC 7541 5.2). */
type HuffmanProblem = string | null;

/** Scratch space for Huffman output (a string literal decodes to at most 8/5 of its length). */
let scratch = Buffer.alloc(256);

/**
 * Decodes `length` octets of Huffman code at `b[at]` into a latin1 string, or a problem. Bit by bit,
 * the canonical way: at each length, the code read so far is one of that length's codes when it is
 * below the first code of that length plus their count.
 */
function decodeHuffman(b: Uint8Array, at: number, length: number): string | { problem: HuffmanProblem } {
  const need = Math.ceil((length * 8) / 5);
  if (scratch.length < need) scratch = Buffer.alloc(Math.max(need, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let code = 0;
  let first = 0;
  let index = 0;
  let len = 0;
  /** The bits of the code in progress are all ones (the prefix of EOS: the only padding allowed). */
  let ones = true;
  const end = at + length;
  for (let i = at; i < end; i++) {
    const byte = b[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      const v = (byte >> bit) & 1;
      code |= v;
      ones &&= v === 1;
      len++;
      const count = HUFFMAN_COUNTS[len]!;
      if (code - count < first) {
        const symbol = HUFFMAN_SYMBOLS[index + (code - first)]!;
        if (symbol === EOS) return { problem: 'the EOS symbol inside a string' };
        out[n++] = symbol;
        code = first = index = len = 0;
        ones = true;
      } else {
        index += count;
        first = (first + count) * 2;
        code *= 2;
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
  if (len > 7) return { problem: `${len} bits of padding (at most 7)` };
  if (!ones) return { problem: 'padding that is not the start of EOS' };
  return out.toString('latin1', 0, n);
}

// ------------------------------------------------------------------------------------------------
// The decoder

/** Integers above this are refused (an index, a length or a table size never needs more). */
const MAX_INTEGER = 0xffffffff;

/** A thrown-free cursor over one block: each read returns -1 (and sets `error`) when it cannot. */
class Reader {
  pos = 0;
  error: HpackError | null = null;
  /** The block as a Buffer once: each raw string is read from it without a view of its own. */
  private readonly buf: Buffer;
  constructor(readonly b: Uint8Array) {
    this.buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  }

  fail(code: HpackErrorCode, message: string): -1 {
    this.error ??= { code, message };
    return -1;
  }

  /** An integer with an N-bit prefix (RFC 7541 5.1) starting at the current octet. */
  integer(prefixBits: number): number {
    const b = this.b;
    const max = (1 << prefixBits) - 1;
    let value = b[this.pos++]! & max;
    if (value < max) return value;
    let factor = 1;
    for (;;) {
      if (this.pos >= b.length) return this.fail('truncated', 'the block ends inside an integer');
      const byte = b[this.pos++]!;
      value += (byte & 0x7f) * factor;
      if (value > MAX_INTEGER) return this.fail('integer-overflow', 'an integer beyond 2^32-1');
      if ((byte & 0x80) === 0) return value;
      factor *= 128;
    }
  }

  /** A string literal (RFC 7541 5.2): H bit, 7-bit prefix length, octets. Null on error. */
  string(): string | null {
    const b = this.b;
    if (this.pos >= b.length) return (this.fail('truncated', 'the block ends before a string'), null);
    const huffman = (b[this.pos]! & 0x80) !== 0;
    const length = this.integer(7);
    if (length < 0) return null;
    if (this.pos + length > b.length) {
      return (this.fail('truncated', `a string of ${length} octets runs past the end of the block`), null);
    }
    const at = this.pos;
    this.pos += length;
    if (!huffman) return this.buf.toString('latin1', at, at + length);
    const text = decodeHuffman(b, at, length);
    if (typeof text === 'string') return text;
    return (this.fail('bad-huffman', `Huffman string: ${text.problem}`), null);
  }
}

export class HpackDecoder {
  /** The dynamic table, oldest first (the newest is index 62). */
  private readonly entries: HeaderField[] = [];
  /** Octets of the dynamic table (RFC 7541 4.1). */
  private size = 0;
  /** Its maximum size, as the last size update set it (initially the limit). */
  private maxSize: number;
  /** The limit the decoding side set (SETTINGS_HEADER_TABLE_SIZE), capped at HPACK_MAX_TABLE_SIZE. */
  private limit: number;
  private readonly maxListSize: number;
  /** Why the table is not known any more, or null. */
  private broken: string | null = null;

  constructor(options: HpackDecoderOptions = {}) {
    this.limit = Math.min(options.maxTableSize ?? HPACK_DEFAULT_TABLE_SIZE, HPACK_MAX_TABLE_SIZE);
    this.maxSize = this.limit;
    this.maxListSize = options.maxHeaderListSize ?? HPACK_DEFAULT_MAX_HEADER_LIST_SIZE;
  }

  /**
   * The decoding side announced SETTINGS_HEADER_TABLE_SIZE = `limit`: size updates up to it are
   * allowed from now on (the encoder signals the change with one, RFC 7541 4.2).
   */
  setTableSizeLimit(limit: number): void {
    this.limit = Math.min(limit, HPACK_MAX_TABLE_SIZE);
  }

  /** The dynamic table, newest first (index 62 first), as [name, value] entries. */
  get dynamicTable(): readonly HeaderField[] {
    return this.entries.slice().reverse();
  }

  /** Octets the dynamic table holds (RFC 7541 4.1). */
  get tableSize(): number {
    return this.size;
  }

  /** The dynamic table's maximum size now. */
  get maxTableSize(): number {
    return this.maxSize;
  }

  /** Why later blocks are refused, or null while the table is known. */
  get desynchronized(): string | null {
    return this.broken;
  }

  /** A block of this direction was not decoded (too large, cut): the table is not known any more. */
  markDesynchronized(reason: string): void {
    this.broken ??= reason;
  }

  /** Decodes one complete header block (the HEADERS or PUSH_PROMISE fragment and its CONTINUATIONs). */
  decode(block: Uint8Array): HpackResult {
    const headers: HeaderField[] = [];
    if (this.broken !== null) {
      return { headers, error: { code: 'desynchronized', message: `header table not known: ${this.broken}` } };
    }
    const r = new Reader(block);
    let listSize = 0;
    let overList = false;
    let fieldSeen = false;
    while (r.pos < block.length && r.error === null) {
      const first = block[r.pos]!;
      let field: HeaderField | null = null;
      if (first & 0x80) {
        // 6.1 Indexed Header Field: 1xxxxxxx.
        const index = r.integer(7);
        if (index < 0) break;
        field = this.lookup(index, r);
      } else if ((first & 0xe0) === 0x20) {
        // 6.3 Dynamic Table Size Update: 001xxxxx, only before the first field of a block (4.2).
        const size = r.integer(5);
        if (size < 0) break;
        if (fieldSeen) {
          r.fail('size-update-late', 'a dynamic table size update after a header field');
        } else if (size > this.limit) {
          r.fail('table-size', `a dynamic table size update to ${size} octets, above the limit of ${this.limit}`);
        } else {
          this.maxSize = size;
          this.evict(0);
        }
        continue;
      } else {
        // 6.2 Literal Header Field: with incremental indexing 01xxxxxx (6-bit index), without
        // indexing 0000xxxx, never indexed 0001xxxx (4-bit index). Index 0: a literal name follows.
        const indexing = (first & 0xc0) === 0x40;
        const nameIndex = r.integer(indexing ? 6 : 4);
        if (nameIndex < 0) break;
        let name: string | null;
        if (nameIndex === 0) name = r.string();
        else name = this.lookup(nameIndex, r)?.name ?? null;
        if (name === null) break;
        const value = r.string();
        if (value === null) break;
        field = { name, value };
        // The name was taken before the insertion evicts anything (4.4: it may be the entry evicted).
        if (indexing) this.insert(field);
      }
      if (field === null) break;
      fieldSeen = true;
      listSize += field.name.length + field.value.length + HPACK_ENTRY_OVERHEAD;
      if (listSize > this.maxListSize) overList = true;
      else headers.push(field);
    }
    if (r.error !== null) {
      this.broken = `a block failed to decode (${r.error.message})`;
      return { headers, error: r.error };
    }
    if (overList) {
      const message = `the header list is larger than ${this.maxListSize} octets: the fields after that are left out`;
      return { headers, error: { code: 'header-list-too-large', message } };
    }
    return { headers, error: null };
  }

  /** The entry at `index` of the index space (2.3.3), or null (error set on `r`). */
  private lookup(index: number, r: Reader): HeaderField | null {
    if (index === 0) return (r.fail('bad-index', 'index 0'), null);
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const dynamic = index - STATIC_TABLE.length;
    if (dynamic > this.entries.length) {
      r.fail('bad-index', `index ${index}, past the tables (the dynamic table holds ${this.entries.length} entries)`);
      return null;
    }
    return this.entries[this.entries.length - dynamic]!;
  }

  /** Adds an entry (4.4): evicts the oldest until it fits; one larger than the table empties it. */
  private insert(field: HeaderField): void {
    const size = field.name.length + field.value.length + HPACK_ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      this.entries.length = 0;
      this.size = 0;
      return;
    }
    this.evict(size);
    this.entries.push(field);
    this.size += size;
  }

  /** Evicts the oldest entries until `room` more octets fit in the maximum size (4.3, 4.4). */
  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.entries.length > 0) {
      const old = this.entries.shift()!;
      this.size -= old.name.length + old.value.length + HPACK_ENTRY_OVERHEAD;
    }
  }
}
