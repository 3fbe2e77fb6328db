/**
 * Finding scenarios: each reproduces one finding (analyze/findings/) with Node's own clients against
 * the in-process server configured to cause it, and must raise it (`run --scenario NAME`, `demo
 * --all`). One file per scenario, each listed once in FINDING_SCENARIOS.
 */
import { ScenarioMissedError } from '../../errors.js';
import type { FindingCode, RunReport } from '../../model/report.js';
import { bodyNotRead } from './body-not-read.js';
import { closeAudit } from './close-audit.js';
import { idleReset } from './idle-reset.js';
import { pathOrderScenario } from './path-order.js';
import { poolChurn } from './pool-churn.js';
import { portOutlookScenario } from './port-outlook.js';
import { race } from './race.js';

/** How to run a scenario (not what it does: that is the scenario's). */
export interface FindingScenarioOptions {
  /** Ends the run at once: sockets, observers and servers are closed, the promise rejects. */
  signal?: AbortSignal;
  /** Capture packets with tcpdump (default true): the findings then come from the wire. */
  capture?: boolean;
  /** Read the kernel socket table (default true). */
  kernel?: boolean;
  tcpdump?: string;
  /** Where the in-process server (and a hop in front of it) listens: default 127.0.0.1. */
  host?: string;
  /** The in-process server's port (default: a free one). */
  port?: number;
  /**
   * Node's client to reproduce it with: node:http's Agent (default) or fetch. A scenario that needs
   * one of them rejects the other with a UsageError about `client`.
   */
  client?: 'http' | 'fetch';
}

export interface FindingScenario {
  /** e.g. 'race' (`run --scenario race`). */
  name: string;
  /** One line. */
  title: string;
  /** The finding it must raise (model/report.ts FINDING_CODES). */
  finding: FindingCode;
  run(options: FindingScenarioOptions): Promise<RunReport>;
}

export const FINDING_SCENARIOS: readonly FindingScenario[] = [
  race,
  idleReset,
  bodyNotRead,
  poolChurn,
  closeAudit,
  pathOrderScenario,
  portOutlookScenario,
];

export function findingScenario(name: string): FindingScenario | undefined {
  return FINDING_SCENARIOS.find((s) => s.name === name);
}

/**
 * A ScenarioMissedError when the run did not raise the scenario's finding, else null. `about` goes
 * before the message (which scenario it was).
 */
export function missedFinding(
  scenario: FindingScenario,
  run: RunReport,
  about = `scenario ${scenario.name}: `,
): ScenarioMissedError | null {
  if (run.findings.some((f) => f.code === scenario.finding)) return null;
  const found = run.findings.map((f) => f.code).join(', ') || 'none';
  return new ScenarioMissedError(`${about}the ${scenario.finding} finding did not show (findings: ${found})`);
}
