/**
 * The experiment engine: start the server (or aim at a target), start the observers, run the
 * client workers, close the client's pool as a program does when it exits, let the closing
 * handshakes finish, stop the observers and compare what they saw. A finding scenario
 * (lab/findings-scenarios/) runs through the same steps with a hop on the path or a client of its
 * own (`runLab`).
 */
import { setMaxListeners } from 'node:events';
import { runReport } from '../analyze/run-report.js';
import { KeyLog } from '../decode/tls-keylog.js';
import { invalidOption, RequestsFailedError, TimeoutError } from '../errors.js';
import type { KeepaliveLabError } from '../errors.js';
import type { HostFacts } from '../model/host.js';
import { formatHostPort } from '../model/endpoint.js';
import type { ClientOutcome, ExperimentConfig, ObserverReport, RunReport, Warning } from '../model/report.js';
import { CaptureObserver, serverFocus } from '../observe/capture.js';
import { readHostFacts } from '../observe/host-facts.js';
import { KernelObserver } from '../observe/kernel.js';
import { closeAll, startAll, stopAll } from '../observe/observer.js';
import type { Observer } from '../observe/observer.js';
import { TcpProxy } from '../observe/proxy.js';
import type { ProxyOptions } from '../observe/proxy.js';
import { ProcessObserver } from '../observe/process.js';
import { ServerAccounting } from '../observe/server-accounting.js';
import { SharedObservation } from '../observe/shared.js';
import { abortable, onAbort } from '../util/abort.js';
import { sleep, waitFor, withTimeout } from '../util/time.js';
import { createDriver } from './clients.js';
import type { ClientDriver, ClientTls } from './clients.js';
import { describeConfig, experimentConfig } from './config.js';
import { countFailure, newOutcome } from './outcome.js';
import { startLabServer } from './server.js';
import type { LabServer, LabServerOptions } from './server.js';

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
  /** List each connection's request/response exchanges (ConnectionRecord.exchanges; `--html`). Default false. */
  exchanges?: boolean;
  /**
   * Count from inside this process too, with its diagnostics channels (observe/process.ts): default
   * true for node:http and fetch; node:http2 publishes no channel on Node 20 and is never counted so.
   */
  process?: boolean;
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

export async function runExperiment(options: ExperimentOptions = {}): Promise<RunReport> {
  return runLab(options);
}

/**
 * What a finding scenario (lab/findings-scenarios/) changes in an experiment: a hop on the path, or a
 * client of its own. Both need the in-process server.
 */
export interface LabSetup {
  /**
   * A TCP proxy between the client and the server (observe/proxy.ts, with these options): the client
   * talks to it, and the kernel's table and the wire watch its port, the client's side of the path, as
   * a capture on the client's host would; the server's accounting sees the proxy's connections.
   */
  hop?: Pick<ProxyOptions, 'idleResetMs'>;
  /** The client, instead of the config's workers. */
  client?: (lab: LabContext) => LabClient;
}

/** What a scenario's client is given. */
export interface LabContext {
  /** Where to send requests (the server, or the hop in front of it). */
  url: string;
  /** The in-process server, to time requests on its events (onIdleClose). */
  server: LabServer;
  config: ExperimentConfig;
  /** For a client of TLS: the certificate to trust and where its key log goes (createDriver's). */
  tls: ClientTls;
}

/** A lab client: the config's workers (createDriver), or a finding scenario's own. */
export interface LabClient {
  /**
   * Sends its requests, counting them into `outcome` (lab/outcome.ts); stops early when `signal`
   * aborts (the run was aborted, or its `timeoutMs` ran out).
   */
  run(outcome: ClientOutcome, signal: AbortSignal): Promise<void>;
  /** Closes its pools: every socket, idle or busy. */
  close(): Promise<void>;
}

/**
 * What runExperiments hands runLab for one experiment: its server, bound already (its port in the
 * shared capture's filter), and the observers' programs shared by the experiments.
 */
interface Prepared {
  server: LabServer;
  shared: SharedObservation;
}

