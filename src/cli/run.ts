import { buildReport } from '../analyze/run-report.js';
import { DEFAULT_CONFIG, experimentConfig } from '../lab/config.js';
import { clientFailure, runExperiment } from '../lab/engine.js';
import type { ExperimentConfig } from '../model/report.js';
import { UsageError } from '../errors.js';
import { findingScenario, FINDING_SCENARIOS, missedFinding } from '../lab/findings-scenarios/index.js';
import { missedExpectation } from '../lab/expectations.js';
import { labExperiments } from '../lab/scenarios.js';
import { flag, int, oneOf, parse, size, str, toggle } from './args.js';
import type { Options, Parsed } from './args.js';
import type { Command, Io } from './command.js';
import type { Interrupt } from './interrupts.js';
import { checkOutputs, writeRunReport } from './output.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptions } from './lab-options.js';

const d = DEFAULT_CONFIG;

/** The flags that set the experiment's knobs (--client aside): a finding scenario sets its own. */
const KNOB_OPTIONS: Options = {
  requests: { type: 'string' },
  concurrency: { type: 'string' },
  interval: { type: 'string' },
  'keep-alive': { type: 'boolean' },
  'no-keep-alive': { type: 'boolean' },
  'consume-body': { type: 'boolean' },
  'no-consume-body': { type: 'boolean' },
  'max-sockets': { type: 'string' },
  'max-free-sockets': { type: 'string' },
  'tls-resumption': { type: 'boolean' },
  'no-tls-resumption': { type: 'boolean' },
  timeout: { type: 'string' },
  'body-size': { type: 'string' },
  'server-keep-alive-timeout': { type: 'string' },
  'server-keep-alive-hint': { type: 'boolean' },
  'no-server-keep-alive-hint': { type: 'boolean' },
  'server-close': { type: 'boolean' },
  'server-max-requests': { type: 'string' },
  protocol: { type: 'string' },
  target: { type: 'string' },
};

/** The finding scenarios, one per line with its title (the help, and `--scenario list`). */
const SCENARIO_LIST = FINDING_SCENARIOS.map((sc) => `${sc.name.padEnd(14)} ${sc.title}`);
/** The named experiments, one per line with its title (the help, and `--experiment list`). */
const EXPERIMENT_LIST = labExperiments().map((e) => `${e.name.padEnd(18)} ${e.title}`);

export const run: Command = {
  name: 'run',
  flags: {
    serverConnectionClose: '--server-close',
    serverKeepAliveHint: '--server-keep-alive-hint',
    tlsResumption: '--tls-resumption',
  },
  usage: `Usage: keepalive-lab run [options]

Client:
  --client http|fetch|http2    node:http (node:https over TLS) with its own Agent, fetch, or node:http2:
                               one session, a stream per request (--protocol h2) (default ${d.client})
  --requests N                 total requests (default ${d.requests})
  --concurrency N              workers sharing them (default ${d.concurrency})
  --interval MS                pause between a worker's requests (default ${d.intervalMs})
  --keep-alive | --no-keep-alive      reuse connections (default on)
  --consume-body | --no-consume-body  read each response body to the end (default on)
  --max-sockets N              connections per host at most (default unlimited)
  --max-free-sockets N         idle pool size, node:http only (default ${d.maxFreeSockets})
  --tls-resumption | --no-tls-resumption
                               keep TLS sessions and resume them on new connections (default on)
  --timeout MS                 give up on the experiment after MS (default ${d.timeoutMs})
Server (in-process):
  --protocol http|https|h2     HTTP/1.1, HTTPS (node:https), or HTTP/2 over TLS (node:http2, ALPN h2 and
                               http/1.1), with a certificate made at run time (default ${d.protocol}); the
                               wire decrypts with the key log the lab's client writes
  --body-size BYTES            response body size, e.g. 11, 16k, 1m (default ${d.bodySize})
  --server-keep-alive-timeout MS      idle connections closed after MS (default ${d.serverKeepAliveTimeoutMs})
  --server-keep-alive-hint | --no-server-keep-alive-hint
                               advertise the idle timeout, Keep-Alive: timeout=N (default on)
  --server-close               answer every request with Connection: close
  --server-max-requests N      close each connection after N requests (default no limit)
  --target URL                 use this server instead of the in-process one
${ENGINE_USAGE}

A named experiment, with its expected counts (exit 1, KAL_ERR_EXPECTATION_FAILED, when an observer
that sees them counts otherwise):
  --experiment NAME            run it (with --host, --port and the options above; not with the knobs):
${EXPERIMENT_LIST.map((line) => `    ${line}`).join('\n')}
  --experiment list            list them

Reproduce a finding, with Node's clients against the in-process server set up to cause it:
  --scenario NAME              run it and print its report, its finding and the fix (with --client,
                               --host, --port and the options above; not with the other knobs):
${SCENARIO_LIST.map((line) => `    ${line}`).join('\n')}
  --scenario list              list them
A scenario whose finding did not show exits 1 (KAL_ERR_SCENARIO_MISSED); the requests a scenario
means to lose (the race's) are counted in the report, not a failure.

Examples: keepalive-lab run --no-consume-body --requests 10
          keepalive-lab run --protocol https --no-keep-alive
          keepalive-lab run --experiment h2-multiplex
          keepalive-lab run --scenario race --explain`,
  async run(argv, io, interrupt) {
    const p = parse(argv, {
      ...ENGINE_OPTIONS,
      scenario: { type: 'string' },
      experiment: { type: 'string' },
      client: { type: 'string' },
      ...KNOB_OPTIONS,
    });
    if (flag(p, 'help')) {
      io.stdout.write(run.usage + '\n');
      return 0;
    }
    if (str(p, 'scenario') !== undefined && str(p, 'experiment') !== undefined)
      throw new UsageError('--scenario and --experiment each name a whole run: give one of them');
    if (str(p, 'scenario') !== undefined) return runScenario(p, io, interrupt);
    if (str(p, 'experiment') !== undefined) return runNamedExperiment(p, io, interrupt);
    const o: Partial<ExperimentConfig> = {};
    const set = <K extends keyof ExperimentConfig>(k: K, v: ExperimentConfig[K] | undefined) => {
      if (v !== undefined) o[k] = v;
    };
    set('client', oneOf(p, 'client', ['http', 'fetch', 'http2'] as const));
    set('protocol', oneOf(p, 'protocol', ['http', 'https', 'h2'] as const));
    set('tlsResumption', toggle(p, argv, 'tls-resumption'));
    set('requests', int(p, 'requests', 1, 1_000_000));
    set('concurrency', int(p, 'concurrency', 1, 10_000));
    set('intervalMs', int(p, 'interval', 0, 3_600_000));
    set('keepAlive', toggle(p, argv, 'keep-alive'));
    set('consumeBody', toggle(p, argv, 'consume-body'));
    set('maxSockets', int(p, 'max-sockets', 1, 1_000_000));
    set('maxFreeSockets', int(p, 'max-free-sockets', 0, 1_000_000));
    set('timeoutMs', int(p, 'timeout', 1, 24 * 3_600_000));
    set('bodySize', size(p, 'body-size', 64 * 1024 * 1024));
    set('serverKeepAliveTimeoutMs', int(p, 'server-keep-alive-timeout', 0, 24 * 3_600_000));
    set('serverKeepAliveHint', toggle(p, argv, 'server-keep-alive-hint'));
    if (flag(p, 'server-close')) o.serverConnectionClose = true;
    set('serverMaxRequests', int(p, 'server-max-requests', 1, 1_000_000));
    set('target', str(p, 'target') ?? undefined);
    const config = experimentConfig(o);
    if (
      config.target !== null &&
      (o.bodySize !== undefined ||
        o.serverConnectionClose ||
        o.serverKeepAliveTimeoutMs !== undefined ||
        o.serverKeepAliveHint !== undefined ||
        o.serverMaxRequests !== undefined ||
        o.protocol !== undefined)
    ) {
      throw new UsageError(
        '--body-size, --protocol and the --server-* options configure the in-process server: not with --target',
      );
    }
    const engine = engineOptions(p);
    await checkOutputs(p);
    const result = await runExperiment({ name: 'run', ...config, ...engine, signal: interrupt.abort });
    const report = buildReport('run', [result]);
    await writeRunReport(io, p, report);
    // The report is out; a run whose requests failed still fails (exit 1, one line on stderr).
    const failure = clientFailure(result);
    if (failure !== null) throw failure;
    return 0;
  },
};

