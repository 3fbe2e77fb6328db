/**
 * The proxy as one call: listen, forward and count until stopped (a signal, or `durationMs`), then
 * resolve with the run's report. The counting TCP forwarder itself is observe/proxy.ts (TcpProxy,
 * an Observer like the others).
 *
 * Memory: by default the report keeps every connection's record, so it grows with each connection.
 * For a long run, pass `keepConnections` (the report keeps the most recent ones; totals still count
 * all) and take every record from `onConnection` as its connection closes (`proxy --json` writes
 * them to stdout that way).
 */
import { FindingsAccumulator } from '../analyze/findings/index.js';
import { runReport } from '../analyze/run-report.js';
import type { RunHead } from '../analyze/run-report.js';
import { formatHostPort } from '../model/endpoint.js';
import type { HostFacts } from '../model/host.js';
import type { Endpoint, RunReport } from '../model/report.js';
import { readHostFacts } from '../observe/host-facts.js';
import { startPrometheusEndpoint } from '../observe/metrics/provider.js';
import type { MetricsHandle } from '../observe/metrics/provider.js';
import { TcpProxy } from '../observe/proxy.js';
import type { ProxyOptions, ProxyProgress } from '../observe/proxy.js';
import { onAbort, untilAborted } from '../util/abort.js';

export interface RunProxyOptions extends ProxyOptions {
  /** Stop after this long (milliseconds); without it, when `signal` aborts. */
  durationMs?: number;
  /**
   * Stops the proxy and reports: no new connection is accepted, idle ones are closed, those with a
   * request in flight get `graceMs` to finish.
   */
  signal?: AbortSignal;
  /** Ends at once, during a stop too: every connection still open is destroyed; the report follows. */
  forceSignal?: AbortSignal;
  /**
   * This machine's addresses and kernel settings, for the port outlook of the proxy's clients.
   * Default: read from /proc (observe/host-facts.ts) when the proxy starts.
   */
  hostFacts?: HostFacts;
  /**
   * Serve the proxy's metrics (docs/metrics.md) for Prometheus at http://host:port/metrics while it
   * runs (port 0: a free one, see `RunningProxy.metricsUrl`). Rejects with PortInUseError when taken.
   */
  metrics?: { host: string; port: number };
  /** Called once listening: where, and live counters (for a progress line). */
  onListening?: (proxy: RunningProxy) => void;
}

/** A proxy while it runs. */
export interface RunningProxy {
  /** Where it listens (the port chosen, for port 0). */
  readonly address: Endpoint;
  /** Connections and requests so far, cheap to read. */
  progress(): ProxyProgress;
  /** Where Prometheus scrapes the metrics (with the `metrics` option), else null. */
  readonly metricsUrl: string | null;
}

/** The run's fields known once the proxy listens (what `proxy --json` writes before the first record). */
export function proxyRunHead(listening: Endpoint, targetHost: string, targetPort: number): RunHead {
  const target = formatHostPort(targetHost, targetPort);
  return {
    name: 'proxy',
    title: `proxy ${formatHostPort(listening.address, listening.port)} -> ${target}`,
    subject: target,
    config: null,
    client: null,
  };
}

/** Listens (PortInUseError when the port is taken), forwards to the target, resolves with the run once stopped. */
export async function runProxy(options: RunProxyOptions): Promise<RunReport> {
  const { signal, forceSignal, durationMs } = options;
  // Findings over every connection, as they close (the report may keep only the last few records).
  const findings = new FindingsAccumulator({ hostFacts: options.hostFacts ?? (await readHostFacts()) });
  const onConnection = options.onConnection;
  const proxy = new TcpProxy({
    ...options,
    onConnection: (record) => {
      findings.add(record);
      onConnection?.(record);
    },
  });
  await proxy.start();
  const offForce = onAbort(forceSignal, () => void proxy.destroy());
  let metrics: MetricsHandle | null = null;
  try {
    const address = proxy.address;
    if (options.metrics !== undefined) metrics = await startPrometheusEndpoint(proxy, options.metrics);
    const metricsUrl = metrics?.url ?? null;
    options.onListening?.({ address, progress: () => proxy.progress(), metricsUrl });
    await untilAborted([signal, forceSignal], durationMs);
    const observed = await proxy.stop();
    const head = proxyRunHead(address, proxy.targetHost, proxy.targetPort);
    return runReport(head, [observed], { findings: findings.findings() });
  } finally {
    offForce();
    await metrics?.stop();
    // Thrown out of onListening, say: nothing may keep listening.
    await proxy.destroy();
  }
}
