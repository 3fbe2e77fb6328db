/**
 * Terminal renderer: a Report in, a string out. The summary table has one row per run (experiment,
 * capture, watched command) with the numbers of the best observer available; the per-connection
 * table shows one observer's connections.
 */
import { primaryObserver } from '../analyze/verdict.js';
import { formatEndpoint } from '../model/endpoint.js';
import type {
  ConnectionRecord,
  ObserverName,
  ObserverReport,
  Report,
  RunReport,
  TlsAlpnUnknown,
  TlsFacts,
  TlsTotals,
} from '../model/report.js';
import { renderFindings } from './findings.js';
import { renderRunProcess } from './process-summary.js';
import { countWithUnknown, requestsPerConnectionText, requestsText, runSummary } from './summary.js';
import type { RunSummary } from './summary.js';
import { AT_LEAST, COLOR, PLAIN, fitLines, fitTable, formatMs, formatNumber, wrapLines } from './text.js';
import {
  REQUESTS_UNKNOWN_NOTE,
  requestsUnknown,
  requestsUnknownOn,
  tlsDecrypted,
  tlsDecryptedCount,
} from '../analyze/streams/tls.js';
import { plural } from '../util/text.js';
import type { Column, Style } from './text.js';

export interface TerminalOptions {
  color?: boolean;
  /** Also print each run's connections, one row each. */
  connections?: boolean;
  /** At most this many connection rows per run (0: all; default 50). */
  limit?: number;
  /** Also print each run's totals (distributions, handshake share) and what its capture held. */
  totals?: boolean;
  /** With each finding, its reasoning and evidence (`--explain`). */
  explain?: boolean;
  /**
   * Fit the tables into this many columns (a terminal's width): cells wrap, and the least needed
   * columns are left out, said under the table; undefined: every column at full width (`--wide`, a pipe).
   */
  width?: number;
}

export function renderTerminal(report: Report, options: TerminalOptions = {}): string {
  const s = options.color ? COLOR : PLAIN;
  const out: string[] = [renderSummary(report.runs, s, SUBJECT[report.command], options.width)];
  const notes = renderNotes(report.runs, s);
  if (notes) out.push(notes);
  for (const run of report.runs) {
    const obs = primaryObserver(run.observers);
    if (options.connections && obs && obs.connections.length > 0) {
      out.push(
        `${s.bold(run.title)} — connections seen by the ${obs.observer}\n` +
          renderConnections(obs, s, options.limit ?? 50, options.width),
      );
    }
    if (options.totals && obs) out.push(renderTotals(run, obs, s));
    const findings = renderFindings(run, s, options.explain ?? false);
    if (findings) out.push(findings);
    const process = renderRunProcess(run, s, options.explain ?? false);
    if (process) out.push(process);
  }
  return fitLines(out.join('\n\n'), options.width) + '\n';
}

