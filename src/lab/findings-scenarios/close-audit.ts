/**
 * The close audit (finding close-audit): the server closes every connection after 3 requests, as
 * nginx does after keepalive_requests (1000 by default) and Apache after MaxKeepAliveRequests, saying
 * `Connection: close` on the last response. 12 sequential requests: 4 connections, each closed by the
 * server after exactly 3, which the finding names as a cap.
 */
import { runLab } from '../engine.js';
import { scenarioExperiment } from './common.js';
import type { FindingScenario } from './index.js';

/** Requests per connection the server allows. */
export const REQUEST_CAP = 3;

export const closeAudit: FindingScenario = {
  name: 'close-audit',
  title: `close audit: the server closes each connection after ${REQUEST_CAP} requests`,
  finding: 'close-audit',
  run(options) {
    return runLab(
      scenarioExperiment(closeAudit, options, { requests: 4 * REQUEST_CAP, serverMaxRequests: REQUEST_CAP }),
    );
  },
};
