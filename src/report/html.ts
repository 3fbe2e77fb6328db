/**
 * HTML renderer: a Report in, one self-contained page out (inline CSS and SVG, no scripts, nothing
 * fetched). Per run: the verdict (linked to the finding it names), the observers' totals side by
 * side, the findings (each with its reasoning, evidence and fix per runtime), and a timeline with one
 * bar per connection (green: carried several requests; amber: one; red: reset), marked at the end
 * with the side that closed first. Every text taken from the report is escaped.
 */
import { REQUESTS_UNKNOWN_NOTE, requestsUnknown, requestsUnknownOn } from '../analyze/streams/tls.js';
import { primaryObserver } from '../analyze/verdict.js';
import { formatEndpoint } from '../model/endpoint.js';
import type {
  ConnectionRecord,
  Finding,
  FindingSeverity,
  ObserverName,
  ObserverReport,
  Report,
  RunReport,
} from '../model/report.js';
import { firstStart, relativeTime, shownValues } from './findings.js';
import { countWithUnknown, requestsPerConnectionText, requestsText, runSummary } from './summary.js';
import { AT_LEAST, formatMs, formatNumber } from './text.js';
import { plural } from '../util/text.js';

/** A timeline taller than this many bars is cut (the JSON report has every connection). */
export const MAX_BARS = 500;
const BAR = 14;
const WIDTH = 900;
const LABEL = 170;
/** A bar whose requests are unknown (TLS without the keys): neither green (several) nor amber (one). */
const UNKNOWN_COLOR = '#8c959f';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function renderHtml(report: Report): string {
  const title = `keepalive-lab ${report.command}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:nth-child(2), td:nth-child(2), td.text, th:last-child { text-align: left; }
.verdict { font-weight: 600; }
.ok { color: #1a7f37; } .bad { color: #cf222e; } .warn { color: #9a6700; } .info { color: #57606a; }
.finding { border-left: 4px solid #d0d7de; padding: 0 0 0 1em; margin: 1em 0; }
.finding.error { border-color: #cf222e; } .finding.warning { border-color: #d4a72c; }
.finding table td, .finding table th { text-align: left; vertical-align: top; }
svg text { font: 11px monospace; fill: #444; }
section { margin-bottom: 2.5em; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)}, ${escapeHtml(report.createdAt)}</p>
${summaryTable(report.runs)}
${report.runs.map(runSection).join('\n')}
</body>
</html>
`;
}

const NOTHING_TO_DRAW = '<p>No connection to draw.</p>';

function summaryTable(runs: readonly RunReport[]): string {
  const rows = runs.map((run, i) => {
    const f = runSummary(run);
    const closed = f.closing ? `${f.closing.closedFirstBy.client}/${f.closing.closedFirstBy.server}` : '-';
    // Requests inside TLS without the keys are unknown: "?" (or "12+?"), never a count of 0.
    const rpc = requestsPerConnectionText(f, (n) => formatNumber(n));
    const atLeast = f.lowerBounds ? AT_LEAST : '';
    const counts = [`${atLeast}${requestsText(f)}`, `${atLeast}${f.connections ?? '-'}`];
    const numbers = [i + 1, escapeHtml(run.title), ...counts, rpc, f.syns ?? '-', closed];
    const agreement = `<td class="text ${f.agree ? 'ok' : 'bad'}">${f.agree ? 'agree' : 'disagree'}</td>`;
    return `<tr>${cells(numbers)}${agreement}<td class="text verdict">${verdict(run, i)}</td></tr>`;
  });
  const head = ['#', 'run', 'requests', 'connections', 'req/conn', 'SYNs', 'first FIN client/server', 'observers'];
  return table([...head, 'verdict'], rows);
}

