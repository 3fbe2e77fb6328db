/**
 * Capture bytes in, connections out: the one codepath shared by live capture (tcpdump's stdout)
 * and offline `analyze` (a file or stdin). Streaming: feed chunks as they come. Memory follows the
 * connections open at once: each record is counted into the totals as its connection ends, handed
 * to `onConnection`, and kept only if it is among the first `keepConnections`.
 */
import { CaptureReader } from '../decode/capture.js';
import type { CaptureInfo, FrameMeta, FrameSink } from '../decode/capture.js';
import { PacketDecoder } from '../decode/packet.js';
import type { DecodeStats } from '../decode/packet.js';
import { NotACaptureError, UnsupportedLinkTypeError } from '../errors.js';
import type { TcpPacket } from '../model/packet.js';
import type {
  CaptureSummary,
  ConnectionRecord,
  Finding,
  ObserverReport,
  TlsDecryptionStatus,
  TlsTotals,
  Warning,
} from '../model/report.js';
import { plural } from '../util/text.js';
import { FindingsAccumulator } from './findings/index.js';
import type { FindingsOptions } from './findings/index.js';
import { IdOrder } from './id-order.js';
import { TotalsAccumulator } from './totals.js';
import { ConnectionTracker } from './tracker.js';
import type { TrackerOptions } from './tracker.js';

/** Records waiting to be handed over in id order behind a connection still open (see IdOrder). */
const ORDER_WINDOW = 10_000;

export interface CaptureAnalysisOptions extends Omit<TrackerOptions, 'onConnection'>, FindingsOptions {
  /**
   * Keep only packets for which this returns true (e.g. a port or server filter). `p` is one object
   * reused for every packet: read it, do not keep it.
   */
  accept?: (p: TcpPacket) => boolean;
  /**
   * How many records the report keeps: those of the first connections (ids 1..N). Default: all.
   * The totals count every connection; the report's `connectionsOmitted` counts the others.
   */
  keepConnections?: number;
  /**
   * Every connection's record, as connections end (called from push() and result()), in id order:
   * a record waits for the connections that began before it, up to 10,000 records (see IdOrder).
   */
  onConnection?: (record: ConnectionRecord) => void;
  /** What the findings are told beyond the records (the path the connections take). */
  findings?: FindingsOptions;
}

export interface CaptureAnalysisResult {
  report: ObserverReport;
  info: CaptureInfo | null;
  stats: DecodeStats;
  summary: CaptureSummary;
  /** The findings over every connection (the report may keep only the first records). */
  findings: Finding[];
}

export class CaptureAnalysis {
  readonly tracker: ConnectionTracker;
  /**
   * Where frames framed elsewhere go instead of push(): a live capture shared by several analyses
   * hands each the frames of its window (observe/capture-session.ts). Its own reader's sink.
   */
  readonly sink: FrameSink;
  private readonly decoder = new PacketDecoder();
  private readonly reader: CaptureReader;
  private readonly warnings: Warning[] = [];
  private info: CaptureInfo | null = null;
  private analyzed = 0;
  private readonly totals = new TotalsAccumulator();
  private readonly findings: FindingsAccumulator;
  /** Records of the connections with ids 1..keepConnections, in the order they ended. */
  private readonly kept: ConnectionRecord[] = [];
  private readonly order: IdOrder | null;
  private finished = false;

