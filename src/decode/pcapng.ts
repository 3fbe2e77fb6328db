/**
 * The pcapng capture file format:
 * https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/ (https://github.com/IETF-OPSAWG-WG/draft-ietf-opsawg-pcap)
 *
 * A file is a sequence of blocks, each: type (4) | total length (4) | body | total length (4), the total
 * length a multiple of 4. A Section Header Block (SHB) starts each section and fixes its byte order;
 * Interface Description Blocks (IDB) declare interfaces 0, 1, ... of the section, each with its own
 * link type, snap length and timestamp resolution; packets come in Enhanced Packet Blocks (EPB),
 * Simple Packet Blocks (SPB, interface 0, no timestamp) or obsolete Packet Blocks (PB). Every other
 * block (name resolution, statistics, secrets, custom, unknown) is skipped by its length.
 */
import { MalformedCaptureError } from '../errors.js';
import { u16, u32, u32be } from './cursor.js';
import {
  CaptureWarning,
  type CaptureInfo,
  type CaptureInterfaceInfo,
  type RecordContext,
  type RecordParser,
} from './capture.js';

/** Block types (section 4 and the block type registry, section 11.1). */
export const PcapngBlock = {
  /** Section Header Block; the value reads the same in both byte orders. */
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  /** Packet Block, obsolete (appendix A) but still found in old files. */
  PACKET_OBSOLETE: 0x00000002,
  SIMPLE_PACKET: 0x00000003,
  NAME_RESOLUTION: 0x00000004,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
} as const;
export const PCAPNG_SECTION_HEADER = PcapngBlock.SECTION_HEADER;

/** SHB byte-order magic, as read big-endian: this value for big-endian sections, swapped for little. */
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;
/** Block type (4) + block total length (4). */
const BLOCK_HEADER_LENGTH = 8;
/** The trailing copy of the block total length. */
const BLOCK_TRAILER_LENGTH = 4;
/** Smallest possible block: header + trailer, empty body. */
const MIN_BLOCK_LENGTH = BLOCK_HEADER_LENGTH + BLOCK_TRAILER_LENGTH;
/** Bytes needed to know an SHB's length: header + byte-order magic. */
const SHB_LENGTH_KNOWN_AT = 12;
const BLOCK_LENGTH_OFFSET = 4;
/** Block lengths are multiples of 4 (section 3.1). */
const BLOCK_ALIGNMENT = 4;

// Section Header Block (section 4.1): magic (4) | major (2) | minor (2) | section length (8) | options.
const SHB_MAGIC_OFFSET = 8;
const SHB_MAJOR_OFFSET = 12;
const SHB_MINOR_OFFSET = 14;
const SHB_MIN_LENGTH = 28;
const EXPECTED_MAJOR_VERSION = 1;

// Interface Description Block (section 4.2): link type (2) | reserved (2) | snaplen (4) | options.
const IDB_LINK_TYPE_OFFSET = 8;
const IDB_SNAPLEN_OFFSET = 12;
const IDB_OPTIONS_OFFSET = 16;
const IDB_MIN_LENGTH = 20;

// Enhanced Packet Block (section 4.3): interface (4) | ts high (4) | ts low (4) | captured (4) | original (4) | data.
const EPB_INTERFACE_OFFSET = 8;
const EPB_TS_HIGH_OFFSET = 12;
const EPB_TS_LOW_OFFSET = 16;
const EPB_CAPTURED_OFFSET = 20;
const EPB_ORIGINAL_OFFSET = 24;
const EPB_DATA_OFFSET = 28;
const EPB_MIN_LENGTH = EPB_DATA_OFFSET + BLOCK_TRAILER_LENGTH;

// Simple Packet Block (section 4.4): original length (4) | data.
const SPB_ORIGINAL_OFFSET = 8;
const SPB_DATA_OFFSET = 12;
const SPB_MIN_LENGTH = SPB_DATA_OFFSET + BLOCK_TRAILER_LENGTH;

// Packet Block, obsolete (appendix A): interface (2) | drops (2) | then as the EPB from ts high on.
const PB_INTERFACE_OFFSET = 8;

/** Option codes (section 3.5 and 4.2). */
const Option = {
  END_OF_OPT: 0,
  IF_NAME: 2,
  /** 1 byte: 10^-n seconds, or 2^-n when the top bit is set. Default 10^-6. */
  IF_TSRESOL: 9,
  /** 8 bytes, signed seconds to add to every timestamp of the interface. */
  IF_TSOFFSET: 14,
} as const;
/** Option code (2) + option length (2); values are padded to 4 bytes. */
const OPTION_HEADER_LENGTH = 4;
const IF_TSRESOL_BASE2_FLAG = 0x80;
const IF_TSRESOL_EXPONENT_MASK = 0x7f;
const IF_TSOFFSET_LENGTH = 8;

