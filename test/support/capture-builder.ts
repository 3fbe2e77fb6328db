/**
 * Builds pcap and pcapng captures in code, from TCP packets described as objects, so tests make
 * their fixtures where a reader can see them. Formats and layers as in test/support/buffer-list.ts
 * (pcap, pcapng, https://www.tcpdump.org/linktypes.html, RFC 791, RFC 8200, RFC 9293); each link
 * type's framing (linkFrame) follows its page under https://www.tcpdump.org/linktypes/ or the
 * standard named beside it. Tunnels and IP fragments: test/support/tunnel-builder.ts.
 *
 *   buildPcap({
 *     linkType: 1,
 *     packets: [{ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 50000, dstPort: 80, flags: 'S' }],
 *   })
 *   buildPcapng({ sections: [{ interfaces: [{ linkType: 276 }], blocks: [{ src: '::1', dst: '::1', ... }] }] })
 *
 * Checksums (IPv4 header, TCP) are filled in, so the files also read cleanly in tcpdump/Wireshark.
 */
import { CaptureReader, type CaptureInfo, type CaptureSink } from '../../src/decode/capture.js';
import type { Warning } from '../../src/model/report.js';
import { BufferList, concat, type ByteOrder } from './buffer-list.js';
import { registerCapture } from './tshark-check.js';

/** Default capture time of packet i (microseconds since the epoch): 2023-11-14T22:13:20Z + i ms. */
export const DEFAULT_TS = 1_700_000_000_000_000;

/** One TCP segment. Addresses containing ':' are IPv6. */
export interface TcpPacketSpec {
  /** Microseconds since the epoch (default DEFAULT_TS + 1000 * index). */
  ts?: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  /** TcpFlag bits, or letters: S(YN) A(CK) F(IN) R(ST) P(SH) U(RG) E(CE) C(WR), e.g. 'SA'. Default 'A'. */
  flags?: number | string;
  window?: number;
  payload?: Uint8Array | string;
  /** IPv4 options (padded to 4 bytes with EOL). */
  ipOptions?: Uint8Array;
  /** TCP options (padded to 4 bytes with EOL). */
  tcpOptions?: Uint8Array;
  /** IPv4 fragment fields (offset in 8-byte units). */
  fragment?: { offset: number; more: boolean };
  /** IPv6 extension headers, in order, before the TCP header. */
  ipv6Extensions?: Ipv6ExtensionSpec[];
  /** Ethernet VLAN IDs, outermost first (the outer ones get an 802.1ad tag, the innermost 802.1Q). */
  vlans?: number[];
  /** Ethernet: pad the frame to the 60-byte minimum, as a receiving NIC hands it to the capture. */
  ethernetPadding?: boolean;
  /** NULL link type: byte order of the address family (the capturing host's). Default 'le'. */
  nullByteOrder?: ByteOrder;
  /** NULL/LOOP link types: AF_INET6 value to write (default 30, Darwin). */
  inet6Family?: number;
  /** Ethernet: carry the IP packet in a PPPoE session (ethertype 0x8864, RFC 2516). */
  pppoe?: boolean;
  /** Ethernet and LINKTYPE_MPLS: MPLS labels, outermost first (ethertype 0x8847, RFC 3032). */
  mpls?: number[];
  /**
   * PPP link types: 'hdlc' (address 0xFF, control 0x03, 2-byte protocol; the default), 'bare'
   * (2-byte protocol only), 'compressed' (1-byte protocol, RFC 1661 section 6.5).
   */
  pppFraming?: 'hdlc' | 'bare' | 'compressed';
  /** 802.11 link types: the data frame's shape (IEEE 802.11-2020 section 9.3.2.1). */
  wlan?: WlanSpec;
  /** Pseudo-headers written in the capturing host's byte order (NFLOG, Prism, ENC). Default 'le'. */
  hostByteOrder?: ByteOrder;
}

export interface WlanSpec {
  /** A QoS data frame (2-byte QoS control field). */
  qos?: boolean;
  /** To DS and From DS both set: a fourth address (a WDS or mesh link). */
  fourAddresses?: boolean;
  /** QoS frames only: the +HTC/Order bit and a 4-byte HT Control field. */
  htc?: boolean;
  /** Radiotap only: the Flags field says the MAC header is padded to a multiple of 4 (data pad). */
  dataPad?: boolean;
  /** Radiotap only: a TSFT field before Flags (8 bytes, aligned to 8). */
  tsft?: boolean;
  /** Protected (encrypted): the payload cannot be read. */
  protected?: boolean;
  /** Null function (subtype 4): no payload at all. */
  nullData?: boolean;
}

export type Ipv6ExtensionSpec =
  | { type: 0 | 43 | 60 } // hop-by-hop, routing, destination options: 8 bytes
  | { type: 44; offset?: number; more?: boolean } // fragment
  | { type: 51 }; // authentication header: 12 bytes

/** Any frame as bytes (ARP, garbage, a hand-made packet). */
export interface FrameSpec {
  ts?: number;
  frame: Uint8Array;
  /** Length on the wire; default frame.length. */
  originalLength?: number;
}

