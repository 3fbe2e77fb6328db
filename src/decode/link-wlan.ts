/**
 * IEEE 802.11 data frames and the radio headers captures put before them; reached from
 * link-other.ts for the 802.11 link types only.
 *
 *   802.11 MAC header  IEEE 802.11-2020 section 9.2.3 (general frame format), 9.2.4.1 (frame
 *                      control), 9.2.4.5 (QoS control), 9.3.2.1 (data frames); the payload is 802.2
 *                      LLC/SNAP (IEEE 802.11-2020 section 5.1.4, RFC 1042)
 *   radiotap           https://www.radiotap.org (header, alignment, the TSFT and Flags fields)
 *   Prism              https://www.tcpdump.org/linktypes/LINKTYPE_IEEE802_11_PRISM.html
 *   AVS                capturefrm.txt, linked from https://www.tcpdump.org/linktypes.html (LINKTYPE_IEEE802_11_AVS)
 */
import { Layer, u16le, u32be, u32le, type LayerStatus } from './cursor.js';
import type { LinkResult } from './link.js';
import { llc } from './link-other.js';

/** Frame control, first byte: protocol version (bits 0-1), type (2-3), subtype (4-7). */
const FC_VERSION_MASK = 0x03;
const FC_TYPE_SHIFT = 2;
const FC_TYPE_MASK = 0x03;
const FC_SUBTYPE_SHIFT = 4;
/** Type 2: data frames. */
const TYPE_DATA = 2;
/** Data subtypes: bit 2 says the frame carries no data (Null, CF-Ack...), bit 3 that it is a QoS one. */
const SUBTYPE_NO_DATA = 0x04;
const SUBTYPE_QOS = 0x08;
/** Frame control, second byte. */
const FC_TO_DS = 0x01;
const FC_FROM_DS = 0x02;
const FC_MORE_FRAGMENTS = 0x04;
const FC_PROTECTED = 0x40;
/** +HTC/Order: a QoS data frame then carries a 4-byte HT Control field. */
const FC_ORDER = 0x80;
/** Frame control (2), duration (2), three addresses (6 each), sequence control (2). */
const MAC_HEADER_LENGTH = 24;
const SEQUENCE_CONTROL_OFFSET = 22;
/** The fragment number: the low 4 bits of sequence control (little-endian). */
const FRAGMENT_NUMBER_MASK = 0x000f;
/** A fourth address when the frame goes between two distribution systems (To DS and From DS). */
const ADDRESS4_LENGTH = 6;
const QOS_CONTROL_LENGTH = 2;
const HT_CONTROL_LENGTH = 4;
/** QoS control, first byte, bit 7: the payload is an A-MSDU (several subframes). */
const QOS_AMSDU_PRESENT = 0x80;

/**
 * An 802.11 frame at `start`: the IP packet of a data frame whose payload is LLC/SNAP. `dataPad`: the
 * radio header says the MAC header is padded to a multiple of 4 bytes. Management and control frames,
 * frames without data, encrypted ones, 802.11 fragments and A-MSDUs (several packets in one frame,
 * where one frame must give one packet here) are not IP to this decoder.
 */
export function decodeWlan(
  data: Uint8Array,
  out: LinkResult,
  start: number,
  end: number,
  dataPad: boolean,
): LayerStatus {
  if (end - start < 2) return Layer.TRUNCATED;
  const fc0 = data[start]!;
  const fc1 = data[start + 1]!;
  if ((fc0 & FC_VERSION_MASK) !== 0) return Layer.MALFORMED;
  if (((fc0 >> FC_TYPE_SHIFT) & FC_TYPE_MASK) !== TYPE_DATA) return Layer.NOT_IP;
  const subtype = fc0 >> FC_SUBTYPE_SHIFT;
  if ((subtype & SUBTYPE_NO_DATA) !== 0 || (fc1 & FC_PROTECTED) !== 0) return Layer.NOT_IP;
  let header = MAC_HEADER_LENGTH;
  if ((fc1 & (FC_TO_DS | FC_FROM_DS)) === (FC_TO_DS | FC_FROM_DS)) header += ADDRESS4_LENGTH;
  const qos = header;
  if ((subtype & SUBTYPE_QOS) !== 0) {
    header += QOS_CONTROL_LENGTH;
    if ((fc1 & FC_ORDER) !== 0) header += HT_CONTROL_LENGTH;
  }
  if (end - start < header) return Layer.TRUNCATED;
  if ((fc1 & FC_MORE_FRAGMENTS) !== 0 || (u16le(data, start + SEQUENCE_CONTROL_OFFSET) & FRAGMENT_NUMBER_MASK) !== 0)
    return Layer.NOT_IP;
  if ((subtype & SUBTYPE_QOS) !== 0 && (data[start + qos]! & QOS_AMSDU_PRESENT) !== 0) return Layer.NOT_IP;
  if (dataPad) header = Math.ceil(header / 4) * 4;
  return llc(data, out, start + header, end);
}