/** An experiment, with what a finding scenario changes in it (`setup`). */
export async function runLab(
  options: ExperimentOptions,
  setup: LabSetup = {},
  prepared?: Prepared,
): Promise<RunReport> {
  const { signal } = options;
  signal?.throwIfAborted();
  const config = experimentConfig(options);
  checkClient(config);
  const name = options.name ?? 'experiment';
  const title = options.title ?? describeConfig(config);
  let server: LabServer | undefined;
  let hop: TcpProxy | undefined;
  const observers: Observer[] = [];
  let accounting: ServerAccounting | undefined;
  let url: string;
  let serverPort: number;
  let host: string;
  const warnings: Warning[] = [];
  if (config.target !== null) {
    if (setup.hop !== undefined || setup.client !== undefined)
      throw invalidOption('target', 'cannot be used with a finding scenario: it needs the in-process server');
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
    if (options.protocol !== undefined && options.protocol !== 'http')
      throw invalidOption('protocol', 'configures the in-process server: not with target (its URL says https)');
  } else {
    server = prepared?.server ?? (await startLabServer(labServerOptions(config, options)));
    url = server.url;
    serverPort = server.port;
    host = server.host;
    accounting = new ServerAccounting(server.server, { exchanges: options.exchanges === true });
    observers.push(accounting);
    if (setup.hop !== undefined) {
      hop = new TcpProxy({ ...setup.hop, listenHost: host, targetHost: host, targetPort: server.port });
      try {
        await hop.start();
      } catch (error) {
        if (prepared === undefined) await server.close();
        throw error;
      }
      serverPort = hop.address.port;
      url = `${new URL(server.url).protocol}//${formatHostPort(host, serverPort)}/`;
    }
  }
  // Focus on the server's address and port: other programs (or tests) talking to the same port
  // number on another loopback address are not this experiment's traffic.
  const focus = serverFocus(host, serverPort);
  const shared = prepared?.shared;
  if (options.kernel ?? true)
    observers.push(
      new KernelObserver({
        serverPort,
        ...(focus.serverAddress !== undefined ? { serverAddress: focus.serverAddress } : {}),
        ...(shared?.events ? { sharedEvents: shared.events } : {}),
      }),
    );
  // TLS: the lab's client writes its key log here as its connections make secrets, for the wire.
  const keylog = url.startsWith('https:') ? new KeyLog() : null;
  const capture = options.capture ?? true;
  if (capture) {
    observers.push(
      new CaptureObserver({
        interface: focus.interface,
        filter: focus.filter,
        serverPorts: [serverPort],
        ...(keylog !== null ? { keys: keylog } : {}),
        ...(options.exchanges === true ? { exchanges: true } : {}),
        ...(options.tcpdump !== undefined ? { tcpdump: options.tcpdump } : {}),
        ...(shared?.capture ? { session: shared.capture } : {}),
      }),
    );
  }
  let processObserver: ProcessObserver | undefined;
  if ((options.process ?? true) && config.client !== 'http2') {
    processObserver = new ProcessObserver({ serverPort });
    observers.push(processObserver);
  }
  const clientTls: ClientTls = {
    ca: server?.ca ?? null,
    ...(keylog !== null ? { onKeylog: (line: Buffer) => keylog.push(line.toString('latin1')) } : {}),
  };
  const client =
    setup.client !== undefined && server !== undefined
      ? setup.client({ url, server, config, tls: clientTls })
      : workers(createDriver(config, url, clientTls), config);
  // Aborted: the client's sockets go first, so that requests in flight fail at once.
  const offAbort = onAbort(signal, () => void client.close().catch(() => undefined));
  let outcome: ClientOutcome | undefined;
  const reports: ObserverReport[] = [];
  try {
    // Every wait below ends at once when the signal aborts; `finally` closes what is open.
    const step = <T>(promise: Promise<T>) => abortable(promise, signal);
    // Side by side: each start waits on its own program (tcpdump, ss -E); a failed or aborted start closes them all.
    await startAll(observers, signal);
    outcome = await step(runClient(client, config, signal));
    for (const o of observers) await step(o.checkpoint?.() ?? Promise.resolve());
    await step(client.close());
    const stopped = await settleAndStop(observers, {
      expected: () => accounting?.connectionCount ?? 0,
      settleTimeoutMs: options.settleTimeoutMs ?? 3000,
      signal,
      stopping: 'the observers stopped',
    });
    reports.push(...stopped.reports);
    if (stopped.warning !== undefined) warnings.push(stopped.warning);
  } finally {
    offAbort();
    await client.close().catch(() => {});
    // An error or an abort got us here: close what still runs (tcpdump above all), without reports.
    if (reports.length < observers.length) await closeAll(observers);
    await hop?.destroy();
    // A server given bound is its giver's to close.
    if (prepared === undefined) await server?.close();
  }
  keylog?.end();
  for (const report of reports) if (report.observer === 'wire') warnings.push(...encryptedWire(report));
  const hostFacts = options.hostFacts ?? (await readHostFacts());
  const run = runReport({ name, title, subject: url, config, client: outcome }, reports, { warnings, hostFacts });
  const process = processObserver?.processSummary();
  if (process) run.process = process;
  return run;
}

