/**
 * Link layers off the fast path: every LINKTYPE that carries IPv4/IPv6 other than Ethernet, Linux
 * cooked v1/v2, BSD loopback and raw IP (link.ts), and the ethertypes that wrap IP once more (PPPoE,
 * MPLS). link.ts reaches this file only for those link types and ethertypes, so a capture of plain
 * Ethernet never runs a line of it. IEEE 802.11 and its radio headers are in link-wlan.ts.
 *
 * Each decoder finds the IP header in `data[start, end)` and fills a LinkResult, as link.ts does;
 * where a header names its payload with an ethertype, etherType() (link.ts) takes over, VLAN tags,
 * PPPoE and MPLS included. Where one names a further link type (PPI, PKTAP), decodeLink() does.
 *
 * Specifications (https://www.tcpdump.org/linktypes.html and the pages under linktypes/):
 *   PPP              RFC 1661 section 2 (protocol field), RFC 1662 section 3.1 (address, control)
 *   PPP numbers      https://www.iana.org/assignments/ppp-numbers/
 *   PPPoE            RFC 2516 section 4 (session stage)
 *   Cisco HDLC       RFC 1547 section 4.3.1, LINKTYPE_C_HDLC.html
 *   Frame Relay      ITU-T Q.922 section 3.3 (address), RFC 2427 sections 3-4 (NLPID, SNAP)
 *   MPLS             RFC 3032 section 2.1 (label stack), RFC 4385 section 3 and RFC 4448 (pseudowire
 *                    control word), RFC 3032 section 2.1 (explicit null labels)
 *   802.2 LLC/SNAP   IEEE 802.2, RFC 1042 (SNAP with OUI 0), IEEE 802.1H (OUI 00-00-F8)
 *   ARCNET           LINKTYPE_ARCNET_LINUX.html, RFC 1201 section 2.1, RFC 1051, RFC 2497
 *   SLIP             LINKTYPE_SLIP.html
 *   pflog            OpenBSD if_pflog.h (struct pfloghdr); tcpdump print-pflog.c (length, rounded up)
 *   enc              OpenBSD if_enc.h (struct enchdr: af, spi, flags)
 *   ipnet            LINKTYPE_IPNET.html
 *   NFLOG            LINKTYPE_NFLOG.html
 *   PKTAP            LINKTYPE_PKTAP.html
 *   PPI              Per-Packet Information Header Specification 1.0.7 section 3
 *   ERF              Endace ERF Types reference (EDM11-01), as in Wireshark's wiretap/erf_record.h: the
 *                    record header, extension headers, and the Ethernet, PoS HDLC and IP record types
 *   IP over IB       RFC 4391 section 6, after 40 bytes (see IPOIB_HEADER_LENGTH);  IP over FC: RFC 4338 4
 *   1394, netANALYZER, EPON, SunATM, token ring, FDDI, DSA switch tags: their LINKTYPE_ pages and the
 *                    standards named there
 */
import { Layer, u16be, u16le, u32be, u32le, type LayerStatus } from './cursor.js';
// A cycle with link.ts (which reaches this file for other link types): functions only, no top-level use.
import { EtherType, LinkType, decodeLink, etherType, loopbackFamily, rawIp, type LinkResult } from './link.js';
import { decodeAvs, decodePrism, decodeRadiotap, decodeWlan } from './link-wlan.js';

/**
 * Headers nested inside one another (PPI around 802.11 around LLC around PPPoE around PPP around
 * MPLS around a pseudowire's Ethernet...) deeper than this are taken as malformed: each level is a
 * few bytes, so a crafted frame could otherwise nest thousands of them and overflow the stack.
 */
export const MAX_LINK_NESTING = 8;
let nesting = 0;

/** Link types of link.ts's fast path decode themselves; all others come here. */
export function decodeOtherLink(
  linkType: number,
  data: Uint8Array,
  out: LinkResult,
  start: number,
  end: number,
): LayerStatus {
  if (nesting >= MAX_LINK_NESTING) return Layer.MALFORMED;
  nesting++;
  try {
    return otherLink(linkType, data, out, start, end);
  } finally {
    nesting--;
  }
}

/**
 * An ethertype that is neither IP nor a VLAN tag, its payload at `offset`: PPPoE and MPLS are opened,
 * a length (an 802.3 frame) or SLL's 0x0004 starts an 802.2 LLC header; anything else is not IP.
 */
