/**
 * TCP header (RFC 9293 section 3.1, https://www.rfc-editor.org/rfc/rfc9293#section-3.1).
 *
 *  0                   1                   2                   3
 * |          Source Port          |       Destination Port        |
 * |                        Sequence Number                        |
 * |                    Acknowledgment Number                      |
 * |  DOff | Rsrvd |C|E|U|A|P|R|S|F|             Window            |
 * |           Checksum            |         Urgent Pointer        |
 * |                    Options (DOff > 5)                         |
 */
import { Layer, u16be, u32be, type LayerStatus } from './cursor.js';

/** Header length without options (data offset = 5 words). */
export const TCP_MIN_HEADER_LENGTH = 20;
const DESTINATION_PORT_OFFSET = 2;
const SEQUENCE_OFFSET = 4;
const ACKNOWLEDGMENT_OFFSET = 8;
const DATA_OFFSET_OFFSET = 12;
const FLAGS_OFFSET = 13;
const WINDOW_OFFSET = 14;

/** The TCP header fields, written by decodeTcp; reuse one object. */
export interface TcpResult {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** Offset of the first payload byte. */
  payloadOffset: number;
  /** Payload length according to the IP lengths. */
  payloadLength: number;
}

/**
 * Header bytes up to and including the flags: with these captured, the segment is known (ports,
 * sequence numbers, flags) even when the snap length cut the rest of the header: `tcpdump -s 54` on
 * Ethernet keeps 20 of the 32 header bytes Linux sends (timestamps option). tshark reads such a
 * header as far as it goes, and so do we: the window is 0 when it was not captured.
 */
const TCP_KNOWN_HEADER_LENGTH = FLAGS_OFFSET + 1;

/**
 * Decodes the TCP header at `offset`. `segmentLength` is the TCP header + payload length the IP
 * header announces; `capturedEnd` is where the captured bytes of the segment stop. Returns OK (and
 * fills `out`; `payloadOffset` may then lie beyond `capturedEnd`: nothing of the payload was
 * captured), TRUNCATED (not even the flags were captured) or MALFORMED.
 */
export function decodeTcp(
  data: Uint8Array,
  offset: number,
  segmentLength: number,
  capturedEnd: number,
  out: TcpResult,
): LayerStatus {
  if (segmentLength < TCP_MIN_HEADER_LENGTH) return Layer.MALFORMED;
  if (offset + TCP_KNOWN_HEADER_LENGTH > capturedEnd) return Layer.TRUNCATED;
  const headerLength = (data[offset + DATA_OFFSET_OFFSET]! >> 4) * 4;
  if (headerLength < TCP_MIN_HEADER_LENGTH || headerLength > segmentLength) return Layer.MALFORMED;
  out.srcPort = u16be(data, offset);
  out.dstPort = u16be(data, offset + DESTINATION_PORT_OFFSET);
  out.seq = u32be(data, offset + SEQUENCE_OFFSET);
  out.ack = u32be(data, offset + ACKNOWLEDGMENT_OFFSET);
  out.flags = data[offset + FLAGS_OFFSET]!;
  out.window = offset + WINDOW_OFFSET + 2 <= capturedEnd ? u16be(data, offset + WINDOW_OFFSET) : 0;
  out.payloadOffset = offset + headerLength;
  out.payloadLength = segmentLength - headerLength;
  return Layer.OK;
}
