/**
 * Tunnel headers: where a tunnelled packet's inner frame starts and how to read it. Reached from
 * decapsulate.ts for IP packets that do not carry TCP, never on the fast path.
 *
 *   IP in IP         RFC 2003 (IPv4 in IPv4, protocol 4), RFC 4213 section 3.5 (6in4, protocol 41),
 *                    RFC 2473 (IPv6 in IPv6, next header 41; IPv4 in IPv6, next header 4)
 *   GRE              RFC 2784 section 2 (header, checksum), RFC 2890 section 2 (key, sequence number),
 *                    RFC 1701 section 2 (routing present: offset field and source route entries),
 *                    RFC 2637 section 4.1 (enhanced GRE, version 1, under PPTP)
 *   GRE protocols    https://www.iana.org/assignments/ieee-802-numbers/ (ethertypes); 0x6558 is
 *                    Transparent Ethernet Bridging (RFC 1701), also NVGRE (RFC 7637)
 *   ERSPAN           draft-foschiano-erspan-03 sections 4.1 (type II) and 4.2 (type III)
 *   VXLAN            RFC 7348 section 5 (UDP port 4789; Linux's pre-IANA default 8472 too)
 *   VXLAN-GPE        draft-ietf-nvo3-vxlan-gpe-12 section 3 (UDP port 4790)
 *   Geneve           RFC 8926 section 3.4 (UDP port 6081)
 *   UDP              RFC 768
 *   IP protocols     https://www.iana.org/assignments/protocol-numbers/
 */
import { Layer, u16be, u32be, type LayerStatus } from './cursor.js';
import { EtherType, LinkType } from './link.js';

/** IP protocol numbers of the tunnels opened here. */
export const TunnelProtocol = {
  /** IPv4 encapsulation (IP in IP, 4in6). */
  IPV4: 4,
  /** IPv6 encapsulation (6in4, IPv6 in IPv6). */
  IPV6: 41,
  GRE: 47,
  UDP: 17,
} as const;

/** Tunnel UDP destination ports. */
export const TunnelPort = {
  /** VXLAN (IANA). */
  VXLAN: 4789,
  /** VXLAN as the Linux kernel sends it unless told the IANA port (flannel's default). */
  VXLAN_LINUX: 8472,
  VXLAN_GPE: 4790,
  GENEVE: 6081,
} as const;

/** What kind of tunnel a packet came out of; `label()` turns one into words. */
export const TunnelKind = {
  IP_IN_IP: 1,
  GRE: 2,
  ERSPAN: 3,
  VXLAN: 4,
  VXLAN_GPE: 5,
  GENEVE: 6,
} as const;
export type TunnelKind = (typeof TunnelKind)[keyof typeof TunnelKind];

/** What decodeTunnel() found; one object reused for every packet. */
export interface TunnelResult {
  /** Where the inner frame or packet starts, and where its bytes end (the UDP length may end them early). */
  offset: number;
  end: number;
  /** How to read it: a LINKTYPE_ value (ETHERNET, IPV4, IPV6, PPP, MPLS). */
  linkType: number;
  kind: TunnelKind;
  /** The tunnel's id: a VNI, a GRE key or PPTP call id, an ERSPAN session; -1 when there is none. */
  id: number;
}

/**
 * The tunnel inside an IP packet carrying `protocol` whose payload is `data[offset, end)`. Returns OK
 * (and fills `out`), NOT_TCP (not a tunnel known here: the packet is plain UDP, ICMP, ...), TRUNCATED
 * or MALFORMED.
 */
export function decodeTunnel(
  protocol: number,
  data: Uint8Array,
  offset: number,
  end: number,
  out: TunnelResult,
): LayerStatus {
  switch (protocol) {
    case TunnelProtocol.IPV4:
      return inner(out, offset, end, LinkType.IPV4, TunnelKind.IP_IN_IP, -1);
    case TunnelProtocol.IPV6:
      return inner(out, offset, end, LinkType.IPV6, TunnelKind.IP_IN_IP, -1);
    case TunnelProtocol.GRE:
      return gre(data, offset, end, out);
    case TunnelProtocol.UDP:
      return udp(data, offset, end, out);
    default:
      return Layer.NOT_TCP;
  }
}