const MICROS_PER_SECOND = 1e6;
const TWO_POW_32 = 0x100000000;
/** Keeps high * r below 2^53 for any 32-bit high word. */
const MAX_EXACT_DIVISOR = 2 ** 21;
/** Interfaces per section we keep track of; far more than any real capture has. */
const MAX_INTERFACES = 1024;

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** An interface with its timestamp conversion worked out once, for the per-packet path. */
interface Interface {
  info: CaptureInterfaceInfo;
  /** Decimal resolutions finer than a microsecond: ts = high * q + (high * r + low) / divisor (exact split of 2^32). */
  divisor: number;
  q: number;
  r: number;
  /** Other resolutions: ts = high * highFactor + low * lowFactor. */
  highFactor: number;
  lowFactor: number;
  offsetMicros: number;
}

function makeInterface(info: CaptureInterfaceInfo, offsetSeconds: number): Interface {
  const units = info.tsUnitsPerSecond;
  const iface: Interface = {
    info,
    divisor: 0,
    q: 0,
    r: 0,
    highFactor: 0,
    lowFactor: 0,
    offsetMicros: offsetSeconds * MICROS_PER_SECOND,
  };
  const divisor = units / MICROS_PER_SECOND;
  // The 64-bit count does not fit a double exactly (ns since 1970 is ~2^60): divide the high word
  // with an integer quotient and remainder so that the microseconds come out right.
  if (units > MICROS_PER_SECOND && Number.isInteger(divisor) && divisor <= MAX_EXACT_DIVISOR) {
    iface.divisor = divisor;
    iface.q = Math.floor(TWO_POW_32 / divisor);
    iface.r = TWO_POW_32 - iface.q * divisor;
  } else {
    iface.highFactor = (TWO_POW_32 * MICROS_PER_SECOND) / units;
    iface.lowFactor = MICROS_PER_SECOND / units;
  }
  return iface;
}
function micros(iface: Interface, high: number, low: number): number {
  if (iface.divisor !== 0) return high * iface.q + (high * iface.r + low) / iface.divisor + iface.offsetMicros;
  return high * iface.highFactor + low * iface.lowFactor + iface.offsetMicros;
}

export class PcapngParser implements RecordParser {
  private readonly context: RecordContext;
  /** Byte order of the current section. */
  private littleEndian = false;
  private sections = 0;
  private version = '1.0';
  private interfaces: Interface[] = [];
  private readonly linkTypes: number[] = [];
  /** Simple Packet Blocks carry no timestamp: they get the last one seen. */
  private lastTs = 0;

  constructor(context: RecordContext) {
    this.context = context;
  }

  measure(b: Uint8Array, offset: number, available: number): number {
    if (available < BLOCK_HEADER_LENGTH) return -BLOCK_HEADER_LENGTH;
    let le = this.littleEndian;
    if (u32be(b, offset) === PcapngBlock.SECTION_HEADER) {
      if (available < SHB_LENGTH_KNOWN_AT) return -SHB_LENGTH_KNOWN_AT;
      const magic = u32be(b, offset + SHB_MAGIC_OFFSET);
      if (magic !== BYTE_ORDER_MAGIC && magic !== BYTE_ORDER_MAGIC_SWAPPED) {
        return this.badLength(`a pcapng section header has no byte-order magic (0x${magic.toString(16)})`);
      }
      le = magic === BYTE_ORDER_MAGIC_SWAPPED;
    }
    const length = u32(b, offset + BLOCK_LENGTH_OFFSET, le);
    if (length < MIN_BLOCK_LENGTH || length % BLOCK_ALIGNMENT !== 0 || length > this.context.maxRecordLength) {
      return this.badLength(
        `a pcapng block claims ${length} bytes (must be a multiple of 4, 12 to ${this.context.maxRecordLength})`,
      );
    }
    return length;
  }

  /** A length we cannot skip: fatal in the first block (the file header), else a warning and stop. */
  private badLength(message: string): number {
    if (this.sections === 0) throw new MalformedCaptureError(`${message}: not a readable pcapng file`);
    this.context.warn(CaptureWarning.BAD_RECORD_LENGTH, `${message}: the file is damaged, reading stopped there`);
    return 0;
  }

