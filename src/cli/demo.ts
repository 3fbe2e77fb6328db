import { buildReport } from '../analyze/run-report.js';
import { clientFailure, runExperiments } from '../lab/engine.js';
import { FINDING_SCENARIOS, missedFinding } from '../lab/findings-scenarios/index.js';
import type { FindingScenario } from '../lab/findings-scenarios/index.js';
import { missedExpectation } from '../lab/expectations.js';
import { demoScenarios, tlsScenarios } from '../lab/scenarios.js';
import type { RunReport } from '../model/report.js';
import { readHostFacts } from '../observe/host-facts.js';
import { flag, int, parse } from './args.js';
import type { Command } from './command.js';
import { checkOutputs, writeRunReport } from './output.js';
import { ProgressLine } from './progress.js';
import { ENGINE_OPTIONS, ENGINE_USAGE, engineOptions } from './lab-options.js';

export const demo: Command = {
  name: 'demo',
  usage: `Usage: keepalive-lab demo [options]

Runs, against an in-process HTTP server on loopback, with Node's own clients:
  1. sequential, 10 requests, response body never read (node:http)
  2. sequential, 10 requests, body read to the end
  3. 10 workers x 10 requests, idle pool of 2 (maxFreeSockets: 2, like Go's MaxIdleConnsPerHost)
  4. 10 workers x 10 requests, idle pool of 10
  5-6. fetch with an unread 11-byte body, and with an unread 16 KB body
  7. keep-alive disabled on the client;  8. the server answers Connection: close
and prints one row per experiment, as counted by the server, the kernel's socket table and the wire.
With --tls, then HTTPS and HTTP/2 against the server over TLS (a certificate made at run time; the
wire decrypts with the key log the lab's client writes): https with and without keep-alive, TLS
sessions resumed, fetch over https, 100 concurrent requests on one HTTP/2 connection.
With --all, then every finding scenario (keepalive-lab run --scenario list), each with its finding.

Options:
  --tls                 also the TLS experiments (exit 1 when one did not show its expected counts)
  --all                 also reproduce every finding (exit 1 when one did not show)
  --interval MS         pause between a worker's requests (default 20; the article used 1000)
${ENGINE_USAGE}`,
  async run(argv, io, interrupt) {
    const p = parse(argv, {
      ...ENGINE_OPTIONS,
      all: { type: 'boolean' },
      tls: { type: 'boolean' },
      interval: { type: 'string' },
    });
    if (flag(p, 'help')) {
      io.stdout.write(demo.usage + '\n');
      return 0;
    }
    const interval = int(p, 'interval', 0, 60000);
    const options = engineOptions(p);
    await checkOutputs(p);
    const json = flag(p, 'json');
    const runs: RunReport[] = [];
    const knobs = interval !== undefined ? { intervalMs: interval } : {};
    const scenarios = [...demoScenarios(knobs), ...(flag(p, 'tls') ? tlsScenarios(knobs) : [])];
    const findings: readonly FindingScenario[] = flag(p, 'all') ? FINDING_SCENARIOS : [];
    const count = scenarios.length + findings.length;
    // Nothing of it with --json or on a pipe (ProgressLine writes only to a TTY).
    const progress = json ? null : new ProgressLine(io.stderr);
    // The same machine for every experiment: its facts (the port outlook's) are read once.
    const hostFacts = await readHostFacts();
    const step = (i: number, title: string) => progress?.update(`[${i + 1}/${count}] ${title}...`);
    // One after another, watched by one tcpdump and one ss -E for them all (engine.ts runExperiments).
    const experiments = scenarios.map((s) => ({ name: s.name, title: s.title, ...s.config, ...options, hostFacts }));
    runs.push(
      ...(await runExperiments(experiments, {
        signal: interrupt.abort,
        onExperiment: (i) => step(i, scenarios[i]!.title),
      })),
    );
    for (const [i, s] of findings.entries()) {
      step(scenarios.length + i, s.title);
      runs.push(await s.run({ ...options, signal: interrupt.abort }));
    }
    progress?.done();
    const report = buildReport('demo', runs);
    await writeRunReport(io, p, report);
    // The report is out; an experiment whose client failed or whose counts are not the expected ones,
    // or a scenario whose finding did not show, fails the demo (exit 1, one line on stderr).
    const failure = (run: RunReport, i: number, about: string) => {
      const scenario = findings[i - scenarios.length];
      const experiment = scenarios[i];
      return (
        (scenario && missedFinding(scenario, run, `scenario ${about}`)) ??
        clientFailure(run, `experiment ${about}`) ??
        (experiment && missedExpectation(experiment, run, `experiment ${about}`)) ??
        null
      );
    };
    const failed = runs.flatMap((run, i) => (failure(run, i, '') !== null ? [{ run, i }] : []));
    if (failed.length > 0) {
      const { run, i } = failed[0]!;
      const of = failed.length > 1 ? ` (1 of ${failed.length} that failed)` : '';
      throw failure(run, i, `${run.name}${of}: `)!;
    }
    return 0;
  },
};