/** radiotap: version (0), pad, length (2, little-endian), then one or more 32-bit present words. */
const RADIOTAP_FIXED_LENGTH = 8;
const RADIOTAP_LENGTH_OFFSET = 2;
const RADIOTAP_PRESENT_OFFSET = 4;
const RADIOTAP_VERSION = 0;
/** Present bits: TSFT (bit 0, 8 bytes aligned to 8), Flags (bit 1, one byte), another present word (bit 31). */
const PRESENT_TSFT = 0x00000001;
const PRESENT_FLAGS = 0x00000002;
const PRESENT_EXT = 0x80000000;
const TSFT_LENGTH = 8;
const PRESENT_WORD_LENGTH = 4;
/** Flags: the MAC header is followed by padding to a 32-bit boundary. */
const FLAGS_DATA_PAD = 0x20;

export function decodeRadiotap(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < RADIOTAP_FIXED_LENGTH) return Layer.TRUNCATED;
  if (data[start] !== RADIOTAP_VERSION) return Layer.MALFORMED;
  const length = u16le(data, start + RADIOTAP_LENGTH_OFFSET);
  if (length < RADIOTAP_FIXED_LENGTH) return Layer.MALFORMED;
  if (length > end - start) return Layer.TRUNCATED;
  const present = u32le(data, start + RADIOTAP_PRESENT_OFFSET);
  let dataPad = false;
  if ((present & PRESENT_FLAGS) !== 0) {
    // Fields follow the last present word, each aligned to its size from the start of the header.
    let at = RADIOTAP_PRESENT_OFFSET;
    while ((u32le(data, start + at) & PRESENT_EXT) !== 0) {
      at += PRESENT_WORD_LENGTH;
      if (at + PRESENT_WORD_LENGTH > length) return Layer.MALFORMED;
    }
    at += PRESENT_WORD_LENGTH;
    if ((present & PRESENT_TSFT) !== 0) at = Math.ceil(at / TSFT_LENGTH) * TSFT_LENGTH + TSFT_LENGTH;
    if (at >= length) return Layer.MALFORMED;
    dataPad = (data[start + at]! & FLAGS_DATA_PAD) !== 0;
  }
  return decodeWlan(data, out, start + length, end, dataPad);
}

/** Prism: message code (4), message length (4, the whole header), device name, then parameters. */
const PRISM_MIN_LENGTH = 8;
const PRISM_LENGTH_OFFSET = 4;
/** AVS: version (4, big-endian 0x8021100x), header length (4), then 64 or more bytes of radio data. */
const AVS_MIN_LENGTH = 8;
const AVS_LENGTH_OFFSET = 4;
const AVS_MAGIC_MASK = 0xfffffff0;
const AVS_MAGIC = 0x80211000;

/** Prism's fields are in the capturing host's byte order; some drivers put an AVS header under this type. */
export function decodePrism(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < PRISM_MIN_LENGTH) return Layer.TRUNCATED;
  if ((u32be(data, start) & AVS_MAGIC_MASK) >>> 0 === AVS_MAGIC) return decodeAvs(data, out, start, end);
  let length = u32le(data, start + PRISM_LENGTH_OFFSET);
  if (length < PRISM_MIN_LENGTH || length > end - start) length = u32be(data, start + PRISM_LENGTH_OFFSET);
  if (length < PRISM_MIN_LENGTH) return Layer.MALFORMED;
  if (length > end - start) return Layer.TRUNCATED;
  return decodeWlan(data, out, start + length, end, false);
}

export function decodeAvs(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < AVS_MIN_LENGTH) return Layer.TRUNCATED;
  if ((u32be(data, start) & AVS_MAGIC_MASK) >>> 0 !== AVS_MAGIC) return Layer.MALFORMED;
  const length = u32be(data, start + AVS_LENGTH_OFFSET);
  if (length < AVS_MIN_LENGTH) return Layer.MALFORMED;
  if (length > end - start) return Layer.TRUNCATED;
  return decodeWlan(data, out, start + length, end, false);
}