export type PacketSpec = TcpPacketSpec | FrameSpec;

/** LINKTYPE_ values the builder knows how to frame. */
export const LT = {
  NULL: 0,
  ETHERNET: 1,
  IEEE802_5: 6,
  ARCNET_BSD: 7,
  SLIP: 8,
  PPP: 9,
  FDDI: 10,
  RAW_DLT12: 12,
  RAW_DLT14: 14,
  PPP_HDLC: 50,
  PPP_ETHER: 51,
  ATM_RFC1483: 100,
  RAW: 101,
  C_HDLC: 104,
  IEEE802_11: 105,
  FRELAY: 107,
  LOOP: 108,
  ENC: 109,
  LINUX_SLL: 113,
  PFLOG: 117,
  IEEE802_11_PRISM: 119,
  IP_OVER_FC: 122,
  SUNATM: 123,
  IEEE802_11_RADIOTAP: 127,
  ARCNET_LINUX: 129,
  APPLE_IP_OVER_IEEE1394: 138,
  IEEE802_11_AVS: 163,
  PPP_PPPD: 166,
  PPI: 192,
  ERF: 197,
  PPP_WITH_DIR: 204,
  C_HDLC_WITH_DIR: 205,
  FRELAY_WITH_DIR: 206,
  MPLS: 219,
  IPNET: 226,
  IPV4: 228,
  IPV6: 229,
  NFLOG: 239,
  NETANALYZER: 240,
  NETANALYZER_TRANSPARENT: 241,
  IPOIB: 242,
  PKTAP: 258,
  EPON: 259,
  LINUX_SLL2: 276,
  DSA_TAG_BRCM: 281,
  DSA_TAG_BRCM_PREPEND: 282,
  DSA_TAG_DSA: 284,
  DSA_TAG_EDSA: 285,
} as const;

const FLAG_LETTERS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

export function flagBits(flags: number | string | undefined): number {
  if (flags === undefined) return FLAG_LETTERS.A!;
  if (typeof flags === 'number') return flags;
  let bits = 0;
  for (const letter of flags.toUpperCase()) {
    const bit = FLAG_LETTERS[letter];
    if (bit === undefined) throw new Error(`unknown TCP flag letter ${letter}`);
    bits |= bit;
  }
  return bits;
}

function isFrameSpec(p: PacketSpec): p is FrameSpec {
  return 'frame' in p;
}

function payloadBytes(payload: Uint8Array | string | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
}

/** "a.b.c.d" -> 4 bytes. */
export function parseIpv4(text: string): Uint8Array {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255))
    throw new Error(`bad IPv4 address ${text}`);
  return Uint8Array.from(parts);
}