  record(b: Uint8Array, offset: number, length: number): void {
    let le = this.littleEndian;
    const type = u32(b, offset, le);
    if (type === PcapngBlock.SECTION_HEADER) {
      le = u32be(b, offset + SHB_MAGIC_OFFSET) === BYTE_ORDER_MAGIC_SWAPPED;
    }
    if (u32(b, offset + length - BLOCK_TRAILER_LENGTH, le) !== length) {
      if (this.sections === 0)
        throw new MalformedCaptureError('the first pcapng block has mismatched lengths: not a readable pcapng file');
      this.malformed(
        `block type 0x${type.toString(16)}: the trailing length differs from the leading one; block skipped`,
      );
      return;
    }
    switch (type) {
      case PcapngBlock.ENHANCED_PACKET:
        this.enhancedPacket(b, offset, length);
        return;
      case PcapngBlock.SECTION_HEADER:
        this.sectionHeader(b, offset, length, le);
        return;
      case PcapngBlock.INTERFACE_DESCRIPTION:
        this.interfaceDescription(b, offset, length);
        return;
      case PcapngBlock.SIMPLE_PACKET:
        this.simplePacket(b, offset, length);
        return;
      case PcapngBlock.PACKET_OBSOLETE:
        this.obsoletePacket(b, offset, length);
        return;
      default:
        return; // statistics, name resolution, secrets, custom and unknown blocks: nothing for us
    }
  }

  private malformed(message: string): void {
    this.context.warn(CaptureWarning.MALFORMED_BLOCK, `pcapng: ${message}`);
  }

  private sectionHeader(b: Uint8Array, offset: number, length: number, le: boolean): void {
    if (length < SHB_MIN_LENGTH) {
      if (this.sections === 0)
        throw new MalformedCaptureError(`the pcapng section header is ${length} bytes (at least ${SHB_MIN_LENGTH})`);
      this.malformed(`a section header of ${length} bytes (at least ${SHB_MIN_LENGTH}); taken as a new section anyway`);
    }
    this.littleEndian = le;
    this.sections++;
    this.interfaces = [];
    if (length >= SHB_MIN_LENGTH) {
      const major = u16(b, offset + SHB_MAJOR_OFFSET, le);
      const minor = u16(b, offset + SHB_MINOR_OFFSET, le);
      this.version = `${major}.${minor}`;
      if (major !== EXPECTED_MAJOR_VERSION) {
        this.context.warn(
          CaptureWarning.UNKNOWN_VERSION,
          `pcapng version ${this.version} (expected 1.x): decoded as 1.0`,
        );
      }
    }
    this.reportInfo();
  }

  private interfaceDescription(b: Uint8Array, offset: number, length: number): void {
    if (length < IDB_MIN_LENGTH) {
      this.malformed(
        `an interface description of ${length} bytes (at least ${IDB_MIN_LENGTH}); ` +
          `interface ${this.interfaces.length} is missing`,
      );
      return;
    }
    if (this.interfaces.length >= MAX_INTERFACES) {
      this.malformed(`more than ${MAX_INTERFACES} interfaces in one section; the rest are ignored`);
      return;
    }
    const le = this.littleEndian;
    const info: CaptureInterfaceInfo = {
      id: this.interfaces.length,
      linkType: u16(b, offset + IDB_LINK_TYPE_OFFSET, le),
      snaplen: u32(b, offset + IDB_SNAPLEN_OFFSET, le),
      tsUnitsPerSecond: MICROS_PER_SECOND,
    };
    let offsetSeconds = 0;
    const end = offset + length - BLOCK_TRAILER_LENGTH;
    let p = offset + IDB_OPTIONS_OFFSET;
    while (p + OPTION_HEADER_LENGTH <= end) {
      const code = u16(b, p, le);
      const size = u16(b, p + 2, le);
      const value = p + OPTION_HEADER_LENGTH;
      if (code === Option.END_OF_OPT) break;
      if (value + size > end) {
        this.malformed(
          `interface ${info.id}: option ${code} runs past the end of its block; options ignored from there`,
        );
        break;
      }
      if (code === Option.IF_TSRESOL && size >= 1) {
        const resolution = b[value]!;
        const exponent = resolution & IF_TSRESOL_EXPONENT_MASK;
        info.tsUnitsPerSecond = (resolution & IF_TSRESOL_BASE2_FLAG) !== 0 ? 2 ** exponent : 10 ** resolution;
      } else if (code === Option.IF_TSOFFSET && size >= IF_TSOFFSET_LENGTH) {
        // A signed 64-bit count of seconds, in the section's byte order.
        const low = u32(b, le ? value : value + 4, le);
        const high = u32(b, le ? value + 4 : value, le) | 0;
        offsetSeconds = high * TWO_POW_32 + low;
      } else if (code === Option.IF_NAME) {
        info.name = utf8.decode(b.subarray(value, value + size));
      }
      p = value + size + ((BLOCK_ALIGNMENT - (size % BLOCK_ALIGNMENT)) % BLOCK_ALIGNMENT);
    }
    this.interfaces.push(makeInterface(info, offsetSeconds));
    if (!this.linkTypes.includes(info.linkType)) this.linkTypes.push(info.linkType);
    this.reportInfo();
  }

