import { buildReport } from '../analyze/run-report.js';
import { evaluateExpectations, hasExpectations } from '../analyze/expect.js';
import type { ExpectationResult, Expectations } from '../analyze/expect.js';
import { primaryObserver } from '../analyze/verdict.js';
import { UsageError } from '../errors.js';
import { watch } from '../lab/watch.js';
import type { WatchOptions } from '../lab/watch.js';
import { renderJson } from '../report/json.js';
import { renderTerminal } from '../report/terminal.js';
import { decimal, flag, int, oneOf, optionalValue, parse, port, seconds, str } from './args.js';
import type { Command } from './command.js';
import { ProgressLine } from './progress.js';
import { plural } from '../util/text.js';
import {
  checkOutputs,
  TERMINAL_OPTIONS,
  TERMINAL_USAGE,
  terminalOptions,
  writeFileOrFail,
  writeHtmlReport,
} from './output.js';

export const EXPECT_USAGE = `CI assertions (exit code 1 and a message naming the evidence when one fails; exit code 3,
neither met nor failed, when packets were lost and the counts are incomplete, or when none failed and
one cannot be checked: requests per connection over TLS without the keys):
  --expect-max-connections N             at most N TCP connections
  --expect-min-requests-per-connection X at least X requests per connection on average
  --expect-no-resets                     no connection ended with a RST
  --expect-closed-by client|server       every connection closed first by that side`;

/**
 * The exit code of a run whose expectations could not be checked (its evidence is incomplete), or
 * that failed none and could not check some (requests over TLS without the keys).
 */
export const EXIT_INCONCLUSIVE = 3;

/** How often the progress line of a watch without a command is redrawn. */
const WATCH_PROGRESS_MS = 250;

export const EXPECT_OPTIONS = {
  'expect-max-connections': { type: 'string' },
  'expect-min-requests-per-connection': { type: 'string' },
  'expect-no-resets': { type: 'boolean' },
  'expect-closed-by': { type: 'string' },
} as const;

