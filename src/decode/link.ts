/**
 * Link layers: find the IPv4/IPv6 header inside a captured frame.
 *
 * Link-layer header types: https://www.tcpdump.org/linktypes.html
 *   Ethernet         https://www.tcpdump.org/linktypes/LINKTYPE_ETHERNET.html (IEEE 802.3)
 *   802.1Q / 802.1ad VLAN tags (IEEE 802.1Q-2018 section 9), possibly stacked (Q-in-Q)
 *   Linux cooked v1  https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html  (tcpdump -i any)
 *   Linux cooked v2  https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html (tcpdump -i any, newer)
 *   BSD loopback     https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html and LINKTYPE_LOOP.html
 *   Raw IP           https://www.tcpdump.org/linktypes/LINKTYPE_RAW.html, LINKTYPE_IPV4, LINKTYPE_IPV6
 * Ethertypes: https://www.iana.org/assignments/ieee-802-numbers/
 *
 * These are the fast path, run for every frame. Every other link type (PPP, HDLC, 802.11 and its
 * radio headers, the BSD and Linux pseudo-headers...) and every ethertype that is not IP or a VLAN
 * tag (PPPoE, MPLS) goes to link-other.ts, reached only for them.
 */
import { Layer, u16be, u32be, u32le, type LayerStatus } from './cursor.js';
// A cycle (link-other.ts reads ethertypes with etherType() below): functions only, no top-level use.
import { decodeOtherLink, otherEtherType } from './link-other.js';