  constructor(options: CaptureAnalysisOptions = {}) {
    const keep = options.keepConnections ?? Infinity;
    const { onConnection, findings, hostFacts, ...trackerOptions } = options;
    this.findings = new FindingsAccumulator({ ...findings, ...(hostFacts === undefined ? {} : { hostFacts }) });
    const order =
      onConnection === undefined ? null : new IdOrder(() => this.tracker.oldestLiveId, onConnection, ORDER_WINDOW);
    this.order = order;
    this.tracker = new ConnectionTracker({
      ...trackerOptions,
      onConnection: (record) => {
        this.totals.add(record);
        this.findings.add(record);
        if (record.id <= keep) this.kept.push(record);
        order?.add(record);
      },
    });
    const tracker = this.tracker;
    const decoder = this.decoder;
    const accept = options.accept;
    // Per frame: no frame object, no view of it, one reused TcpPacket (the tracker keeps none).
    const onFrame = (bytes: Uint8Array, start: number, end: number, meta: FrameMeta): void => {
      const packet = decoder.decodeAt(bytes, start, end, meta.ts, meta.linkType);
      if (packet !== null && (accept === undefined || accept(packet))) {
        this.analyzed++;
        tracker.packet(packet);
      }
    };
    this.sink = {
      frame: (f) => onFrame(f.data, 0, f.data.length, f),
      frameAt: onFrame,
      warning: (w) => {
        if (this.warnings.length < 100) this.warnings.push(w);
      },
      info: (i) => {
        this.info = i;
      },
    };
    this.reader = new CaptureReader(this.sink);
  }

  /** Throws NotACaptureError when the first bytes are not pcap/pcapng. */
  push(chunk: Uint8Array): void {
    this.reader.push(chunk);
  }

  /** Throws NotACaptureError when the input ended before a whole file header (empty included). */
  end(): void {
    // Fed through `sink` (its header was read elsewhere), its own reader has nothing to end.
    if (this.reader.bytes > 0 || this.info === null) this.reader.end();
    // A magic number and no more: nothing says what the bytes were, so there is no capture to report on.
    if (this.info === null)
      throw new NotACaptureError(`only ${this.reader.bytes} bytes: the capture ends inside its file header`);
  }

  get bytes(): number {
    return this.reader.bytes;
  }

  /** The capture is damaged beyond reading (a warning says where): more bytes would be ignored. */
  get readingStopped(): boolean {
    return this.reader.readingStopped;
  }

  /**
   * The report. The first call ends the analysis: the connections still open are handed over
   * (onConnection) and counted. Throws UnsupportedLinkTypeError when nothing could be decoded
   * because every frame had a link type we do not know.
   */
  result(): CaptureAnalysisResult {
    const stats = this.decoder.stats;
    const unsupported = Object.keys(stats.unsupportedLinkTypes).map(Number);
    if (
      stats.tcp === 0 &&
      unsupported.length > 0 &&
      stats.frames === unsupported.reduce((n, t) => n + (stats.unsupportedLinkTypes[t] ?? 0), 0)
    ) {
      throw new UnsupportedLinkTypeError(unsupported[0]!);
    }
    if (!this.finished) {
      this.finished = true;
      // Datagrams still waiting for fragments never will: counted incomplete before the warnings.
      this.decoder.end();
      this.tracker.end();
      this.order?.flush();
      this.kept.sort((a, b) => a.id - b.id);
    }
    // Every record went to the accumulator: this has only the sums (syns, HTTP evidence, warnings).
    const tracked = this.tracker.result();
    const connections = this.kept.slice();
    const omitted = this.tracker.connectionCount - connections.length;
    const totals = this.totals.totals(tracked.syns);
    const warnings = [
      ...this.warnings,
      ...tracked.warnings,
      ...decodeWarnings(stats),
      ...keyWarnings(totals.tls),
      ...this.findings.warnings(),
    ];
    const summary: CaptureSummary = {
      format: this.info?.format ?? null,
      linkTypes: this.info?.linkTypes ?? [],
      bytes: this.reader.bytes,
      frames: stats.frames,
      tcpPackets: stats.tcp,
      analyzedPackets: this.analyzed,
      nonIp: stats.nonIp,
      nonTcp: stats.nonTcp,
      // Every fragment seen: the one that completed a datagram is counted where the datagram went.
      fragments: stats.fragments + stats.datagramsReassembled,
      truncated: stats.truncated,
      malformed: stats.malformed,
      // Present only when there was something to say, so that reports of plain captures keep their shape.
      ...(stats.datagramsReassembled > 0 ? { datagramsReassembled: stats.datagramsReassembled } : {}),
      ...(stats.datagramsIncomplete > 0 ? { datagramsIncomplete: stats.datagramsIncomplete } : {}),
      ...(stats.datagramsDiscarded > 0 ? { datagramsDiscarded: stats.datagramsDiscarded } : {}),
      ...(stats.tunnelled > 0 ? { tunnelled: stats.tunnelled } : {}),
    };
    return {
      info: this.info,
      stats,
      summary,
      findings: this.findings.findings(),
      // `connections` right after the fields known from the start: `analyze --json` writes the
      // records as they come and the fields computed at the end after them (report/json.ts).
      report: {
        observer: 'wire',
        available: true,
        seesRequests: true,
        connections,
        ...(omitted > 0 ? { connectionsOmitted: omitted } : {}),
        totals,
        http: tracked.http,
        warnings,
      },
    };
  }
}

