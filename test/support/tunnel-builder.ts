/**
 * Tunnels and IP fragments for test captures, built from their specifications so a reader sees which
 * bytes are tested (IP and link layers from test/support/capture-builder.ts):
 *
 *   IP in IP   RFC 2003 (protocol 4), RFC 4213 (6in4, protocol 41), RFC 2473 (IPv6 in IPv6)
 *   GRE        RFC 2784 (checksum), RFC 2890 (key, sequence), RFC 1701 (routing), RFC 2637 (enhanced, PPTP)
 *   ERSPAN     draft-foschiano-erspan-03 (type II)
 *   VXLAN      RFC 7348 section 5;  VXLAN-GPE: draft-ietf-nvo3-vxlan-gpe section 3;  Geneve: RFC 8926 3.4
 *   UDP        RFC 768 (checksum over the pseudo-header, RFC 8200 section 8.1 for IPv6)
 *   fragments  RFC 791 section 3.2 (IPv4), RFC 8200 section 4.5 (IPv6 fragment header)
 *
 *   const ip = encapsulate(ipPacket(spec), [{ kind: 'vxlan', src: '192.0.2.1', dst: '192.0.2.2', vni: 42 }]);
 *   linkFrame(LT.ETHERNET, ip)
 */
import { BufferList, concat } from './buffer-list.js';
import { LT, checksum, ipPacket, linkFrame, parseIpv4, parseIpv6 } from './capture-builder.js';
import type { FrameSpec, TcpPacketSpec } from './capture-builder.js';

/** One tunnel layer; addresses containing ':' make an IPv6 outer packet. */
export type TunnelSpec =
  | { kind: 'ipip'; src: string; dst: string }
  | {
      kind: 'gre';
      src: string;
      dst: string;
      key?: number;
      seq?: number;
      checksum?: boolean;
      /** An RFC 1701 routing field (one source route entry, then the null one). */
      routing?: boolean;
      /** The payload as GRE protocol 0x6558 (Transparent Ethernet Bridging): an Ethernet frame. */
      ethernet?: boolean;
    }
  | { kind: 'pptp'; src: string; dst: string; callId: number }
  | { kind: 'erspan'; src: string; dst: string; session: number }
  | { kind: 'vxlan'; src: string; dst: string; vni: number; port?: number }
  | { kind: 'vxlan-gpe'; src: string; dst: string; vni: number }
  | { kind: 'geneve'; src: string; dst: string; vni: number; optionBytes?: number; ethernet?: boolean };

const PROTOCOL_IPV4 = 4;
const PROTOCOL_IPV6 = 41;
const PROTOCOL_GRE = 47;
const PROTOCOL_UDP = 17;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_TEB = 0x6558;
const GRE_PPP = 0x880b;
const GRE_ERSPAN_II = 0x88be;

function isV6(ip: Uint8Array): boolean {
  return ip[0]! >> 4 === 6;
}

/** An IPv4 or IPv6 packet (by the address form) carrying `payload` as `protocol`. */
export function ipDatagram(src: string, dst: string, protocol: number, payload: Uint8Array, id = 0x4321): Uint8Array {
  if (src.includes(':')) {
    return new BufferList()
      .uint32(0x60000000)
      .uint16(payload.length)
      .uint8(protocol)
      .uint8(64)
      .bytes(parseIpv6(src))
      .bytes(parseIpv6(dst))
      .bytes(payload)
      .join();
  }
  const header = new BufferList()
    .uint8(0x45)
    .uint8(0)
    .uint16(20 + payload.length)
    .uint16(id)
    .uint16(0x4000) // DF
    .uint8(64)
    .uint8(protocol)
    .uint16(0)
    .bytes(parseIpv4(src))
    .bytes(parseIpv4(dst))
    .join();
  const sum = checksum(header);
  header[10] = sum >> 8;
  header[11] = sum & 0xff;
  return concat(header, payload);
}