function observerTable(observers: readonly ObserverReport[]): string {
  const rows = observers.map((o) => {
    if (!o.available)
      return (
        `<tr><td class="text">${o.observer}</td><td class="text warn" colspan="6">` +
        `unavailable: ${escapeHtml(o.reason ?? '')}${o.fix ? ` (fix: ${escapeHtml(o.fix)})` : ''}</td></tr>`
      );
    const t = o.totals;
    const unknown = requestsUnknownOn(o);
    const partial = t.partialRequests ? ` (${t.partialRequests} partial)` : '';
    const requests = countWithUnknown(t.requests, unknown, t.connections, partial);
    const why =
      unknown === 0 ? '' : ` <span class="info">(unknown on ${plural(unknown, 'encrypted connection')})</span>`;
    const numbers = [
      t.connections,
      o.seesRequests ? requests + why : '-',
      t.syns ?? '-',
      `${t.closedFirstBy.client}/${t.closedFirstBy.server}`,
      `${t.timeWait.client}/${t.timeWait.server}`,
      t.resets,
    ];
    return `<tr><td class="text">${o.observer}</td>${cells(numbers)}</tr>`;
  });
  const head = ['observer', 'connections', 'requests', 'SYNs', 'first FIN client/server', 'TIME_WAIT client/server'];
  return table([...head, 'RST'], rows);
}

function runSection(run: RunReport, index: number): string {
  const o = primaryObserver(run.observers);
  const notes = [
    ...run.agreement.differences.map((d) => `<li class="bad">observers disagree on ${escapeHtml(d)}</li>`),
    ...[...run.warnings, ...run.observers.flatMap((x) => x.warnings)].map(
      (w) => `<li class="warn">${escapeHtml(w.message)}</li>`,
    ),
  ];
  return `<section>
<h2>${index + 1}. ${escapeHtml(run.title)}</h2>
<p class="verdict">${verdict(run, index)}</p>
<p>${escapeHtml(run.subject)}</p>
${observerTable(run.observers)}
${notes.length > 0 ? `<ul>${notes.join('')}</ul>` : ''}
${findingsSection(run, index)}
${o && o.connections.length > 0 ? timeline(o.connections, o.observer, o.connectionsOmitted ?? 0) : NOTHING_TO_DRAW}
</section>`;
}

const SEVERITY_CLASS: Record<FindingSeverity, string> = { error: 'bad', warning: 'warn', info: 'info' };

/** The anchor of a run's finding in the page. */
function findingId(runIndex: number, findingIndex: number): string {
  return `run-${runIndex + 1}-finding-${findingIndex + 1}`;
}

/** The verdict's line, and the finding it names (its headline) as a link to that finding's section. */
function verdict(run: RunReport, runIndex: number): string {
  const headline = runSummary(run).headline;
  const text = escapeHtml(run.verdict.summary);
  if (headline === undefined) return text;
  const href = findingId(runIndex, run.findings.indexOf(headline));
  return `${text} <a href="#${href}">(${headline.severity}: ${escapeHtml(headline.code)})</a>`;
}

function findingsSection(run: RunReport, runIndex: number): string {
  if (run.findings.length === 0) return '';
  const t0 = firstStart(run);
  const items = run.findings.map((f, i) => findingHtml(f, findingId(runIndex, i), t0));
  return `<h3>Findings</h3>\n${items.join('\n')}`;
}

/** One finding: severity, code and summary; why; the evidence (values, connections, events); the fixes. */
function findingHtml(f: Finding, id: string, t0: number | null): string {
  const e = f.evidence;
  const more = e.count > e.connections.length ? `, ... (${e.count} in all)` : '';
  const server = e.server ? `server ${escapeHtml(formatEndpoint(e.server))}, ` : '';
  const values = shownValues(f).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`);
  const events = e.events.map(
    (ev) => `<li>#${ev.connection} at ${escapeHtml(relativeTime(ev.at, t0))}: ${escapeHtml(ev.what)}</li>`,
  );
  const fixes = Object.entries(f.fixes).map(
    ([runtime, fix]) => `<tr><th>${escapeHtml(runtime)}</th><td>${escapeHtml(fix)}</td></tr>`,
  );
  const head = `<span class="${SEVERITY_CLASS[f.severity]}">${f.severity}</span> <code>${escapeHtml(f.code)}</code>`;
  return `<div class="finding ${f.severity}" id="${id}">
<p>${head} ${escapeHtml(f.summary)}</p>
<details><summary>why</summary><ul>${f.reasoning.map((r) => `<li>${escapeHtml(r)}</li>`).join('')}</ul></details>
<p>evidence: ${server}${e.count} connection${e.count === 1 ? '' : 's'}: ${e.connections.join(', ')}${more}</p>
${values.length > 0 ? `<table>${values.join('')}</table>` : ''}
${events.length > 0 ? `<ul>${events.join('')}</ul>` : ''}
${fixes.length > 0 ? `<table><tr><th>fix for</th><th></th></tr>${fixes.join('')}</table>` : ''}
</div>`;
}

