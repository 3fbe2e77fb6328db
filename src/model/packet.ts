/**
 * Decoded packets, as the decoders hand them to the analyzers. Plain data, no methods.
 */
import type { Micros } from './time.js';

/** TCP header flag bits (RFC 9293 section 3.1; ECE/CWR from RFC 3168). */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** One frame as it came out of a capture file, before any protocol decoding. */
export interface CaptureFrame {
  /** Capture time in microseconds since the Unix epoch (fractional for sub-microsecond resolutions). */
  ts: Micros;
  /** LINKTYPE_ value of the interface the frame was captured on (https://www.tcpdump.org/linktypes.html). */
  linkType: number;
  /** pcapng interface index; 0 for pcap. */
  interfaceId: number;
  /** The captured bytes (a view, not a copy: valid only until the next frame is read). */
  data: Uint8Array;
  /** Length of the frame on the wire; larger than data.length when the snap length cut it. */
  originalLength: number;
}

/** A TCP segment with the IP addresses it travelled between. */
export interface TcpPacket {
  /** Capture time in microseconds since the Unix epoch. */
  ts: Micros;
  ipVersion: 4 | 6;
  /** Source and destination addresses in text form (IPv4 dotted quad, IPv6 RFC 5952). */
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Unsigned 32-bit sequence and acknowledgement numbers. */
  seq: number;
  ack: number;
  /** Bit set of TcpFlag values. */
  flags: number;
  window: number;
  /** Payload length according to the IP header (what was sent on the wire). */
  payloadLength: number;
  /** The payload bytes actually captured (shorter than payloadLength when the snap length cut them). */
  payload: Uint8Array;
  /**
   * The tunnel the segment came out of, the innermost when nested ("VXLAN vni 42", "GRE key 7",
   * "6in4"); null or absent for a segment that was not tunnelled.
   */
  tunnel?: string | null;
}
