/**
 * What lies inside an IP packet that is not plain TCP: a tunnel (tunnel.ts) or a fragment
 * (fragments.ts). PacketDecoder hands such packets here, and only those: a capture of plain TCP never
 * runs a line of this file.
 *
 * A tunnel's inner frame, or a reassembled datagram, is decoded by the same PacketDecoder.decodeAt()
 * as any frame (it is the same frame, so `frames` is not counted twice), with the link type the
 * tunnel names: VXLAN's inner Ethernet goes through the Ethernet decoder, GRE's IPv6 through the
 * IPv6 one, and a tunnel inside a tunnel, or a fragment of a tunnelled packet, comes back here.
 * Nesting is bounded (MAX_NESTING); deeper packets are counted as they stand (not TCP, fragments).
 *
 * A TCP segment that came out of a tunnel is handed over in a second reused TcpPacket, whose
 * `tunnel` names the (innermost) tunnel: nothing is allocated per packet, the words are cached.
 */
import type { Micros } from '../model/time.js';
import type { TcpPacket } from '../model/packet.js';
import { Layer, type LayerStatus } from './cursor.js';
import { Fragment, FragmentReassembler, type ReassemblerOptions } from './fragments.js';
import type { IpResult } from './ipv4.js';
import { LinkType } from './link.js';
import type { DecodeStats } from './packet.js';
import { decodeTunnel, tunnelLabel, type TunnelKind, type TunnelResult } from './tunnel.js';

/** Tunnels and reassembled datagrams nested deeper than this are not opened. */
export const MAX_NESTING = 8;
/** Distinct tunnel labels kept; beyond, the cache starts over (a capture rarely has more than a few). */
const LABEL_CACHE_SIZE = 4096;
/** Room for a tunnel id (up to 2^32 - 1, plus one for "none") below the kind and variant in a label key. */
const LABEL_ID_SPAN = 2 ** 33;

/** What Decapsulator needs of its PacketDecoder: decoding a frame, counting one it drops. */
export interface FrameDecoder {
  readonly stats: DecodeStats;
  decodeAt(bytes: Uint8Array, start: number, end: number, ts: Micros, linkType: number): TcpPacket | null;
  drop(status: LayerStatus, linkType: number): null;
}

export class Decapsulator {
  /** Tunnels and reassembled datagrams being decoded, one inside the other; of them, tunnels. */
  private nesting = 0;
  private tunnels = 0;
  private readonly tunnel: TunnelResult = { offset: 0, end: 0, linkType: 0, kind: 1, id: -1 };
  private readonly fragments: FragmentReassembler;
  private readonly labels = new Map<number, string>();
  /** The TcpPacket handed over for a tunnelled segment: a copy of the inner one, with `tunnel` set. */
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
    payload: new Uint8Array(0),
    tunnel: null,
  };

  constructor(
    private readonly decoder: FrameDecoder,
    options: ReassemblerOptions = {},
  ) {
    this.fragments = new FragmentReassembler(decoder.stats, options);
  }

  /**
   * The IP packet at `ipOffset` of `bytes` (version `ipVersion`, decoded into `ip`) is a fragment
   * (status FRAGMENT) or carries something other than TCP (NOT_TCP). Returns the TCP segment found
   * inside, or null (the frame counted in the decoder's stats).
   */
  open(
    status: LayerStatus,
    bytes: Uint8Array,
    ipOffset: number,
    ipVersion: 4 | 6,
    ip: IpResult,
    ts: Micros,
    linkType: number,
  ): TcpPacket | null {
    const decoder = this.decoder;
    if (this.nesting >= MAX_NESTING) return decoder.drop(status, linkType);
    if (status === Layer.FRAGMENT) return this.fragment(bytes, ipOffset, ipVersion, ip, ts, linkType);
    const t = this.tunnel;
    const found = decodeTunnel(ip.protocol, bytes, ip.transportOffset, ip.capturedEnd, t);
    if (found !== Layer.OK) return decoder.drop(found, linkType);
    // Read before the inner decode overwrites the scratch results.
    const kind = t.kind;
    const id = t.id;
    const innerLinkType = t.linkType;
    const p = this.inner(bytes, t.offset, t.end, ts, innerLinkType, 1);
    if (p === null) return null;
    // Once per frame, by the outermost tunnel (a reassembled datagram may be the outermost layer).
    if (this.tunnels === 0) decoder.stats.tunnelled++;
    // The innermost tunnel names the segment: one already set by a nested tunnel stays.
    const tunnel =
      p === this.packet && typeof p.tunnel === 'string' ? p.tunnel : this.label(kind, id, innerLinkType, ipVersion);
    return this.copy(p, tunnel);
  }

  /** The capture ended: datagrams still waiting for fragments are given up (counted incomplete). */
  end(): void {
    this.fragments.end();
  }

  private fragment(
    bytes: Uint8Array,
    ipOffset: number,
    ipVersion: 4 | 6,
    ip: IpResult,
    ts: Micros,
    linkType: number,
  ): TcpPacket | null {
    const r = this.fragments;
    const status = ipVersion === 4 ? r.addIpv4(bytes, ipOffset, ip, ts) : r.addIpv6(bytes, ipOffset, ip, ts);
    if (status === Fragment.MALFORMED) return this.decoder.drop(Layer.MALFORMED, linkType);
    if (status === Fragment.HELD) return this.decoder.drop(Layer.FRAGMENT, linkType);
    // The frame that completes a datagram lands where the datagram does (tcp, nonTcp...).
    return this.inner(r.datagram, 0, r.datagramEnd, ts, ipVersion === 4 ? LinkType.IPV4 : LinkType.IPV6, 0);
  }

  /** Decodes what was inside (`tunnel`: 1 for a tunnel's payload) as the same frame: `frames` is not counted again. */
  private inner(
    bytes: Uint8Array,
    start: number,
    end: number,
    ts: Micros,
    linkType: number,
    tunnel: 0 | 1,
  ): TcpPacket | null {
    this.decoder.stats.frames--;
    this.nesting++;
    this.tunnels += tunnel;
    try {
      return this.decoder.decodeAt(bytes, start, end, ts, linkType);
    } finally {
      this.nesting--;
      this.tunnels -= tunnel;
    }
  }

  private copy(p: TcpPacket, tunnel: string): TcpPacket {
    const out = this.packet;
    out.ts = p.ts;
    out.ipVersion = p.ipVersion;
    out.src = p.src;
    out.dst = p.dst;
    out.srcPort = p.srcPort;
    out.dstPort = p.dstPort;
    out.seq = p.seq;
    out.ack = p.ack;
    out.flags = p.flags;
    out.window = p.window;
    out.payloadLength = p.payloadLength;
    out.payload = p.payload;
    out.tunnel = tunnel;
    return out;
  }

  private label(kind: TunnelKind, id: number, innerLinkType: number, outerVersion: 4 | 6): string {
    const variant =
      (outerVersion === 6 ? 4 : 0) |
      (innerLinkType === LinkType.IPV6 ? 2 : 0) |
      (innerLinkType === LinkType.PPP ? 1 : 0);
    const key = (kind * 8 + variant) * LABEL_ID_SPAN + (id + 1);
    let text = this.labels.get(key);
    if (text === undefined) {
      if (this.labels.size >= LABEL_CACHE_SIZE) this.labels.clear();
      text = tunnelLabel(kind, id, innerLinkType, outerVersion);
      this.labels.set(key, text);
    }
    return text;
  }
}
