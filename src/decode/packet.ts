/**
 * Frame -> TCP segment: link layer (link.ts), IPv4 (ipv4.ts) or IPv6 (ipv6.ts), then TCP (tcp.ts).
 *
 * This is the hot path of `analyze` and of live capture: it allocates nothing but the returned
 * TcpPacket and its payload view (address strings come from small caches), and never throws.
 * Anything that is not a decodable TCP segment is counted in `stats` and yields null.
 */
import type { CaptureFrame, TcpPacket } from '../model/packet.js';
import { Layer, type LayerStatus } from './cursor.js';
import { decodeIpv4, ipv4ToString, type IpResult } from './ipv4.js';
import { decodeIpv6, ipv6ToString } from './ipv6.js';
import { decodeLink, type LinkResult } from './link.js';
import { decodeTcp, type TcpResult } from './tcp.js';

/** What became of the frames. Each frame lands in exactly one of tcp, nonIp, nonTcp, fragments,
 * malformed, unsupportedLinkTypes, or truncated-and-dropped. */
export interface DecodeStats {
  /** Frames looked at. */
  frames: number;
  /** TCP segments returned (including those whose payload the snap length cut). */
  tcp: number;
  /** Frames that carry no IP (ARP, LLDP, 802.3 frames, other loopback families, ...). */
  nonIp: number;
  /** IP packets that carry no TCP (UDP, ICMP, ...). */
  nonTcp: number;
  /** IPv4 or IPv6 fragments, of any protocol (not reassembled). */
  fragments: number;
  /**
   * Frames cut by the snap length: those cut inside a header (dropped, counted nowhere else) plus
   * those cut inside the TCP payload (returned, and also counted in `tcp`).
   */
  truncated: number;
  /** Frames whose headers contradict themselves (bad IP version, lengths smaller than a header...). */
  malformed: number;
  /** Frames per link-layer type this decoder does not know (the caller decides whether that is fatal). */
  unsupportedLinkTypes: Record<number, number>;
}

/** Shared by every packet without payload (pure ACKs are half of all segments): nothing to view. */
const EMPTY_PAYLOAD = new Uint8Array(0);

export class PacketDecoder {
  readonly stats: DecodeStats = {
    frames: 0,
    tcp: 0,
    nonIp: 0,
    nonTcp: 0,
    fragments: 0,
    truncated: 0,
    malformed: 0,
    unsupportedLinkTypes: {},
  };
  // Reused scratch results of the layer decoders: one set per decoder, none per packet.
  private readonly link: LinkResult = { offset: 0, ipVersion: 4 };
  private readonly ip: IpResult = { transportOffset: 0, transportLength: 0, capturedEnd: 0, srcOffset: 0, dstOffset: 0 };
  private readonly tcp: TcpResult = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, payloadOffset: 0, payloadLength: 0 };

  /** The TCP segment in `frame`, or null (counted in `stats`) for anything else. */
  decode(frame: CaptureFrame): TcpPacket | null {
    const stats = this.stats;
    stats.frames++;
    const data = frame.data;
    let status = decodeLink(frame.linkType, data, this.link);
    if (status !== Layer.OK) return this.drop(status, frame.linkType);
    const ip = this.ip;
    const ipVersion = this.link.ipVersion;
    status = ipVersion === 4 ? decodeIpv4(data, this.link.offset, ip) : decodeIpv6(data, this.link.offset, ip);
    if (status !== Layer.OK) return this.drop(status, frame.linkType);
    const tcp = this.tcp;
    status = decodeTcp(data, ip.transportOffset, ip.transportLength, ip.capturedEnd, tcp);
    if (status !== Layer.OK) return this.drop(status, frame.linkType);

    const capturedPayload = ip.capturedEnd - tcp.payloadOffset;
    if (capturedPayload < tcp.payloadLength) stats.truncated++;
    stats.tcp++;
    return {
      ts: frame.ts,
      ipVersion,
      src: ipVersion === 4 ? ipv4ToString(data, ip.srcOffset) : ipv6ToString(data, ip.srcOffset),
      dst: ipVersion === 4 ? ipv4ToString(data, ip.dstOffset) : ipv6ToString(data, ip.dstOffset),
      srcPort: tcp.srcPort,
      dstPort: tcp.dstPort,
      seq: tcp.seq,
      ack: tcp.ack,
      flags: tcp.flags,
      window: tcp.window,
      payloadLength: tcp.payloadLength,
      payload: capturedPayload > 0 ? data.subarray(tcp.payloadOffset, ip.capturedEnd) : EMPTY_PAYLOAD,
    };
  }

  private drop(status: LayerStatus, linkType: number): null {
    const stats = this.stats;
    switch (status) {
      case Layer.TRUNCATED:
        stats.truncated++;
        break;
      case Layer.MALFORMED:
        stats.malformed++;
        break;
      case Layer.NOT_IP:
        stats.nonIp++;
        break;
      case Layer.NOT_TCP:
        stats.nonTcp++;
        break;
      case Layer.FRAGMENT:
        stats.fragments++;
        break;
      case Layer.UNSUPPORTED:
        stats.unsupportedLinkTypes[linkType] = (stats.unsupportedLinkTypes[linkType] ?? 0) + 1;
        break;
    }
    return null;
  }
}