/** Totals in words, and what the capture held. */
export function renderTotals(run: RunReport, o: ObserverReport, s: Style = PLAIN): string {
  const t = o.totals;
  const lines: string[] = [];
  const rpc = t.requestsPerConnection;
  // Connections whose requests are unknown count 0 in the totals: say so, and show no figure built on it.
  const unknown = requestsUnknownOn(o);
  const counted = (n: number, part: number | undefined) => countWithUnknown(n, unknown, t.connections, partial(part));
  const why = unknown === 0 ? '' : ` (${plural(unknown, 'TLS connection')}: ${REQUESTS_UNKNOWN_NOTE})`;
  lines.push(
    `${s.bold('connections')} ${t.connections}${t.syns !== null ? ` (${t.syns} opened with a SYN in view)` : ''}` +
      `  ${s.bold('requests')} ${counted(t.requests, t.partialRequests)}${why}` +
      `  ${s.bold('responses')} ${counted(t.responses, t.partialResponses)}`,
  );
  if (rpc && unknown === 0)
    lines.push(
      `${s.bold('requests per connection')} min ${formatNumber(rpc.min)}, median ${formatNumber(rpc.median)}, ` +
        `max ${formatNumber(rpc.max)}, mean ${formatNumber(rpc.mean, 2)}`,
    );
  else if (rpc) lines.push(`${s.bold('requests per connection')} unknown (${plural(unknown, 'TLS connection')})`);
  if (t.handshakeShare !== null && unknown === 0)
    lines.push(
      `${s.bold('requests that paid a handshake')} ${(t.handshakeShare * 100).toFixed(1)}%  ` +
        `(${t.reusedRequests} reused a connection)`,
    );
  lines.push(
    `${s.bold('first FIN')} client ${t.closedFirstBy.client}, server ${t.closedFirstBy.server}, ` +
      `none ${t.closedFirstBy.unknown}` +
      `  ${s.bold('TIME_WAIT')} client ${t.timeWait.client}, server ${t.timeWait.server}  ${s.bold('RST')} ${t.resets}`,
  );
  if (t.tls) lines.push(tlsTotalsLine(t.tls, s));
  const c = run.capture;
  if (c) {
    const reassembled = c.datagramsReassembled ?? 0;
    const facts = [
      c.tunnelled && `${c.tunnelled} TCP out of tunnels`,
      c.nonIp && `${c.nonIp} not IP`,
      c.nonTcp && `${c.nonTcp} not TCP`,
      c.fragments && `${c.fragments} fragments${reassembled ? ` (${reassembled} datagrams reassembled)` : ''}`,
      c.truncated && `${c.truncated} cut by the snap length`,
      c.malformed && `${c.malformed} malformed`,
    ].filter(Boolean);
    const focus = c.analyzedPackets !== c.tcpPackets ? ` (${c.analyzedPackets} in focus)` : '';
    lines.push(
      s.dim(
        `capture: ${c.format ?? 'unknown format'}, link type ${c.linkTypes.join('/') || '-'}, ` +
          `${c.frames} frames, ${c.tcpPackets} TCP${focus}${facts.length ? `; ${facts.join(', ')}` : ''}`,
      ),
    );
  }
  lines.push(`${s.bold('verdict')} ${run.verdict.summary}`);
  return lines.join('\n');
}

/**
 * "TLS: 12 connections, 12 full handshakes, 0 resumed (TLS 1.3: 12); requests unknown without the TLS
 * keys, an estimated 12 request/response exchanges", or with keys "...; 10 of 12 TLS connections
 * decrypted; requests unknown for the other 2, ...".
 */
export function tlsTotalsLine(t: TlsTotals, s: Style = PLAIN, requestsCounted = false): string {
  const parts = [
    plural(t.connections, 'connection'),
    plural(t.fullHandshakes, 'full handshake'),
    `${t.resumedHandshakes} resumed`,
  ];
  if (t.handshakesUnknown > 0) parts.push(`${t.handshakesUnknown} not seen to the end`);
  const versions = Object.entries(t.versions)
    .map(([version, n]) => `${version}: ${n}`)
    .join(', ');
  const head = `${s.bold('TLS:')} ${parts.join(', ')} (${versions})`;
  // The lab's server counts the requests inside its own TLS connections: nothing to estimate.
  if (requestsCounted) return head;
  const estimate = `an estimated ${plural(t.estimatedExchanges, 'request/response exchange')}`;
  if (t.decryption === undefined) return `${head}; ${REQUESTS_UNKNOWN_NOTE}, ${estimate}`;
  const decrypted = tlsDecryptedCount(t);
  const rest = t.connections - decrypted;
  const said = `${head}; ${decrypted} of ${plural(t.connections, 'TLS connection')} decrypted`;
  return rest === 0 ? said : `${said}; requests unknown for the other ${rest} (see their notes)`;
}

/** What stands for a chosen ALPN protocol the capture does not show. */
const ALPN_UNKNOWN: Record<TlsAlpnUnknown, string> = {
  encrypted: '? (encrypted in TLS 1.3)',
  'none-chosen': 'none',
  'none-offered': '-',
  'no-server-hello': '? (no ServerHello)',
};