function inner(out: TunnelResult, offset: number, end: number, linkType: number, kind: TunnelKind, id: number) {
  if (offset > end) return Layer.TRUNCATED;
  out.offset = offset;
  out.end = end;
  out.linkType = linkType;
  out.kind = kind;
  out.id = id;
  return Layer.OK;
}

/** The link type that reads a payload named by an ethertype, or -1 when none here does. */
function linkTypeOfEtherType(type: number): number {
  switch (type) {
    case EtherType.IPV4:
      return LinkType.IPV4;
    case EtherType.IPV6:
      return LinkType.IPV6;
    case EtherType.TRANSPARENT_ETHERNET:
      return LinkType.ETHERNET;
    case EtherType.MPLS_UNICAST:
    case EtherType.MPLS_MULTICAST:
      return LinkType.MPLS;
    default:
      return -1;
  }
}

// GRE.

const GRE_BASE_LENGTH = 4;
/** Flags and version, the first 16 bits (RFC 2784, RFC 2890, RFC 1701, RFC 2637). */
const GRE_CHECKSUM = 0x8000;
const GRE_ROUTING = 0x4000;
const GRE_KEY = 0x2000;
const GRE_SEQUENCE = 0x1000;
/** Enhanced GRE (RFC 2637): an acknowledgment number follows the sequence number. */
const GRE_ACK = 0x0080;
const GRE_VERSION_MASK = 0x0007;
const GRE_VERSION_ENHANCED = 1;
/** Checksum and Reserved1 (or RFC 1701's Offset), key, sequence and ack number: 4 bytes each. */
const GRE_FIELD_LENGTH = 4;
/** RFC 1701 source route entry: address family (2), SRE offset (1), SRE length (1), then the route. */
const GRE_SRE_HEADER_LENGTH = 4;
const GRE_SRE_LENGTH_OFFSET = 3;
/** PPP, the only payload of enhanced GRE (RFC 2637 section 4.1). */
const GRE_PROTOCOL_PPP = 0x880b;
/** The enhanced key field: payload length (2), then the call id (2). */
const GRE_CALL_ID_OFFSET = 2;
/** ERSPAN types II and III (mirrored Ethernet frames). */
const GRE_PROTOCOL_ERSPAN_II = 0x88be;
const GRE_PROTOCOL_ERSPAN_III = 0x22eb;
/** ERSPAN II: version/VLAN (2), session (2), index (4); type III: 12 bytes, then 8 more if its O bit is set. */
const ERSPAN_II_LENGTH = 8;
const ERSPAN_III_LENGTH = 12;
const ERSPAN_III_PLATFORM_LENGTH = 8;
const ERSPAN_SESSION_OFFSET = 2;
const ERSPAN_SESSION_MASK = 0x03ff;
const ERSPAN_III_OPTIONAL_OFFSET = 11;
const ERSPAN_III_OPTIONAL = 0x01;

