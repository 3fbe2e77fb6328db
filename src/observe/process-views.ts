/**
 * One `process` view from the register reports of a command's Node processes (`watch`: one
 * `<pid>.json` each, read by command-register.ts): their connections whose remote port is the watched
 * one, renumbered in order of start, totals counted from those; the same origins' counts summed over
 * the processes, their recent requests, and their own findings (the unread body's call site...), with
 * the connection ids renumbered the same way: what `RunReport.process` holds in a lab run. Pure.
 */
import { computeTotals, emptyTotals } from '../analyze/totals.js';
import { compareFindings } from '../analyze/findings/order.js';
import type { ProcessOrigin, ProcessRequest, ProcessSummary } from '../model/process.js';
import type { ConnectionRecord, Finding, ObserverReport, Warning } from '../model/report.js';
import { originPort } from './in-process/origin.js';

/** What one process's register report holds (its run's observer, `process` and `findings`). */
export interface ProcessReportView {
  pid: string;
  observer: ObserverReport;
  /** Absent in a report without them (one from another version). */
  process?: ProcessSummary;
  findings?: Finding[];
}

export interface MergedProcessView {
  observer: ObserverReport;
  /** For `RunReport.process`: null when no process gave its summary. */
  process: (ProcessSummary & { findings: Finding[] }) | null;
}

/** Recent requests kept in the merged summary: as many as one process keeps (the tracker's default). */
const RECENT_REQUESTS = 100;

/**
 * The merged view to `port`. `recordsCap`: the records each process kept (its `connectionsOmitted`
 * then makes the counts lower bounds, said in `incomplete`).
 */
export function mergeProcessViews(
  views: readonly ProcessReportView[],
  port: number,
  recordsCap: number,
  warnings: Warning[] = [],
): MergedProcessView {
  if (views.length === 0) return { observer: noReport(warnings), process: null };
  const records: { pid: string; c: ConnectionRecord }[] = [];
  const missing = new Set<string>();
  const omitted: string[] = [];
  for (const { pid, observer } of views) {
    if (!observer.available && observer.reason) missing.add(observer.reason);
    if (observer.connectionsOmitted !== undefined) omitted.push(`${pid} (${observer.connectionsOmitted})`);
    for (const c of observer.connections) if (c.server.port === port) records.push({ pid, c });
  }
  records.sort((a, b) => (a.c.start ?? 0) - (b.c.start ?? 0));
  // Each process numbers its connections from 1: `${pid} ${id}` is the merged record's id.
  const ids = new Map<string, number>();
  const connections = records.map(({ pid, c }, i) => {
    ids.set(`${pid} ${c.id}`, i + 1);
    return { ...c, id: i + 1 };
  });
  const observer: ObserverReport = {
    observer: 'process',
    available: missing.size === 0,
    seesRequests: true,
    totals: computeTotals(connections, null),
    connections,
    warnings,
  };
  if (missing.size > 0) {
    observer.reason = [...missing].join('; ');
    observer.fix = 'run Node.js 20 or later (20, 22 and 24 publish every channel used)';
  }
  if (omitted.length > 0)
    observer.incomplete = {
      packetsDropped: 0,
      reason:
        `each process kept the records of its last ${recordsCap} connections only ` +
        `(process: connections left out ${omitted.join(', ')})`,
    };
  return { observer, process: mergeSummaries(views, port, (pid, id) => ids.get(`${pid} ${id}`)) };
}

function noReport(warnings: Warning[]): ObserverReport {
  return {
    observer: 'process',
    available: false,
    reason:
      'no Node.js process of the command wrote a register report: the command is not Node.js, or it ' +
      'died of SIGKILL or of a signal other than SIGINT and SIGTERM (no exit, no report)',
    fix:
      'watch a Node.js program (node app.js, npm run ...), and stop it with Ctrl-C or SIGTERM; ' +
      '--no-register leaves this observer out',
    seesRequests: true,
    totals: emptyTotals(),
    connections: [],
    warnings,
  };
}

