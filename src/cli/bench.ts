import { invalidOption, RequestsFailedError } from '../errors.js';
import { runBench } from '../lab/bench.js';
import { renderBench, renderBenchProgress } from '../report/bench.js';
import { COLOR, PLAIN } from '../report/text.js';
import { flag, int, parse, seconds, str } from './args.js';
import type { Command } from './command.js';
import { useColor } from './command.js';
import { ProgressLine } from './progress.js';

/** The most connections one load may open at once (a typo should not exhaust file descriptors). */
const MAX_CONNECTIONS = 10_000;
/** A load's longest --duration: an hour. */
const MAX_DURATION_S = 3600;

export const bench: Command = {
  name: 'bench',
  usage: `Usage: keepalive-lab bench [--target URL] [--duration S] [--connections N] [--insecure] [--json]

What keep-alive is worth: the same closed-loop load run twice against one server, first reusing
connections (each sends its next request when the previous response has ended), then opening a new
connection per request (Connection: close). Prints requests/s, latency percentiles (p50, p90, p99,
max, from an HDR histogram), connections opened, the TIME_WAIT sockets each load left (on this host,
client or server side), errors, and the ratio of the two. Without --target, the lab server is started
on a thread of its own. Progress on stderr when it is a terminal.
  --target URL      an http:// or https:// URL to load (default: the lab server)
  --duration S      seconds per load, e.g. 5 or 5s (default 5)
  --connections N   connections (requests in flight at once) per load (default 10)
  --insecure        https: do not verify the server's certificate
  --json            print the result as JSON (docs/report-schema.md, "bench")
  -h, --help        this help`,
  async run(argv, io, interrupt) {
    const p = parse(argv, {
      target: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      insecure: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (flag(p, 'help')) {
      io.stdout.write(bench.usage + '\n');
      return 0;
    }
    const targetText = str(p, 'target');
    const target = targetText === undefined ? undefined : targetUrl(targetText);
    const durationMs = seconds(p, 'duration', MAX_DURATION_S);
    const connections = int(p, 'connections', 1, MAX_CONNECTIONS);
    // Drawn only on a TTY (ProgressLine); a load reports once a second, so from the start.
    const progress = new ProgressLine(io.stderr, { delayMs: 0 });
    const report = await runBench({
      ...(target !== undefined ? { target } : {}),
      ...(durationMs !== undefined ? { durationMs } : {}),
      ...(connections !== undefined ? { connections } : {}),
      insecure: flag(p, 'insecure'),
      signal: interrupt.abort,
      ...(io.stderr.isTTY ? { onProgress: (state) => progress.update(renderBenchProgress(state)) } : {}),
    }).finally(() => progress.done());
    io.stdout.write(
      flag(p, 'json') ? JSON.stringify(report, null, 2) + '\n' : renderBench(report, useColor(io) ? COLOR : PLAIN),
    );
    // The figures are printed whole all the same; failed requests make the exit code 1, as for `run`.
    const failed = report.runs.filter((r) => r.errors > 0);
    if (failed.length > 0)
      throw new RequestsFailedError(
        failed
          .map((r) => `${r.errors} requests failed in ${r.mode} (${Object.keys(r.errorCodes).join(', ')})`)
          .join('; '),
      );
    return 0;
  },
};

/** An http:// or https:// URL with a host; anything else is a usage error. */
function targetUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidOption('target', `must be an http:// or https:// URL, got '${text}'`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '')
    throw invalidOption('target', `must be an http:// or https:// URL, got '${text}'`);
  return url;
}
