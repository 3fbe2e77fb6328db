/**
 * Reports built in code for the HTML report's tests and its bench: connections with their exchanges
 * (requests on a keep-alive connection, idle gaps between them, the close and its TIME_WAIT), a reset
 * or two, a finding whose events sit on given connections, and text from "traffic" chosen to be
 * hostile (a path `/<script>alert(1)</script>`, a capture file named `<img src=x onerror=...>`).
 */
import { newConnectionRecord } from '../../src/analyze/record.js';
import { buildReport, runReport } from '../../src/analyze/run-report.js';
import { computeTotals } from '../../src/analyze/totals.js';
import type { ConnectionRecord, Finding, ObserverReport, Report, RunReport } from '../../src/model/report.js';

export const HOSTILE_PATH = '/<script>alert(1)</script>';
export const HOSTILE_FILE = '/tmp/<img src=x onerror=alert(2)>.pcap';

export interface SyntheticRunOptions {
  title: string;
  connections: number;
  /** Requests on each connection (its exchanges). */
  requestsPerConnection: number;
  /** Every this many connections, one ends with a RST from the server instead of FINs (0: none). */
  resetEvery?: number;
  /** The server's advertised idle timeout (Keep-Alive: timeout=N), seconds. */
  keepAliveTimeoutS?: number;
  /** Idle time between a response and the next request, ms. */
  idleMs?: number;
  /** The run's time origin (ms since the epoch): runs of one report may begin at different times. */
  origin?: number;
  /** Put HOSTILE_PATH as the path of connection 1's first request, and a finding with a hostile text. */
  hostile?: boolean;
}

/** One connection's record: its requests back to back with `idleMs` between them, closed by the client. */
function connection(id: number, o: SyntheticRunOptions, origin: number): ConnectionRecord {
  const start = origin + id * 0.7;
  const r = newConnectionRecord(
    id,
    { address: '10.0.0.1', port: 40_000 + (id % 20_000) },
    { address: '10.0.0.2', port: 8080 },
    start,
  );
  let t = start + 0.2;
  const idle = o.idleMs ?? 5;
  r.exchanges = [];
  for (let k = 0; k < o.requestsPerConnection; k++) {
    if (k > 0) {
      r.idleGapsMs.push(idle);
      t += idle;
    }
    const path = o.hostile === true && id === 1 && k === 0 ? HOSTILE_PATH : `/item/${id}/${k}`;
    const status = k === 2 ? 404 : 200;
    r.exchanges.push({ at: t, end: t + 1.5, method: 'GET', path, status });
    r.statusCodes.push(status);
    t += 1.5;
  }
  r.requests = r.responses = o.requestsPerConnection;
  r.lastResponseEndAt = t;
  if (o.keepAliveTimeoutS !== undefined) r.keepAliveTimeoutS = o.keepAliveTimeoutS;
  r.bytesFromClient = 80 * o.requestsPerConnection;
  r.bytesFromServer = 300 * o.requestsPerConnection;
  r.handshakeRttMs = 0.05;
  r.openAtEnd = false;
  if (o.resetEvery !== undefined && o.resetEvery > 0 && id % o.resetEvery === 0) {
    r.resetBy = 'server';
    r.resetAt = t + idle;
    r.end = r.resetAt;
  } else {
    r.clientFinAt = t + idle;
    r.serverFinAt = t + idle + 0.1;
    r.closedFirstBy = 'client';
    r.timeWait = 'client';
    r.end = r.serverFinAt + 0.05;
  }
  return r;
}

/** A finding on connections 1 and 2 (an event each, at their last response's end). */
function finding(records: readonly ConnectionRecord[], hostile: boolean): Finding {
  const events = records.slice(0, 2).map((r) => ({
    connection: r.id,
    at: r.lastResponseEndAt!,
    what: hostile ? `GET ${HOSTILE_PATH} <img src=x onerror=alert(3)> after the FIN` : 'GET sent after the FIN',
  }));
  return {
    code: 'keepalive-race',
    severity: 'error',
    summary: hostile ? `race on ${HOSTILE_PATH}` : 'keep-alive race',
    reasoning: ['built by test/support/html-report.ts'],
    evidence: {
      server: records[0]!.server,
      count: events.length,
      connections: events.map((e) => e.connection),
      events,
      values: {},
    },
    fixes: { 'node-http': 'new http.Agent({ keepAlive: true, timeout: 4000 })' },
  };
}

export function syntheticRun(o: SyntheticRunOptions): RunReport {
  const origin = o.origin ?? 1_700_000_000_000;
  const records: ConnectionRecord[] = [];
  for (let id = 1; id <= o.connections; id++) records.push(connection(id, o, origin));
  const wire: ObserverReport = {
    observer: 'wire',
    available: true,
    seesRequests: true,
    totals: computeTotals(records, records.length),
    connections: records,
    warnings: [],
  };
  const head = {
    name: 'synthetic',
    title: o.title,
    subject: o.hostile === true ? HOSTILE_FILE : 'synthetic',
    config: null,
    client: null,
  };
  return runReport(head, [wire], { findings: records.length > 0 ? [finding(records, o.hostile === true)] : [] });
}

export function syntheticReport(command: Report['command'], runs: SyntheticRunOptions[]): Report {
  return buildReport(command, runs.map(syntheticRun));
}

/** What the page must count: its lanes (connections drawn), bars (exchanges) and finding marks. */
export function expectedCounts(report: Report): { lanes: number; bars: number; marks: number } {
  let lanes = 0;
  let bars = 0;
  let marks = 0;
  for (const run of report.runs) {
    const o = run.observers.find((x) => x.observer === 'wire')!;
    lanes += o.connections.length;
    for (const c of o.connections) bars += c.exchanges?.length ?? 0;
    marks += run.findings.reduce((n, f) => n + f.evidence.events.length, 0);
  }
  return { lanes, bars, marks };
}
