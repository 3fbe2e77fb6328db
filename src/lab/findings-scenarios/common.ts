/** What the finding scenarios share: their options as the engine's, and the errors a lost request ends with. */
import type { ClientOutcome, ExperimentConfig } from '../../model/report.js';
import type { ExperimentOptions } from '../engine.js';
import { countFailure, errorCode } from '../outcome.js';
import type { FindingScenario, FindingScenarioOptions } from './index.js';

/**
 * The scenario's experiment: its name and title, where and with which observers to run it (from
 * `options`), Node's client (`options.client`, node:http by default), and the knobs that cause its finding.
 */
export function scenarioExperiment(
  scenario: FindingScenario,
  options: FindingScenarioOptions,
  knobs: Partial<ExperimentConfig>,
): ExperimentOptions {
  const o: ExperimentOptions = { name: scenario.name, title: scenario.title, client: options.client ?? 'http' };
  if (options.signal !== undefined) o.signal = options.signal;
  if (options.capture !== undefined) o.capture = options.capture;
  if (options.kernel !== undefined) o.kernel = options.kernel;
  if (options.tcpdump !== undefined) o.tcpdump = options.tcpdump;
  if (options.host !== undefined) o.host = options.host;
  if (options.port !== undefined) o.port = options.port;
  return { ...o, ...knobs };
}

/**
 * The codes of a request lost on a connection that the other side (or the path) closed or reset:
 * node:http's "socket hang up" and "read ECONNRESET" (ECONNRESET), a write into a reset socket
 * (EPIPE), fetch's "other side closed" (undici's UND_ERR_SOCKET). A scenario that means its requests
 * to be lost counts only these as expected: any other failure fails the run.
 */
export const LOST_REQUEST_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * One request, counted into `outcome`; resolves to whether it completed. `lost`: the scenario means
 * it to be lost, and a failure with one of LOST_REQUEST_CODES is counted as expected.
 */
export async function counted(
  outcome: ClientOutcome,
  send: () => Promise<void>,
  { lost = false }: { lost?: boolean } = {},
): Promise<boolean> {
  outcome.requests++;
  try {
    await send();
    outcome.completed++;
    return true;
  } catch (error) {
    countFailure(outcome, error, lost && LOST_REQUEST_CODES.has(errorCode(error)));
    return false;
  }
}