export function otherEtherType(
  type: number,
  data: Uint8Array,
  out: LinkResult,
  offset: number,
  end: number,
): LayerStatus {
  // ARP, LLDP and their kind come here on every Ethernet capture: answered before anything else.
  if (type !== EtherType.PPPOE_SESSION && !isMpls(type) && type > EtherType.MAX_8023_LENGTH) return Layer.NOT_IP;
  if (nesting >= MAX_LINK_NESTING) return Layer.MALFORMED;
  nesting++;
  try {
    if (type === EtherType.PPPOE_SESSION) return pppoe(data, out, offset, end);
    if (isMpls(type)) return mpls(data, out, offset, end);
    return llc(data, out, offset, end);
  } finally {
    nesting--;
  }
}

function isMpls(type: number): boolean {
  return type === EtherType.MPLS_UNICAST || type === EtherType.MPLS_MULTICAST;
}

// Header sizes and fields, by link type (offsets from the start of the header).

/** Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control (0x00), protocol (an ethertype). */
const C_HDLC_HEADER_LENGTH = 4;
const C_HDLC_TYPE_OFFSET = 2;
const C_HDLC_UNICAST = 0x0f;
const C_HDLC_BROADCAST = 0x8f;
/** The one-byte direction pseudo-header of the *_WITH_DIR link types and of PPP_PPPD. */
const DIRECTION_LENGTH = 1;
/** SLIP: direction (1), packet type (1), compression information (14); IP follows, uncompressed. */
const SLIP_HEADER_LENGTH = 16;
/** enc(4): address family (host byte order), SPI, flags: 4 bytes each. */
const ENC_HEADER_LENGTH = 12;
/** pflog: the first byte is the header length, the second the address family (BSD values). */
const PFLOG_LENGTH_OFFSET = 0;
const PFLOG_FAMILY_OFFSET = 1;
/** The shortest struct pfloghdr (tcpdump's MIN_PFLOG_HDRLEN); the packet starts at the length rounded up to 4. */
const PFLOG_MIN_HEADER_LENGTH = 45;
const PFLOG_ALIGNMENT = 4;
/** ipnet: version (2), family, hook (2), packet length (4), ifindex, group ifindex, two zone ids (4 each). */
const IPNET_HEADER_LENGTH = 24;
const IPNET_FAMILY_OFFSET = 1;
/** Solaris address families in the ipnet header. */
const SOLARIS_AF_INET = 2;
const SOLARIS_AF_INET6 = 26;
/** NFLOG: family (Linux AF_ values), version (0), resource id (2); then TLVs of length (2), type (2). */
const NFLOG_HEADER_LENGTH = 4;
const NFLOG_FAMILY_OFFSET = 0;
const LINUX_AF_INET = 2;
const LINUX_AF_INET6 = 10;
const NFLOG_TLV_HEADER_LENGTH = 4;
/** TLVs are padded to 4 bytes (NFA_ALIGN). */
const NFLOG_TLV_ALIGNMENT = 4;
/** NFULA_PAYLOAD: the packet, from its network header on. */
const NFULA_PAYLOAD = 9;
/** Netlink attribute type bits that are flags, not the type (NLA_F_NESTED, NLA_F_NET_BYTEORDER). */
const NLA_TYPE_MASK = 0x3fff;
/** Larger than any NFULA_ type: a type read in the wrong byte order has its value in the high byte. */
const NFLOG_MAX_TYPE = 0xff;
/** PKTAP: header length (4), record type (4), DLT (4), interface name (24), flags (4, at 36). */
const PKTAP_V1_DLT_OFFSET = 8;
const PKTAP_RECORD_TYPE_OFFSET = 4;
const PKTAP_FLAGS_OFFSET = 36;
const PKTAP_MIN_HEADER_LENGTH = 40;
/** Record type 1: a packet follows the header. */
const PKTAP_RECORD_PACKET = 1;
/** Flag of a version 2 header, whose length is one byte and whose DLT is 2 bytes at offset 6. */
const PKTAP_FLAG_V2_HEADER = 0x00080000;
const PKTAP_V2_DLT_OFFSET = 6;
/** PPI: version (1, 0), flags (1), length (2, little-endian), DLT (4, little-endian). */
const PPI_HEADER_LENGTH = 8;
const PPI_LENGTH_OFFSET = 2;
const PPI_DLT_OFFSET = 4;
/** ARCNET: source, destination, (Linux only: a 2-byte offset), protocol id. */
const ARCNET_BSD_HEADER_LENGTH = 3;
const ARCNET_LINUX_HEADER_LENGTH = 5;
/** Protocol ids (ATA 878.1 system codes): RFC 1201 IPv4, RFC 2497 IPv6, RFC 1051 IPv4. */
const ARC_P_IP = 212;
const ARC_P_IPV6 = 196;
const ARC_P_IP_RFC1051 = 240;
/** RFC 1201 (and RFC 2497): split flag (1) and sequence number (2) after the protocol id. */
const ARC_RFC1201_EXTRA = 3;
/** An RFC 1201 exception packet: flag 0xFF, two 0xFF pad bytes, then protocol id, flag, sequence again. */
const ARC_EXCEPTION_FLAG = 0xff;
const ARC_EXCEPTION_EXTRA = 4;
/** Apple IP over 1394: destination and source EUI-64 (8 each), then an ethertype. */
const IEEE1394_HEADER_LENGTH = 18;
const IEEE1394_TYPE_OFFSET = 16;
/**
 * IP over InfiniBand: 40 bytes of link-layer addresses, then RFC 4391's header: an ethertype (2) and
 * reserved (2). LINKTYPE_IPOIB.html shows only the 4-byte header, but tcpdump (print-ipoib.c,
 * IPOIB_HDRLEN 44) and Wireshark (which reads the 40 bytes as a global route header) both read the
 * 44 bytes that Linux hands a capture on an IPoIB interface: so do we.
 */