export const watchCommand: Command = {
  name: 'watch',
  // Ctrl-C stops watching and reports (a second one, or SIGTERM, ends at once).
  stopsOn: ['SIGINT'],
  usage: `Usage: keepalive-lab watch --port P [options] [-- COMMAND [ARGS...]]

Starts the observers for TCP traffic to port P (packet capture where permitted, the kernel's socket
table always), runs COMMAND, and when it exits prints each connection and a verdict, as analyze
does. The command's output passes through untouched and its exit code is kept. Without a command,
observes until Ctrl-C or --duration.
HTTPS: the command runs with SSLKEYLOGFILE (curl, browsers, Python) and NODE_OPTIONS=--tls-keylog
(Node) set to a private key log (mode 0600, removed at the end): its TLS connections are decrypted
and their requests counted; the report says which connections could not be and why.
Node: the command's Node processes (children too) load register through NODE_OPTIONS=--import and
report what they counted themselves: a fourth observer, 'process', that must agree with the wire
(unavailable, with the reason, for a command that is not Node.js; --no-register for a Node.js older
than 18.19 or 20.6, which refuses --import).

  --port P              the server port to watch (required)
  --host H              only traffic to/from this server address
  --interface IF        capture interface (default: lo for a loopback --host, else any)
  --duration S          stop after S seconds, e.g. 30 or 0.5 (without a command: how long to watch)
  --no-capture          socket table only (no tcpdump)
  --tcpdump PATH        tcpdump binary to use
  --keylog FILE         use this TLS key log instead (the command writes there too; kept afterwards)
  --no-keylog           no key log: TLS stays encrypted
  --no-register         no 'process' observer: the command's Node processes do not load register
  --json [FILE]         the report as JSON: into FILE; without one on stdout, and then the command's
                        stdout goes to stderr, so that stdout is only the JSON
  --html FILE           also write an HTML report with a timeline of the connections
  --limit N             at most N connections in the table (default 50; 0 for all)
  --explain             with each finding, the reasoning and the evidence behind it
${TERMINAL_USAGE}
  -h, --help            this help
${EXPECT_USAGE}

Examples:
  keepalive-lab watch --port 8080 --expect-max-connections 1 -- curl -s localhost:8080/a localhost:8080/b
  keepalive-lab watch --port 5432 --duration 30`,
  async run(argv, io, interrupt) {
    const dash = argv.indexOf('--');
    const own = dash >= 0 ? argv.slice(0, dash) : argv;
    const command = dash >= 0 ? argv.slice(dash + 1) : [];
    const p = parse(optionalValue(own, 'json'), {
      port: { type: 'string' },
      host: { type: 'string' },
      interface: { type: 'string' },
      duration: { type: 'string' },
      'no-capture': { type: 'boolean' },
      tcpdump: { type: 'string' },
      keylog: { type: 'string' },
      'no-keylog': { type: 'boolean' },
      'no-register': { type: 'boolean' },
      json: { type: 'string' },
      html: { type: 'string' },
      limit: { type: 'string' },
      explain: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...TERMINAL_OPTIONS,
      ...EXPECT_OPTIONS,
    });
    if (flag(p, 'help')) {
      io.stdout.write(watchCommand.usage + '\n');
      return 0;
    }
    const portValue = port(p);
    if (portValue === undefined) throw new UsageError('--port is required');
    if (dash >= 0 && command.length === 0) throw new UsageError("nothing after '--': give the command to run");
    const expectations = parseExpectations(p);
    const limit = int(p, 'limit', 0) ?? 50;
    const progress = new ProgressLine(io.stderr);
    let timer: NodeJS.Timeout | undefined;
    const options: WatchOptions = {
      port: portValue,
      capture: !flag(p, 'no-capture'),
      signal: interrupt.stop,
      forceSignal: interrupt.abort,
    };
    const host = str(p, 'host');
    if (host !== undefined) options.host = host;
    const iface = str(p, 'interface');
    if (iface !== undefined) options.interface = iface;
    const tcpdump = str(p, 'tcpdump');
    if (tcpdump !== undefined) options.tcpdump = tcpdump;
    if (str(p, 'html') !== undefined) options.exchanges = true;
    const keylog = str(p, 'keylog');
    if (keylog !== undefined && flag(p, 'no-keylog')) throw new UsageError('--keylog and --no-keylog: give one');
    options.keylog = keylog ?? !flag(p, 'no-keylog');
    if (flag(p, 'no-register')) options.register = false;
    const duration = seconds(p, 'duration');
    if (duration !== undefined) options.durationMs = duration;
    // --json without a file: stdout is the report's alone.
    const jsonFile = str(p, 'json');
    if (jsonFile === '') options.commandStdout = 'stderr';
    if (command.length > 0) options.command = command;
    else if (io.stderr.isTTY) {
      // Without a command (its output would share the terminal with it): the connections so far.
      options.onReady = (watching) => {
        if (duration === undefined) io.stderr.write(`watching tcp port ${portValue}; Ctrl-C to stop and report\n`);
        timer = setInterval(() => {
          const n = watching.connections();
          progress.update(
            `watch: tcp port ${portValue}, ${n === null ? '? (no capture)' : plural(n, 'connection')} so far`,
          );
        }, WATCH_PROGRESS_MS);
        timer.unref();
      };
    }
    await checkOutputs(p);
    let result: Awaited<ReturnType<typeof watch>>;
    try {
      result = await watch(options);
    } finally {
      clearInterval(timer);
      progress.done();
    }
    // Ended at once (a second Ctrl-C, SIGTERM): no report, as before the library took signals.
    if (interrupt.abort.aborted) return 1;
    const report = buildReport('watch', [result.run]);
    io.stdout.write(
      jsonFile === ''
        ? renderJson(report)
        : renderTerminal(report, {
            ...terminalOptions(io, p),
            connections: true,
            totals: true,
            limit,
            explain: flag(p, 'explain'),
          }),
    );
    if (jsonFile !== undefined && jsonFile !== '') await writeFileOrFail(jsonFile, renderJson(report));
    await writeHtmlReport(p, report);
    const checked = hasExpectations(expectations) ? expectationResult(expectations, result.run.observers) : null;
    const what = checked?.outcome === 'inconclusive' ? 'expectations' : 'expectation failed';
    for (const m of checked?.messages ?? []) io.stderr.write(`keepalive-lab watch: ${what}: ${m}\n`);
    for (const m of checked?.notChecked ?? []) io.stderr.write(`keepalive-lab watch: expectations: ${m}\n`);
    if (result.exitCode !== null && result.exitCode !== 0) return result.exitCode;
    if (result.exitSignal !== null) return 128 + signalNumber(result.exitSignal);
    if (checked?.outcome === 'inconclusive') return EXIT_INCONCLUSIVE;
    return checked?.outcome === 'failed' ? 1 : 0;
  },
};

export function parseExpectations(p: ReturnType<typeof parse>): Expectations {
  const e: Expectations = {};
  const max = int(p, 'expect-max-connections', 0);
  if (max !== undefined) e.maxConnections = max;
  const min = decimal(p, 'expect-min-requests-per-connection', 0);
  if (min !== undefined) e.minRequestsPerConnection = min;
  if (flag(p, 'expect-no-resets')) e.noResets = true;
  const closedBy = oneOf(p, 'expect-closed-by', ['client', 'server'] as const);
  if (closedBy !== undefined) e.closedBy = closedBy;
  return e;
}

/** Expectations are checked against the best available observer (the wire; else the socket table). */
export function expectationResult(
  e: Expectations,
  observers: Parameters<typeof primaryObserver>[0],
): ExpectationResult {
  const o = primaryObserver(observers);
  if (o === undefined) return { outcome: 'failed', messages: ['no observer could run: nothing to check'] };
  return evaluateExpectations(e, o);
}

function signalNumber(signal: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return table[signal] ?? 0;
}