function timeline(connections: readonly ConnectionRecord[], observer: ObserverName, omitted: number): string {
  const shown = connections.slice(0, MAX_BARS);
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const c of shown) {
    if (c.start !== null) t0 = Math.min(t0, c.start);
    t1 = Math.max(t1, c.end ?? c.start ?? -Infinity);
  }
  if (!Number.isFinite(t0) || !Number.isFinite(t1)) return '<p>No timestamps to draw a timeline.</p>';
  const span = Math.max(t1 - t0, 1e-3);
  const plot = WIDTH - LABEL - 40;
  const x = (t: number) => LABEL + ((t - t0) / span) * plot;
  const height = shown.length * (BAR + 4) + 30;
  const bars = shown.map((c, i) => {
    const y = 20 + i * (BAR + 4);
    const start = x(c.start ?? t0);
    const end = Math.max(start + 2, x(c.end ?? t1));
    const unknown = requestsUnknown(c, observer);
    const color = c.resetBy ? '#cf222e' : unknown ? UNKNOWN_COLOR : c.requests > 1 ? '#2da44e' : '#d4a72c';
    const tip = [
      `#${c.id} ${formatEndpoint(c.client)} -> ${formatEndpoint(c.server)}`,
      unknown
        ? `requests unknown (encrypted: ${REQUESTS_UNKNOWN_NOTE}); an ESTIMATE of ` +
          `${c.tls?.estimatedExchanges ?? 0} request/response exchange(s) from the TLS records`
        : `${c.requests} request(s), statuses ${c.statusCodes.join(' ') || '-'}`,
      c.partialRequests || c.partialResponses
        ? `captured only in part: ${c.partialRequests ?? 0} request(s), ${c.partialResponses ?? 0} response(s)`
        : '',
      c.start !== null && c.end !== null ? `lasted ${formatMs(c.end - c.start)}` : '',
      `first FIN: ${c.closedFirstBy ?? '-'}${c.resetBy ? `, RST by ${c.resetBy}` : ''}`,
      ...(c.notes.length ? [c.notes.join('; ')] : []),
    ].join('\n');
    const mark = c.closedFirstBy
      ? `<text x="${(end + 3).toFixed(1)}" y="${y + BAR - 3}">${c.closedFirstBy === 'client' ? 'C' : 'S'}</text>`
      : '';
    const label = `<text x="0" y="${y + BAR - 3}">#${c.id} :${c.client.port} (${unknown ? '?' : c.requests})</text>`;
    const width = (end - start).toFixed(1);
    const bar = `<rect x="${start.toFixed(1)}" y="${y}" width="${width}" height="${BAR}" fill="${color}"/>`;
    return `<g><title>${escapeHtml(tip)}</title>${label}${bar}${mark}</g>`;
  });
  const notDrawn = connections.length - shown.length + omitted;
  const cut = notDrawn > 0 ? `<p>${notDrawn} more connections not drawn (see the JSON report).</p>` : '';
  const legend = shown.some((c) => requestsUnknown(c, observer))
    ? '; (?) = requests unknown (TLS without the keys), in grey'
    : '';
  const head = `Timeline (${escapeHtml(observer)}): ${formatMs(span)}; C/S = side that closed first; (n) = requests`;
  return `<h3>${head}${legend}</h3>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">
<text x="${LABEL}" y="12">0</text><text x="${LABEL + plot - 40}" y="12">${escapeHtml(formatMs(span))}</text>
${bars.join('\n')}
</svg>${cut}`;
}

/** Numeric cells of a table row (values are numbers or text already escaped). */
function cells(values: readonly (string | number)[]): string {
  return values.map((v) => `<td>${v}</td>`).join('');
}

function table(head: readonly string[], rows: readonly string[]): string {
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>\n${rows.join('\n')}</table>`;
}
