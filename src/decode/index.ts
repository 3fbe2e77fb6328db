/**
 * `keepalive-lab/decode`: the low-level pieces under analyzeCapture, for a program that feeds bytes
 * itself. The decoders are pure (bytes in, values or callbacks out; no streams, files or sockets),
 * one per layer; the tracker and CaptureAnalysis turn packets into connection records.
 *
 * This file is an entry point only (package.json "exports": "./decode"): nothing in src imports
 * it, so it may re-export the analyzer above the decoders without turning the layers around.
 */

// Capture files: pcap and pcapng records, streamed.
export { CaptureReader, CaptureWarning, DEFAULT_MAX_RECORD_LENGTH } from './capture.js';
export type {
  CaptureInfo,
  CaptureInterfaceInfo,
  CaptureReaderOptions,
  CaptureSink,
  FrameMeta,
  RecordContext,
  RecordParser,
} from './capture.js';
export { PCAP_MAGIC, PcapParser } from './pcap.js';
export { PcapngBlock, PcapngParser } from './pcapng.js';

// Link, IP and TCP headers; all three at once.
export { EtherType, LinkType, LoopbackFamily, decodeLink } from './link.js';
export type { LinkResult } from './link.js';
export { IP_PROTOCOL_TCP, decodeIpv4, ipv4ToString } from './ipv4.js';
export type { IpResult } from './ipv4.js';
export { Ipv6Header, decodeIpv6, formatIpv6, ipv6ToString } from './ipv6.js';
export { decodeTcp } from './tcp.js';
export type { TcpResult } from './tcp.js';
export { Layer } from './cursor.js';
export type { LayerStatus } from './cursor.js';
export { PacketDecoder } from './packet.js';
export type { DecodeStats } from './packet.js';

// Tunnels and IP fragments, opened by PacketDecoder for IP packets that are not plain TCP.
export { TunnelKind, TunnelPort, TunnelProtocol, decodeTunnel, tunnelLabel } from './tunnel.js';
export type { TunnelResult } from './tunnel.js';
export {
  FRAGMENT_MEMORY_BUDGET,
  Fragment,
  FragmentReassembler,
  IPV4_FRAGMENT_TIMEOUT,
  IPV6_FRAGMENT_TIMEOUT,
} from './fragments.js';
export type { FragmentCounts, FragmentStatus, ReassemblerOptions } from './fragments.js';
export * from '../model/packet.js';

// HTTP/1.x framing.
export { Http1Connection, looksLikeHttpRequest } from './http1.js';
export type { Http1Events, Http1Options, HttpRequestInfo, HttpResponseInfo } from './http1.js';

// HTTP/2 framing (RFC 9113) and its header compression, HPACK (RFC 7541).
export {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_LENGTH,
  FrameFlag,
  FrameType,
  HTTP2_CLIENT_PREFACE,
  Http2Connection,
  MAX_FRAME_SIZE_LIMIT,
  MAX_HEADER_BLOCK_SIZE,
  SettingsParameter,
  http2ErrorName,
  http2SettingName,
  looksLikeServerPreface,
  startsHttp2Preface,
} from './http2.js';
export type {
  FrameHeader,
  Http2Events,
  Http2HeaderBlock,
  Http2Options,
  Http2Priority,
  Http2Problem,
  Http2ProblemCode,
  Http2Setting,
} from './http2.js';
export {
  HPACK_DEFAULT_MAX_HEADER_LIST_SIZE,
  HPACK_DEFAULT_TABLE_SIZE,
  HPACK_ENTRY_OVERHEAD,
  HPACK_MAX_TABLE_SIZE,
  HPACK_STATIC_TABLE_LENGTH,
  HpackDecoder,
  hpackStaticEntry,
  huffmanCodes,
} from './hpack.js';
export type { HeaderField, HpackDecoderOptions, HpackError, HpackErrorCode, HpackResult } from './hpack.js';
// TLS without keys: records, the hellos, what is told by position.
export {
  DEFAULT_MAX_HELLO_BYTES,
  HELLO_RETRY_REQUEST_RANDOM,
  MAX_RECORD_LENGTH,
  TlsConnection,
  TlsContentType,
  TlsExtension,
  TlsHandshakeType,
  TlsVersion,
  alertDescriptionName,
  alertLevelName,
  alpnProtocolName,
  cipherSuiteName,
  isGrease,
  isTls13,
  isRecordHeader,
  namedGroupName,
  parseClientHello,
  parseServerHello,
  sniffTls,
  tlsVersionName,
} from './tls.js';
export type { TlsAlert, TlsClientHello, TlsEvents, TlsOptions, TlsServerHello } from './tls.js';
// TLS with keys: the NSS key log (SSLKEYLOGFILE), key derivation and record protection.
export { CLIENT_RANDOM_LENGTH, KeyLog, MASTER_SECRET_LENGTH, MAX_LINE_LENGTH, clientRandomKey } from './tls-keylog.js';
export type { TlsKeySource, TlsSessionSecrets } from './tls-keylog.js';
export {
  AEAD_TAG_LENGTH,
  CONTENT_TYPE_INVALID,
  TlsRecordCipher,
  decryptableSuite,
  decryptableSuites,
  hkdfExpand,
  hkdfExpandLabel,
  tls12Prf,
} from './tls-crypto.js';
export type { DecryptableSuite, TlsAead } from './tls-crypto.js';

// The kernel's socket table as text (/proc/net/tcp, and ss's output).
export { ProcNetWarning, parseProcNetTcp } from './procnet.js';
export type { ByteOrder } from './procnet.js';
export { SsWarning, parseSs } from './ss.js';
export { TCP_STATES, tcpStateName } from './socket-entry.js';
export type { SocketEntry, TcpState, TcpTimerKind } from './socket-entry.js';

// Packets to connections: the tracker, and the whole pipeline from capture bytes.
export { ConnectionTracker } from '../analyze/tracker.js';
export type { TrackerOptions, TrackerResult } from '../analyze/tracker.js';
export { CaptureAnalysis } from '../analyze/capture-analysis.js';
export type { CaptureAnalysisOptions, CaptureAnalysisResult } from '../analyze/capture-analysis.js';
