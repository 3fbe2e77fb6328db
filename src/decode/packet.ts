/**
 * Frame -> TCP segment: link layer (link.ts), IPv4 (ipv4.ts) or IPv6 (ipv6.ts), then TCP (tcp.ts).
 *
 * This is the hot path of `analyze` and of live capture, run for every frame of the capture, and it
 * never throws. decodeAt() allocates nothing but the payload view of a segment that carries data:
 * it reads the frame where it lies in a larger buffer and fills one TcpPacket that it reuses
 * (address strings come from small caches). decode() is the convenient form: a frame in, a new
 * TcpPacket out. Anything that is not a decodable TCP segment is counted in `stats` and yields null.
 */
import type { CaptureFrame, TcpPacket } from '../model/packet.js';
import type { FragmentCounts } from './fragments.js';
import { Layer, type LayerStatus } from './cursor.js';
import { Decapsulator } from './decapsulate.js';
import { decodeIpv4, ipv4ToString, type IpResult } from './ipv4.js';
import { decodeIpv6, ipv6ToString } from './ipv6.js';
import { decodeLink, type LinkResult } from './link.js';
import { decodeTcp, type TcpResult } from './tcp.js';

/** What became of the frames. Each frame lands in exactly one of tcp, nonIp, nonTcp, fragments,
 * malformed, unsupportedLinkTypes, or truncated-and-dropped. A tunnelled packet lands where its inner
 * packet does; the fragment that completes a datagram, where the datagram does. */
export interface DecodeStats extends FragmentCounts {
  /** Frames looked at. */
  frames: number;
  /** TCP segments returned (including those whose payload the snap length cut). */
  tcp: number;
  /** Frames that carry no IP (ARP, LLDP, 802.3 frames, other loopback families, ...). */
  nonIp: number;
  /** IP packets that carry no TCP (UDP, ICMP, ...). */
  nonTcp: number;
  /**
   * IPv4 or IPv6 fragments, of any protocol, held for reassembly (decode/fragments.ts) or dropped as
   * duplicates: those that complete a datagram land where it does, so the fragments seen are
   * `fragments + datagramsReassembled`.
   */
  fragments: number;
  /** TCP segments found inside a tunnel (GRE, VXLAN, Geneve, IP in IP; decode/tunnel.ts), also counted in `tcp`. */
  tunnelled: number;
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
    tunnelled: 0,
    datagramsReassembled: 0,
    datagramsIncomplete: 0,
    datagramsDiscarded: 0,
    truncated: 0,
    malformed: 0,
    unsupportedLinkTypes: {},
  };
  /** Tunnels and fragments: reached only for IP packets that are not plain TCP (decode/decapsulate.ts). */
  private readonly inner = new Decapsulator(this);
  // Reused scratch results of the layer decoders: one set per decoder, none per packet.
  private readonly link: LinkResult = { offset: 0, ipVersion: 4 };
  private readonly ip: IpResult = {
    transportOffset: 0,
    transportLength: 0,
    capturedEnd: 0,
    srcOffset: 0,
    dstOffset: 0,
    protocol: 0,
  };
  private readonly tcp: TcpResult = {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
  /** What decodeAt() returns, every time. */
  private readonly packet: TcpPacket = {
    ts: 0,
    ipVersion: 4,
    src: '',
    dst: '',
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    payloadLength: 0,
    payload: EMPTY_PAYLOAD,
    tunnel: null,
  };

  /** The TCP segment in `frame` as a new TcpPacket, or null (counted in `stats`) for anything else. */
  decode(frame: CaptureFrame): TcpPacket | null {
    const p = this.decodeAt(frame.data, 0, frame.data.length, frame.ts, frame.linkType);
    if (p === null) return null;
    return {
      ts: p.ts,
      ipVersion: p.ipVersion,
      src: p.src,
      dst: p.dst,
      srcPort: p.srcPort,
      dstPort: p.dstPort,
      seq: p.seq,
      ack: p.ack,
      flags: p.flags,
      window: p.window,
      payloadLength: p.payloadLength,
      payload: p.payload,
      tunnel: p.tunnel,
    };
  }

  /**
   * The TCP segment in the frame `bytes[start, end)` captured at `ts` (microseconds) on a link of
   * type `linkType`, or null (counted in `stats`) for anything else. The TcpPacket returned is
   * reused (one object for every plain segment, one for every tunnelled one), overwritten by the
   * next call: copy what must outlive it (its payload is a view into `bytes`, or into the datagram
   * reassembled from fragments).
   */
  decodeAt(bytes: Uint8Array, start: number, end: number, ts: number, linkType: number): TcpPacket | null {
    const stats = this.stats;
    stats.frames++;
    const link = this.link;
    let status = decodeLink(linkType, bytes, link, start, end);
    if (status !== Layer.OK) return this.drop(status, linkType);
    const ip = this.ip;
    const ipVersion = link.ipVersion;
    status = ipVersion === 4 ? decodeIpv4(bytes, link.offset, ip, end) : decodeIpv6(bytes, link.offset, ip, end);
    if (status !== Layer.OK) {
      if (status === Layer.NOT_TCP || status === Layer.FRAGMENT)
        return this.inner.open(status, bytes, link.offset, ipVersion, ip, ts, linkType);
      return this.drop(status, linkType);
    }
    const tcp = this.tcp;
    status = decodeTcp(bytes, ip.transportOffset, ip.transportLength, ip.capturedEnd, tcp);
    if (status !== Layer.OK) return this.drop(status, linkType);

    const capturedPayload = ip.capturedEnd - tcp.payloadOffset;
    if (capturedPayload < tcp.payloadLength) stats.truncated++;
    stats.tcp++;
    const p = this.packet;
    p.ts = ts;
    p.ipVersion = ipVersion;
    p.src = ipVersion === 4 ? ipv4ToString(bytes, ip.srcOffset) : ipv6ToString(bytes, ip.srcOffset);
    p.dst = ipVersion === 4 ? ipv4ToString(bytes, ip.dstOffset) : ipv6ToString(bytes, ip.dstOffset);
    p.srcPort = tcp.srcPort;
    p.dstPort = tcp.dstPort;
    p.seq = tcp.seq;
    p.ack = tcp.ack;
    p.flags = tcp.flags;
    p.window = tcp.window;
    p.payloadLength = tcp.payloadLength;
    p.payload = capturedPayload > 0 ? bytes.subarray(tcp.payloadOffset, ip.capturedEnd) : EMPTY_PAYLOAD;
    return p;
  }

  /**
   * The capture ended: IP datagrams still waiting for fragments are given up, counted in
   * `datagramsIncomplete`. Decoding may go on afterwards.
   */
  end(): void {
    this.inner.end();
  }

  /** Counts a frame that yields no TCP segment (also for decapsulate.ts); returns null. */
  drop(status: LayerStatus, linkType: number): null {
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