function gre(data: Uint8Array, offset: number, end: number, out: TunnelResult): LayerStatus {
  if (offset + GRE_BASE_LENGTH > end) return Layer.TRUNCATED;
  const flags = u16be(data, offset);
  const protocol = u16be(data, offset + 2);
  let at = offset + GRE_BASE_LENGTH;
  let id = -1;
  const version = flags & GRE_VERSION_MASK;
  if (version === GRE_VERSION_ENHANCED) {
    if ((flags & GRE_KEY) === 0 || protocol !== GRE_PROTOCOL_PPP) return Layer.MALFORMED;
    if (at + GRE_FIELD_LENGTH > end) return Layer.TRUNCATED;
    id = u16be(data, at + GRE_CALL_ID_OFFSET);
    at += GRE_FIELD_LENGTH;
    if ((flags & GRE_SEQUENCE) !== 0) at += GRE_FIELD_LENGTH;
    if ((flags & GRE_ACK) !== 0) at += GRE_FIELD_LENGTH;
    return inner(out, at, end, LinkType.PPP, TunnelKind.GRE, id);
  }
  if (version !== 0) return Layer.MALFORMED;
  if ((flags & (GRE_CHECKSUM | GRE_ROUTING)) !== 0) at += GRE_FIELD_LENGTH;
  if ((flags & GRE_KEY) !== 0) {
    if (at + GRE_FIELD_LENGTH > end) return Layer.TRUNCATED;
    id = u32be(data, at);
    at += GRE_FIELD_LENGTH;
  }
  if ((flags & GRE_SEQUENCE) !== 0) at += GRE_FIELD_LENGTH;
  if ((flags & GRE_ROUTING) !== 0) {
    // Source route entries up to the null one (family 0, length 0); each is at least 4 bytes.
    for (;;) {
      if (at + GRE_SRE_HEADER_LENGTH > end) return Layer.TRUNCATED;
      const family = u16be(data, at);
      const length = data[at + GRE_SRE_LENGTH_OFFSET]!;
      at += GRE_SRE_HEADER_LENGTH + length;
      if (family === 0 && length === 0) break;
    }
  }
  if (protocol === GRE_PROTOCOL_ERSPAN_II || protocol === GRE_PROTOCOL_ERSPAN_III)
    return erspan(data, at, end, protocol, out);
  const linkType = protocol === GRE_PROTOCOL_PPP ? LinkType.PPP : linkTypeOfEtherType(protocol);
  if (linkType < 0) return Layer.NOT_TCP;
  return inner(out, at, end, linkType, TunnelKind.GRE, id);
}

function erspan(data: Uint8Array, at: number, end: number, protocol: number, out: TunnelResult): LayerStatus {
  let length = protocol === GRE_PROTOCOL_ERSPAN_II ? ERSPAN_II_LENGTH : ERSPAN_III_LENGTH;
  if (at + length > end) return Layer.TRUNCATED;
  const session = u16be(data, at + ERSPAN_SESSION_OFFSET) & ERSPAN_SESSION_MASK;
  if (protocol === GRE_PROTOCOL_ERSPAN_III && (data[at + ERSPAN_III_OPTIONAL_OFFSET]! & ERSPAN_III_OPTIONAL) !== 0)
    length += ERSPAN_III_PLATFORM_LENGTH;
  return inner(out, at + length, end, LinkType.ETHERNET, TunnelKind.ERSPAN, session);
}

// Tunnels over UDP.

const UDP_HEADER_LENGTH = 8;
const UDP_DESTINATION_PORT_OFFSET = 2;
const UDP_LENGTH_OFFSET = 4;
/** VXLAN: flags (1, the I bit says the VNI is valid), reserved (3), VNI (3), reserved (1). */
const VXLAN_HEADER_LENGTH = 8;
const VXLAN_FLAG_VNI = 0x08;
const VNI_OFFSET = 4;
/** VXLAN-GPE: flags (1, with P: a next protocol is given), reserved (2), next protocol (1), VNI (3), reserved. */
const VXLAN_GPE_FLAG_NEXT_PROTOCOL = 0x04;
const VXLAN_GPE_NEXT_PROTOCOL_OFFSET = 3;
const VxlanGpeNext = { IPV4: 1, IPV6: 2, ETHERNET: 3, MPLS: 5 } as const;
/** Geneve: version (2 bits, 0) and options length (6 bits, in 4-byte words), flags, protocol type (2), VNI (3). */
const GENEVE_HEADER_LENGTH = 8;
const GENEVE_VERSION_SHIFT = 6;
const GENEVE_OPTIONS_MASK = 0x3f;
const GENEVE_OPTION_UNIT = 4;
const GENEVE_PROTOCOL_OFFSET = 2;