const IPOIB_HEADER_LENGTH = 44;
const IPOIB_TYPE_OFFSET = 40;
/** netANALYZER: a 4-byte little-endian status word; transparent mode adds preamble (7) and SFD (1). */
const NETANALYZER_HEADER_LENGTH = 4;
const ETHERNET_PREAMBLE_SFD_LENGTH = 8;
/** EPON: the last 6 bytes of the modified preamble (IEEE 802.3 clause 65.1.3.2). */
const EPON_PREAMBLE_LENGTH = 6;
/** Switch tags (LINKTYPE_DSA_TAG_*.html): 4 bytes (Broadcom, Marvell DSA) or 8 (Marvell EDSA). */
const ETHERNET_ADDRESSES_LENGTH = 12;
const SWITCH_TAG_LENGTH = 4;
const EDSA_TAG_LENGTH = 8;
/** FDDI: frame control (1), destination and source addresses (6 each); 802.2 LLC follows. */
const FDDI_HEADER_LENGTH = 13;
/** Token ring: access control, frame control, two addresses; a routing field if the source's top bit says so. */
const TOKEN_RING_HEADER_LENGTH = 14;
const TOKEN_RING_SOURCE_OFFSET = 8;
const TOKEN_RING_ROUTED = 0x80;
const TOKEN_RING_ROUTE_LENGTH_MASK = 0x1f;
/** IP over Fibre Channel: a 16-byte network header (two 8-byte names); LLC/SNAP follows. */
const IP_OVER_FC_HEADER_LENGTH = 16;
/** SunATM: flag (its low 4 bits the traffic type), VPI (1), VCI (2). */
const SUNATM_HEADER_LENGTH = 4;
const SUNATM_TYPE_MASK = 0x0f;
const SUNATM_LANE = 1;
const SUNATM_LLC = 2;
/** A LANE frame: a 2-byte LE client id, then Ethernet. */
const LANE_HEADER_LENGTH = 2;