/** LINKTYPE_ values (https://www.tcpdump.org/linktypes.html). */
export const LinkType = {
  /** BSD loopback: 4-byte address family in the byte order of the host that captured. */
  NULL: 0,
  /** IEEE 802.3 Ethernet. */
  ETHERNET: 1,
  /** DLT_RAW as written by some BSDs and old libpcap (the value of DLT_RAW on most platforms). */
  RAW_DLT12: 12,
  /** DLT_RAW as written on OpenBSD. */
  RAW_DLT14: 14,
  /** Raw IPv4 or IPv6, told apart by the version nibble. */
  RAW: 101,
  /** OpenBSD loopback: like NULL but the address family is in network byte order. */
  LOOP: 108,
  /** Linux "cooked" capture v1 (tcpdump -i any). */
  LINUX_SLL: 113,
  /** Raw IPv4 only. */
  IPV4: 228,
  /** Raw IPv6 only. */
  IPV6: 229,
  /** Linux "cooked" capture v2 (tcpdump -i any since libpcap 1.10). */
  LINUX_SLL2: 276,
  // Decoded in link-other.ts and link-wlan.ts (pages under https://www.tcpdump.org/linktypes/).
  /** IEEE 802.5 Token Ring: AC, FC, addresses, source route, then 802.2 LLC. */
  IEEE802_5: 6,
  /** ARCNET as BSD captures it (ATA 878.1, RFC 1201 / RFC 1051). */
  ARCNET_BSD: 7,
  /** SLIP with a 16-byte pseudo-header (LINKTYPE_SLIP.html). */
  SLIP: 8,
  /** PPP (RFC 1661), with or without the HDLC-like address and control bytes (RFC 1662). */
  PPP: 9,
  /** FDDI (ANSI INCITS 239): FC and addresses, then 802.2 LLC. */
  FDDI: 10,
  /** PPP in HDLC-like framing (RFC 1662) or Cisco HDLC (RFC 1547 section 4.3.1), told by the first byte. */
  PPP_HDLC: 50,
  /** PPPoE session frames without the Ethernet header (RFC 2516). */
  PPP_ETHER: 51,
  /** RFC 1483 ATM: an 802.2 LLC header. */
  ATM_RFC1483: 100,
  /** Cisco HDLC (RFC 1547 section 4.3.1): address, control, then an ethertype. */
  C_HDLC: 104,
  /** IEEE 802.11 wireless LAN, MAC header first. */
  IEEE802_11: 105,
  /** Frame Relay (ITU-T Q.922 address), RFC 2427 multiprotocol encapsulation. */
  FRELAY: 107,
  /** OpenBSD enc(4): a 12-byte header (address family, SPI, flags) before the IP packet. */
  ENC: 109,
  /** OpenBSD pf log: a struct pfloghdr whose first byte is its length. */
  PFLOG: 117,
  /** Prism monitor-mode header, then 802.11. */
  IEEE802_11_PRISM: 119,
  /** IP over Fibre Channel (RFC 4338 section 4): a 16-byte network header, then LLC/SNAP. */
  IP_OVER_FC: 122,
  /** SunATM: flag, VPI, VCI, then (flag 2) an 802.2 LLC header. */
  SUNATM: 123,
  /** Radiotap header (https://www.radiotap.org), then 802.11. */
  IEEE802_11_RADIOTAP: 127,
  /** ARCNET as Linux captures it: like ARCNET_BSD with a 2-byte offset field. */
  ARCNET_LINUX: 129,
  /** Apple IP over IEEE 1394: two EUI-64 addresses and an ethertype. */
  APPLE_IP_OVER_IEEE1394: 138,
  /** AVS monitor-mode header, then 802.11. */
  IEEE802_11_AVS: 163,
  /** PPP in HDLC-like framing with the address byte replaced by a direction. */
  PPP_PPPD: 166,
  /** Per-Packet Information header, then a frame of the link type it names. */
  PPI: 192,
  /** Endace ERF records: a 16-byte header naming the record type (Ethernet, PoS HDLC, IPv4, IPv6...). */
  ERF: 197,
  /** A direction byte, then PPP. */
  PPP_WITH_DIR: 204,
  /** A direction byte, then Cisco HDLC. */
  C_HDLC_WITH_DIR: 205,
  /** A direction byte, then Frame Relay. */
  FRELAY_WITH_DIR: 206,
  /** An MPLS label stack first (DLT_MPLS in libpcap's pcap/dlt.h). */
  MPLS: 219,
  /** Solaris ipnet: a 24-byte pseudo-header, then IPv4 or IPv6. */
  IPNET: 226,
  /** Linux NFLOG: a 4-byte header, then TLVs, one of which holds the packet. */
  NFLOG: 239,
  /** Hilscher netANALYZER: a 4-byte header, then Ethernet. */
  NETANALYZER: 240,
  /** netANALYZER in transparent mode: the 4-byte header, preamble and SFD, then Ethernet. */
  NETANALYZER_TRANSPARENT: 241,
  /** IP over InfiniBand: 40 bytes of addresses, then RFC 4391 section 6's 4-byte header holding an ethertype. */
  IPOIB: 242,
  /** Apple PKTAP: a header naming the link type of the frame that follows. */
  PKTAP: 258,
  /** Ethernet over PON: 6 bytes of modified preamble, then Ethernet. */
  EPON: 259,
  /** Ethernet with a 4-byte Broadcom switch tag between the source address and the ethertype. */
  DSA_TAG_BRCM: 281,
  /** Ethernet with a 4-byte Broadcom switch tag before the destination address. */
  DSA_TAG_BRCM_PREPEND: 282,
  /** Ethernet with a 4-byte Marvell DSA switch tag between the source address and the ethertype. */
  DSA_TAG_DSA: 284,
  /** Ethernet with an 8-byte Marvell EDSA switch tag between the source address and the ethertype. */
  DSA_TAG_EDSA: 285,
} as const;

