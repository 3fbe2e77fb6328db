import { stat } from 'node:fs/promises';
import { reportHead } from '../analyze/run-report.js';
import { UsageError } from '../errors.js';
import { parseEndpoint } from '../model/endpoint.js';
import { LINUX_DEFAULT_PORTS } from '../model/host.js';
import type { HostFacts, TwReuse } from '../model/host.js';
import type { Report, RunReport } from '../model/report.js';
import { readHostFacts } from '../observe/host-facts.js';
import { WIRE_HEAD, analyzeCapture, analyzeRunHead } from '../observe/capture-file.js';
import type { AnalyzeOptions } from '../observe/capture-file.js';
import { MAX_TIMELINE_CONNECTIONS } from '../report/html/limits.js';
import type { StreamHead } from '../report/json-stream.js';
import { renderTerminal } from '../report/terminal.js';
import { flag, int, parse, port, portRange, str } from './args.js';
import type { Parsed } from './args.js';
import type { Command } from './command.js';
import { checkOutputs, TERMINAL_OPTIONS, TERMINAL_USAGE, terminalOptions, writeHtmlReport } from './output.js';
import { ProgressLine } from './progress.js';
import { StreamedJson } from './streamed-json.js';

export const analyze: Command = {
  name: 'analyze',
  usage: `Usage: keepalive-lab analyze FILE|- [options]

Reads a capture taken anywhere (tcpdump on Linux or macOS, Wireshark, tshark; pcap or pcapng) and
prints each TCP connection: client and server, handshake RTT, HTTP/1.x requests and status codes,
idle gaps, who closed first (and so holds TIME_WAIT), resets; then totals, a verdict, and findings:
named causes (a keep-alive race, an idle reset, a body not read, an idle pool too small, who asked
to close, idle timeouts out of order along a path, the outlook of a client's ephemeral ports, a
new TLS handshake per request) with their evidence and the fix per runtime.
HTTP/1.x, HTTP/2 and TLS are recognised by content, on any port. Of TLS, without its keys: the
version, SNI, ALPN, a full or resumed handshake and its time; requests inside are not counted (an
estimate of the request/response exchanges is shown apart, named as one). With --keylog, TLS 1.2
(ECDHE, AES-GCM or ChaCha20) and TLS 1.3 are decrypted and their HTTP/1.x or HTTP/2 counted.

  --port P              only connections with P as a port on either side
  --server HOST:PORT    only connections to this server ([::1]:8080 for IPv6)
  --path HOST:PORT,HOST:PORT[,...]
                        the hops of one path, client-facing first (a load balancer, then its
                        backend): only connections to them, and whether each hop's client gives up
                        idle connections before its server does (finding idle-timeout-order). The
                        capture must hold every hop (tcpdump -i any, or -i lo on one machine); merge
                        captures taken apart first: mergecap -w both.pcapng lb.pcap backend.pcap
  --keylog FILE         the TLS key log of the programs captured (NSS format: SSLKEYLOGFILE, Node's
                        --tls-keylog; see README, HTTPS): TLS connections are decrypted; the report
                        says per connection whether, and why not
  --no-http             do not frame HTTP (TCP only)
  --limit N             at most N connections in the table (default 50; 0 for all)
  --json                print the report as JSON (schema: docs/report-schema.md)
  --html FILE           also write an HTML report with a timeline of the connections
  --explain             with each finding, the reasoning and the evidence behind it
  --port-range LO-HI    the clients' net.ipv4.ip_local_port_range, for the port outlook; without it and
                        --tw-reuse: this machine's for a client that is this machine, Linux's defaults
                        (32768-60999, tcp_tw_reuse 2) for others, and the finding says it assumed them
  --tw-reuse 0|1|2      the clients' net.ipv4.tcp_tw_reuse (Linux's 2 when only --port-range is given)
${TERMINAL_USAGE}
  -h, --help            this help

Example: tcpdump -i lo -w - 'tcp port 8080' | keepalive-lab analyze -`,
  async run(argv, io, interrupt) {
    const p = parse(
      argv,
      {
        port: { type: 'string' },
        server: { type: 'string' },
        path: { type: 'string' },
        'no-http': { type: 'boolean' },
        keylog: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        explain: { type: 'boolean' },
        'port-range': { type: 'string' },
        'tw-reuse': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...TERMINAL_OPTIONS,
      },
      true,
    );
    if (flag(p, 'help')) {
      io.stdout.write(analyze.usage + '\n');
      return 0;
    }
    if (p.positionals.length !== 1)
      throw new UsageError(
        p.positionals.length === 0
          ? 'give a capture file, or - for standard input'
          : `one capture at a time, got ${p.positionals.length} (merge them first: mergecap -w both.pcapng A B)`,
      );
    const path = p.positionals[0]!;
    const options: AnalyzeOptions = { http: !flag(p, 'no-http'), signal: interrupt.abort };
    const portValue = port(p);
    if (portValue !== undefined) options.port = portValue;
    const serverText = str(p, 'server');
    if (serverText !== undefined) options.server = parseEndpoint(serverText, { option: 'server' });
    const pathText = str(p, 'path');
    if (pathText !== undefined && (portValue !== undefined || serverText !== undefined))
      throw new UsageError('--path keeps the connections to its hops: not with --port or --server');
    if (pathText !== undefined) options.path = pathText.split(',').map((hop) => parseEndpoint(hop, { option: 'path' }));
    const keylog = str(p, 'keylog');
    if (keylog !== undefined) options.keylog = keylog;
    options.hostFacts = await hostFactsFor(p);
    const limit = int(p, 'limit', 0) ?? 50;
    const json = flag(p, 'json');
    // Only the records shown are kept (memory follows the connections open at once, not the
    // capture's size): the table's rows, the HTML timeline's bars; --json writes them as they come.
    let keep = json ? 0 : limit === 0 ? Infinity : limit;
    if (str(p, 'html') !== undefined) {
      keep = Math.max(keep, MAX_TIMELINE_CONNECTIONS);
      options.exchanges = true;
    }
    options.keepConnections = keep;
    await checkOutputs(p);
    const head: StreamHead = { report: reportHead('analyze'), run: analyzeRunHead(path), observer: WIRE_HEAD };
    const streamed = json ? new StreamedJson(io.stdout, head, interrupt.abort) : null;
    if (streamed) options.onConnection = (record) => streamed.record(record);
    // On a terminal, a large capture shows how far the reading is (stderr; nothing on a pipe).
    const progress = new ProgressLine(io.stderr);
    const size =
      path === '-'
        ? null
        : await stat(path).then(
            (s) => (s.isFile() ? s.size : null),
            () => null,
          );
    options.afterChunk = (bytesRead) => {
      if (bytesRead !== undefined) progress.update(readProgress(bytesRead, size));
      return streamed?.flush();
    };
    let run: RunReport;
    try {
      run = await analyzeCapture(path === '-' ? process.stdin : path, options);
    } finally {
      progress.done();
    }
    // With the creation time the JSON head already gave.
    const report: Report = { ...head.report, runs: [run] };
    if (streamed) await streamed.end(run);
    else
      io.stdout.write(
        renderTerminal(report, {
          ...terminalOptions(io, p),
          connections: true,
          totals: true,
          limit,
          explain: flag(p, 'explain'),
        }),
      );
    await writeHtmlReport(p, report);
    return 0;
  },
};