function otherLink(linkType: number, data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  const length = end - start;
  switch (linkType) {
    case LinkType.PPP:
      return ppp(data, out, start, end);
    case LinkType.PPP_WITH_DIR:
      return ppp(data, out, start + DIRECTION_LENGTH, end);
    case LinkType.PPP_HDLC:
      return pppOrCiscoHdlc(data, out, start, end);
    case LinkType.PPP_PPPD:
      // The address byte is a direction; the control byte (0x03) and the protocol follow.
      return pppProtocolField(data, out, start + DIRECTION_LENGTH + 1, end);
    case LinkType.PPP_ETHER:
      return pppoe(data, out, start, end);
    case LinkType.C_HDLC:
      return ciscoHdlc(data, out, start, end);
    case LinkType.C_HDLC_WITH_DIR:
      return ciscoHdlc(data, out, start + DIRECTION_LENGTH, end);
    case LinkType.FRELAY:
      return frameRelay(data, out, start, end);
    case LinkType.FRELAY_WITH_DIR:
      return frameRelay(data, out, start + DIRECTION_LENGTH, end);
    case LinkType.MPLS:
      return mpls(data, out, start, end);
    case LinkType.IEEE802_11:
      return decodeWlan(data, out, start, end, false);
    case LinkType.IEEE802_11_RADIOTAP:
      return decodeRadiotap(data, out, start, end);
    case LinkType.IEEE802_11_PRISM:
      return decodePrism(data, out, start, end);
    case LinkType.IEEE802_11_AVS:
      return decodeAvs(data, out, start, end);
    case LinkType.PPI: {
      if (length < PPI_HEADER_LENGTH) return Layer.TRUNCATED;
      const headerLength = u16le(data, start + PPI_LENGTH_OFFSET);
      if (headerLength < PPI_HEADER_LENGTH) return Layer.MALFORMED;
      if (headerLength > length) return Layer.TRUNCATED;
      return decodeLink(u32le(data, start + PPI_DLT_OFFSET), data, out, start + headerLength, end);
    }
    case LinkType.PKTAP:
      return pktap(data, out, start, end);
    case LinkType.ERF:
      return erf(data, out, start, end);
    case LinkType.SLIP:
      return rawIp(data, out, 0, start + SLIP_HEADER_LENGTH, end);
    case LinkType.ENC: {
      if (length < ENC_HEADER_LENGTH) return Layer.TRUNCATED;
      // Host byte order, as NULL's: a family that does not fit 16 bits was read the wrong way round.
      let family = u32le(data, start);
      if (family > 0xffff) family = u32be(data, start);
      return loopbackFamily(family, out, start + ENC_HEADER_LENGTH);
    }
    case LinkType.PFLOG: {
      if (length < PFLOG_FAMILY_OFFSET + 1) return Layer.TRUNCATED;
      const headerLength = data[start + PFLOG_LENGTH_OFFSET]!;
      if (headerLength < PFLOG_MIN_HEADER_LENGTH) return Layer.MALFORMED;
      const payload = start + roundUp(headerLength, PFLOG_ALIGNMENT);
      if (payload > end) return Layer.TRUNCATED;
      return loopbackFamily(data[start + PFLOG_FAMILY_OFFSET]!, out, payload);
    }
    case LinkType.IPNET: {
      if (length < IPNET_HEADER_LENGTH) return Layer.TRUNCATED;
      const family = data[start + IPNET_FAMILY_OFFSET];
      if (family === SOLARIS_AF_INET) return rawIp(data, out, 4, start + IPNET_HEADER_LENGTH, end);
      if (family === SOLARIS_AF_INET6) return rawIp(data, out, 6, start + IPNET_HEADER_LENGTH, end);
      return Layer.NOT_IP;
    }
    case LinkType.NFLOG:
      return nflog(data, out, start, end);
    case LinkType.ARCNET_LINUX:
      if (length < ARCNET_LINUX_HEADER_LENGTH) return Layer.TRUNCATED;
      return arcnet(data, out, start + ARCNET_LINUX_HEADER_LENGTH - 1, end, false);
    case LinkType.ARCNET_BSD:
      if (length < ARCNET_BSD_HEADER_LENGTH) return Layer.TRUNCATED;
      return arcnet(data, out, start + ARCNET_BSD_HEADER_LENGTH - 1, end, true);
    case LinkType.APPLE_IP_OVER_IEEE1394:
      if (length < IEEE1394_HEADER_LENGTH) return Layer.TRUNCATED;
      return etherType(data, start + IEEE1394_TYPE_OFFSET, out, start + IEEE1394_HEADER_LENGTH, end);
    case LinkType.IPOIB:
      if (length < IPOIB_HEADER_LENGTH) return Layer.TRUNCATED;
      return etherType(data, start + IPOIB_TYPE_OFFSET, out, start + IPOIB_HEADER_LENGTH, end);
    case LinkType.NETANALYZER:
      return ethernet(data, out, start + NETANALYZER_HEADER_LENGTH, end);
    case LinkType.NETANALYZER_TRANSPARENT:
      return ethernet(data, out, start + NETANALYZER_HEADER_LENGTH + ETHERNET_PREAMBLE_SFD_LENGTH, end);
    case LinkType.EPON:
      return ethernet(data, out, start + EPON_PREAMBLE_LENGTH, end);
    case LinkType.DSA_TAG_BRCM_PREPEND:
      return ethernet(data, out, start + SWITCH_TAG_LENGTH, end);
    case LinkType.DSA_TAG_BRCM:
    case LinkType.DSA_TAG_DSA:
    case LinkType.DSA_TAG_EDSA: {
      const tag = linkType === LinkType.DSA_TAG_EDSA ? EDSA_TAG_LENGTH : SWITCH_TAG_LENGTH;
      const typeOffset = start + ETHERNET_ADDRESSES_LENGTH + tag;
      if (typeOffset + 2 > end) return Layer.TRUNCATED;
      return etherType(data, typeOffset, out, typeOffset + 2, end);
    }
    case LinkType.FDDI:
      return llc(data, out, start + FDDI_HEADER_LENGTH, end);
    case LinkType.IEEE802_5: {
      if (length < TOKEN_RING_HEADER_LENGTH) return Layer.TRUNCATED;
      let at = start + TOKEN_RING_HEADER_LENGTH;
      if ((data[start + TOKEN_RING_SOURCE_OFFSET]! & TOKEN_RING_ROUTED) !== 0) {
        if (at >= end) return Layer.TRUNCATED;
        at += data[at]! & TOKEN_RING_ROUTE_LENGTH_MASK;
      }
      return llc(data, out, at, end);
    }
    case LinkType.ATM_RFC1483:
      return llc(data, out, start, end);
    case LinkType.IP_OVER_FC:
      return llc(data, out, start + IP_OVER_FC_HEADER_LENGTH, end);
    case LinkType.SUNATM: {
      if (length < SUNATM_HEADER_LENGTH) return Layer.TRUNCATED;
      const type = data[start]! & SUNATM_TYPE_MASK;
      if (type === SUNATM_LLC) return llc(data, out, start + SUNATM_HEADER_LENGTH, end);
      if (type === SUNATM_LANE) return ethernet(data, out, start + SUNATM_HEADER_LENGTH + LANE_HEADER_LENGTH, end);
      return Layer.NOT_IP;
    }
    default:
      return Layer.UNSUPPORTED;
  }
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

/** An Ethernet frame at `start` (after a pseudo-header), as link.ts decodes one. */
function ethernet(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  return decodeLink(LinkType.ETHERNET, data, out, start, end);
}

// PPP (RFC 1661, RFC 1662) and what carries it.

/** The HDLC-like address and control bytes that may precede the PPP protocol (RFC 1662 section 3.1). */
const PPP_ADDRESS = 0xff;
const PPP_CONTROL = 0x03;
/** PPP protocol numbers (IANA PPP DLL protocol numbers): IPv4, IPv6, MPLS unicast and multicast. */
export const PppProtocol = {
  IPV4: 0x0021,
  IPV6: 0x0057,
  MPLS_UNICAST: 0x0281,
  MPLS_MULTICAST: 0x0283,
} as const;
/** A protocol field whose first byte is odd is one byte long (protocol field compression, RFC 1661 section 6.5). */
const PPP_COMPRESSED_PROTOCOL = 0x01;

/** PPP at `start`: the address and control bytes if present, then the protocol field. */
export function ppp(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  let at = start;
  if (at + 2 <= end && data[at] === PPP_ADDRESS && data[at + 1] === PPP_CONTROL) at += 2;
  return pppProtocolField(data, out, at, end);
}

/** The PPP protocol field at `at` (one byte when compressed, else two), then its payload. */
function pppProtocolField(data: Uint8Array, out: LinkResult, at: number, end: number): LayerStatus {
  if (at >= end) return Layer.TRUNCATED;
  let protocol = data[at]!;
  if ((protocol & PPP_COMPRESSED_PROTOCOL) !== 0) {
    at += 1;
  } else {
    if (at + 2 > end) return Layer.TRUNCATED;
    protocol = u16be(data, at);
    at += 2;
  }
  switch (protocol) {
    case PppProtocol.IPV4:
      return rawIp(data, out, 4, at, end);
    case PppProtocol.IPV6:
      return rawIp(data, out, 6, at, end);
    case PppProtocol.MPLS_UNICAST:
    case PppProtocol.MPLS_MULTICAST:
      return mpls(data, out, at, end);
    default:
      return Layer.NOT_IP;
  }
}

/** PPPoE session header (RFC 2516 section 4): version and type (0x11), code (0x00), session id, length. */
const PPPOE_HEADER_LENGTH = 6;
const PPPOE_VERSION_TYPE = 0x11;
const PPPOE_CODE_SESSION_DATA = 0x00;

function pppoe(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < PPPOE_HEADER_LENGTH) return Layer.TRUNCATED;
  if (data[start] !== PPPOE_VERSION_TYPE || data[start + 1] !== PPPOE_CODE_SESSION_DATA) return Layer.NOT_IP;
  return pppProtocolField(data, out, start + PPPOE_HEADER_LENGTH, end);
}

