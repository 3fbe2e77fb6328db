/**
 * The experiment engine: start the server (or aim at a target), start the observers, run the
 * client workers, close the client's pool as a program does when it exits, let the closing
 * handshakes finish, stop the observers and compare what they saw.
 */
import { setMaxListeners } from 'node:events';
import { runReport } from '../analyze/run-report.js';
import { invalidOption, RequestsFailedError, TimeoutError } from '../errors.js';
import type { KeepaliveLabError } from '../errors.js';
import type { HostFacts } from '../model/host.js';
import type { ClientOutcome, ExperimentConfig, ObserverReport, RunReport, Warning } from '../model/report.js';
import { CaptureObserver, serverFocus } from '../observe/capture.js';
import { readHostFacts } from '../observe/host-facts.js';
import { KernelObserver } from '../observe/kernel.js';
import { closeAll } from '../observe/observer.js';
import type { Observer } from '../observe/observer.js';
import { ServerAccounting } from '../observe/server-accounting.js';
import { abortable, onAbort } from '../util/abort.js';
import { sleep, waitFor, withTimeout } from '../util/time.js';
import { createDriver } from './clients.js';
import { describeConfig, experimentConfig } from './config.js';
import { startLabServer } from './server.js';
import type { LabServer } from './server.js';

/** One experiment: its knobs (ExperimentConfig, each optional: DEFAULT_CONFIG's by default) and how to run it. */
export interface ExperimentOptions extends Partial<ExperimentConfig> {
  /** Short id of the run in the report (default 'experiment'). */
  name?: string;
  /** Its title (default: the client, the workers and the knobs that differ from the defaults). */
  title?: string;
  /** Where the in-process server listens (default 127.0.0.1, a free port). */
  host?: string;
  port?: number;
  /** Capture packets with tcpdump (default true). */
  capture?: boolean;
  tcpdump?: string;
  /** Read the kernel socket table (default true). */
  kernel?: boolean;
  /**
   * This machine's addresses and kernel settings, for the port outlook (the lab's client is this
   * machine). Default: read from /proc (observe/host-facts.ts).
   */
  hostFacts?: HostFacts;
  /** How long to wait for closing handshakes to show in every observer (default 3 s). */
  settleTimeoutMs?: number;
  /**
   * Ends the experiment at once: the client's sockets, the observers (tcpdump) and the server are
   * closed, and the promise rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

const MAX_ERRORS_KEPT = 10;

export async function runExperiment(options: ExperimentOptions = {}): Promise<RunReport> {
  const { signal } = options;
  signal?.throwIfAborted();
  const config = experimentConfig(options);
  const name = options.name ?? 'experiment';
  const title = options.title ?? describeConfig(config);
  let server: LabServer | undefined;
  const observers: Observer[] = [];
  let accounting: ServerAccounting | undefined;
  let url: string;
  let serverPort: number;
  let host: string;
  const warnings: Warning[] = [];
  if (config.target !== null) {
    let parsed: URL;
    try {
      parsed = new URL(config.target);
    } catch {
      throw invalidOption('target', `is not a URL: ${config.target}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw invalidOption('target', `must be an http:// or https:// URL: ${config.target}`);
    url = parsed.href;
    host = parsed.hostname.replace(/^\[|\]$/g, '');
    serverPort = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
    if (parsed.protocol === 'https:')
      warnings.push({
        code: 'KAL_WARN_TLS',
        message: 'the target uses TLS: the wire observer counts connections but cannot see HTTP requests',
      });
  } else {
    server = await startLabServer({
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      bodySize: config.bodySize,
      keepAliveTimeoutMs: config.serverKeepAliveTimeoutMs,
      connectionClose: config.serverConnectionClose,
    });
    url = server.url;
    serverPort = server.port;
    host = server.host;
    accounting = new ServerAccounting(server.server);
    observers.push(accounting);
  }
  // Focus on the server's address and port: other programs (or tests) talking to the same port
  // number on another loopback address are not this experiment's traffic.
  const focus = serverFocus(host, serverPort);
  if (options.kernel ?? true)
    observers.push(
      new KernelObserver({
        serverPort,
        ...(focus.serverAddress !== undefined ? { serverAddress: focus.serverAddress } : {}),
      }),
    );
  const capture = options.capture ?? true;
  if (capture) {
    observers.push(
      new CaptureObserver({
        interface: focus.interface,
        filter: focus.filter,
        serverPorts: [serverPort],
        ...(options.tcpdump !== undefined ? { tcpdump: options.tcpdump } : {}),
      }),
    );
  }
  const driver = createDriver(config, url);
  // Aborted: the client's sockets go first, so that requests in flight fail at once.
  const offAbort = onAbort(signal, () => void driver.close().catch(() => undefined));
  let client: ClientOutcome | undefined;
  const reports: ObserverReport[] = [];
  try {
    // Every wait below ends at once when the signal aborts; `finally` closes what is open.
    const step = <T>(promise: Promise<T>) => abortable(promise, signal);
    for (const o of observers) await step(o.start());
    client = await step(drive(driver, config, signal));
    for (const o of observers) await step(o.checkpoint?.() ?? Promise.resolve());
    await step(driver.close());
    for (const o of observers) await step(o.sync?.() ?? Promise.resolve(true));
    // Closing handshakes take a moment to show everywhere: wait on events, bounded.
    const expected = () => accounting?.connectionCount ?? 0;
    const settled = await waitFor(
      () => observers.every((o) => o.settled(expected())),
      options.settleTimeoutMs ?? 3000,
      10,
      signal,
    );
    signal?.throwIfAborted();
    if (!settled)
      warnings.push({
        code: 'KAL_WARN_NOT_SETTLED',
        message: 'some connections were still closing when the observers stopped',
      });
    for (const o of observers) reports.push(await step(o.stop()));
  } finally {
    offAbort();
    await driver.close().catch(() => {});
    // An error or an abort got us here: close what still runs (tcpdump above all), without reports.
    if (reports.length < observers.length) await closeAll(observers);
    await server?.close();
  }
  const hostFacts = options.hostFacts ?? (await readHostFacts());
  return runReport({ name, title, subject: url, config, client }, reports, { warnings, hostFacts });
}

/**
 * What went wrong with a run's client, as an error to report after the run's report, or null when
 * every request completed: a TimeoutError when the experiment ran out of time (`timeoutMs`), else a
 * RequestsFailedError, whose message counts the failed requests and quotes the first error. `about`
 * goes before the message (which experiment it was).
 */
export function clientFailure(run: RunReport, about = ''): KeepaliveLabError | null {
  const client = run.client;
  const config = run.config;
  if (client === null || config === null) return null;
  if (client.completed >= config.requests && client.errors.length === 0) return null;
  if (client.elapsedMs >= config.timeoutMs) {
    return new TimeoutError(
      `${about}the experiment did not finish within ${config.timeoutMs} ms: ` +
        `${client.completed} of ${config.requests} requests completed`,
    );
  }
  // One line: some errors end with a newline (OpenSSL's) or span several.
  const first = (client.errors[0] ?? 'no error recorded').replace(/\s+/g, ' ').trim();
  const more = client.errors.length > 1 ? ` (and ${client.errors.length - 1} other errors)` : '';
  const failed = client.requests - client.completed;
  return new RequestsFailedError(`${about}${failed} of ${config.requests} requests failed: ${first}${more}`);
}

/** Run the workers: `concurrency` loops share the request count, pausing `intervalMs` between requests. */
async function drive(
  driver: ReturnType<typeof createDriver>,
  config: ExperimentConfig,
  signal: AbortSignal | undefined,
): Promise<ClientOutcome> {
  const outcome: ClientOutcome = { requests: 0, completed: 0, errors: [], elapsedMs: 0 };
  const started = performance.now();
  let stop = false;
  const count = Math.max(1, Math.min(config.concurrency, config.requests));
  // One listener on the caller's signal; the workers' pauses listen to this one (one each).
  const aborted = new AbortController();
  setMaxListeners(count + 1, aborted.signal);
  const offAbort = onAbort(signal, () => {
    stop = true;
    aborted.abort();
  });
  const worker = async () => {
    let first = true;
    while (!stop && outcome.requests < config.requests) {
      outcome.requests++;
      if (!first && config.intervalMs > 0)
        await sleep(config.intervalMs, undefined, { signal: aborted.signal }).catch(() => undefined);
      first = false;
      if (aborted.signal.aborted) break;
      try {
        await driver.request();
        outcome.completed++;
      } catch (error) {
        const message =
          (error as Error).cause instanceof Error
            ? `${(error as Error).message}: ${((error as Error).cause as Error).message}`
            : (error as Error).message;
        if (outcome.errors.length < MAX_ERRORS_KEPT && !outcome.errors.includes(message)) outcome.errors.push(message);
      }
    }
  };
  const workers = Array.from({ length: count }, worker);
  try {
    await withTimeout(Promise.all(workers), config.timeoutMs, 'the experiment');
  } catch (error) {
    stop = true;
    outcome.errors.push((error as Error).message);
  } finally {
    offAbort();
  }
  outcome.elapsedMs = performance.now() - started;
  return outcome;
}