/** "analyze: 120.0 of 512.0 MB read (23%)", or without a size (standard input) "analyze: 120.0 MB read". */
export function readProgress(bytesRead: number, size: number | null): string {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  if (size === null || size === 0) return `analyze: ${mb(bytesRead)} MB read`;
  return `analyze: ${mb(bytesRead)} of ${mb(size)} MB read (${Math.floor((bytesRead / size) * 100)}%)`;
}

/**
 * This machine's facts (a capture's client may be this machine), and the settings the flags give for
 * the capture's clients, whatever their address; a setting not given is Linux's default.
 */
async function hostFactsFor(p: Parsed): Promise<HostFacts> {
  const facts = await readHostFacts();
  const range = portRange(p, 'port-range');
  const reuse = int(p, 'tw-reuse', 0, 2) as TwReuse | undefined;
  if (range === undefined && reuse === undefined) return facts;
  const defaults = LINUX_DEFAULT_PORTS;
  facts.clientPorts = {
    portRange: range ?? { ...defaults.portRange },
    twReuse: reuse ?? defaults.twReuse,
    twReuseDelayMs: defaults.twReuseDelayMs,
    source: { portRange: range ? 'given' : 'default', twReuse: reuse !== undefined ? 'given' : 'default' },
  };
  return facts;
}