/** PPP in HDLC-like framing (first byte 0xFF) or Cisco HDLC (0x0F or 0x8F): LINKTYPE_PPP_HDLC.html. */
function pppOrCiscoHdlc(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (start >= end) return Layer.TRUNCATED;
  if (data[start] === C_HDLC_UNICAST || data[start] === C_HDLC_BROADCAST) return ciscoHdlc(data, out, start, end);
  return ppp(data, out, start, end);
}

/** Cisco HDLC: address, control, then an ethertype (RFC 1547 section 4.3.1). */
function ciscoHdlc(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < C_HDLC_HEADER_LENGTH) return Layer.TRUNCATED;
  return etherType(data, start + C_HDLC_TYPE_OFFSET, out, start + C_HDLC_HEADER_LENGTH, end);
}

/** Q.922 address bytes end with the one whose EA bit (bit 0) is set: 2 to 4 of them (Q.922 section 3.3). */
const Q922_EA = 0x01;
const Q922_MAX_ADDRESS_LENGTH = 4;
/** Unnumbered information: the control byte of RFC 2427 frames. */
const Q922_UI = 0x03;
/** RFC 2427 section 4: an optional pad byte, then an NLPID (ISO/IEC TR 9577). */
const NLPID_PAD = 0x00;
const NLPID_IPV4 = 0xcc;
const NLPID_IPV6 = 0x8e;
/** SNAP: OUI (3) and PID (2) follow the NLPID. */
const NLPID_SNAP = 0x80;

