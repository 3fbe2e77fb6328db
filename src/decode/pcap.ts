/**
 * The classic libpcap file format ("pcap"):
 * https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/ (also man pcap-savefile(5)).
 *
 * File header (24 bytes), in the writer's byte order (the magic number tells which):
 *   magic (4) | major (2) | minor (2) | reserved1 (4) | reserved2 (4) | snaplen (4) | link type + FCS info (4)
 * Then records: a 16-byte header, then incl_len bytes of frame:
 *   ts seconds (4) | ts microseconds or nanoseconds (4) | incl_len (4) | orig_len (4)
 */
import { MalformedCaptureError } from '../errors.js';
import { u16, u32 } from './cursor.js';
import { CaptureWarning, type CaptureInfo, type RecordContext, type RecordParser } from './capture.js';

/** Magic numbers as read big-endian from the first 4 bytes, for each writer byte order. */
export const PCAP_MAGIC = {
  /** Timestamps in seconds and microseconds. */
  MICROSECONDS: { be: 0xa1b2c3d4, le: 0xd4c3b2a1 },
  /** Timestamps in seconds and nanoseconds. */
  NANOSECONDS: { be: 0xa1b23c4d, le: 0x4d3cb2a1 },
} as const;

export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
const VERSION_MAJOR_OFFSET = 4;
const VERSION_MINOR_OFFSET = 6;
const SNAPLEN_OFFSET = 16;
const LINK_TYPE_OFFSET = 20;
/** The link type is the low 16 bits; the upper bits carry FCS length information. */
const LINK_TYPE_MASK = 0xffff;
/** The version every writer since 1998 uses (2.4). */
const EXPECTED_MAJOR_VERSION = 2;
const TS_FRACTION_OFFSET = 4;
const INCL_LEN_OFFSET = 8;
const ORIG_LEN_OFFSET = 12;
const MICROS_PER_SECOND = 1e6;
const NANOS_PER_MICRO = 1000;

export class PcapParser implements RecordParser {
  private readonly context: RecordContext;
  private headerRead = false;
  private littleEndian = false;
  private nanoseconds = false;
  private linkType = 0;

  constructor(context: RecordContext) {
    this.context = context;
  }

  measure(b: Uint8Array, offset: number, available: number): number {
    if (!this.headerRead) return PCAP_FILE_HEADER_LENGTH;
    if (available < PCAP_RECORD_HEADER_LENGTH) return -PCAP_RECORD_HEADER_LENGTH;
    const included = u32(b, offset + INCL_LEN_OFFSET, this.littleEndian);
    if (included > this.context.maxRecordLength) {
      this.context.warn(
        CaptureWarning.BAD_RECORD_LENGTH,
        `a pcap record claims ${included} bytes (limit ${this.context.maxRecordLength}): ` +
          'the file is damaged, reading stopped there',
      );
      return 0;
    }
    // Nothing captured of nothing on the wire: not a frame but zero fill (a file preallocated and never
    // written, a zeroed block). Read on, it would be 16-byte records forever on an endless stream.
    if (included === 0 && u32(b, offset + ORIG_LEN_OFFSET, this.littleEndian) === 0) {
      this.context.warn(
        CaptureWarning.BAD_RECORD_LENGTH,
        'a pcap record of 0 bytes, of 0 on the wire (zero fill): the file is damaged, reading stopped there',
      );
      return 0;
    }
    return PCAP_RECORD_HEADER_LENGTH + included;
  }

  record(b: Uint8Array, offset: number, length: number): void {
    if (!this.headerRead) {
      this.fileHeader(b, offset);
      return;
    }
    const le = this.littleEndian;
    const seconds = u32(b, offset, le);
    const fraction = u32(b, offset + TS_FRACTION_OFFSET, le);
    const originalLength = u32(b, offset + ORIG_LEN_OFFSET, le);
    const dataLength = length - PCAP_RECORD_HEADER_LENGTH;
    this.context.frame(
      b,
      offset + PCAP_RECORD_HEADER_LENGTH,
      offset + length,
      seconds * MICROS_PER_SECOND + (this.nanoseconds ? fraction / NANOS_PER_MICRO : fraction),
      this.linkType,
      0,
      // Some writers leave orig_len at 0 or below incl_len; the captured bytes were on the wire.
      originalLength > dataLength ? originalLength : dataLength,
    );
  }

  private fileHeader(b: Uint8Array, offset: number): void {
    const magic = u32(b, offset, false);
    this.littleEndian = magic === PCAP_MAGIC.MICROSECONDS.le || magic === PCAP_MAGIC.NANOSECONDS.le;
    this.nanoseconds = magic === PCAP_MAGIC.NANOSECONDS.be || magic === PCAP_MAGIC.NANOSECONDS.le;
    if (!this.littleEndian && magic !== PCAP_MAGIC.MICROSECONDS.be && magic !== PCAP_MAGIC.NANOSECONDS.be) {
      throw new MalformedCaptureError(`not a pcap magic number: 0x${magic.toString(16)}`);
    }
    const le = this.littleEndian;
    const major = u16(b, offset + VERSION_MAJOR_OFFSET, le);
    const minor = u16(b, offset + VERSION_MINOR_OFFSET, le);
    if (major !== EXPECTED_MAJOR_VERSION) {
      this.context.warn(
        CaptureWarning.UNKNOWN_VERSION,
        `pcap version ${major}.${minor} (expected 2.x): decoded as 2.4`,
      );
    }
    const snaplen = u32(b, offset + SNAPLEN_OFFSET, le);
    this.linkType = u32(b, offset + LINK_TYPE_OFFSET, le) & LINK_TYPE_MASK;
    this.headerRead = true;
    const tsUnitsPerSecond = this.nanoseconds ? 1e9 : 1e6;
    const info: CaptureInfo = {
      format: 'pcap',
      byteOrder: le ? 'le' : 'be',
      version: `${major}.${minor}`,
      linkTypes: [this.linkType],
      snaplen,
      tsUnitsPerSecond,
      sections: 1,
      interfaces: [{ id: 0, linkType: this.linkType, snaplen, tsUnitsPerSecond }],
    };
    this.context.info(info);
  }
}