/** The processes' summaries to `port`, with their findings; ids mapped by `id` (undefined: not kept). */
function mergeSummaries(
  views: readonly ProcessReportView[],
  port: number,
  id: (pid: string, id: number) => number | undefined,
): (ProcessSummary & { findings: Finding[] }) | null {
  const summaries = views.filter((v): v is ProcessReportView & { process: ProcessSummary } => !!v.process);
  if (summaries.length === 0) return null;
  const origins = new Map<string, ProcessOrigin>();
  const requests: ProcessRequest[] = [];
  const findings: Finding[] = [];
  for (const { pid, process, findings: own } of summaries) {
    for (const o of process.origins)
      if (originPort(o.origin) === port) origins.set(o.origin, addOrigin(origins.get(o.origin), o));
    for (const r of process.recentRequests)
      if (originPort(r.origin) === port) requests.push({ ...r, connection: mapId(pid, r.connection, id) });
    for (const f of own ?? [])
      if (f.evidence.server?.port === port) findings.push(renumberFinding(f, (n) => id(pid, n)));
  }
  return {
    node: [...new Set(summaries.map((v) => v.process.node))].join(', '),
    missingChannels: [...new Set(summaries.flatMap((v) => v.process.missingChannels))],
    origins: [...origins.values()],
    recentRequests: requests.sort((a, b) => a.at - b.at).slice(-RECENT_REQUESTS),
    findings: findings.sort(compareFindings),
    pids: summaries.map((v) => Number(v.pid)),
  };
}

function mapId(pid: string, n: number | null, id: (pid: string, id: number) => number | undefined): number | null {
  return n === null ? null : (id(pid, n) ?? null);
}

/** `a` and `b` counted together (two processes' counts for one origin); `a` undefined: `b`. */
function addOrigin(a: ProcessOrigin | undefined, b: ProcessOrigin): ProcessOrigin {
  if (a === undefined)
    return { ...b, clients: [...b.clients], errors: { ...b.errors }, closeReasons: { ...b.closeReasons } };
  const requests = a.requests + b.requests;
  const reusedRequests = a.reusedRequests + b.reusedRequests;
  const responses = a.responses + b.responses;
  const ttfbSum = (a.ttfbMs?.mean ?? 0) * a.responses + (b.ttfbMs?.mean ?? 0) * b.responses;
  const ttfbMax = Math.max(a.ttfbMs?.max ?? 0, b.ttfbMs?.max ?? 0);
  return {
    origin: a.origin,
    clients: [...new Set([...a.clients, ...b.clients])],
    requests,
    reusedRequests,
    reuseShare: requests > 0 ? reusedRequests / requests : null,
    responses,
    errors: addCounts(a.errors, b.errors),
    connectionsOpened: a.connectionsOpened + b.connectionsOpened,
    connectionsClosed: a.connectionsClosed + b.connectionsClosed,
    connectionsOpen: a.connectionsOpen + b.connectionsOpen,
    closeReasons: addCounts(a.closeReasons, b.closeReasons),
    ttfbMs:
      a.ttfbMs === null && b.ttfbMs === null ? null : { mean: responses > 0 ? ttfbSum / responses : 0, max: ttfbMax },
    keepAliveHintS: b.keepAliveHintS ?? a.keepAliveHintS,
  };
}

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

/** `f` with its evidence's connection ids renumbered (an id not among the merged records is left out). */
function renumberFinding(f: Finding, id: (n: number) => number | undefined): Finding {
  const connections = f.evidence.connections.map(id).filter((n): n is number => n !== undefined);
  const events = f.evidence.events.flatMap((e) => {
    const connection = id(e.connection);
    return connection === undefined ? [] : [{ ...e, connection }];
  });
  return { ...f, evidence: { ...f.evidence, connections, events } };
}
