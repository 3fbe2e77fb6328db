/**
 * HTML renderer: a Report in, one self-contained page out (inline CSS and script, nothing fetched: a
 * Content-Security-Policy allows only the page's own script, by its hash). At the top, the runs' summary
 * and one timeline for every run on one time scale (each run's time from its own start, so a demo's
 * "before" and "after" are one picture), drawn on a canvas by html/browser.ts from the data of
 * html/data.ts (embedded as JSON), and a sortable, filterable table of the connections. Per run: summary
 * cards, the verdict (linked to the finding it names), the observers' totals side by side, the
 * findings (each with its reasoning, evidence and fix per runtime), and what the client process saw
 * itself when the run has it (`process`: per origin, and its own findings). Text from the report is escaped
 * here, and the script shows the data it reads only as text.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { requestsUnknownOn } from '../analyze/streams/tls.js';
import { formatEndpoint } from '../model/endpoint.js';
import type { Finding, FindingSeverity, ObserverReport, Report, RunReport } from '../model/report.js';
import { embedJson, pageData } from './html/data.js';
import { PAGE_STYLE } from './html/style.js';
import { firstStart, relativeTime, shownValues } from './findings.js';
import { processSeenBy } from './process-summary.js';
import { countWithUnknown, requestsPerConnectionText, requestsText, runSummary } from './summary.js';
import { AT_LEAST, formatNumber } from './text.js';
import { plural } from '../util/text.js';

/** How html/browser.ts's compiled function begins (it is the whole of that module's code). */
const BROWSER_MAIN = 'export function browserMain(';
/** tsc's last line of a compiled file (`sourceMap`): not part of the function. */
const SOURCE_MAP_COMMENT = /\n\/\/# sourceMappingURL=\S*\s*$/;

let page: { script: string; csp: string } | undefined;

/**
 * The page's script, and the policy that allows it: browserMain's source, run once the page is parsed.
 * html/browser.ts is compiled on its own (tsconfig.browser.json, with the DOM's types that no other code
 * here may see), so it is not imported: its compiled file, beside this one, is read once, when the first
 * page is rendered.
 */
function pageScript(): { script: string; csp: string } {
  if (page !== undefined) return page;
  const compiled = readFileSync(new URL('./html/browser.js', import.meta.url), 'utf8');
  const at = compiled.indexOf(BROWSER_MAIN);
  if (at < 0) throw new Error(`html/browser.js does not hold ${BROWSER_MAIN}...`);
  const source = compiled.slice(at + 'export '.length).replace(SOURCE_MAP_COMMENT, '');
  const script = `(${source.trim()})();`;
  const hash = createHash('sha256').update(script).digest('base64');
  // Nothing from the network; no script but ours (an injected one, or an inline handler, would not run).
  const csp = `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; img-src data:`;
  return (page = { script, csp });
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function renderHtml(report: Report): string {
  const title = `keepalive-lab ${report.command}`;
  const { script, csp } = pageScript();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)}, ${escapeHtml(report.createdAt)}</p>
${summaryTable(report.runs)}
${TIMELINE}
${CONNECTION_TABLE}
${report.runs.map(runSection).join('\n')}
<div id="kal-tooltip" role="tooltip" hidden></div>
<script type="application/json" id="kal-data">${embedJson(pageData(report))}</script>
<script>${script}</script>
</body>
</html>
`;
}

const TIMELINE = `<section>
<h2>Timeline</h2>
<p class="legend">One lane per connection, every run from its own start on one time scale.
<span class="key syn"></span>SYN <span class="key bar"></span>request to response end (red 5xx, amber 4xx)
<span class="key fin-c"></span>client FIN <span class="key fin-s"></span>server FIN
<span class="key rst">x</span>RST; idle gap against the server's idle timeout:
<span class="key gap-ok"></span>&lt;50% <span class="key gap-near"></span>&lt;90%
<span class="key gap-over"></span>&ge;90% <span class="key tw"></span>TIME_WAIT (top: client, bottom: server)
<span class="key mark"></span>finding. Wheel: zoom; shift+wheel: scroll lanes; drag: pan.
<button id="kal-reset" type="button">reset view</button></p>
<div class="timeline"><canvas id="kal-timeline"></canvas></div>
<noscript><p>The timeline and the connection table need JavaScript.</p></noscript>
</section>`;

const CONNECTION_TABLE = `<section>
<h2>Connections</h2>
<p><input id="kal-filter" type="search" placeholder="filter: address, port, path, status, finding" size="48">
<span id="kal-table-count"></span> (click a column to sort, a row to find it on the timeline)</p>
<div class="conn-table"><div id="kal-table-head" class="row head"></div>
<div id="kal-table-scroll"><div id="kal-table-spacer"></div><div id="kal-table-body"></div></div></div>
</section>`;

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
${cards(run)}
${observerTable(run.observers)}
${notes.length > 0 ? `<ul>${notes.join('')}</ul>` : ''}
${findingsSection(run, index)}
${processSection(run, index)}
</section>`;
}

