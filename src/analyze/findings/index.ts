/**
 * Findings: named causes read from one observer's connection records, each with its evidence and the
 * fix per runtime (docs/report-schema.md, "Findings"). The same code path for every observer that
 * sees HTTP: the wire (analyze, watch), the proxy, the lab server's accounting. Records are fed one
 * at a time as connections end (`analyze` keeps none of them), so memory stays bounded; the findings
 * are worded once every record is in, with each server's figures measured over all its connections.
 *
 * A new finding is a detector (detector.ts) in its own file, and one line in the constructor's list.
 */
import type { HostFacts } from '../../model/host.js';
import type { ConnectionRecord, Finding, Warning } from '../../model/report.js';
import { compareFindings } from './order.js';
import { BodyNotReadDetector } from './body-not-read.js';
import { CloseAuditDetector } from './close-audit.js';
import type { FindingDetector } from './detector.js';
import { GoawayChurnDetector } from './goaway-churn.js';
import { IdleResetDetector } from './idle-reset.js';
import { PathOrderDetector } from './path-order.js';
import type { PathOrderOptions } from './path-order.js';
import { PoolChurnDetector } from './pool-churn.js';
import { PortExhaustionDetector } from './ports.js';
import { RaceDetector } from './race.js';
import { RefusedStreamsDetector } from './refused-streams.js';
import { ServerTable } from './servers.js';
import { Timeline } from './timeline.js';
import { TlsNoReuseDetector } from './tls-no-reuse.js';
import { UnevenSpreadDetector } from './uneven-spread.js';

/** What the findings know beyond the records. */
export interface FindingsOptions extends PathOrderOptions {
  /**
   * The machine's addresses and kernel settings (observe/host-facts.ts reads them), or the ones the
   * user gave for the clients: the port outlook weighs a client's rate of new connections against
   * them. Without them it assumes Linux's defaults, and says so.
   */
  hostFacts?: HostFacts;
}

export class FindingsAccumulator {
  private readonly servers = new ServerTable();
  private readonly timeline = new Timeline();
  private readonly race = new RaceDetector();
  private readonly path: PathOrderDetector;
  private readonly detectors: FindingDetector[];

  constructor(options: FindingsOptions = {}) {
    this.path = new PathOrderDetector(this.race, options);
    // The path's finding first: of two findings as severe over as many connections it is the more precise.
    this.detectors = [
      this.path,
      this.race,
      new IdleResetDetector(),
      new BodyNotReadDetector(this.timeline),
      new PoolChurnDetector(this.timeline),
      new CloseAuditDetector(),
      new PortExhaustionDetector(this.timeline, options.hostFacts),
      new TlsNoReuseDetector(),
      new GoawayChurnDetector(),
      new RefusedStreamsDetector(),
      new UnevenSpreadDetector(),
    ];
  }

  add(r: ConnectionRecord): void {
    const server = this.servers.add(r);
    this.timeline.add(r);
    for (const d of this.detectors) d.add(r, server);
  }

  /** What the records could not tell: the hops of a given path that no connection went to. */
  warnings(): Warning[] {
    return this.path.warnings(this.servers);
  }

  /** The findings over the records added so far, most severe first (then most connections). */
  findings(): Finding[] {
    const all = this.detectors.flatMap((d) => d.finish(this.servers));
    return all.sort(compareFindings);
  }
}

/** The findings of a list of records (an observer that kept all of them). */
export function detectFindings(records: readonly ConnectionRecord[], options: FindingsOptions = {}): Finding[] {
  const acc = new FindingsAccumulator(options);
  for (const r of records) acc.add(r);
  return acc.findings();
}

/** The finding that heads a verdict: the most severe one that is a fault (error or warning). */
export function headlineFinding(findings: readonly Finding[]): Finding | undefined {
  return findings.find((f) => f.severity !== 'info');
}