/** Any IPv6 text form (with "::" and a trailing dotted quad) -> 16 bytes. */
export function parseIpv6(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let groups: number[] = [];
  const toGroups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const v4 = parseIpv4(g);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const halves = text.split('::');
  if (halves.length === 2) {
    const head = toGroups(halves[0]!);
    const tail = toGroups(halves[1]!);
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = toGroups(text);
  }
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) throw new Error(`bad IPv6 address ${text}`);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** The Internet checksum (RFC 1071) over the given parts. */
export function checksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const bytes of parts) {
    for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function padded(options: Uint8Array | undefined): Uint8Array {
  if (options === undefined) return new Uint8Array(0);
  return new BufferList().bytes(options).pad(4).join();
}

function tcpSegment(pkt: TcpPacketSpec, pseudoHeader: (length: number) => Uint8Array): Uint8Array {
  const options = padded(pkt.tcpOptions);
  const payload = payloadBytes(pkt.payload);
  const headerLength = 20 + options.length;
  const segment = new BufferList()
    .uint16(pkt.srcPort)
    .uint16(pkt.dstPort)
    .uint32(pkt.seq ?? 1)
    .uint32(pkt.ack ?? 0)
    .uint8((headerLength / 4) << 4)
    .uint8(flagBits(pkt.flags))
    .uint16(pkt.window ?? 65535)
    .uint16(0) // checksum, filled below
    .uint16(0) // urgent pointer
    .bytes(options)
    .bytes(payload)
    .join();
  const sum = checksum(pseudoHeader(segment.length), segment);
  segment[16] = sum >> 8;
  segment[17] = sum & 0xff;
  return segment;
}

/** The IP packet (IPv4 or IPv6, by the address form) carrying the TCP segment. */
export function ipPacket(pkt: TcpPacketSpec): Uint8Array {
  return pkt.src.includes(':') ? ipv6Packet(pkt) : ipv4Packet(pkt);
}

function ipv4Packet(pkt: TcpPacketSpec): Uint8Array {
  const src = parseIpv4(pkt.src);
  const dst = parseIpv4(pkt.dst);
  const segment = tcpSegment(pkt, (length) =>
    new BufferList().bytes(src).bytes(dst).uint8(0).uint8(6).uint16(length).join(),
  );
  const options = padded(pkt.ipOptions);
  const headerLength = 20 + options.length;
  const fragment =
    pkt.fragment === undefined ? 0x4000 /* DF */ : (pkt.fragment.more ? 0x2000 : 0) | (pkt.fragment.offset & 0x1fff);
  const header = new BufferList()
    .uint8(0x40 | (headerLength / 4))
    .uint8(0)
    .uint16(headerLength + segment.length)
    .uint16(0x1234)
    .uint16(fragment)
    .uint8(64)
    .uint8(6)
    .uint16(0)
    .bytes(src)
    .bytes(dst)
    .bytes(options)
    .join();
  const sum = checksum(header);
  header[10] = sum >> 8;
  header[11] = sum & 0xff;
  return concat(header, segment);
}

const IPV6_NEXT_TCP = 6;

function ipv6Packet(pkt: TcpPacketSpec): Uint8Array {
  const src = parseIpv6(pkt.src);
  const dst = parseIpv6(pkt.dst);
  const segment = tcpSegment(pkt, (length) =>
    new BufferList().bytes(src).bytes(dst).uint32(length).zeros(3).uint8(6).join(),
  );
  const extensions = pkt.ipv6Extensions ?? [];
  const chain = new BufferList();
  extensions.forEach((ext, i) => {
    const next = extensions[i + 1]?.type ?? IPV6_NEXT_TCP;
    if (ext.type === 44) {
      chain
        .uint8(next)
        .uint8(0)
        .uint16(((ext.offset ?? 0) << 3) | (ext.more ? 1 : 0))
        .uint32(0xcafe);
    } else if (ext.type === 51) {
      chain.uint8(next).uint8(1).uint16(0).uint32(0x100).uint32(1); // 12 bytes: (1 + 2) * 4
    } else if (ext.type === 43) {
      chain.uint8(next).uint8(0).uint8(0).uint8(0).uint32(0); // routing type 0, segments left 0
    } else {
      chain.uint8(next).uint8(0).bytes([1, 4, 0, 0, 0, 0]); // a PadN option filling the 8 bytes
    }
  });
  const body = concat(chain.join(), segment);
  const header = new BufferList()
    .uint32(0x60000000)
    .uint16(body.length)
    .uint8(extensions[0]?.type ?? IPV6_NEXT_TCP)
    .uint8(64)
    .bytes(src)
    .bytes(dst)
    .join();
  return concat(header, body);
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const MAC_A = [0x02, 0, 0, 0, 0, 0x01];
const MAC_B = [0x02, 0, 0, 0, 0, 0x02];
const ETHERNET_MIN_FRAME = 60;
const AF_INET = 2;
const AF_INET6_DARWIN = 30;
const AF_INET6_OPENBSD = 24;
const ETHERTYPE_PPPOE_SESSION = 0x8864;
const ETHERTYPE_MPLS = 0x8847;
const PPP_IPV4 = 0x0021;
const PPP_IPV6 = 0x0057;
/** IEEE 802.2 LLC with SNAP, OUI 0 (RFC 1042): AA AA 03 00 00 00, then the ethertype. */
const LLC_SNAP = [0xaa, 0xaa, 0x03, 0, 0, 0];
const BSSID = [0x02, 0, 0, 0, 0, 0xaa];

/** One frame of the given link type carrying the TCP segment described by `pkt`. */
export function tcpIpFrame(linkType: number, pkt: TcpPacketSpec): Uint8Array {
  const ip = ipPacket(pkt);
  return linkFrame(linkType, ip, pkt);
}

/** Wraps an IP packet in a link-layer header (options as in TcpPacketSpec). */
export function linkFrame(linkType: number, ip: Uint8Array, opts: Partial<TcpPacketSpec> = {}): Uint8Array {
  const v6 = ip[0]! >> 4 === 6;
  const etherType = v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
  const family = v6 ? (opts.inet6Family ?? AF_INET6_DARWIN) : AF_INET;
  switch (linkType) {
    case LT.ETHERNET: {
      const b = new BufferList().bytes(MAC_B).bytes(MAC_A);
      const vlans = opts.vlans ?? [];
      vlans.forEach((id, i) => b.uint16(i < vlans.length - 1 ? ETHERTYPE_QINQ : ETHERTYPE_VLAN).uint16(id & 0x0fff));
      if (opts.pppoe) b.uint16(ETHERTYPE_PPPOE_SESSION).bytes(pppoeSession(ip));
      else if (opts.mpls) b.uint16(ETHERTYPE_MPLS).bytes(mplsStack(opts.mpls, ip));
      else b.uint16(etherType).bytes(ip);
      if (opts.ethernetPadding && b.length < ETHERNET_MIN_FRAME) b.zeros(ETHERNET_MIN_FRAME - b.length);
      return b.join();
    }
    case LT.LINUX_SLL:
      // packet type 4 (sent by us), ARPHRD_ETHER (1), 6-byte address padded to 8, protocol.
      return new BufferList().uint16(4).uint16(1).uint16(6).bytes(MAC_A).zeros(2).uint16(etherType).bytes(ip).join();
    case LT.LINUX_SLL2:
      // protocol, reserved, ifindex 1, ARPHRD_LOOPBACK (772), packet type 0 (to us), address length 6, address.
      return new BufferList()
        .uint16(etherType)
        .uint16(0)
        .uint32(1)
        .uint16(772)
        .uint8(0)
        .uint8(6)
        .bytes(MAC_A)
        .zeros(2)
        .bytes(ip)
        .join();
    case LT.NULL:
      return new BufferList()
        .uint32(family, opts.nullByteOrder ?? 'le')
        .bytes(ip)
        .join();
    case LT.LOOP:
      return new BufferList().uint32(family, 'be').bytes(ip).join();
    case LT.RAW:
    case LT.RAW_DLT12:
    case LT.RAW_DLT14:
    case LT.IPV4:
    case LT.IPV6:
      return ip.slice();
    default:
      return otherLinkFrame(linkType, ip, opts);
  }
}

/** PPP's protocol field for the IP packet, as `framing` says (RFC 1661 section 2, RFC 1662 section 3.1). */
function pppFrame(ip: Uint8Array, framing: TcpPacketSpec['pppFraming'] = 'hdlc'): Uint8Array {
  const v6 = ip[0]! >> 4 === 6;
  const b = new BufferList();
  if (framing === 'hdlc') b.uint8(0xff).uint8(0x03);
  if (framing === 'compressed') b.uint8(v6 ? PPP_IPV6 : PPP_IPV4);
  else b.uint16(v6 ? PPP_IPV6 : PPP_IPV4);
  return b.bytes(ip).join();
}

/** A PPPoE session header (RFC 2516 section 4): version/type 0x11, code 0, session 0x1234, length; then PPP. */
function pppoeSession(ip: Uint8Array): Uint8Array {
  const ppp = pppFrame(ip, 'bare');
  return new BufferList().uint8(0x11).uint8(0).uint16(0x1234).uint16(ppp.length).bytes(ppp).join();
}

/** MPLS label stack entries (RFC 3032 section 2.1): label, TC 0, S on the last, TTL 64. */
function mplsStack(labels: number[], ip: Uint8Array): Uint8Array {
  const b = new BufferList();
  labels.forEach((label, i) => b.uint32((label << 12) | (i === labels.length - 1 ? 0x100 : 0) | 64));
  return b.bytes(ip).join();
}

/** 802.2 LLC/SNAP with the IP packet's ethertype. */
function llcSnap(ip: Uint8Array): Uint8Array {
  return new BufferList()
    .bytes(LLC_SNAP)
    .uint16(ip[0]! >> 4 === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4)
    .bytes(ip)
    .join();
}

/** The 802.11 MAC header of a data frame from a station to its access point, padded to 4 if `pad`. */
function wlanHeader(w: WlanSpec, pad: boolean): Uint8Array {
  // Type 2 (data); subtype 0 (data), 4 (null), 8 (QoS data).
  const subtype = (w.qos ? 8 : 0) | (w.nullData ? 4 : 0);
  const fc1 = (w.fourAddresses ? 0x03 : 0x01) | (w.protected ? 0x40 : 0) | (w.qos && w.htc ? 0x80 : 0);
  const b = new BufferList()
    .uint8((subtype << 4) | (2 << 2))
    .uint8(fc1)
    .uint16(0) // duration
    .bytes(BSSID)
    .bytes(MAC_A)
    .bytes(MAC_B)
    .uint16(0x10, 'le'); // sequence 1, fragment 0
  if (w.fourAddresses) b.bytes(MAC_B);
  if (w.qos) b.uint16(0);
  if (w.qos && w.htc) b.uint32(0);
  if (pad) b.pad(4);
  return b.join();
}

function wlanFrame(ip: Uint8Array, w: WlanSpec = {}, pad = false): Uint8Array {
  return concat(wlanHeader(w, pad), w.nullData ? new Uint8Array(0) : llcSnap(ip));
}

/** The link types beyond Ethernet, Linux cooked, loopback and raw IP. */
function otherLinkFrame(linkType: number, ip: Uint8Array, opts: Partial<TcpPacketSpec>): Uint8Array {
  const v6 = ip[0]! >> 4 === 6;
  const etherType = v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
  const host = opts.hostByteOrder ?? 'le';
  const w = opts.wlan ?? {};
  switch (linkType) {
    case LT.PPP:
      return pppFrame(ip, opts.pppFraming);
    case LT.PPP_WITH_DIR:
      return concat(Uint8Array.of(1), pppFrame(ip, opts.pppFraming));
    case LT.PPP_HDLC:
      return pppFrame(ip, 'hdlc');
    case LT.PPP_PPPD: {
      // The address byte is a direction (1: sent), then control 0x03 and the protocol.
      const framed = pppFrame(ip, 'hdlc');
      framed[0] = 1;
      return framed;
    }
    case LT.PPP_ETHER:
      return pppoeSession(ip);
    case LT.C_HDLC:
      return new BufferList().uint8(0x0f).uint8(0).uint16(etherType).bytes(ip).join();
    case LT.C_HDLC_WITH_DIR:
      return new BufferList().uint8(1).uint8(0x0f).uint8(0).uint16(etherType).bytes(ip).join();
    case LT.FRELAY:
    case LT.FRELAY_WITH_DIR: {
      // Q.922 address of DLCI 100 (EA on the second byte), UI control, RFC 2427 NLPID.
      const b = new BufferList();
      if (linkType === LT.FRELAY_WITH_DIR) b.uint8(0);
      return b
        .uint8((100 >> 4) << 2)
        .uint8(((100 & 0x0f) << 4) | 0x01)
        .uint8(0x03)
        .uint8(v6 ? 0x8e : 0xcc)
        .bytes(ip)
        .join();
    }
    case LT.MPLS:
      return mplsStack(opts.mpls ?? [16], ip);
    case LT.IEEE802_11:
      return wlanFrame(ip, w);
    case LT.IEEE802_11_RADIOTAP: {
      // version 0, pad, length, present (TSFT?, Flags), [TSFT, aligned to 8], Flags.
      const present = (w.tsft ? 0x01 : 0) | 0x02;
      const header = new BufferList('le').uint8(0).uint8(0).uint16(0).uint32(present);
      if (w.tsft) header.uint64(123456789n);
      header.uint8(w.dataPad ? 0x20 : 0);
      const bytes = header.join();
      bytes[2] = bytes.length & 0xff;
      bytes[3] = bytes.length >> 8;
      return concat(bytes, wlanFrame(ip, w, w.dataPad ?? false));
    }
    case LT.PPI:
      // version 0, flags 0, length 8, DLT 105 (802.11), all little-endian; no fields.
      return concat(new BufferList('le').uint8(0).uint8(0).uint16(8).uint32(LT.IEEE802_11).join(), wlanFrame(ip, w));
    case LT.IEEE802_11_PRISM: {
      // msgcode 0x44, msglen 144, device name, 10 parameters of DID, status, length (4), data.
      const b = new BufferList(host).uint32(0x44).uint32(144).bytes('wlan0').zeros(11);
      for (let i = 1; i <= 10; i++)
        b.uint32((i << 16) | 0x44)
          .uint16(0)
          .uint16(4)
          .uint32(0);
      return concat(b.join(), wlanFrame(ip, w));
    }
    case LT.IEEE802_11_AVS:
      // version 0x80211001 and length 64, big-endian; 56 bytes of radio fields.
      return concat(new BufferList().uint32(0x80211001).uint32(64).zeros(56).join(), wlanFrame(ip, w));
    case LT.PFLOG: {
      // struct pfloghdr (OpenBSD): length 61, af, action, reason, ifname, ruleset, rulenr, subrulenr,
      // uid, pid, rule_uid, rule_pid, dir, pad[3]: 64 bytes.
      const b = new BufferList()
        .uint8(61)
        .uint8(v6 ? AF_INET6_OPENBSD : AF_INET)
        .uint8(0)
        .uint8(0)
        .bytes('pflog0')
        .zeros(10)
        .zeros(16)
        .uint32(1)
        .uint32(0xffffffff)
        .zeros(16)
        .uint8(1)
        .zeros(3);
      return b.bytes(ip).join();
    }
    case LT.ENC:
      return new BufferList(host)
        .uint32(v6 ? AF_INET6_OPENBSD : AF_INET)
        .uint32(0x1000)
        .uint32(0)
        .bytes(ip)
        .join();
    case LT.IPNET:
      // version 2, family (Solaris: 2 or 26), hook, packet length, ifindex, group ifindex, zones.
      return new BufferList()
        .uint8(2)
        .uint8(v6 ? 26 : 2)
        .uint16(0)
        .uint32(ip.length)
        .uint32(1)
        .uint32(0)
        .uint32(0)
        .uint32(0xffffffff)
        .bytes(ip)
        .join();
    case LT.NFLOG: {
      // family (2 or 10), version 0, resource id 1; TLVs: packet header (1), prefix (10), payload (9).
      const b = new BufferList(host)
        .uint8(v6 ? 10 : 2)
        .uint8(0)
        .uint16(1, 'be');
      b.uint16(8).uint16(1).uint16(etherType, 'be').uint8(3).uint8(0);
      b.uint16(4 + 6)
        .uint16(10)
        .bytes('test\0\0')
        .zeros(2);
      b.uint16(4 + ip.length)
        .uint16(9)
        .bytes(ip)
        .pad(4);
      return b.join();
    }
    case LT.PKTAP: {
      // Version 1 header: 108 bytes, record type 1 (packet), DLT 1 (Ethernet); an Ethernet frame follows.
      const b = new BufferList('le')
        .uint32(108)
        .uint32(1)
        .uint32(LT.ETHERNET)
        .bytes('en0')
        .zeros(21)
        .uint32(0x2)
        .uint32(v6 ? AF_INET6_DARWIN : AF_INET)
        .uint32(14)
        .uint32(0)
        .uint32(4242)
        .bytes('curl')
        .zeros(16)
        .uint32(0)
        .uint16(6)
        .uint16(0)
        .uint32(4242)
        .bytes('curl')
        .zeros(16);
      return concat(b.join(), linkFrame(LT.ETHERNET, ip));
    }
    case LT.ARCNET_LINUX:
    case LT.ARCNET_BSD: {
      // source, destination, (Linux: offset), protocol id 212/196, split flag, sequence (RFC 1201).
      const b = new BufferList().uint8(1).uint8(2);
      if (linkType === LT.ARCNET_LINUX) b.uint16(0);
      return b
        .uint8(v6 ? 196 : 212)
        .uint8(0)
        .uint16(7)
        .bytes(ip)
        .join();
    }
    case LT.SLIP:
      // direction 1 (sent), packet type 0x40 (an IP datagram), 14 bytes of compression information.
      return new BufferList().uint8(1).uint8(0x40).zeros(14).bytes(ip).join();
    case LT.IPOIB:
      // 40 bytes of link-layer addresses as Linux hands them (tcpdump's print-ipoib.c), then RFC 4391's header.
      return new BufferList().zeros(36).uint32(0x80000001).uint16(etherType).uint16(0).bytes(ip).join();
    case LT.IP_OVER_FC:
      return concat(new BufferList().uint16(0x1000).zeros(6).uint16(0x1000).zeros(6).join(), llcSnap(ip));
    case LT.APPLE_IP_OVER_IEEE1394:
      return new BufferList().zeros(8).uint32(1).uint32(2).uint16(etherType).bytes(ip).join();
    case LT.NETANALYZER:
    case LT.NETANALYZER_TRANSPARENT: {
      // Status word (version 1, little-endian); transparent mode: preamble and SFD; the frame ends with its FCS.
      const frame = linkFrame(LT.ETHERNET, ip);
      const b = new BufferList('le').uint32((1 << 10) | (linkType === LT.NETANALYZER_TRANSPARENT ? 0x200 : 0));
      if (linkType === LT.NETANALYZER_TRANSPARENT) b.bytes([0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xd5]);
      return b.bytes(frame).zeros(4).join();
    }
    case LT.EPON:
      return concat(Uint8Array.of(0xd5, 0x55, 0x55, 0x00, 0x01, 0x00), linkFrame(LT.ETHERNET, ip));
    case LT.DSA_TAG_BRCM_PREPEND:
      // Broadcom tag (opcode 0, port 5), then the Ethernet frame.
      return concat(Uint8Array.of(0, 0, 0, 5), linkFrame(LT.ETHERNET, ip));
    case LT.DSA_TAG_BRCM:
    case LT.DSA_TAG_DSA:
    case LT.DSA_TAG_EDSA: {
      // The switch tag between the source address and the ethertype: Broadcom (opcode 0, port 5),
      // Marvell DSA (FORWARD, port 5), Marvell EDSA (its ethertype 0xDADA, reserved, then the DSA tag).
      const tag =
        linkType === LT.DSA_TAG_BRCM
          ? [0, 0, 0, 5]
          : linkType === LT.DSA_TAG_DSA
            ? [0xc0, 0x28, 0, 0]
            : [0xda, 0xda, 0, 0, 0xc0, 0x28, 0, 0];
      return new BufferList().bytes(MAC_B).bytes(MAC_A).bytes(tag).uint16(etherType).bytes(ip).join();
    }
    case LT.FDDI:
      // frame control (LLC, async), destination, source.
      return concat(new BufferList().uint8(0x50).bytes(MAC_B).bytes(MAC_A).join(), llcSnap(ip));
    case LT.IEEE802_5:
      // access control, frame control (LLC), destination, source (no routing information).
      return concat(new BufferList().uint8(0x10).uint8(0x40).bytes(MAC_B).bytes(MAC_A).join(), llcSnap(ip));
    case LT.SUNATM:
      // flag 2 (LLC), VPI 0, VCI 32.
      return concat(new BufferList().uint8(2).uint8(0).uint16(32).join(), llcSnap(ip));
    case LT.ATM_RFC1483:
      return llcSnap(ip);
    case LT.ERF: {
      // An ERF Ethernet record (type 2): timestamp (little-endian), type, flags (varying length),
      // record length, loss counter, wire length; offset and pad; the frame; padded to 8 bytes.
      const frame = linkFrame(LT.ETHERNET, ip);
      const length = 16 + 2 + frame.length;
      const record = new BufferList()
        .uint64(0x65000000_00000000n, 'le')
        .uint8(2)
        .uint8(0x04)
        .uint16(length + ((8 - (length % 8)) % 8))
        .uint16(0)
        .uint16(frame.length)
        .uint16(0)
        .bytes(frame)
        .pad(8);
      return record.join();
    }
    default:
      throw new Error(`capture-builder: no framing for link type ${linkType}`);
  }
}

/** Frame bytes and timestamp of packet `index` of a capture. */
function framed(
  linkType: number,
  p: PacketSpec,
  index: number,
): { ts: number; frame: Uint8Array; originalLength: number } {
  const ts = p.ts ?? DEFAULT_TS + index * 1000;
  if (isFrameSpec(p)) return { ts, frame: p.frame, originalLength: p.originalLength ?? p.frame.length };
  const frame = tcpIpFrame(linkType, p);
  return { ts, frame, originalLength: frame.length };
}

export interface PcapSpec {
  /** Default Ethernet (1). */
  linkType?: number;
  /** Default 'le' (what x86 and ARM machines write). */
  byteOrder?: ByteOrder;
  /** Nanosecond timestamps (magic 0xa1b23c4d). */
  nanos?: boolean;
  /** Frames longer than this are cut (as tcpdump -s does). Default 262144. */
  snaplen?: number;
  /** Extra bits above the link type in the header (FCS information). */
  linkTypeFlags?: number;
  /** Version in the header; default [2, 4]. */
  version?: [number, number];
  packets: PacketSpec[];
}

/** pcap header, link type field: the F bit (the FCS length in bits 28-31 is given). */
const PCAP_FCS_PRESENT = 0x04000000;

/** A pcap file. */
export function buildPcap(spec: PcapSpec): Uint8Array {
  const linkType = spec.linkType ?? LT.ETHERNET;
  const snaplen = spec.snaplen ?? 262144;
  const b = new BufferList(spec.byteOrder ?? 'le');
  b.uint32(spec.nanos ? 0xa1b23c4d : 0xa1b2c3d4)
    .uint16(spec.version?.[0] ?? 2)
    .uint16(spec.version?.[1] ?? 4)
    .uint32(0)
    .uint32(0)
    .uint32(snaplen)
    .uint32((linkType | (spec.linkTypeFlags ?? 0)) >>> 0);
  // The F bit says the frames end with an FCS of the length in bits 28-31 (16-bit units): append one
  // (zeros), so the file says what it holds (draft-ietf-opsawg-pcap, section 4, LinkType and additional information).
  const flags = spec.linkTypeFlags ?? 0;
  const fcs = flags & PCAP_FCS_PRESENT ? (flags >>> 28) * 2 : 0;
  spec.packets.forEach((p, i) => {
    const f = framed(linkType, p, i);
    if (fcs > 0) {
      f.frame = concat(f.frame, new Uint8Array(fcs));
      f.originalLength += fcs;
    }
    b.bytes(pcapRecord(b.byteOrder, spec.nanos ?? false, snaplen, f));
  });
  const bytes = b.join();
  registerCapture(bytes);
  return bytes;
}

/** One pcap record (16-byte header + frame) in the given byte order. */
export function pcapRecord(
  byteOrder: ByteOrder,
  nanos: boolean,
  snaplen: number,
  f: { ts: number; frame: Uint8Array; originalLength?: number },
): Uint8Array {
  const seconds = Math.floor(f.ts / 1e6);
  const micros = f.ts - seconds * 1e6;
  const captured = f.frame.subarray(0, Math.min(f.frame.length, snaplen));
  return new BufferList(byteOrder)
    .uint32(seconds)
    .uint32(nanos ? Math.round(micros * 1000) : Math.round(micros))
    .uint32(captured.length)
    .uint32(f.originalLength ?? f.frame.length)
    .bytes(captured)
    .join();
}

export interface PcapngInterfaceSpec {
  linkType: number;
  /** 0 = no limit (the default). Frames are cut to it. */
  snaplen?: number;
  /** Raw if_tsresol byte: n for 10^-n, 0x80 | n for 2^-n. Omitted: no option (microseconds). */
  tsresol?: number;
  /** if_tsoffset, seconds. */
  tsoffset?: number;
  name?: string;
}

/** A block of a pcapng section. Packets go in an EPB on interface 0 unless said otherwise. */
export type PcapngBlockSpec =
  | (PacketSpec & {
      kind?: 'epb' | 'pb';
      interfaceId?: number;
      /** the raw 64-bit timestamp, overriding ts */ tsUnits?: bigint;
    })
  | (PacketSpec & { kind: 'spb' })
  | { kind: 'idb'; iface: PcapngInterfaceSpec }
  | { kind: 'raw'; type: number; body: Uint8Array };

export interface PcapngSectionSpec {
  /** Default 'le'. */
  byteOrder?: ByteOrder;
  /** Declared by IDBs right after the SHB. */
  interfaces: PcapngInterfaceSpec[];
  blocks: PcapngBlockSpec[];
  version?: [number, number];
}

/** A pcapng file of one or more sections. */
export function buildPcapng(spec: PcapngSectionSpec | { sections: PcapngSectionSpec[] }): Uint8Array {
  const sections = 'sections' in spec ? spec.sections : [spec];
  const bytes = concat(...sections.map((s) => pcapngSection(s)));
  registerCapture(bytes);
  return bytes;
}

/** One block: type, total length, body padded to 4, total length. */
export function pcapngBlock(byteOrder: ByteOrder, type: number, body: Uint8Array): Uint8Array {
  const paddedBody = new BufferList().bytes(body).pad(4).join();
  const total = 12 + paddedBody.length;
  return new BufferList(byteOrder).uint32(type).uint32(total).bytes(paddedBody).uint32(total).join();
}

function pcapngOption(b: BufferList, code: number, value: Uint8Array): void {
  b.uint16(code).uint16(value.length).bytes(value).pad(4);
}

function interfaceBlock(order: ByteOrder, iface: PcapngInterfaceSpec): Uint8Array {
  const body = new BufferList(order)
    .uint16(iface.linkType)
    .uint16(0)
    .uint32(iface.snaplen ?? 0);
  if (iface.name !== undefined) pcapngOption(body, 2, new TextEncoder().encode(iface.name));
  if (iface.tsresol !== undefined) pcapngOption(body, 9, Uint8Array.of(iface.tsresol));
  if (iface.tsoffset !== undefined) pcapngOption(body, 14, new BufferList(order).uint64(BigInt(iface.tsoffset)).join());
  if (body.length > 8) body.uint16(0).uint16(0); // opt_endofopt
  return pcapngBlock(order, 1, body.join());
}

/** Timestamp units per second of an if_tsresol byte. */
export function unitsPerSecond(tsresol: number | undefined): number {
  if (tsresol === undefined) return 1e6;
  return tsresol & 0x80 ? 2 ** (tsresol & 0x7f) : 10 ** tsresol;
}

/** Microseconds since the epoch -> the interface's 64-bit timestamp count (exact in BigInt). */
function tsToUnits(ts: number, iface: PcapngInterfaceSpec): bigint {
  const units = BigInt(unitsPerSecond(iface.tsresol)); // 10^n and 2^n are integers
  const whole = Math.floor(ts);
  const nanos =
    BigInt(whole) * 1000n + BigInt(Math.round((ts - whole) * 1000)) - BigInt(iface.tsoffset ?? 0) * 1_000_000_000n;
  return (nanos * units) / 1_000_000_000n;
}

function pcapngSection(s: PcapngSectionSpec): Uint8Array {
  const order = s.byteOrder ?? 'le';
  const out: Uint8Array[] = [];
  const shb = new BufferList(order)
    .uint32(0x1a2b3c4d)
    .uint16(s.version?.[0] ?? 1)
    .uint16(s.version?.[1] ?? 0)
    .uint64(-1n); // section length unknown
  out.push(pcapngBlock(order, 0x0a0d0d0a, shb.join()));
  const interfaces = [...s.interfaces];
  for (const iface of interfaces) out.push(interfaceBlock(order, iface));
  s.blocks.forEach((block, index) => {
    if (block.kind === 'idb') {
      interfaces.push(block.iface);
      out.push(interfaceBlock(order, block.iface));
      return;
    }
    if (block.kind === 'raw') {
      out.push(pcapngBlock(order, block.type, block.body));
      return;
    }
    const interfaceId = block.kind === 'spb' ? 0 : (block.interfaceId ?? 0);
    const iface = interfaces[interfaceId];
    if (iface === undefined) throw new Error(`capture-builder: no interface ${interfaceId} declared yet`);
    const f = framed(iface.linkType, block, index);
    const snaplen = iface.snaplen ?? 0;
    const captured = snaplen > 0 ? f.frame.subarray(0, snaplen) : f.frame;
    if (block.kind === 'spb') {
      out.push(pcapngBlock(order, 3, new BufferList(order).uint32(f.originalLength).bytes(captured).join()));
      return;
    }
    const units = 'tsUnits' in block && block.tsUnits !== undefined ? block.tsUnits : tsToUnits(f.ts, iface);
    const body = new BufferList(order);
    if (block.kind === 'pb') body.uint16(interfaceId).uint16(0);
    else body.uint32(interfaceId);
    body
      .uint32(Number(units >> 32n))
      .uint32(Number(units & 0xffffffffn))
      .uint32(captured.length)
      .uint32(f.originalLength)
      .bytes(captured);
    out.push(pcapngBlock(order, block.kind === 'pb' ? 2 : 6, body.join()));
  });
  return concat(...out);
}

/** A frame as read back, with its bytes copied (so it can be compared after the reader moved on). */
export interface ReadFrame {
  ts: number;
  linkType: number;
  interfaceId: number;
  data: Uint8Array;
  originalLength: number;
}

export interface ReadResult {
  frames: ReadFrame[];
  warnings: Warning[];
  infos: CaptureInfo[];
  reader: CaptureReader;
}

/**
 * Reads a capture through CaptureReader, pushed in pieces: `chunkSize` bytes at a time, or cut at
 * the given `splits` offsets. Errors thrown by push/end propagate.
 */
export function readCapture(
  bytes: Uint8Array,
  opts: { chunkSize?: number; splits?: number[]; maxRecordLength?: number } = {},
): ReadResult {
  const result: Omit<ReadResult, 'reader'> = { frames: [], warnings: [], infos: [] };
  const sink: CaptureSink = {
    frame: (f) => result.frames.push({ ...f, data: f.data.slice() }),
    warning: (w) => result.warnings.push(w),
    info: (i) => result.infos.push(i),
  };
  const reader = new CaptureReader(
    sink,
    opts.maxRecordLength === undefined ? undefined : { maxRecordLength: opts.maxRecordLength },
  );
  const cuts = opts.splits ?? [];
  if (opts.chunkSize !== undefined)
    for (let at = opts.chunkSize; at < bytes.length; at += opts.chunkSize) cuts.push(at);
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    reader.push(bytes.subarray(from, at));
    from = at;
  }
  reader.end();
  return { ...result, reader };
}