/** How the in-process server of an experiment listens and answers. */
function labServerOptions(config: ExperimentConfig, options: ExperimentOptions): LabServerOptions {
  return {
    protocol: config.protocol,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    bodySize: config.bodySize,
    keepAliveTimeoutMs: config.serverKeepAliveTimeoutMs,
    keepAliveHint: config.serverKeepAliveHint,
    connectionClose: config.serverConnectionClose,
    ...(config.serverMaxRequests !== null ? { maxRequestsPerConnection: config.serverMaxRequests } : {}),
  };
}

/** What runExperiments is told besides the experiments. */
export interface RunExperimentsOptions {
  /** Ends the run at once: what is open is closed (tcpdump and ss -E above all), and it rejects. */
  signal?: AbortSignal;
  /** Called as each experiment begins (its index), for progress. */
  onExperiment?: (index: number) => void;
}

/**
 * Experiments one after another, as the demo runs them: each report is the one runExperiment
 * gives, but the observers' programs start once for them all (observe/shared.ts). Every server is
 * bound first, so that the one tcpdump's filter holds their ports, then tcpdump and ss -E start,
 * then each experiment runs with its wire and kernel observers as views of them, and its server
 * closes; tcpdump and ss -E end after the last (or at once when `signal` aborts, or one fails).
 * Experiments that cannot share (a target, a fixed port, servers on different addresses) run each
 * on its own, as runExperiment does.
 */
export async function runExperiments(
  experiments: readonly ExperimentOptions[],
  options: RunExperimentsOptions = {},
): Promise<RunReport[]> {
  const { signal, onExperiment } = options;
  signal?.throwIfAborted();
  const runs: RunReport[] = [];
  const first = experiments[0];
  const shareable =
    first !== undefined &&
    experiments.every(
      (e) =>
        e.target == null &&
        e.port === undefined &&
        e.host === first.host &&
        (e.capture ?? true) === (first.capture ?? true) &&
        e.tcpdump === first.tcpdump &&
        (e.kernel ?? true) === (first.kernel ?? true),
    );
  if (!shareable) {
    for (const [i, e] of experiments.entries()) {
      onExperiment?.(i);
      runs.push(await runLab({ ...e, ...(signal !== undefined ? { signal } : {}) }));
    }
    return runs;
  }
  const servers: LabServer[] = [];
  let shared: SharedObservation | undefined;
  try {
    for (const e of experiments) {
      const config = experimentConfig(e);
      checkClient(config);
      servers.push(await startLabServer(labServerOptions(config, e)));
      signal?.throwIfAborted();
    }
    shared = await SharedObservation.start({
      host: servers[0]!.host,
      ports: servers.map((s) => s.port),
      capture: first.capture ?? true,
      ...(first.tcpdump !== undefined ? { tcpdump: first.tcpdump } : {}),
      events: first.kernel ?? true,
      ...(signal !== undefined ? { signal } : {}),
    });
    for (const [i, e] of experiments.entries()) {
      onExperiment?.(i);
      const server = servers[i]!;
      runs.push(await runLab({ ...e, ...(signal !== undefined ? { signal } : {}) }, {}, { server, shared }));
      await server.close();
    }
  } finally {
    // Aborted or failed between two experiments too: tcpdump and ss -E end, every server closes.
    await shared?.close();
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
  }
  return runs;
}

/** A client that cannot speak to this server: node:http2 speaks h2 over TLS only. */
function checkClient(config: ExperimentConfig): void {
  if (config.client !== 'http2') return;
  if (config.target !== null ? !config.target.startsWith('https:') : config.protocol !== 'h2')
    throw invalidOption('client', 'http2 speaks h2 over TLS: it needs protocol h2 (or an https:// target)');
}

/**
 * A wire that saw TLS connections and could not read the requests inside (no keys, or none that
 * opened them): it does not see requests, and says so; the agreement and the verdict then take the
 * requests from the observers that count them, rather than reading "0 requests" as a difference.
 */