/** A TLS connection in a few words: "TLS 1.3 full handshake 1.23 ms, SNI localhost, ALPN h2,http/1.1 -> ?". */
function tlsSummary(t: TlsFacts): string {
  const took = t.handshakeMs === null ? '' : ` ${formatMs(t.handshakeMs)}`;
  const handshake = t.handshake === null ? 'handshake not seen to the end' : `${t.handshake} handshake`;
  const parts = [`${t.version ?? 'TLS'} ${handshake}${took}`];
  if (t.sni !== null) parts.push(`SNI ${t.sni}`);
  if (t.decryption !== undefined) parts.push(tlsDecrypted(t) ? 'decrypted' : 'not decrypted');
  if (t.alpnOffered.length > 0)
    parts.push(
      `ALPN ${t.alpnOffered.join(',')} -> ${t.alpnChosen ?? ALPN_UNKNOWN[t.alpnChosenWhyNull ?? 'none-chosen']}`,
    );
  return parts.join(', ');
}

/** " (12 partial)": messages captured only in part, or nothing when none was. */
function partial(count: number | undefined): string {
  return count ? ` (${count} partial)` : '';
}

function sideCount(counts: { client: number; server: number }): string {
  const parts: string[] = [];
  if (counts.client > 0) parts.push(`${counts.client} client`);
  if (counts.server > 0) parts.push(`${counts.server} server`);
  return parts.length > 0 ? parts.join(', ') : '0';
}

function closedFirst(closing: NonNullable<RunSummary['closing']>): string {
  const c = closing.closedFirstBy;
  if (c.client === 0 && c.server === 0) {
    if (closing.resets > 0) {
      // From the totals: `connections` may hold only the first ones (analyze keeps the rows it prints).
      const by = (['client', 'server'] as const).filter((side) => closing.resetsBy[side] > 0);
      return `RST by ${by.join(' and ')}`;
    }
    return c.unknown > 0 ? 'open' : '-';
  }
  if (c.server === 0) return 'client';
  if (c.client === 0) return 'server';
  return `client ${c.client}, server ${c.server}`;
}

/** What the second column of the summary names, per command. */
const SUBJECT: Record<Report['command'], string> = {
  demo: 'experiment',
  run: 'experiment',
  analyze: 'capture',
  watch: 'command',
  proxy: 'proxy',
  register: 'process',
  probe: 'probe',
};

export function renderSummary(
  runs: readonly RunReport[],
  s: Style = PLAIN,
  subject = 'experiment',
  width?: number,
): string {
  const header = [
    '#',
    subject,
    'requests',
    'conns',
    'req/conn',
    'reused',
    'SYNs',
    'closed first',
    'TIME_WAIT',
    'time',
    'observers',
    'verdict',
  ];
  const rows: string[][] = [header.map((h) => s.bold(h))];
  runs.forEach((run, i) => {
    const f = runSummary(run);
    const seen = f.available;
    const agree =
      seen.length < 2 ? seen.join('') || 'none' : f.agree ? s.green(`${seen.length} agree`) : s.red('disagree');
    const dash = (value: number | null, format: (n: number) => string = String) =>
      value === null ? '-' : format(value);
    // Counts from an observer that missed evidence are lower bounds: "≥11".
    const atLeast = f.lowerBounds ? AT_LEAST : '';
    rows.push([
      String(i + 1),
      run.title,
      // Requests inside TLS are not counted: "?" for them ("12+?" beside those counted in the clear).
      atLeast + requestsText(f),
      atLeast + dash(f.connections),
      requestsPerConnectionText(f, (n) => formatNumber(n)),
      dash(f.reusedRequests),
      dash(f.syns),
      f.closing ? closedFirst(f.closing) : '-',
      f.timeWait ? sideCount(f.timeWait) : '-',
      dash(f.elapsedMs, formatMs),
      agree,
      run.verdict.summary,
    ]);
  });
  return fitted(fitTable(rows, SUMMARY_COLUMNS, width), width, s);
}

