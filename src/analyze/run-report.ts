/**
 * The one place a run's report is built. Every engine (the lab's experiment, watch, analyze, the
 * proxy) hands over what the run is (its head), what each observer saw and the run's own
 * warnings; the agreement between observers and the verdict are decided here, the same way for
 * all. Also: the report of an observer that could not run, and the Report around the runs.
 */
import type { HostFacts } from '../model/host.js';
import { REPORT_SCHEMA } from '../model/report.js';
import type {
  CaptureSummary,
  Finding,
  ObserverName,
  ObserverReport,
  Report,
  RunReport,
  Warning,
} from '../model/report.js';
import { VERSION } from '../version.js';
import { compareObservers } from './agreement.js';
import { emptyTotals } from './totals.js';
import { detectFindings } from './findings/index.js';
import { decideVerdict, primaryObserver } from './verdict.js';

/** What a run is: its fields before the observers' (in this order in the report). */
export type RunHead = Pick<RunReport, 'name' | 'title' | 'subject' | 'config' | 'client'>;

/** An observer's fields before its connections (what a streamed report writes before the records). */
export type ObserverHead = Pick<ObserverReport, 'observer' | 'available' | 'seesRequests'>;

/** What the run adds to its observers' reports. */
export interface RunContext {
  /** Partial failures of the run itself (a TLS target, connections still closing at the end...). */
  warnings?: Warning[];
  /** What the capture held, for a run read from one (analyze). */
  capture?: CaptureSummary;
  /**
   * The findings, when the observer computed them as its records came (analyze keeps only some
   * records: see CaptureAnalysis). Otherwise they are computed here from the primary observer's records.
   */
  findings?: Finding[];
  /** For the findings computed here: the machine's facts (see FindingsOptions). */
  hostFacts?: HostFacts;
}

/**
 * A RunReport: the head, the observers' reports, their agreement, the findings (from the observer the
 * verdict is based on), the verdict, which names the most severe finding, and the run's warnings.
 */
export function runReport(head: RunHead, observers: ObserverReport[], context: RunContext = {}): RunReport {
  const findings =
    context.findings ??
    detectFindings(
      primaryObserver(observers)?.connections ?? [],
      context.hostFacts === undefined ? {} : { hostFacts: context.hostFacts },
    );
  const run: RunReport = {
    name: head.name,
    title: head.title,
    subject: head.subject,
    config: head.config,
    client: head.client,
    observers,
    agreement: compareObservers(observers),
    // The lab's knobs name the cause; the client's count stands in for observers blind to HTTP.
    verdict: decideVerdict(observers, { config: head.config, requests: head.client?.completed, findings }),
    findings,
    warnings: context.warnings ?? [],
  };
  if (context.capture !== undefined) run.capture = context.capture;
  return run;
}

/** The report of an observer that could not run: why, and what to do about it; nothing counted. */
export function unavailableReport(
  observer: ObserverName,
  why: { reason: string; fix: string; seesRequests: boolean },
): ObserverReport {
  return {
    observer,
    available: false,
    reason: why.reason,
    fix: why.fix,
    seesRequests: why.seesRequests,
    totals: emptyTotals(),
    connections: [],
    warnings: [],
  };
}

/** The fields of a Report before its runs. */
export type ReportHead = Omit<Report, 'runs'>;

export function reportHead(command: Report['command']): ReportHead {
  return {
    schema: REPORT_SCHEMA,
    tool: { name: 'keepalive-lab', version: VERSION },
    command,
    createdAt: new Date().toISOString(),
  };
}

/** The Report of a command: its head and its runs. */
export function buildReport(command: Report['command'], runs: RunReport[]): Report {
  return { ...reportHead(command), runs };
}