/** An IP packet carrying a UDP datagram, its checksum over the pseudo-header filled in. */
export function udpDatagram(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array) {
  const udp = new BufferList()
    .uint16(srcPort)
    .uint16(dstPort)
    .uint16(8 + payload.length)
    .uint16(0)
    .bytes(payload)
    .join();
  const v6 = src.includes(':');
  const pseudo = v6
    ? new BufferList().bytes(parseIpv6(src)).bytes(parseIpv6(dst)).uint32(udp.length).zeros(3).uint8(PROTOCOL_UDP)
    : new BufferList().bytes(parseIpv4(src)).bytes(parseIpv4(dst)).uint8(0).uint8(PROTOCOL_UDP).uint16(udp.length);
  const sum = checksum(pseudo.join(), udp) || 0xffff;
  udp[6] = sum >> 8;
  udp[7] = sum & 0xff;
  return ipDatagram(src, dst, PROTOCOL_UDP, udp);
}

/** The inner IP packet as an Ethernet frame (for the tunnels that carry Ethernet). */
function ethernet(ip: Uint8Array): Uint8Array {
  return linkFrame(LT.ETHERNET, ip);
}

/** Wraps the IP packet `ip` in the tunnels, outermost first; returns the outermost IP packet. */
export function encapsulate(ip: Uint8Array, tunnels: readonly TunnelSpec[]): Uint8Array {
  let packet = ip;
  for (const t of [...tunnels].reverse()) packet = wrap(packet, t);
  return packet;
}

function wrap(ip: Uint8Array, t: TunnelSpec): Uint8Array {
  const innerType = isV6(ip) ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
  switch (t.kind) {
    case 'ipip':
      return ipDatagram(t.src, t.dst, isV6(ip) ? PROTOCOL_IPV6 : PROTOCOL_IPV4, ip);
    case 'gre': {
      const payload = t.ethernet ? ethernet(ip) : ip;
      const flags =
        (t.checksum ? 0x8000 : 0) |
        (t.routing ? 0x4000 : 0) |
        (t.key !== undefined ? 0x2000 : 0) |
        (t.seq !== undefined ? 0x1000 : 0);
      const b = new BufferList().uint16(flags).uint16(t.ethernet ? ETHERTYPE_TEB : innerType);
      if (t.checksum || t.routing) b.uint16(0).uint16(0); // checksum (filled below), offset
      if (t.key !== undefined) b.uint32(t.key);
      if (t.seq !== undefined) b.uint32(t.seq);
      // One IPv4 source route entry of two addresses, then the null entry (RFC 1701 section 2.2.1).
      if (t.routing) b.uint16(0x0800).uint8(0).uint8(8).uint32(0x0a000001).uint32(0x0a000002).uint32(0);
      const gre = concat(b.join(), payload);
      if (t.checksum) {
        const sum = checksum(gre);
        gre[4] = sum >> 8;
        gre[5] = sum & 0xff;
      }
      return ipDatagram(t.src, t.dst, PROTOCOL_GRE, gre);
    }
    case 'pptp': {
      // Enhanced GRE: K and S set, version 1, protocol PPP; payload length and call id; sequence.
      const ppp = new BufferList()
        .uint8(0xff)
        .uint8(0x03)
        .uint16(isV6(ip) ? 0x0057 : 0x0021)
        .bytes(ip)
        .join();
      const gre = new BufferList().uint16(0x3001).uint16(GRE_PPP).uint16(ppp.length).uint16(t.callId).uint32(1);
      return ipDatagram(t.src, t.dst, PROTOCOL_GRE, concat(gre.join(), ppp));
    }
    case 'erspan': {
      // GRE with a sequence number, ERSPAN type II: version 1, VLAN 0, session; index.
      const gre = new BufferList().uint16(0x1000).uint16(GRE_ERSPAN_II).uint32(1);
      const erspan = new BufferList()
        .uint16(0x1000)
        .uint16(t.session & 0x03ff)
        .uint32(0);
      return ipDatagram(t.src, t.dst, PROTOCOL_GRE, concat(gre.join(), erspan.join(), ethernet(ip)));
    }
    case 'vxlan': {
      // flags (I), reserved, VNI, reserved; then the inner Ethernet frame.
      const header = new BufferList()
        .uint8(0x08)
        .zeros(3)
        .uint32(t.vni << 8)
        .join();
      return udpDatagram(t.src, t.dst, 54321, t.port ?? 4789, concat(header, ethernet(ip)));
    }
    case 'vxlan-gpe': {
      // flags (I, P), reserved, next protocol (1 IPv4, 2 IPv6), VNI, reserved; then the inner IP packet.
      const header = new BufferList()
        .uint8(0x0c)
        .zeros(2)
        .uint8(isV6(ip) ? 2 : 1)
        .uint32(t.vni << 8)
        .join();
      return udpDatagram(t.src, t.dst, 54321, 4790, concat(header, ip));
    }
    case 'geneve': {
      // version 0 and options length (4-byte words), flags, protocol type, VNI, reserved, options.
      const options = t.optionBytes ?? 0;
      const b = new BufferList()
        .uint8(options / 4)
        .uint8(0)
        .uint16(t.ethernet === false ? innerType : ETHERTYPE_TEB)
        .uint32(t.vni << 8);
      // One option TLV: class, type, length in words, data.
      if (options > 0)
        b.uint16(0x0101)
          .uint8(0x01)
          .uint8(options / 4 - 1)
          .zeros(options - 4);
      const payload = t.ethernet === false ? ip : ethernet(ip);
      return udpDatagram(t.src, t.dst, 54321, 6081, concat(b.join(), payload));
    }
  }
}