/**
 * Frame Relay: the Q.922 address, then either RFC 2427 (control 0x03, NLPID) or, as Cisco routers
 * send it, an ethertype right after the address.
 */
function frameRelay(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  let at = start;
  for (;;) {
    if (at >= end) return Layer.TRUNCATED;
    if (at - start >= Q922_MAX_ADDRESS_LENGTH) return Layer.MALFORMED;
    if ((data[at++]! & Q922_EA) !== 0) break;
  }
  if (at >= end) return Layer.TRUNCATED;
  if (data[at] !== Q922_UI) {
    if (at + 2 > end) return Layer.TRUNCATED;
    return etherType(data, at, out, at + 2, end);
  }
  at++;
  if (at < end && data[at] === NLPID_PAD) at++;
  if (at >= end) return Layer.TRUNCATED;
  const nlpid = data[at++];
  if (nlpid === NLPID_IPV4) return rawIp(data, out, 4, at, end);
  if (nlpid === NLPID_IPV6) return rawIp(data, out, 6, at, end);
  if (nlpid === NLPID_SNAP) return snap(data, out, at, end);
  return Layer.NOT_IP;
}

// IEEE 802.2 LLC with SNAP, under 802.11, FDDI, token ring, ATM, Fibre Channel and 802.3 frames.

/** LLC: DSAP, SSAP, control; SNAP is DSAP = SSAP = 0xAA with UI control (IEEE 802-2014 clause 10.3). */
const LLC_HEADER_LENGTH = 3;
const LLC_SNAP_SAP = 0xaa;
const LLC_UI = 0x03;
/** SNAP: OUI (3), then the protocol id, an ethertype when the OUI is 0 (RFC 1042) or 00-00-F8 (802.1H). */
const SNAP_HEADER_LENGTH = 5;
const OUI_BRIDGE_TUNNEL = 0xf8;

/** An 802.2 LLC header at `start`; SNAP with an ethertype is followed, anything else is not IP. */
export function llc(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < LLC_HEADER_LENGTH) return Layer.TRUNCATED;
  if (data[start] !== LLC_SNAP_SAP || data[start + 1] !== LLC_SNAP_SAP || data[start + 2] !== LLC_UI)
    return Layer.NOT_IP;
  return snap(data, out, start + LLC_HEADER_LENGTH, end);
}

function snap(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < SNAP_HEADER_LENGTH) return Layer.TRUNCATED;
  const oui = (data[start]! << 16) | (data[start + 1]! << 8) | data[start + 2]!;
  if (oui !== 0 && oui !== OUI_BRIDGE_TUNNEL) return Layer.NOT_IP;
  return etherType(data, start + 3, out, start + SNAP_HEADER_LENGTH, end);
}

// MPLS (RFC 3032).