/** The summary's columns; at a terminal's width SYNs go first, the counts and the verdict stay. */
const SUMMARY_COLUMNS: readonly Column[] = [
  { align: 'right' },
  { align: 'left', min: 16 },
  { align: 'right' },
  { align: 'right' },
  { align: 'right' },
  { align: 'right', drop: 3 },
  { align: 'right', drop: 7 },
  { align: 'left', drop: 4 },
  { align: 'left', drop: 2 },
  { align: 'right', drop: 6 },
  { align: 'left', drop: 5 },
  { align: 'left', min: 30 },
];

/** A fitted table, and under it the columns it left out to fit. */
function fitted(t: { text: string; dropped: string[] }, width: number | undefined, s: Style): string {
  if (t.dropped.length === 0) return t.text;
  const note = `left out to fit ${width} columns: ${t.dropped.join(', ')} (--wide shows them)`;
  return `${t.text}\n${wrapLines(note, width ?? Infinity)
    .map((line) => s.dim(line))
    .join('\n')}`;
}

function renderNotes(runs: readonly RunReport[], s: Style): string {
  const lines: string[] = [];
  const unavailable = new Map<string, string>();
  runs.forEach((run, i) => {
    const n = runs.length > 1 ? `${i + 1}. ` : '';
    for (const o of run.observers) {
      if (!o.available) unavailable.set(`${o.observer}: ${o.reason}`, o.fix ?? '');
    }
    for (const d of run.agreement.differences) lines.push(s.red(`${n}observers disagree on ${d}`));
    lines.push(...labTlsNotes(run, n, s));
    for (const w of [...run.warnings, ...run.observers.flatMap((o) => o.warnings)])
      lines.push(s.yellow(`${n}${w.message}`));
    lines.push(...clientNotes(run, n, s));
  });
  for (const [what, fix] of unavailable)
    lines.unshift(s.yellow(`observer unavailable — ${what}${fix ? `\n  fix: ${fix}` : ''}`));
  return lines.join('\n');
}

/**
 * A lab run over TLS (the table has no column for it): its handshakes and, on HTTP/2, its streams, as
 * the primary observer counted them ("1. TLS: 10 connections, 1 full handshake, 9 resumed (TLS 1.3:
 * 10); 10 of 10 TLS connections decrypted"; "1. HTTP/2: 100 streams on 1 connection, at most 100 open
 * at once"). Reports of captures print their totals instead (renderTotals).
 */
function labTlsNotes(run: RunReport, n: string, s: Style): string[] {
  const o = primaryObserver(run.observers);
  if (run.config === null || o === undefined || o.totals.tls === undefined) return [];
  const server = o.observer === 'server';
  const lines = [`${n}${tlsTotalsLine(o.totals.tls, s, server)}${server ? ' (server)' : ''}`];
  const h2 = o.connections.filter((c) => c.http2 !== undefined);
  if (h2.length > 0) {
    const streams = h2.reduce((sum, c) => sum + c.requests, 0);
    const peak = Math.max(...h2.map((c) => c.http2!.peakConcurrentStreams));
    lines.push(
      `${n}${s.bold('HTTP/2:')} ${plural(streams, 'stream')} on ${plural(h2.length, 'connection')}, ` +
        `at most ${peak} open at once (${o.observer})`,
    );
  }
  return lines;
}

/**
 * The client's failed requests: each distinct error in red; when a finding scenario meant requests
 * to fail (the race's), first a line that counts them by code, and their errors are not in red.
 */
function clientNotes(run: RunReport, n: string, s: Style): string[] {
  const client = run.client;
  if (client === null) return [];
  const expected = client.expectedFailures ?? 0;
  if (expected === 0) return client.errors.map((e) => s.red(`${n}client error: ${e}`));
  const failed = client.requests - client.completed;
  const codes = Object.entries(client.errorCodes ?? {})
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([code, count]) => `${count} ${code}`)
    .join(', ');
  const line =
    `${n}client: ${failed} of ${client.requests} requests failed (${codes}); ` +
    `${expected === failed ? 'all' : expected} of them sent into the failure the scenario reproduces`;
  return [
    failed > expected ? s.red(line) : s.yellow(line),
    ...client.errors.map((e) => (failed > expected ? s.red : s.dim)(`${n}client error: ${e}`)),
  ];
}

