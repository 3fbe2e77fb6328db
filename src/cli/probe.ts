import { reportHead } from '../analyze/run-report.js';
import { UsageError } from '../errors.js';
import {
  CEILING_CONNECTIONS,
  CEILING_REQUESTS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_IDLE_MS,
  DEFAULT_MAX_REQUESTS,
  DEFAULT_PRECISION_MS,
  DEFAULT_TIMEOUT_MS,
  QUICK_MAX_IDLE_MS,
  USER_AGENT,
  probe as runProbe,
  type ProbeProgress,
} from '../lab/probe/index.js';
import type { Report } from '../model/report.js';
import { renderProbe } from '../report/probe.js';
import { flag, int, parse, seconds } from './args.js';
import type { Command, Io } from './command.js';
import { useColor } from './command.js';
import { ProgressLine } from './progress.js';

/** The longest --max-idle: an hour (a server keeping idle connections longer is not the race this finds). */
const MAX_IDLE_CEILING_S = 3600;

export const probe: Command = {
  name: 'probe',
  flags: { maxIdleMs: '--max-idle', maxConnections: '--max-connections', maxRequests: '--max-requests', url: 'URL' },
  usage: `Usage: keepalive-lab probe URL [--quick] [--max-idle S] [--precision S] [--max-connections N]
                           [--max-requests N] [--timeout S] [--insecure] [--json]

Measures how a server treats keep-alive connections, from the outside, with a few raw connections:
its idle timeout (connections idle 1, 2, 4, 8, 15, 30, 60, 120 s up to --max-idle, then narrowed to
--precision), how it closes them (FIN or RST) next to the Keep-Alive: timeout= it advertises, the
requests it allows per connection, HTTP/1.0 and Connection: close, pipelining; over https the TLS
versions, ALPN and session resumption; on HTTP/2 MAX_CONCURRENT_STREAMS and the GOAWAY of an idle
connection. Then the client settings (Node http.Agent, undici/fetch, Go, Python, OkHttp) that stay
below what it measured. Requests say User-Agent: ${USER_AGENT}.
  --quick              the standard gaps up to ${QUICK_MAX_IDLE_MS / 1000} s only
  --max-idle S         the longest idle gap in s (default ${DEFAULT_MAX_IDLE_MS / 1000}, at most ${MAX_IDLE_CEILING_S})
  --precision S        narrow the idle timeout to ± S seconds (default ${DEFAULT_PRECISION_MS / 1000})
  --max-connections N  open at most N connections (default ${DEFAULT_MAX_CONNECTIONS}, at most ${CEILING_CONNECTIONS})
  --max-requests N     send at most N requests (default ${DEFAULT_MAX_REQUESTS}, at most ${CEILING_REQUESTS}); the
                       requests-per-connection count stops below it
  --timeout S          how long a connect, TLS handshake or response may take (default ${DEFAULT_TIMEOUT_MS / 1000})
  --insecure, -k       do not check the server's certificate (a self-signed test server)
  --json               print the report as JSON (its probe section)
  -h, --help           this help`,
  async run(argv, io, interrupt) {
    const p = parse(
      argv,
      {
        quick: { type: 'boolean' },
        'max-idle': { type: 'string' },
        precision: { type: 'string' },
        'max-connections': { type: 'string' },
        'max-requests': { type: 'string' },
        timeout: { type: 'string' },
        insecure: { type: 'boolean', short: 'k' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    );
    if (flag(p, 'help')) {
      io.stdout.write(probe.usage + '\n');
      return 0;
    }
    const [url, ...extra] = p.positionals;
    if (url === undefined)
      throw new UsageError('a URL to probe is required, e.g. keepalive-lab probe http://127.0.0.1:8080/');
    if (extra.length > 0) throw new UsageError(`one URL only, got also '${extra.join(' ')}'`);
    const quick = flag(p, 'quick');
    const maxIdle = seconds(p, 'max-idle', MAX_IDLE_CEILING_S);
    if (quick && maxIdle !== undefined) throw new UsageError('--quick and --max-idle: give one of them');
    const precision = seconds(p, 'precision', 60);
    const timeout = seconds(p, 'timeout', 600);
    const maxConnections = int(p, 'max-connections', 1, CEILING_CONNECTIONS);
    const maxRequests = int(p, 'max-requests', 1, CEILING_REQUESTS);
    const json = flag(p, 'json');
    const progress = io.stderr.isTTY ? new ProbeStatus(io) : null;
    try {
      const report = await runProbe(url, {
        maxIdleMs: quick ? QUICK_MAX_IDLE_MS : (maxIdle ?? DEFAULT_MAX_IDLE_MS),
        ...(precision !== undefined ? { precisionMs: precision } : {}),
        ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
        ...(maxConnections !== undefined ? { maxConnections } : {}),
        ...(maxRequests !== undefined ? { maxRequests } : {}),
        insecure: flag(p, 'insecure'),
        signal: interrupt.abort,
        ...(progress !== null ? { onProgress: (e: ProbeProgress) => progress.show(e) } : {}),
      });
      progress?.clear();
      if (json) {
        const out: Report = { ...reportHead('probe'), runs: [], probe: report };
        io.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else {
        io.stdout.write(renderProbe(report, { color: useColor(io) }));
      }
      return 0;
    } finally {
      progress?.clear();
    }
  },
};

/** One line on stderr, rewritten: what is measured (the idle gaps, once they start) and for how long. */
class ProbeStatus {
  private timer: NodeJS.Timeout | null = null;
  private since = 0;
  private what = '';
  private readonly line: ProgressLine;
  constructor(io: Io) {
    // A probe's phases are long waits: the line shows from the start.
    this.line = new ProgressLine(io.stderr, { delayMs: 0 });
  }

  show(e: ProbeProgress): void {
    // The idle search is the long wait, and HTTP/2's GOAWAY wait runs beside it: keep showing the gaps.
    if (this.what.startsWith('idle:') && e.phase !== 'idle') return;
    this.what = `${e.phase}: ${e.what}`;
    this.since = Date.now();
    this.draw();
    this.timer ??= setInterval(() => this.draw(), 1000);
    this.timer.unref();
  }

  clear(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.line.done();
    this.what = '';
  }

  private draw(): void {
    const waited = Math.floor((Date.now() - this.since) / 1000);
    this.line.update(`probe ${this.what}, ${waited} s`);
  }
}