function encryptedWire(report: ObserverReport): Warning[] {
  const tls = report.totals.tls;
  if (!report.available || tls === undefined || report.totals.requests > 0) return [];
  report.seesRequests = false;
  return [
    {
      code: 'KAL_WARN_TLS',
      message:
        `the wire saw ${tls.connections} TLS connections and could not read the requests inside: ` +
        'it counts connections, handshakes and TIME_WAIT, not requests',
    },
  ];
}

/**
 * The end of a run's observation, once its traffic is over: every observer catches up with what
 * happened until now (sync), the closing handshakes are waited for until each observer has seen
 * `expected()` connections, all closed (on events, at most `settleTimeoutMs`), then all stop. A
 * KAL_WARN_NOT_SETTLED warning (`stopping` says when) if they had not settled. When `signal` aborts,
 * rejects at once with its reason: the caller closes the observers.
 */
export async function settleAndStop(
  observers: readonly Observer[],
  options: { expected: () => number; settleTimeoutMs: number; signal: AbortSignal | undefined; stopping: string },
): Promise<{ reports: ObserverReport[]; warning?: Warning }> {
  const { signal } = options;
  for (const o of observers) await abortable(o.sync?.() ?? Promise.resolve(true), signal);
  // Closing handshakes take a moment to show everywhere: wait on events, bounded.
  const settled = await waitFor(
    () => observers.every((o) => o.settled(options.expected())),
    options.settleTimeoutMs,
    10,
    signal,
  );
  signal?.throwIfAborted();
  const reports = await abortable(stopAll(observers), signal);
  if (settled) return { reports };
  const message = `some connections were still closing when ${options.stopping}`;
  return { reports, warning: { code: 'KAL_WARN_NOT_SETTLED', message } };
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
  // Requests a finding scenario sent into the failure it reproduces are its point, not a failure.
  const expected = client.expectedFailures ?? 0;
  const failed = client.requests - client.completed - expected;
  if (client.completed + expected >= config.requests && failed <= 0 && (expected > 0 || client.errors.length === 0))
    return null;
  if (client.elapsedMs >= config.timeoutMs) {
    return new TimeoutError(
      `${about}the experiment did not finish within ${config.timeoutMs} ms: ` +
        `${client.completed} of ${config.requests} requests completed`,
    );
  }
  // One line: some errors end with a newline (OpenSSL's) or span several.
  const first = (client.errors[0] ?? 'no error recorded').replace(/\s+/g, ' ').trim();
  const more = client.errors.length > 1 ? ` (and ${client.errors.length - 1} other errors)` : '';
  const besides = expected > 0 ? ` besides the ${expected} the scenario meant to fail` : '';
  return new RequestsFailedError(`${about}${failed} of ${config.requests} requests failed${besides}: ${first}${more}`);
}

/**
 * Runs a lab client within the experiment's `timeoutMs`: what it did, how long it took; running out
 * of time stops it and is one more error.
 */
async function runClient(
  client: LabClient,
  config: ExperimentConfig,
  signal: AbortSignal | undefined,
): Promise<ClientOutcome> {
  const outcome = newOutcome();
  const started = performance.now();
  const stop = new AbortController();
  const offAbort = onAbort(signal, () => stop.abort());
  try {
    await withTimeout(client.run(outcome, stop.signal), config.timeoutMs, 'the experiment');
  } catch (error) {
    outcome.errors.push((error as Error).message);
  } finally {
    stop.abort();
    offAbort();
  }
  outcome.elapsedMs = performance.now() - started;
  return outcome;
}

/** The config's workers: `concurrency` loops share the request count, pausing `intervalMs` between requests. */
function workers(driver: ClientDriver, config: ExperimentConfig): LabClient {
  return {
    close: () => driver.close(),
    async run(outcome, signal) {
      const count = Math.max(1, Math.min(config.concurrency, config.requests));
      // The workers' pauses listen to the signal, one each.
      setMaxListeners(count + 1, signal);
      const worker = async () => {
        let first = true;
        while (!signal.aborted && outcome.requests < config.requests) {
          outcome.requests++;
          if (!first && config.intervalMs > 0)
            await sleep(config.intervalMs, undefined, { signal }).catch(() => undefined);
          first = false;
          if (signal.aborted) break;
          try {
            await driver.request();
            outcome.completed++;
          } catch (error) {
            countFailure(outcome, error);
          }
        }
      };
      await Promise.all(Array.from({ length: count }, worker));
    },
  };
}