/** A label stack entry: label (20 bits), traffic class (3), bottom of stack (1), TTL (8). */
const MPLS_ENTRY_LENGTH = 4;
const MPLS_LABEL_SHIFT = 12;
const MPLS_BOTTOM_OF_STACK = 0x100;
/** Reserved labels that name the payload (RFC 3032 section 2.1). */
const MPLS_IPV4_EXPLICIT_NULL = 0;
const MPLS_IPV6_EXPLICIT_NULL = 2;
/**
 * The stack does not say what follows it: the first nibble does, as routers and Wireshark read it:
 * 4 and 6 are IP, 0 a pseudowire control word (RFC 4385 section 3) before an Ethernet frame
 * (RFC 4448); anything else (no control word, OAM) is not taken for IP.
 */
const MPLS_PW_CONTROL_WORD_NIBBLE = 0;
const MPLS_PW_CONTROL_WORD_LENGTH = 4;

export function mpls(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  let at = start;
  let label: number;
  // Each entry is 4 bytes: the loop ends by the frame length at the latest.
  for (;;) {
    if (at + MPLS_ENTRY_LENGTH > end) return Layer.TRUNCATED;
    const entry = u32be(data, at);
    at += MPLS_ENTRY_LENGTH;
    if ((entry & MPLS_BOTTOM_OF_STACK) !== 0) {
      label = entry >>> MPLS_LABEL_SHIFT;
      break;
    }
  }
  if (label === MPLS_IPV4_EXPLICIT_NULL) return rawIp(data, out, 4, at, end);
  if (label === MPLS_IPV6_EXPLICIT_NULL) return rawIp(data, out, 6, at, end);
  if (at >= end) return Layer.TRUNCATED;
  const nibble = data[at]! >> 4;
  if (nibble === 4 || nibble === 6) return rawIp(data, out, 0, at, end);
  if (nibble === MPLS_PW_CONTROL_WORD_NIBBLE) return ethernet(data, out, at + MPLS_PW_CONTROL_WORD_LENGTH, end);
  return Layer.NOT_IP;
}

// The pseudo-headers that need more than a length.

/** ARCNET: the protocol id at `at`, then the RFC 1201/2497 fields for the ids that have them. */
function arcnet(data: Uint8Array, out: LinkResult, at: number, end: number, exceptions: boolean): LayerStatus {
  const protocol = data[at]!;
  let payload = at + 1;
  if (protocol === ARC_P_IP_RFC1051) return rawIp(data, out, 4, payload, end);
  if (protocol !== ARC_P_IP && protocol !== ARC_P_IPV6) return Layer.NOT_IP;
  // Linux hands over reassembled frames without exception packets (LINKTYPE_ARCNET_LINUX.html); BSD may not.
  if (exceptions && payload < end && data[payload] === ARC_EXCEPTION_FLAG) payload += ARC_EXCEPTION_EXTRA;
  payload += ARC_RFC1201_EXTRA;
  return rawIp(data, out, protocol === ARC_P_IP ? 4 : 6, payload, end);
}

/** NFLOG: walk the TLVs to the payload one; lengths and types are in the capturing host's byte order. */
function nflog(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < NFLOG_HEADER_LENGTH) return Layer.TRUNCATED;
  const family = data[start + NFLOG_FAMILY_OFFSET];
  const version: 0 | 4 | 6 = family === LINUX_AF_INET ? 4 : family === LINUX_AF_INET6 ? 6 : 0;
  if (version === 0) return Layer.NOT_IP;
  let at = start + NFLOG_HEADER_LENGTH;
  // The file's byte order is not passed down here: the types are small, so the order in which the
  // first TLV's type fits a byte is the host's (NLA flag bits masked off).
  let littleEndian = true;
  if (at + NFLOG_TLV_HEADER_LENGTH <= end && (u16le(data, at + 2) & NLA_TYPE_MASK) > NFLOG_MAX_TYPE)
    littleEndian = false;
  // Each TLV is at least 4 bytes: the walk ends by the frame length at the latest.
  while (at + NFLOG_TLV_HEADER_LENGTH <= end) {
    const tlvLength = littleEndian ? u16le(data, at) : u16be(data, at);
    const type = (littleEndian ? u16le(data, at + 2) : u16be(data, at + 2)) & NLA_TYPE_MASK;
    if (tlvLength < NFLOG_TLV_HEADER_LENGTH) return Layer.MALFORMED;
    if (type === NFULA_PAYLOAD) return rawIp(data, out, version, at + NFLOG_TLV_HEADER_LENGTH, end);
    at += roundUp(tlvLength, NFLOG_TLV_ALIGNMENT);
  }
  // No payload TLV in what was captured (a log message without the packet, or a cut frame).
  return Layer.TRUNCATED;
}

