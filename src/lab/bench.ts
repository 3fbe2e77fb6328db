/**
 * `bench`: what keep-alive is worth. The same closed-loop load (loadgen.ts) is run twice against one
 * server, first reusing connections, then opening one per request, and each run is followed by a
 * look at the kernel's socket table for the TIME_WAIT sockets its own connections left (found by
 * their client ports, so that neither run's sockets are counted in the other's figures, nor anything
 * else on the host). The keep-alive run goes first: the thousands of TIME_WAIT sockets the other one
 * leaves cannot weigh on it (a crowded port range, a larger table for the kernel to search).
 *
 * Without a target, the lab server is started on a thread of its own (server-thread.ts), so the load
 * generator does not share its event loop; with HTTPS targets, new-connection mode makes a full TLS
 * handshake per request (no session resumption), as a client without a session cache does.
 */
import type { SocketEntry } from '../decode/socket-entry.js';
import { RequestsFailedError } from '../errors.js';
import { BENCH_SCHEMA, LOAD_MODES } from '../model/bench.js';
import type { BenchReport, BenchRun, LoadResult, TimeWaitLeft } from '../model/bench.js';
import { readSocketTable } from '../observe/socket-table.js';
import { sleep } from '../util/time.js';
import { runLoad } from './loadgen.js';
import type { LoadProgress } from './loadgen.js';
import { startLabServerThread } from './server-thread.js';

export interface BenchOptions {
  /** An http:// or https:// URL; none: the lab server, started for the run. */
  target?: URL;
  /** Per load (default 5000 ms). */
  durationMs?: number;
  /** Connections (requests in flight at once) per load (default 10). */
  connections?: number;
  /** https targets: do not verify the certificate. */
  insecure?: boolean;
  /** https targets: the certificate authority to trust (PEM). */
  ca?: string;
  onProgress?(progress: LoadProgress & { durationMs: number }): void;
  signal?: AbortSignal;
}

const DEFAULT_DURATION_MS = 5000;
const DEFAULT_CONNECTIONS = 10;
/** The probe request's time limit: a target that does not answer one request in this long is not benched. */
const PROBE_TIMEOUT_MS = 5000;

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const durationMs = options.durationMs ?? DEFAULT_DURATION_MS;
  const connections = options.connections ?? DEFAULT_CONNECTIONS;
  const lab = options.target === undefined ? await startLabServerThread() : null;
  try {
    const target = options.target ?? new URL(lab!.url);
    const tlsOptions = {
      ...(options.insecure !== undefined ? { insecure: options.insecure } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    };
    await probe(target, tlsOptions, options.signal);
    const warnings: BenchReport['warnings'] = [];
    const runs: BenchRun[] = [];
    for (const mode of LOAD_MODES) {
      const { result, localPorts } = await runLoad(target, {
        mode,
        connections,
        durationMs,
        ...tlsOptions,
        ...(options.onProgress !== undefined
          ? { onProgress: (p: LoadProgress) => options.onProgress!({ ...p, durationMs }) }
          : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
      });
      runs.push({ ...result, timeWait: await timeWaitOf(target, localPorts, warnings) });
    }
    return {
      schema: BENCH_SCHEMA,
      target: target.href,
      labServer: lab !== null,
      durationMs,
      connections,
      runs,
      ratio: ratios(runs[0]!, runs[1]!),
      warnings,
    };
  } finally {
    await lab?.close();
  }
}

/** One request on one connection: a target that refuses, or does not speak HTTP/1.1, fails here, once. */
async function probe(target: URL, tlsOptions: { insecure?: boolean; ca?: string }, signal?: AbortSignal) {
  const { result } = await runLoad(target, {
    mode: 'keep-alive',
    connections: 1,
    requests: 1,
    timeoutMs: PROBE_TIMEOUT_MS,
    ...tlsOptions,
    ...(signal !== undefined ? { signal } : {}),
  });
  if (result.errors > 0) {
    const code = Object.keys(result.errorCodes)[0] ?? 'error';
    throw new RequestsFailedError(`cannot load ${target.href}: ${code}`);
  }
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

/** keep-alive divided by new-connection. */
export function ratios(keepAlive: LoadResult, newConnection: LoadResult): BenchReport['ratio'] {
  return {
    requestsPerSecond: ratio(keepAlive.requestsPerSecond, newConnection.requestsPerSecond),
    p50: ratio(keepAlive.latencyMs.p50, newConnection.latencyMs.p50),
    p99: ratio(keepAlive.latencyMs.p99, newConnection.latencyMs.p99),
  };
}

/** States a closing connection passes through before TIME_WAIT (or before it is gone). */
const CLOSING_STATES = ['FIN_WAIT1', 'FIN_WAIT2', 'CLOSING', 'LAST_ACK'] as const;
/** How long the TIME_WAIT count waits for the load's connections still closing, and how often it looks. */
const SETTLE_MS = 2000;
const SETTLE_EVERY_MS = 50;

/**
 * The TIME_WAIT sockets of a load's connections (null when the socket table cannot be read). Read
 * once its connections have finished closing: a FIN sent on loopback reaches the other socket in the
 * kernel's softirq, which a loaded machine defers (ksoftirqd), so a socket can still be in FIN_WAIT2
 * when our side has closed; counted then, two of 25 were missing.
 */
async function timeWaitOf(
  target: URL,
  localPorts: ReadonlySet<number>,
  warnings: BenchReport['warnings'],
): Promise<TimeWaitLeft | null> {
  const port = Number(target.port) || (target.protocol === 'https:' ? 443 : 80);
  try {
    const deadline = Date.now() + SETTLE_MS;
    for (;;) {
      const table = await readSocketTable({ ports: [port], states: ['TIME_WAIT', ...CLOSING_STATES] });
      const left = countTimeWait(table.entries, port, localPorts);
      if (left.closing === 0 || Date.now() >= deadline) return { client: left.client, server: left.server };
      await sleep(SETTLE_EVERY_MS);
    }
  } catch (error) {
    warnings.push({ code: 'KAL_WARN_BENCH_TIME_WAIT', message: `TIME_WAIT not counted: ${(error as Error).message}` });
    return null;
  }
}

/**
 * TIME_WAIT sockets between a client port of the load and the target's port: on the client side
 * (local port one of the load's) or, when the target runs on this host, on the server's; and how many
 * of the load's sockets are in another state (still closing).
 */
export function countTimeWait(
  entries: readonly SocketEntry[],
  targetPort: number,
  localPorts: ReadonlySet<number>,
): TimeWaitLeft & { closing: number } {
  const left = { client: 0, server: 0, closing: 0 };
  for (const e of entries) {
    const client = e.remote.port === targetPort && localPorts.has(e.local.port);
    const server = e.local.port === targetPort && localPorts.has(e.remote.port);
    if (!client && !server) continue;
    if (e.state !== 'TIME_WAIT') left.closing++;
    else if (client) left.client++;
    else left.server++;
  }
  return left;
}