/** The conversation's packets as frames of `linkType`, each IP packet wrapped in `tunnels`. */
export function tunnelled(packets: readonly TcpPacketSpec[], tunnels: readonly TunnelSpec[], linkType = LT.ETHERNET) {
  return packets.map((p): FrameSpec => ({
    ...(p.ts === undefined ? {} : { ts: p.ts }),
    frame: linkFrame(linkType, encapsulate(ipPacket(p), tunnels), p),
  }));
}

export interface FragmentOptions {
  /** Bytes of payload per fragment (a multiple of 8; the last takes the rest). */
  size: number;
  /** The order the fragments go out in, as indexes (default in order). */
  order?: number[];
  /** IPv4 identification / IPv6 fragment identification. */
  id?: number;
}

/** The IP packet cut into fragments (IPv4: RFC 791 section 3.2; IPv6: a fragment header, RFC 8200 4.5). */
export function fragmentIp(ip: Uint8Array, options: FragmentOptions): Uint8Array[] {
  if (options.size % 8 !== 0) throw new Error('tunnel-builder: fragments carry multiples of 8 bytes');
  const v6 = isV6(ip);
  const headerLength = v6 ? 40 : (ip[0]! & 0x0f) * 4;
  const header = ip.subarray(0, headerLength);
  const payload = ip.subarray(headerLength);
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += options.size) {
    const piece = payload.subarray(at, Math.min(payload.length, at + options.size));
    const more = at + options.size < payload.length;
    if (v6) {
      const fixed = header.slice();
      const nextHeader = fixed[6]!;
      fixed[6] = 44;
      fixed[4] = (piece.length + 8) >> 8;
      fixed[5] = (piece.length + 8) & 0xff;
      const fragmentHeader = new BufferList()
        .uint8(nextHeader)
        .uint8(0)
        .uint16(((at / 8) << 3) | (more ? 1 : 0))
        .uint32(options.id ?? 0xcafe)
        .join();
      out.push(concat(fixed, fragmentHeader, piece));
    } else {
      const h = header.slice();
      const total = headerLength + piece.length;
      h[2] = total >> 8;
      h[3] = total & 0xff;
      if (options.id !== undefined) {
        h[4] = options.id >> 8;
        h[5] = options.id & 0xff;
      }
      const word = (more ? 0x2000 : 0) | (at / 8);
      h[6] = word >> 8;
      h[7] = word & 0xff;
      h[10] = 0;
      h[11] = 0;
      const sum = checksum(h);
      h[10] = sum >> 8;
      h[11] = sum & 0xff;
      out.push(concat(h, piece));
    }
  }
  return options.order ? options.order.map((i) => out[i]!) : out;
}

/** One TCP packet as fragment frames of `linkType`, all at the packet's time (or `ts`). */
export function fragmented(
  linkType: number,
  packet: TcpPacketSpec,
  options: FragmentOptions & { tunnels?: TunnelSpec[] },
): FrameSpec[] {
  const ip = encapsulate(ipPacket(packet), options.tunnels ?? []);
  return fragmentIp(ip, options).map((f) => ({
    ...(packet.ts === undefined ? {} : { ts: packet.ts }),
    frame: linkFrame(linkType, f, packet),
  }));
}