/** PKTAP: a header (version 1 or 2, by a flag) naming the DLT of the frame that follows. */
function pktap(data: Uint8Array, out: LinkResult, start: number, end: number): LayerStatus {
  if (end - start < PKTAP_MIN_HEADER_LENGTH) return Layer.TRUNCATED;
  // Little-endian, as every Apple machine that writes it (LINKTYPE_PKTAP.html).
  let headerLength: number;
  let dlt: number;
  if ((u32le(data, start + PKTAP_FLAGS_OFFSET) & PKTAP_FLAG_V2_HEADER) !== 0) {
    headerLength = data[start]!;
    dlt = u16le(data, start + PKTAP_V2_DLT_OFFSET);
  } else {
    headerLength = u32le(data, start);
    if (u32le(data, start + PKTAP_RECORD_TYPE_OFFSET) !== PKTAP_RECORD_PACKET) return Layer.NOT_IP;
    dlt = u32le(data, start + PKTAP_V1_DLT_OFFSET);
  }
  if (headerLength < PKTAP_MIN_HEADER_LENGTH) return Layer.MALFORMED;
  if (headerLength > end - start) return Layer.TRUNCATED;
  if (dlt === LinkType.PKTAP) return Layer.MALFORMED;
  return decodeLink(dlt, data, out, start + headerLength, end);
}

/** ERF record header: timestamp (8), type (1), flags (1), record length (2), loss counter (2), wire length (2). */
const ERF_HEADER_LENGTH = 16;
const ERF_TYPE_OFFSET = 8;
const ERF_RECORD_LENGTH_OFFSET = 10;
/** The type's top bit: extension headers follow, 8 bytes each, each one's top bit saying another does. */
const ERF_EXTENSION = 0x80;
const ERF_TYPE_MASK = 0x7f;
const ERF_EXTENSION_LENGTH = 8;
/** Ethernet records start with 2 bytes (offset and pad) before the frame. */
const ERF_ETHERNET_PAD = 2;
/** Record types (wiretap/erf_record.h) that carry IP. */
const ErfType = {
  HDLC_POS: 1,
  ETH: 2,
  COLOR_HDLC_POS: 10,
  COLOR_ETH: 11,
  DSM_COLOR_HDLC_POS: 15,
  DSM_COLOR_ETH: 16,
  COLOR_HASH_POS: 19,
  COLOR_HASH_ETH: 20,
  IPV4: 22,
  IPV6: 23,
} as const;

/** An Endace ERF record: its header and extension headers, then the frame its type names. */
function erf(data: Uint8Array, out: LinkResult, start: number, frameEnd: number): LayerStatus {
  if (frameEnd - start < ERF_HEADER_LENGTH) return Layer.TRUNCATED;
  const type = data[start + ERF_TYPE_OFFSET]!;
  let at = start + ERF_HEADER_LENGTH;
  // Each extension header is 8 bytes: the walk ends by the frame length at the latest.
  for (let more = (type & ERF_EXTENSION) !== 0; more; at += ERF_EXTENSION_LENGTH) {
    if (at + ERF_EXTENSION_LENGTH > frameEnd) return Layer.TRUNCATED;
    more = (data[at]! & ERF_EXTENSION) !== 0;
  }
  // Records may be padded past their frame: the record length ends it, unless the snap length did.
  const recordLength = u16be(data, start + ERF_RECORD_LENGTH_OFFSET);
  const end = recordLength >= ERF_HEADER_LENGTH && start + recordLength < frameEnd ? start + recordLength : frameEnd;
  switch (type & ERF_TYPE_MASK) {
    case ErfType.ETH:
    case ErfType.COLOR_ETH:
    case ErfType.DSM_COLOR_ETH:
    case ErfType.COLOR_HASH_ETH:
      return ethernet(data, out, at + ERF_ETHERNET_PAD, end);
    case ErfType.HDLC_POS:
    case ErfType.COLOR_HDLC_POS:
    case ErfType.DSM_COLOR_HDLC_POS:
    case ErfType.COLOR_HASH_POS:
      return pppOrCiscoHdlc(data, out, at, end);
    case ErfType.IPV4:
      return rawIp(data, out, 4, at, end);
    case ErfType.IPV6:
      return rawIp(data, out, 6, at, end);
    default:
      return Layer.NOT_IP;
  }
}
