/**
 * Capture bytes in, connections out: the one codepath shared by live capture (tcpdump's stdout)
 * and offline `analyze` (a file or stdin). Streaming: feed chunks as they come, in constant memory
 * apart from one small record per connection.
 */
import { CaptureReader } from '../decode/capture.js';
import type { CaptureInfo, FrameMeta } from '../decode/capture.js';
import { PacketDecoder } from '../decode/packet.js';
import type { DecodeStats } from '../decode/packet.js';
import { NotACaptureError, UnsupportedLinkTypeError } from '../errors.js';
import type { TcpPacket } from '../model/packet.js';
import type { CaptureSummary, ObserverReport, Warning } from '../model/report.js';
import { computeTotals } from './totals.js';
import { ConnectionTracker } from './tracker.js';
import type { TrackerOptions } from './tracker.js';

export interface CaptureAnalysisOptions extends TrackerOptions {
  /**
   * Keep only packets for which this returns true (e.g. a port or server filter). `p` is one object
   * reused for every packet: read it, do not keep it.
   */
  accept?: (p: TcpPacket) => boolean;
}

export interface CaptureAnalysisResult {
  report: ObserverReport;
  info: CaptureInfo | null;
  stats: DecodeStats;
  summary: CaptureSummary;
}

export class CaptureAnalysis {
  readonly tracker: ConnectionTracker;
  private readonly decoder = new PacketDecoder();
  private readonly reader: CaptureReader;
  private readonly warnings: Warning[] = [];
  private info: CaptureInfo | null = null;
  private analyzed = 0;

  constructor(options: CaptureAnalysisOptions = {}) {
    this.tracker = new ConnectionTracker(options);
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
    this.reader = new CaptureReader({
      frame: (f) => onFrame(f.data, 0, f.data.length, f),
      frameAt: onFrame,
      warning: (w) => {
        if (this.warnings.length < 100) this.warnings.push(w);
      },
      info: (i) => {
        this.info = i;
      },
    });
  }

  /** Throws NotACaptureError when the first bytes are not pcap/pcapng. */
  push(chunk: Uint8Array): void {
    this.reader.push(chunk);
  }

  /** Throws NotACaptureError when the input ended before a whole file header (empty included). */
  end(): void {
    this.reader.end();
    // A magic number and no more: nothing says what the bytes were, so there is no capture to report on.
    if (this.info === null) throw new NotACaptureError(`only ${this.reader.bytes} bytes: the capture ends inside its file header`);
  }

  get bytes(): number {
    return this.reader.bytes;
  }

  /**
   * What was seen so far. Throws UnsupportedLinkTypeError when nothing could be decoded because
   * every frame had a link type we do not know.
   */
  result(): CaptureAnalysisResult {
    const stats = this.decoder.stats;
    const unsupported = Object.keys(stats.unsupportedLinkTypes).map(Number);
    if (stats.tcp === 0 && unsupported.length > 0 && stats.frames === unsupported.reduce((n, t) => n + (stats.unsupportedLinkTypes[t] ?? 0), 0)) {
      throw new UnsupportedLinkTypeError(unsupported[0]!);
    }
    const tracked = this.tracker.result();
    const warnings = [...this.warnings, ...tracked.warnings, ...decodeWarnings(stats)];
    const summary: CaptureSummary = {
      format: this.info?.format ?? null,
      linkTypes: this.info?.linkTypes ?? [],
      bytes: this.reader.bytes,
      frames: stats.frames,
      tcpPackets: stats.tcp,
      analyzedPackets: this.analyzed,
      nonIp: stats.nonIp,
      nonTcp: stats.nonTcp,
      fragments: stats.fragments,
      truncated: stats.truncated,
      malformed: stats.malformed,
    };
    return {
      info: this.info,
      stats,
      summary,
      report: {
        observer: 'wire',
        available: true,
        seesRequests: true,
        totals: computeTotals(tracked.connections, tracked.syns),
        http: tracked.http,
        connections: tracked.connections,
        warnings,
      },
    };
  }
}

function decodeWarnings(stats: DecodeStats): Warning[] {
  const out: Warning[] = [];
  if (stats.fragments > 0) out.push({ code: 'KAL_WARN_FRAGMENTS', message: `${stats.fragments} IP fragments were not reassembled` });
  if (stats.malformed > 0) out.push({ code: 'KAL_WARN_MALFORMED', message: `${stats.malformed} packets could not be decoded` });
  for (const [type, count] of Object.entries(stats.unsupportedLinkTypes)) {
    out.push({ code: 'KAL_WARN_LINK_TYPE', message: `${count} frames with unsupported link type ${type} were skipped` });
  }
  if (stats.frames > 0 && stats.tcp === 0) out.push({ code: 'KAL_WARN_NO_TCP', message: `none of the ${stats.frames} frames was a TCP segment` });
  return out;
}