/** Ethertypes (IEEE 802 numbers registry). */
export const EtherType = {
  IPV4: 0x0800,
  IPV6: 0x86dd,
  /** IEEE 802.1Q customer VLAN tag. */
  VLAN: 0x8100,
  /** IEEE 802.1ad service VLAN tag (outer tag of Q-in-Q). */
  QINQ: 0x88a8,
  /** Pre-standard Q-in-Q outer tag still sent by some switches. */
  QINQ_LEGACY: 0x9100,
  /** Values up to this one are an 802.3 length, not an ethertype (IEEE 802.3 clause 3.2.6). */
  MAX_8023_LENGTH: 1500,
  // Decoded in link-other.ts.
  /** PPPoE session stage (RFC 2516 section 4). */
  PPPOE_SESSION: 0x8864,
  /** MPLS unicast and multicast (RFC 5332 section 4). */
  MPLS_UNICAST: 0x8847,
  MPLS_MULTICAST: 0x8848,
  /** Transparent Ethernet Bridging: an Ethernet frame follows (GRE, Geneve, NVGRE). */
  TRANSPARENT_ETHERNET: 0x6558,
} as const;

/** Address families seen in NULL/LOOP headers (the value differs between operating systems). */
export const LoopbackFamily = {
  /** AF_INET, the same everywhere. */
  INET: 2,
  /** AF_INET6 on Linux. */
  INET6_LINUX: 10,
  /** AF_INET6 on NetBSD, OpenBSD and BSD/OS. */
  INET6_BSD: 24,
  /** AF_INET6 on FreeBSD and DragonFly BSD. */
  INET6_FREEBSD: 28,
  /** AF_INET6 on macOS / Darwin. */
  INET6_DARWIN: 30,
} as const;

/** Ethernet: destination MAC (6), source MAC (6), ethertype (2). */
const ETHERNET_HEADER_LENGTH = 14;
/** Offset of the ethertype in an Ethernet header. */
const ETHERNET_TYPE_OFFSET = 12;
/** A VLAN tag: TCI (2) then the next ethertype (2). */
const VLAN_TAG_LENGTH = 4;
/** SLL: packet type (2), ARPHRD type (2), address length (2), address (8), protocol (2). */
const SLL_HEADER_LENGTH = 16;
const SLL_PROTOCOL_OFFSET = 14;
/** SLL2: protocol (2), reserved (2), ifindex (4), ARPHRD type (2), packet type (1), addr len (1), addr (8). */
const SLL2_HEADER_LENGTH = 20;
const SLL2_PROTOCOL_OFFSET = 0;
/** NULL/LOOP: a 4-byte address family. */
const LOOPBACK_HEADER_LENGTH = 4;
/** A NULL family read in the wrong byte order has its value in the upper 16 bits. */
const MAX_FAMILY = 0xffff;

/** Where the network layer starts. Written by decodeLink; reuse one object for every frame. */
export interface LinkResult {
  /** Offset of the IP header in the frame. */
  offset: number;
  /** IP version announced by the link layer (or, for raw IP, the version nibble). */
  ipVersion: 4 | 6;
}

/**
 * Finds the IP header in the frame `data[start, end)` (the whole of `data` by default) of link type
 * `linkType`. Returns Layer.OK (and fills `out`, whose offset is an index into `data`), NOT_IP,
 * TRUNCATED, MALFORMED (raw IP with a version other than 4 or 6) or UNSUPPORTED.
 */
