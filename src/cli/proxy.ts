import { reportHead } from '../analyze/run-report.js';
import { UsageError } from '../errors.js';
import { proxyRunHead, runProxy } from '../lab/proxy.js';
import type { RunningProxy } from '../lab/proxy.js';
import { formatEndpoint, formatHostPort, parseHostPort } from '../model/endpoint.js';
import type { Report } from '../model/report.js';
import { DEFAULT_GRACE_MS, PROXY_HEAD } from '../observe/proxy.js';
import type { ProxyProgress } from '../observe/proxy.js';
import { MAX_TIMELINE_CONNECTIONS } from '../report/html/limits.js';
import { renderTerminal } from '../report/terminal.js';
import { plural } from '../util/text.js';
import { flag, int, parse, seconds, str } from './args.js';
import type { Command, Io } from './command.js';
import { checkOutputs, TERMINAL_OPTIONS, TERMINAL_USAGE, terminalOptions, writeHtmlReport } from './output.js';
import { ProgressLine } from './progress.js';
import { StreamedJson } from './streamed-json.js';

const DEFAULT_LISTEN = '127.0.0.1:9000';
/** The live line on stderr is redrawn at most this often. */
const PROGRESS_INTERVAL_MS = 250;
/** Connection rows of the terminal report: the most recent ones. */
const TERMINAL_ROWS = 50;
/** --json: records that have gathered are written at least this often. */
const JSON_WRITE_INTERVAL_MS = 1000;