export function renderConnections(o: ObserverReport, s: Style = PLAIN, limit = 0, width?: number): string {
  let t0 = Infinity;
  for (const c of o.connections) if (c.start !== null && c.start < t0) t0 = c.start;
  const header = [
    '#',
    'client',
    'server',
    'start',
    'duration',
    'rtt',
    'reqs',
    'status',
    'max idle',
    'closed first',
    'RST',
    'TIME_WAIT',
    'notes',
  ];
  const rows: string[][] = [header.map((h) => s.bold(h))];
  const omitted = o.connectionsOmitted ?? 0;
  const total = o.connections.length + omitted;
  // A report may keep the last connections rather than the first (the proxy keeps the most recent):
  // then the table shows the last ones too, and says so.
  const lastKept = omitted > 0 && o.connections[o.connections.length - 1]?.id === total;
  const cut = limit > 0 && o.connections.length > limit;
  const shown = !cut ? o.connections : lastKept ? o.connections.slice(-limit) : o.connections.slice(0, limit);
  for (const c of shown) rows.push(connectionRow(c, t0, o.observer));
  const more = total - shown.length;
  const text = fitted(fitTable(rows, CONNECTION_COLUMNS, width), width, s);
  if (more === 0) return text;
  if (lastKept) return `${text}\n${s.dim(`the last ${shown.length} of ${total} connections (--json has them all)`)}`;
  return `${text}\n${s.dim(`... ${more} more connections (--limit 0 shows all, --json has them all)`)}`;
}

/** The connections' columns; at a terminal's width the times go first, then the statuses. */
const CONNECTION_COLUMNS: readonly Column[] = [
  { align: 'right' },
  { align: 'left' },
  { align: 'left' },
  { align: 'right', drop: 5 },
  { align: 'right', drop: 6 },
  { align: 'right', drop: 8 },
  { align: 'right' },
  { align: 'left', drop: 4 },
  { align: 'right', drop: 7 },
  { align: 'left', drop: 2 },
  { align: 'left', drop: 1 },
  { align: 'left', drop: 3 },
  { align: 'left', min: 20 },
];

function connectionRow(c: ConnectionRecord, t0: number, observer: ObserverName): string[] {
  const start = c.start !== null && Number.isFinite(t0) ? `+${formatMs(c.start - t0)}` : '-';
  const duration = c.start !== null && c.end !== null ? formatMs(c.end - c.start) : '-';
  const statuses = summarizeStatuses(c.statusCodes);
  const flags = [
    c.startedBefore ? 'began before' : '',
    c.openAtEnd ? 'open at end' : '',
    c.tls ? tlsSummary(c.tls) : '',
    ...c.notes,
  ].filter(Boolean);
  // Requests inside TLS are unknown: "?", and the estimate of exchanges marked as one.
  const requests = requestsUnknown(c, observer)
    ? `? (~${c.tls?.estimatedExchanges ?? 0} est.)`
    : `${c.requests}${partial(c.partialRequests)}`;
  return [
    String(c.id),
    formatEndpoint(c.client),
    formatEndpoint(c.server),
    start,
    duration,
    c.handshakeRttMs !== null ? formatMs(c.handshakeRttMs) : '-',
    requests,
    statuses || '-',
    c.idleGapsMs.length > 0 ? formatMs(c.idleGapsMs.reduce((a, b) => Math.max(a, b), 0)) : '-',
    c.closedFirstBy ?? '-',
    c.resetBy ?? '-',
    c.timeWait ?? '-',
    flags.join('; '),
  ];
}

/** [200, 200, 200, 404] -> "200x3 404" */
function summarizeStatuses(codes: readonly number[]): string {
  const counts = new Map<number, number>();
  for (const code of codes) counts.set(code, (counts.get(code) ?? 0) + 1);
  return [...counts].map(([code, n]) => (n > 1 ? `${code}x${n}` : String(code))).join(' ');
}
