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
 * Decodes the TCP header at `offset`. `segmentLength` is the TCP header + payload length the IP
 * header announces; `capturedEnd` is where the captured bytes of the segment stop. Returns OK (and
 * fills `out`), TRUNCATED (the header was not all captured) or MALFORMED.
 */
export function decodeTcp(
  data: Uint8Array,
  offset: number,
  segmentLength: number,
  capturedEnd: number,
  out: TcpResult,
): LayerStatus {
  if (segmentLength < TCP_MIN_HEADER_LENGTH) return Layer.MALFORMED;
  if (offset + TCP_MIN_HEADER_LENGTH > capturedEnd) return Layer.TRUNCATED;
  const headerLength = (data[offset + DATA_OFFSET_OFFSET]! >> 4) * 4;
  if (headerLength < TCP_MIN_HEADER_LENGTH || headerLength > segmentLength) return Layer.MALFORMED;
  if (offset + headerLength > capturedEnd) return Layer.TRUNCATED;
  out.srcPort = u16be(data, offset);
  out.dstPort = u16be(data, offset + DESTINATION_PORT_OFFSET);
  out.seq = u32be(data, offset + SEQUENCE_OFFSET);
  out.ack = u32be(data, offset + ACKNOWLEDGMENT_OFFSET);
  out.flags = data[offset + FLAGS_OFFSET]!;
  out.window = u16be(data, offset + WINDOW_OFFSET);
  out.payloadOffset = offset + headerLength;
  out.payloadLength = segmentLength - headerLength;
  return Layer.OK;
}