/** Why the TLS keys given did not decrypt some connections (their notes say which). */
const NOT_DECRYPTED: Partial<Record<TlsDecryptionStatus, string>> = {
  'no-keys': 'no key in the key log',
  'wrong-keys': 'keys that do not open their records',
  'unsupported-suite': 'a cipher suite not decryptable',
  'no-server-hello': 'their handshake not captured',
};

/** One warning counting the TLS connections the keys given did not (wholly) decrypt. */
function keyWarnings(tls: TlsTotals | undefined): Warning[] {
  const d = tls?.decryption;
  if (d === undefined) return [];
  const parts: string[] = [];
  let n = 0;
  for (const [status, why] of Object.entries(NOT_DECRYPTED) as [TlsDecryptionStatus, string][]) {
    const count = d[status] ?? 0;
    n += count;
    if (count > 0) parts.push(`${count} ${why}`);
  }
  const sentences: string[] = [];
  if (n > 0)
    sentences.push(
      `${n} of ${plural(tls!.connections, 'TLS connection')} not decrypted (${parts.join(', ')}): ` +
        'their requests are not counted',
    );
  const partial = d.partial ?? 0;
  if (partial > 0)
    sentences.push(`${plural(partial, 'TLS connection')} decrypted only in part (records missing or not opening)`);
  if (sentences.length === 0) return [];
  return [{ code: 'KAL_WARN_TLS_KEYS', message: `${sentences.join('; ')}; see each connection's notes` }];
}

function decodeWarnings(stats: DecodeStats): Warning[] {
  const out: Warning[] = [];
  const incomplete = stats.datagramsIncomplete;
  if (incomplete > 0) {
    out.push({
      code: 'KAL_WARN_FRAGMENTS',
      message:
        `${incomplete} fragmented IP datagram${incomplete === 1 ? ' was' : 's were'} not reassembled: fragments ` +
        `missing from the capture or later than the reassembly timeout (30 s IPv4, 60 s IPv6)`,
    });
  }
  const discarded = stats.datagramsDiscarded;
  if (discarded > 0) {
    out.push({
      code: 'KAL_WARN_FRAGMENT_OVERLAP',
      message:
        `${discarded} fragmented IP datagram${discarded === 1 ? ' was' : 's were'} discarded: their fragments ` +
        'overlapped or disagreed, and a receiver discards such a datagram too (RFC 5722)',
    });
  }
  if (stats.malformed > 0)
    out.push({ code: 'KAL_WARN_MALFORMED', message: `${stats.malformed} packets could not be decoded` });
  for (const [type, count] of Object.entries(stats.unsupportedLinkTypes)) {
    out.push({
      code: 'KAL_WARN_LINK_TYPE',
      message: `${count} frames with unsupported link type ${type} were skipped`,
    });
  }
  if (stats.frames > 0 && stats.tcp === 0)
    out.push({ code: 'KAL_WARN_NO_TCP', message: `none of the ${stats.frames} frames was a TCP segment` });
  return out;
}