/** The knob flags given, as `--name` (a named run sets its own). */
function knobsGiven(p: Parsed, also: readonly string[] = []): string[] {
  return [...Object.keys(KNOB_OPTIONS), ...also].filter((k) => p.values[k] !== undefined).map((k) => `--${k}`);
}

/** `run --experiment NAME`: one of the named experiments (the demo's and the TLS ones), with its expectations. */
async function runNamedExperiment(p: Parsed, io: Io, interrupt: Interrupt): Promise<number> {
  const name = str(p, 'experiment')!;
  if (name === 'list') {
    io.stdout.write(EXPERIMENT_LIST.join('\n') + '\n');
    return 0;
  }
  const experiment = labExperiments().find((e) => e.name === name);
  if (experiment === undefined) {
    const names = labExperiments()
      .map((e) => e.name)
      .join(', ');
    throw new UsageError(`--experiment must be one of ${names} (or list), got '${name}'`);
  }
  const knobs = knobsGiven(p, ['client']);
  if (knobs.length > 0)
    throw new UsageError(`--experiment ${name} sets up its own experiment: ${knobs.join(', ')} cannot be used with it`);
  await checkOutputs(p);
  const result = await runExperiment({
    name: experiment.name,
    title: experiment.title,
    ...experiment.config,
    ...engineOptions(p),
    signal: interrupt.abort,
  });
  await writeRunReport(io, p, buildReport('run', [result]));
  // The report is out; requests that failed, or counts that are not the experiment's, fail the run.
  const failure = clientFailure(result) ?? missedExpectation(experiment, result);
  if (failure !== null) throw failure;
  return 0;
}

/** `run --scenario NAME`: a finding scenario instead of the knobs. */
async function runScenario(p: Parsed, io: Io, interrupt: Interrupt): Promise<number> {
  const name = str(p, 'scenario')!;
  if (name === 'list') {
    io.stdout.write(SCENARIO_LIST.join('\n') + '\n');
    return 0;
  }
  const scenario = findingScenario(name);
  if (scenario === undefined) {
    const names = FINDING_SCENARIOS.map((sc) => sc.name).join(', ');
    throw new UsageError(`--scenario must be one of ${names} (or list), got '${name}'`);
  }
  const knobs = knobsGiven(p);
  if (knobs.length > 0)
    throw new UsageError(`--scenario ${name} sets up its own experiment: ${knobs.join(', ')} cannot be used with it`);
  const client = oneOf(p, 'client', ['http', 'fetch'] as const);
  await checkOutputs(p);
  const result = await scenario.run({
    ...engineOptions(p),
    ...(client !== undefined ? { client } : {}),
    signal: interrupt.abort,
  });
  await writeRunReport(io, p, buildReport('run', [result]));
  // The report is out; a finding that did not show, or requests that failed unexpectedly, fail the run.
  const failure = missedFinding(scenario, result) ?? clientFailure(result);
  if (failure !== null) throw failure;
  return 0;
}