function udp(data: Uint8Array, offset: number, end: number, out: TunnelResult): LayerStatus {
  if (offset + UDP_HEADER_LENGTH > end) return Layer.TRUNCATED;
  const port = u16be(data, offset + UDP_DESTINATION_PORT_OFFSET);
  if (
    port !== TunnelPort.VXLAN &&
    port !== TunnelPort.VXLAN_LINUX &&
    port !== TunnelPort.VXLAN_GPE &&
    port !== TunnelPort.GENEVE
  )
    return Layer.NOT_TCP;
  // The UDP length ends the datagram where it is smaller than the IP packet (0: a jumbogram, RFC 2675).
  const length = u16be(data, offset + UDP_LENGTH_OFFSET);
  if (length !== 0 && length < UDP_HEADER_LENGTH) return Layer.MALFORMED;
  const udpEnd = length === 0 ? end : Math.min(end, offset + length);
  const at = offset + UDP_HEADER_LENGTH;
  if (at + VXLAN_HEADER_LENGTH > udpEnd) return Layer.TRUNCATED;
  // VXLAN, VXLAN-GPE and Geneve all carry a 24-bit VNI in bytes 4-6 of their header.
  const vni = u32be(data, at + VNI_OFFSET) >>> 8;
  if (port === TunnelPort.GENEVE) {
    if (data[at]! >> GENEVE_VERSION_SHIFT !== 0) return Layer.MALFORMED;
    const options = (data[at]! & GENEVE_OPTIONS_MASK) * GENEVE_OPTION_UNIT;
    const linkType = linkTypeOfEtherType(u16be(data, at + GENEVE_PROTOCOL_OFFSET));
    if (linkType < 0) return Layer.NOT_TCP;
    return inner(out, at + GENEVE_HEADER_LENGTH + options, udpEnd, linkType, TunnelKind.GENEVE, vni);
  }
  if (port === TunnelPort.VXLAN_GPE) {
    let linkType: number = LinkType.ETHERNET;
    if ((data[at]! & VXLAN_GPE_FLAG_NEXT_PROTOCOL) !== 0) {
      const next = data[at + VXLAN_GPE_NEXT_PROTOCOL_OFFSET];
      if (next === VxlanGpeNext.IPV4) linkType = LinkType.IPV4;
      else if (next === VxlanGpeNext.IPV6) linkType = LinkType.IPV6;
      else if (next === VxlanGpeNext.MPLS) linkType = LinkType.MPLS;
      else if (next !== VxlanGpeNext.ETHERNET) return Layer.NOT_TCP;
    }
    return inner(out, at + VXLAN_HEADER_LENGTH, udpEnd, linkType, TunnelKind.VXLAN_GPE, vni);
  }
  // Without the I flag the header is not VXLAN's (on 8472 it may be any other service).
  if ((data[at]! & VXLAN_FLAG_VNI) === 0) return Layer.NOT_TCP;
  return inner(out, at + VXLAN_HEADER_LENGTH, udpEnd, LinkType.ETHERNET, TunnelKind.VXLAN, vni);
}

/** Words for a tunnel: "VXLAN vni 42", "GRE key 7", "6in4". `outerVersion`: the carrying IP packet's. */
export function tunnelLabel(kind: TunnelKind, id: number, innerLinkType: number, outerVersion: 4 | 6): string {
  switch (kind) {
    case TunnelKind.IP_IN_IP:
      if (innerLinkType === LinkType.IPV6) return outerVersion === 4 ? '6in4' : 'IPv6 in IPv6';
      return outerVersion === 4 ? 'IP in IP' : '4in6';
    case TunnelKind.GRE:
      return id < 0 ? 'GRE' : innerLinkType === LinkType.PPP ? `GRE (PPTP call ${id})` : `GRE key ${id}`;
    case TunnelKind.ERSPAN:
      return `ERSPAN session ${id}`;
    case TunnelKind.VXLAN:
      return `VXLAN vni ${id}`;
    case TunnelKind.VXLAN_GPE:
      return `VXLAN-GPE vni ${id}`;
    case TunnelKind.GENEVE:
      return `Geneve vni ${id}`;
  }
}