  private enhancedPacket(b: Uint8Array, offset: number, length: number): void {
    if (length < EPB_MIN_LENGTH) {
      this.malformed(`an enhanced packet block of ${length} bytes (at least ${EPB_MIN_LENGTH}); skipped`);
      return;
    }
    const le = this.littleEndian;
    this.packet(
      b,
      offset,
      length,
      u32(b, offset + EPB_INTERFACE_OFFSET, le),
      u32(b, offset + EPB_TS_HIGH_OFFSET, le),
      u32(b, offset + EPB_TS_LOW_OFFSET, le),
      u32(b, offset + EPB_CAPTURED_OFFSET, le),
      u32(b, offset + EPB_ORIGINAL_OFFSET, le),
    );
  }

  private obsoletePacket(b: Uint8Array, offset: number, length: number): void {
    // Same layout as the EPB from the timestamp on; the interface id is 16 bits, then a drop count.
    if (length < EPB_MIN_LENGTH) {
      this.malformed(`a packet block of ${length} bytes (at least ${EPB_MIN_LENGTH}); skipped`);
      return;
    }
    const le = this.littleEndian;
    this.packet(
      b,
      offset,
      length,
      u16(b, offset + PB_INTERFACE_OFFSET, le),
      u32(b, offset + EPB_TS_HIGH_OFFSET, le),
      u32(b, offset + EPB_TS_LOW_OFFSET, le),
      u32(b, offset + EPB_CAPTURED_OFFSET, le),
      u32(b, offset + EPB_ORIGINAL_OFFSET, le),
    );
  }

  private packet(
    b: Uint8Array,
    offset: number,
    length: number,
    interfaceId: number,
    high: number,
    low: number,
    captured: number,
    original: number,
  ): void {
    const iface = this.interfaces[interfaceId];
    if (iface === undefined) {
      this.malformed(`a packet on interface ${interfaceId}, which no interface description declared; skipped`);
      return;
    }
    if (EPB_DATA_OFFSET + captured + BLOCK_TRAILER_LENGTH > length) {
      this.malformed(`a packet of ${captured} captured bytes in a block of ${length}; skipped`);
      return;
    }
    const ts = micros(iface, high, low);
    this.lastTs = ts;
    const start = offset + EPB_DATA_OFFSET;
    this.context.frame(
      b,
      start,
      start + captured,
      ts,
      iface.info.linkType,
      interfaceId,
      original > captured ? original : captured,
    );
  }

  private simplePacket(b: Uint8Array, offset: number, length: number): void {
    const iface = this.interfaces[0];
    if (length < SPB_MIN_LENGTH || iface === undefined) {
      this.malformed(
        length < SPB_MIN_LENGTH
          ? `a simple packet block of ${length} bytes; skipped`
          : 'a simple packet block before any interface description; skipped',
      );
      return;
    }
    const original = u32(b, offset + SPB_ORIGINAL_OFFSET, this.littleEndian);
    // The captured length is not recorded: the original length, cut by the snap length and the block.
    let captured = length - SPB_MIN_LENGTH;
    if (original < captured) captured = original;
    const snaplen = iface.info.snaplen;
    if (snaplen !== 0 && snaplen < captured) captured = snaplen;
    const start = offset + SPB_DATA_OFFSET;
    this.context.frame(
      b,
      start,
      start + captured,
      this.lastTs,
      iface.info.linkType,
      0,
      original > captured ? original : captured,
    );
  }

  private reportInfo(): void {
    const interfaces = this.interfaces.map((i) => ({ ...i.info }));
    let snaplen = 0;
    for (const i of interfaces) if (i.snaplen > snaplen) snaplen = i.snaplen;
    const info: CaptureInfo = {
      format: 'pcapng',
      byteOrder: this.littleEndian ? 'le' : 'be',
      version: this.version,
      linkTypes: [...this.linkTypes],
      snaplen,
      tsUnitsPerSecond: interfaces[0]?.tsUnitsPerSecond ?? MICROS_PER_SECOND,
      sections: this.sections,
      interfaces,
    };
    this.context.info(info);
  }
}
