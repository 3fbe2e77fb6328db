/**
 * The data the HTML report's script draws (the timeline, the connection table): built from a Report
 * here, embedded in the page as JSON and read back by the browser script (html/browser.ts), which
 * shares these types. Times are milliseconds relative to the start of their own run, so that runs
 * share one time scale ("before" and "after" in one picture). Every string in it came from traffic
 * or from the report: the script only ever shows it as text.
 */
import { requestsUnknown } from '../../analyze/streams/tls.js';
import { primaryObserver } from '../../analyze/verdict.js';
import { ServerTable } from '../../analyze/findings/servers.js';
import { formatEndpoint } from '../../model/endpoint.js';
import type { ConnectionRecord, ObserverName, Report, RunReport } from '../../model/report.js';
import { firstStart } from '../findings.js';
import type { PackedConnection, PageConnection, PageData, PageMark, PageRun } from './page.js';

export type { PackedConnection, PageConnection, PageData, PageExchange, PageMark, PageRun } from './page.js';

/**
 * The order of a connection's fields in the page: each connection is embedded as the array of its
 * values in this order (PageData.fields), which keeps 10,000 connections' data half the size it would
 * have as objects (the browser script makes them objects again).
 */
export const CONNECTION_FIELDS = [
  'id',
  'client',
  'server',
  'start',
  'end',
  'syn',
  'open',
  'requests',
  'unknown',
  'statuses',
  'clientFin',
  'serverFin',
  'firstFin',
  'resetBy',
  'resetAt',
  'timeWait',
  'tls',
  'bytesFromClient',
  'bytesFromServer',
  'exchanges',
  'exchangesOmitted',
  'busy',
  'idleTimeoutMs',
  'notes',
] as const satisfies readonly (keyof PageConnection)[];

/** Linux's TCP_TIMEWAIT_LEN (include/net/tcp.h): how long a socket stays in TIME_WAIT. */
export const TIME_WAIT_MS = 60_000;

/**
 * The most exchanges a page embeds, over all its runs: beyond them a connection's lane shows its busy
 * periods (ConnectionRecord.busyAt) instead, and its exchanges count as omitted. Keeps the page of
 * 10,000 long keep-alive connections (50 exchanges listed each) near 8 MB rather than 20.
 */
export const MAX_PAGE_EXCHANGES = 200_000;

export function pageData(report: Report): PageData {
  const budget = { exchanges: MAX_PAGE_EXCHANGES };
  return { fields: CONNECTION_FIELDS, runs: report.runs.map((r) => pageRun(r, budget)), timeWaitMs: TIME_WAIT_MS };
}

/** Milliseconds since `origin`, rounded to microseconds (what a capture's clock gives). */
function rel(t: number | null | undefined, origin: number): number | null {
  return t === null || t === undefined ? null : Math.round((t - origin) * 1000) / 1000;
}

function pageRun(run: RunReport, budget: { exchanges: number }): PageRun {
  const o = primaryObserver(run.observers);
  const records = o?.connections ?? [];
  const origin = firstStart(run);
  const at = origin ?? 0;
  const servers = new ServerTable();
  for (const r of records) servers.add(r);
  const connections = records.map((r) => pack(pageConnection(r, at, o!.observer, servers, budget)));
  const marks: PageMark[] = [];
  for (const f of run.findings)
    for (const e of f.evidence.events)
      marks.push({ connection: e.connection, at: rel(e.at, at)!, code: f.code, severity: f.severity, what: e.what });
  return {
    title: run.title,
    observer: o?.observer ?? '-',
    origin,
    connections,
    omitted: o ? Math.max(o.connectionsOmitted ?? 0, o.totals.connections - records.length) : 0,
    marks,
  };
}

function pack(c: PageConnection): PackedConnection {
  return CONNECTION_FIELDS.map((f) => c[f]);
}

function pageConnection(
  r: ConnectionRecord,
  origin: number,
  observer: ObserverName,
  servers: ServerTable,
  budget: { exchanges: number },
): PageConnection {
  const t = (x: number | null | undefined) => rel(x, origin);
  const listed = r.exchanges ?? [];
  const fits = listed.length <= budget.exchanges;
  if (fits) budget.exchanges -= listed.length;
  return {
    id: r.id,
    client: formatEndpoint(r.client),
    server: formatEndpoint(r.server),
    start: t(r.start),
    end: t(r.end),
    syn: !r.startedBefore,
    open: r.openAtEnd,
    requests: r.requests,
    unknown: requestsUnknown(r, observer),
    statuses: r.statusCodes,
    clientFin: t(r.clientFinAt),
    serverFin: t(r.serverFinAt),
    firstFin: r.closedFirstBy,
    resetBy: r.resetBy,
    resetAt: t(r.resetAt),
    timeWait: r.timeWait,
    tls: r.tls?.handshake ?? null,
    bytesFromClient: r.bytesFromClient,
    bytesFromServer: r.bytesFromServer,
    exchanges: fits ? listed.map((x) => [t(x.at)!, t(x.end), x.method, x.path, x.status]) : [],
    exchangesOmitted: (r.exchangesOmitted ?? 0) + (fits ? 0 : listed.length),
    busy: (r.busyAt ?? []).map((x) => t(x)!),
    idleTimeoutMs: servers.get(r.server)?.effectiveTimeoutMs ?? null,
    notes: r.notes,
  };
}

/**
 * The page data as the text of a `<script type="application/json">`: every `<` written `\u003c`, so
 * no text from the traffic can close the element or open a comment (JSON.parse reads it back as `<`).
 * U+2028 and U+2029 are escaped as well, for any reader that takes it as script.
 */
export function embedJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
