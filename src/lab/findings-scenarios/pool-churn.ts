/**
 * An idle pool too small (finding pool-churn): 8 workers share one node:http Agent whose idle pool
 * holds 2 sockets (maxFreeSockets: 2, like Go's MaxIdleConnsPerHost default): each response that
 * finds the pool full closes its connection, and the next request opens a new one (golang/go#13801).
 * node:http only: undici's pool has no such limit.
 */
import { invalidOption } from '../../errors.js';
import { runLab } from '../engine.js';
import { scenarioExperiment } from './common.js';
import type { FindingScenario } from './index.js';

export const poolChurn: FindingScenario = {
  name: 'pool-churn',
  title: 'pool churn: 8 workers x 8 requests, idle pool of 2 (maxFreeSockets)',
  finding: 'pool-churn',
  async run(options) {
    if (options.client === 'fetch')
      throw invalidOption('client', "fetch cannot reproduce pool-churn: undici's pool keeps every idle connection");
    return runLab(scenarioExperiment(poolChurn, options, { requests: 64, concurrency: 8, maxFreeSockets: 2 }));
  },
};
