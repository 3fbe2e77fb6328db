import { buildReport } from '../analyze/report.js';
import { UsageError } from '../errors.js';
import type { Endpoint } from '../model/report.js';
import { analyzeCapture } from '../observe/capture-file.js';
import type { AnalyzeFocus } from '../observe/capture-file.js';
import { renderJson } from '../report/json.js';
import { renderTerminal } from '../report/terminal.js';
import { flag, int, parse, port, str } from './args.js';
import type { Command } from './command.js';
import { useColor } from './command.js';

export const analyze: Command = {
  name: 'analyze',
  summary: 'explain a pcap/pcapng capture connection by connection (- reads stdin)',
  usage: `Usage: keepalive-lab analyze FILE|- [options]

Reads a capture taken anywhere (tcpdump on Linux or macOS, Wireshark, tshark; pcap or pcapng) and
prints each TCP connection: client and server, handshake RTT, HTTP/1.x requests and status codes,
idle gaps, who closed first (and so holds TIME_WAIT), resets; then totals and a verdict.
HTTP is recognised by content, on any port.

  --port P              only connections with P as a port on either side
  --server HOST:PORT    only connections to this server ([::1]:8080 for IPv6)
  --no-http             do not frame HTTP (TCP only)
  --limit N             at most N connections in the table (default 50; 0 for all)
  --json                print the report as JSON (schema: docs/report-schema.md)
  -h, --help            this help

Example: tcpdump -i lo -w - 'tcp port 8080' | keepalive-lab analyze -`,
  async run(argv, io) {
    const p = parse(
      argv,
      { port: { type: 'string' }, server: { type: 'string' }, 'no-http': { type: 'boolean' }, limit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      true,
    );
    if (flag(p, 'help')) {
      io.stdout.write(analyze.usage + '\n');
      return 0;
    }
    if (p.positionals.length !== 1) throw new UsageError(p.positionals.length === 0 ? 'give a capture file, or - for standard input' : `one capture at a time, got ${p.positionals.length}`);
    const path = p.positionals[0]!;
    const focus: AnalyzeFocus = { http: !flag(p, 'no-http') };
    const portValue = port(p);
    if (portValue !== undefined) focus.port = portValue;
    const serverText = str(p, 'server');
    if (serverText !== undefined) focus.server = parseHostPort(serverText, '--server');
    const limit = int(p, 'limit', 0) ?? 50;
    const run = await analyzeCapture(path, focus, path === '-' ? process.stdin : undefined);
    const report = buildReport('analyze', [run]);
    io.stdout.write(flag(p, 'json') ? renderJson(report) : renderTerminal(report, { color: useColor(io), connections: true, totals: true, limit }));
    return 0;
  },
};

/** "127.0.0.1:8080", "[::1]:8080", "localhost:80" -> Endpoint. */
export function parseHostPort(text: string, what: string): Endpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const n = m ? Number(m[2]) : NaN;
  if (!m || !(n >= 1 && n <= 65535)) throw new UsageError(`${what} must be HOST:PORT (or [IPv6]:PORT), got '${text}'`);
  const host = m[1]!;
  return { address: host === 'localhost' ? '127.0.0.1' : host.toLowerCase(), port: n };
}
