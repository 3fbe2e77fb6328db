import { reportHead } from '../analyze/run-report.js';
import { UsageError } from '../errors.js';
import { parseEndpoint } from '../model/endpoint.js';
import type { Report } from '../model/report.js';
import { WIRE_HEAD, analyzeCapture, analyzeRunHead } from '../observe/capture-file.js';
import type { AnalyzeOptions } from '../observe/capture-file.js';
import { MAX_BARS } from '../report/html.js';
import type { StreamHead } from '../report/json-stream.js';
import { renderTerminal } from '../report/terminal.js';
import { flag, int, parse, port, str } from './args.js';
import type { Command } from './command.js';
import { useColor } from './command.js';
import { checkOutputs, writeHtmlReport } from './output.js';
import { StreamedJson } from './streamed-json.js';

export const analyze: Command = {
  name: 'analyze',
  usage: `Usage: keepalive-lab analyze FILE|- [options]

Reads a capture taken anywhere (tcpdump on Linux or macOS, Wireshark, tshark; pcap or pcapng) and
prints each TCP connection: client and server, handshake RTT, HTTP/1.x requests and status codes,
idle gaps, who closed first (and so holds TIME_WAIT), resets; then totals, a verdict, and findings:
named causes (a keep-alive race, an idle reset, a body not read, an idle pool too small, who asked
to close) with their evidence and the fix per client runtime.
HTTP and TLS are recognised by content, on any port. Of TLS, without its keys: the version, SNI,
ALPN, a full or resumed handshake and its time; requests inside are not counted (an estimate of the
request/response exchanges is shown apart, named as one).

  --port P              only connections with P as a port on either side
  --server HOST:PORT    only connections to this server ([::1]:8080 for IPv6)
  --no-http             do not frame HTTP (TCP only)
  --limit N             at most N connections in the table (default 50; 0 for all)
  --json                print the report as JSON (schema: docs/report-schema.md)
  --html FILE           also write an HTML report with a timeline of the connections
  --explain             with each finding, the reasoning and the evidence behind it
  -h, --help            this help

Example: tcpdump -i lo -w - 'tcp port 8080' | keepalive-lab analyze -`,
  async run(argv, io, interrupt) {
    const p = parse(
      argv,
      {
        port: { type: 'string' },
        server: { type: 'string' },
        'no-http': { type: 'boolean' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        html: { type: 'string' },
        explain: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
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
          : `one capture at a time, got ${p.positionals.length}`,
      );
    const path = p.positionals[0]!;
    const options: AnalyzeOptions = { http: !flag(p, 'no-http'), signal: interrupt.abort };
    const portValue = port(p);
    if (portValue !== undefined) options.port = portValue;
    const serverText = str(p, 'server');
    if (serverText !== undefined) options.server = parseEndpoint(serverText, { option: 'server' });
    const limit = int(p, 'limit', 0) ?? 50;
    const json = flag(p, 'json');
    // Only the records shown are kept (memory follows the connections open at once, not the
    // capture's size): the table's rows, the HTML timeline's bars; --json writes them as they come.
    let keep = json ? 0 : limit === 0 ? Infinity : limit;
    if (str(p, 'html') !== undefined) keep = Math.max(keep, MAX_BARS);
    options.keepConnections = keep;
    await checkOutputs(p);
    const head: StreamHead = { report: reportHead('analyze'), run: analyzeRunHead(path), observer: WIRE_HEAD };
    const streamed = json ? new StreamedJson(io.stdout, head, interrupt.abort) : null;
    if (streamed) {
      options.onConnection = (record) => streamed.record(record);
      options.afterChunk = () => streamed.flush();
    }
    const run = await analyzeCapture(path === '-' ? process.stdin : path, options);
    // With the creation time the JSON head already gave.
    const report: Report = { ...head.report, runs: [run] };
    if (streamed) await streamed.end(run);
    else
      io.stdout.write(
        renderTerminal(report, {
          color: useColor(io),
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