export const proxy: Command = {
  name: 'proxy',
  stopsOn: ['SIGINT', 'SIGTERM'],
  flags: {
    listenHost: '--listen',
    listenPort: '--listen',
    targetHost: '--target',
    targetPort: '--target',
    metrics: '--metrics',
  },
  usage: `Usage: keepalive-lab proxy --target HOST:PORT [--listen [HOST:]PORT] [--duration S] [--json] [--html FILE]
                           [--metrics [HOST:]PORT]

Forwards every TCP connection made to the listen address to the target, byte for byte, and counts
per client connection: HTTP/1.x requests and responses, status codes, bytes each way, duration,
who closed first, resets. Point any client at the listen address instead of the server; no root
needed. Stops on Ctrl-C, SIGTERM or after --duration, then prints the report.

Options:
  --target HOST:PORT     the server to forward to (required), e.g. 127.0.0.1:8080, [::1]:8080
  --listen [HOST:]PORT   where to listen (default ${DEFAULT_LISTEN}); loopback unless you name
                         another address, e.g. 0.0.0.0:9000; port 0 picks a free port
  --duration S           stop after S seconds (e.g. 30 or 0.5)
  --grace MS             at stop, time left to requests in flight (default ${DEFAULT_GRACE_MS})
  --json                 print the report as JSON (schema: docs/report-schema.md), each connection
                         written as it closes
  --html FILE            also write an HTML report with a timeline of the connections
  --explain              with each finding, the reasoning and the evidence behind it
  --metrics [HOST:]PORT  serve OpenTelemetry metrics for Prometheus at http://HOST:PORT/metrics while
                         the proxy runs (host default 127.0.0.1; names: docs/metrics.md)
${TERMINAL_USAGE}
  -h, --help             this help

On a terminal, a live line on stderr shows connections, requests and requests per connection.
The report shows the last ${TERMINAL_ROWS} connections (the HTML timeline the last ${MAX_TIMELINE_CONNECTIONS});
totals count all of them, and --json has every one: memory follows the open connections, not the total.

Example: keepalive-lab proxy --listen 127.0.0.1:9000 --target 127.0.0.1:8080
         then: curl -s http://127.0.0.1:9000/ http://127.0.0.1:9000/ (one connection, 2 requests)`,
  async run(argv, io, interrupt) {
    const p = parse(argv, {
      target: { type: 'string' },
      listen: { type: 'string' },
      duration: { type: 'string' },
      grace: { type: 'string' },
      json: { type: 'boolean' },
      html: { type: 'string' },
      explain: { type: 'boolean' },
      metrics: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...TERMINAL_OPTIONS,
    });
    if (flag(p, 'help')) {
      io.stdout.write(proxy.usage + '\n');
      return 0;
    }
    const targetText = str(p, 'target');
    if (targetText === undefined) throw new UsageError('--target HOST:PORT is required');
    const target = parseHostPort(targetText, { option: 'target' });
    const listen = parseHostPort(str(p, 'listen') ?? DEFAULT_LISTEN, {
      option: 'listen',
      allowPortZero: true,
      defaultHost: '127.0.0.1',
    });
    const metricsText = str(p, 'metrics');
    const metrics =
      metricsText === undefined
        ? undefined
        : parseHostPort(metricsText, { option: 'metrics', allowPortZero: true, defaultHost: '127.0.0.1' });
    const durationMs = seconds(p, 'duration') ?? null;
    const graceMs = int(p, 'grace', 0, 600_000) ?? DEFAULT_GRACE_MS;
    const json = flag(p, 'json');
    const html = str(p, 'html') !== undefined;
    await checkOutputs(p);

    // Only the records shown are kept (the table's rows, the HTML timeline's bars): --json writes
    // every record as its connection closes, so memory does not grow with the connections made.
    const keepConnections = Math.max(json ? 0 : TERMINAL_ROWS, html ? MAX_TIMELINE_CONNECTIONS : 0);
    const head = reportHead('proxy');
    let streamed: StreamedJson | null = null;
    let jsonTimer: NodeJS.Timeout | undefined;

    // Ctrl-C is the normal way to stop: report and exit 0. SIGTERM stops and reports too (exit 143);
    // a second signal cuts the grace for requests in flight short, and the report still follows.
    let stopProgress: () => void = () => undefined;
    const run = await runProxy({
      listenHost: listen.host,
      listenPort: listen.port,
      targetHost: target.host,
      targetPort: target.port,
      graceMs,
      ...(durationMs !== null ? { durationMs } : {}),
      signal: interrupt.stop,
      forceSignal: interrupt.abort,
      keepConnections,
      ...(metrics === undefined ? {} : { metrics }),
      exchanges: html,
      ...(json ? { onConnection: (record) => streamed?.record(record) } : {}),
      onListening: (running) => {
        if (json) {
          const runHead = proxyRunHead(running.address, target.host, target.port);
          streamed = new StreamedJson(io.stdout, { report: head, run: runHead, observer: PROXY_HEAD }, interrupt.abort);
          jsonTimer = setInterval(() => streamed?.writePending(), JSON_WRITE_INTERVAL_MS);
          jsonTimer.unref();
        }
        io.stderr.write(
          `keepalive-lab proxy: listening on ${formatEndpoint(running.address)}, ` +
            `forwarding to ${formatHostPort(target.host, target.port)}` +
            `${running.metricsUrl === null ? '' : `, metrics at ${running.metricsUrl}`}` +
            `${durationMs === null ? ' (Ctrl-C to stop)' : ''}\n`,
        );
        if (io.stderr.isTTY) stopProgress = startProgress(running, io);
      },
    });
    stopProgress();
    clearInterval(jsonTimer);
    // With the creation time the JSON head already gave.
    const report: Report = { ...head, runs: [run] };
    // A second Ctrl-C (interrupt.abort) cuts the grace short, and the report still follows.
    if (streamed !== null) (streamed as StreamedJson).writeEnd(run);
    else
      io.stdout.write(
        renderTerminal(report, {
          ...terminalOptions(io, p),
          connections: true,
          limit: TERMINAL_ROWS,
          explain: flag(p, 'explain'),
        }),
      );
    await writeHtmlReport(p, report);
    return 0;
  },
};

/** Redraws one status line on stderr when the counts change; returns the function that clears it. */
function startProgress(engine: RunningProxy, io: Io): () => void {
  // A proxy runs until stopped: its line shows from the start.
  const line = new ProgressLine(io.stderr, { delayMs: 0 });
  const timer = setInterval(() => line.update(progressLine(engine.progress())), PROGRESS_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    line.done();
  };
}

export function progressLine(p: ProxyProgress): string {
  const perConnection = p.connections > 0 ? (p.requests / p.connections).toFixed(1) : '-';
  return (
    `proxy: ${plural(p.connections, 'connection')} (${p.open} open), ` +
    `${plural(p.requests, 'request')}, ${perConnection} requests/connection`
  );
}
