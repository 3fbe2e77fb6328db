/**
 * `watch` on the loads of issue 8, judged against oracles nobody here wrote: the load tool's own
 * count (ab's "Complete requests", wrk's "N requests in") and the kernel observer's. One run is
 * exact when the wire counts what the tool made (connections and requests), the kernel the same
 * connections, and the capture lost nothing. Used by the count check in the test suite
 * (test/integration/watch-counts.test.ts) and by `npm run stress:watch` (stress/watch.ts).
 */
import { spawn } from 'node:child_process';
import { watch } from '../../src/lab/watch.js';
import type { ObserverReport, Report, RunReport } from '../../src/model/report.js';
import { runCli } from './cli.js';

/**
 * What the load tool says it did: its requests, and the connections that carried them. Tools
 * open connections that carry none, and do not count them: ab, at the end of a run with -c > 1,
 * a few it then closes; wrk, one to check that the server answers before it starts. The wire
 * sees those too; the kernel's table must agree with the wire on them.
 */
export interface ToolCount {
  /** Connections that carried a request. */
  connections: number;
  requests: number;
  /** Requests or connections the tool counts as failed (then the run proves nothing). */
  failed: number;
  /**
   * Requests the tool may have sent and not counted: wrk stops at its deadline with one request
   * in flight on each connection, and counts only those it had a response to (0 for ab).
   */
  uncounted: number;
}

export interface Load {
  name: string;
  /** What it is, as a user would type it. */
  title: string;
  run(url: string, port: number): Promise<LoadRun>;
}

export interface LoadRun {
  tool: ToolCount;
  /** `used`: the connections that carried a request. */
  wire: { connections: number; used: number; requests: number; packetsDropped: number } | null;
  kernel: { connections: number } | null;
  /** Why the run is not exact, by whom; all empty when it is. */
  misses: { tool: string[]; wire: string[]; kernel: string[] };
}

/** Every miss of a run, in words; empty when the run is exact. */
export function allMisses(run: LoadRun): string[] {
  return [...run.misses.tool, ...run.misses.wire, ...run.misses.kernel];
}

/** ab's summary: "Complete requests: N", "Failed requests: N"; without -k, one connection per request. */
export function abCount(output: string): ToolCount {
  const complete = Number(/Complete requests:\s+(\d+)/.exec(output)?.[1] ?? NaN);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(output)?.[1] ?? NaN);
  return { connections: complete, requests: complete, failed, uncounted: 0 };
}

/** wrk's summary: "N requests in 2.00s", and "Socket errors: ..." when there were any. */
export function wrkCount(output: string, connections: number): ToolCount {
  const requests = Number(/(\d+) requests in /.exec(output)?.[1] ?? NaN);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const failed = errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { connections, requests, failed, uncounted: connections };
}

function observer(run: RunReport, name: ObserverReport['observer']): ObserverReport | undefined {
  return run.observers.find((o) => o.observer === name && o.available);
}

/**
 * Judges one run: the wire against the tool's count (requests, and the connections that carried
 * them), the kernel against the wire (every connection, those that carried nothing included).
 */
export function judge(run: RunReport, tool: ToolCount): LoadRun {
  const w = observer(run, 'wire');
  const k = observer(run, 'kernel');
  const wire = w
    ? {
        connections: w.totals.connections,
        used: w.connections.filter((c) => c.requests > 0).length,
        requests: w.totals.requests,
        packetsDropped: w.incomplete?.packetsDropped ?? 0,
      }
    : null;
  const kernel = k ? { connections: k.totals.connections } : null;
  const misses: LoadRun['misses'] = { tool: [], wire: [], kernel: [] };
  if (!Number.isFinite(tool.requests)) misses.tool.push('the load tool printed no count');
  if (tool.failed > 0) misses.tool.push(`the load tool counted ${tool.failed} failures`);
  if (wire === null) misses.wire.push('no wire observer');
  else {
    if (w!.incomplete) misses.wire.push(`wire incomplete: ${w!.incomplete.reason}`);
    if (wire.used !== tool.connections)
      misses.wire.push(`wire ${wire.used} connections with requests, the tool ${tool.connections}`);
    const extra = wire.requests - tool.requests;
    if (extra < 0 || extra > tool.uncounted)
      misses.wire.push(
        `wire ${wire.requests} requests, the tool ${tool.requests}` +
          (tool.uncounted > 0 ? ` (and up to ${tool.uncounted} in flight)` : ''),
      );
  }
  if (kernel === null) misses.kernel.push('no kernel observer');
  else if (wire !== null && kernel.connections !== wire.connections)
    misses.kernel.push(`kernel ${kernel.connections} connections, the wire ${wire.connections}`);
  return { tool, wire, kernel, misses };
}

/** `keepalive-lab watch --port P --json -- COMMAND`, as the issue ran it (no --host: the capture is on `any`). */
async function watchCommand(port: number, command: string[]): Promise<{ run: RunReport; output: string }> {
  const r = await runCli(['watch', '--port', String(port), '--json', '--', ...command], 120_000);
  // stdout is the report alone: with --json the command's own stdout goes to stderr (issue 12).
  if (!r.stdout.startsWith('{')) throw new Error(`watch printed no report (exit ${r.code}): ${r.stderr}`);
  const report = JSON.parse(r.stdout) as Report;
  return { run: report.runs[0]!, output: r.stderr };
}

function ab(name: string, requests: number, concurrency: number): Load {
  const args = (url: string) => ['ab', '-n', String(requests), '-c', String(concurrency), url];
  return {
    name,
    title: `watch --port P -- ${args('URL').join(' ')}`,
    async run(url, port) {
      const { run, output } = await watchCommand(port, args(url));
      return judge(run, abCount(output));
    },
  };
}

/** Runs a program to its end; resolves to its stdout. */
function output(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.once('error', reject);
    child.once('close', () => resolve(text));
  });
}

export const LOADS: readonly Load[] = [
  ab('ab-20', 20, 1),
  {
    name: 'duration',
    title: 'watch --port P --duration 2, with ab -n 20 -c 1 URL beside it',
    async run(url, port) {
      let tool: Promise<string> | undefined;
      const result = await watch({
        port,
        durationMs: 2000,
        onReady: () => (tool = output('ab', ['-n', '20', '-c', '1', url])),
      });
      return judge(result.run, abCount((await tool) ?? ''));
    },
  },
  ab('ab-200', 200, 10),
  ab('ab-2000', 2000, 50),
  {
    name: 'wrk',
    title: 'watch --port P -- wrk -c 100 -d 2s URL',
    async run(url, port) {
      const { run, output } = await watchCommand(port, ['wrk', '-c', '100', '-d', '2s', url]);
      return judge(run, wrkCount(output, 100));
    },
  },
];