export function decodeLink(
  linkType: number,
  data: Uint8Array,
  out: LinkResult,
  start = 0,
  end = data.length,
): LayerStatus {
  const length = end - start;
  switch (linkType) {
    case LinkType.ETHERNET:
      if (length < ETHERNET_HEADER_LENGTH) return Layer.TRUNCATED;
      return etherType(data, start + ETHERNET_TYPE_OFFSET, out, start + ETHERNET_TYPE_OFFSET + 2, end);
    case LinkType.LINUX_SLL:
      if (length < SLL_HEADER_LENGTH) return Layer.TRUNCATED;
      return etherType(data, start + SLL_PROTOCOL_OFFSET, out, start + SLL_HEADER_LENGTH, end);
    case LinkType.LINUX_SLL2:
      if (length < SLL2_HEADER_LENGTH) return Layer.TRUNCATED;
      return etherType(data, start + SLL2_PROTOCOL_OFFSET, out, start + SLL2_HEADER_LENGTH, end);
    case LinkType.NULL: {
      if (length < LOOPBACK_HEADER_LENGTH) return Layer.TRUNCATED;
      // Host byte order of the capturing machine, which need not be the file's: the family is a
      // small number, so a value that does not fit 16 bits was read the wrong way round.
      let family = u32le(data, start);
      if (family > MAX_FAMILY) family = u32be(data, start);
      return loopbackFamily(family, out, start + LOOPBACK_HEADER_LENGTH);
    }
    case LinkType.LOOP:
      if (length < LOOPBACK_HEADER_LENGTH) return Layer.TRUNCATED;
      return loopbackFamily(u32be(data, start), out, start + LOOPBACK_HEADER_LENGTH);
    case LinkType.RAW:
    case LinkType.RAW_DLT12:
    case LinkType.RAW_DLT14:
      return rawIp(data, out, 0, start, end);
    case LinkType.IPV4:
      return rawIp(data, out, 4, start, end);
    case LinkType.IPV6:
      return rawIp(data, out, 6, start, end);
    default:
      return decodeOtherLink(linkType, data, out, start, end);
  }
}

/**
 * Reads the ethertype at `typeOffset`, skipping any stack of VLAN tags. The payload starts at
 * `payloadOffset`: right after the ethertype for Ethernet and SLL, after the whole header for SLL2,
 * whose protocol field comes first. Also the way in for every other header that names its payload
 * with an ethertype (link-other.ts).
 */
export function etherType(
  data: Uint8Array,
  typeOffset: number,
  out: LinkResult,
  payloadOffset: number,
  end: number,
): LayerStatus {
  let type = u16be(data, typeOffset);
  let offset = payloadOffset;
  // Each tag consumes 4 bytes, so the loop ends by the frame length at the latest.
  while (type === EtherType.VLAN || type === EtherType.QINQ || type === EtherType.QINQ_LEGACY) {
    if (offset + VLAN_TAG_LENGTH > end) return Layer.TRUNCATED;
    type = u16be(data, offset + 2);
    offset += VLAN_TAG_LENGTH;
  }
  out.offset = offset;
  if (type === EtherType.IPV4) {
    out.ipVersion = 4;
    return Layer.OK;
  }
  if (type === EtherType.IPV6) {
    out.ipVersion = 6;
    return Layer.OK;
  }
  return otherEtherType(type, data, out, offset, end);
}

/** NULL, LOOP and the BSD headers alike: the IP version a BSD or Linux address family announces. */
export function loopbackFamily(family: number, out: LinkResult, payloadOffset: number): LayerStatus {
  out.offset = payloadOffset;
  if (family === LoopbackFamily.INET) {
    out.ipVersion = 4;
    return Layer.OK;
  }
  if (
    family === LoopbackFamily.INET6_BSD ||
    family === LoopbackFamily.INET6_FREEBSD ||
    family === LoopbackFamily.INET6_DARWIN ||
    family === LoopbackFamily.INET6_LINUX
  ) {
    out.ipVersion = 6;
    return Layer.OK;
  }
  return Layer.NOT_IP;
}

/** Raw IP: the version nibble says which; `expected` (4 or 6) when the link type fixes it, else 0. */
export function rawIp(data: Uint8Array, out: LinkResult, expected: 0 | 4 | 6, start: number, end: number): LayerStatus {
  if (end <= start) return Layer.TRUNCATED;
  const version = data[start]! >> 4;
  if ((version !== 4 && version !== 6) || (expected !== 0 && version !== expected)) return Layer.MALFORMED;
  out.offset = start;
  out.ipVersion = version;
  return Layer.OK;
}