/** The run's figures at a glance, from its primary observer. */
function cards(run: RunReport): string {
  const f = runSummary(run);
  const t = f.primary?.totals;
  const tls = t?.tls;
  const reuse =
    f.reusedRequests !== null && f.requests > 0 ? `${Math.round((100 * f.reusedRequests) / f.requests)}%` : '-';
  const tlsText = tls ? `, TLS ${tls.fullHandshakes} full / ${tls.resumedHandshakes} resumed` : '';
  const handshakes = `${f.syns ?? '-'} TCP${tlsText}`;
  const items: [string, string][] = [
    ['connections', `${f.lowerBounds ? AT_LEAST : ''}${f.connections ?? '-'}`],
    ['requests', requestsText(f)],
    ['requests per connection', requestsPerConnectionText(f, (n) => formatNumber(n))],
    ['reuse share', f.requestsUnknownOn > 0 ? '?' : reuse],
    ['handshakes', handshakes],
    ['resets', t ? `${t.resets} (client ${t.resetsBy.client}, server ${t.resetsBy.server})` : '-'],
  ];
  const html = items.map(
    ([k, v]) => `<div class="card"><div class="value">${escapeHtml(v)}</div><div>${k}</div></div>`,
  );
  return `<div class="cards">${html.join('')}</div>`;
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

/**
 * The run's `process` (a lab run of node:http or fetch, a watched Node command): per origin what the
 * process counted, then its own findings (the unread body's call site...).
 */
function processSection(run: RunReport, runIndex: number): string {
  const p = run.process;
  if (p === undefined) return '';
  const counts = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, n]) => `${escapeHtml(k)} ${n}`)
      .join(', ') || '-';
  const rows = p.origins.map((o) => {
    const share = o.reuseShare === null ? '-' : `${Math.round(o.reuseShare * 100)}%`;
    const ttfb = o.ttfbMs === null ? '-' : `${formatNumber(o.ttfbMs.mean, 2)} / ${formatNumber(o.ttfbMs.max, 2)}`;
    const numbers = [o.requests, `${o.reusedRequests} (${share})`, o.connectionsOpened, o.connectionsOpen];
    const texts = [counts(o.closeReasons), counts(o.errors)].map((t) => `<td class="text">${t}</td>`).join('');
    const hint = o.keepAliveHintS === null ? '-' : `${o.keepAliveHintS} s`;
    return `<tr><td class="text">${escapeHtml(o.origin)}</td>${cells(numbers)}${texts}${cells([ttfb, hint])}</tr>`;
  });
  const head = ['origin', 'requests', 'reused', 'connections', 'open', 'closed', 'errors', 'TTFB mean / max ms'];
  const missing =
    p.missingChannels.length > 0
      ? `<p class="warn">not measured: Node ${escapeHtml(p.node)} lacks ${escapeHtml(p.missingChannels.join(', '))}</p>`
      : '';
  const t0 = firstStart(run);
  const findings = (p.findings ?? []).map((f, i) => findingHtml(f, `run-${runIndex + 1}-process-finding-${i + 1}`, t0));
  return `<h3>Seen by the ${escapeHtml(processSeenBy(p))}</h3>
${table([...head, 'Keep-Alive hint'], rows)}
${missing}${findings.join('\n')}`;
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

/** Numeric cells of a table row (values are numbers or text already escaped). */
function cells(values: readonly (string | number)[]): string {
  return values.map((v) => `<td>${v}</td>`).join('');
}

function table(head: readonly string[], rows: readonly string[]): string {
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>\n${rows.join('\n')}</table>`;
}
