/**
 * A response body not read (finding body-not-read), the article's cause: the client never reads
 * its responses, so no connection goes back to the pool and each request opens a new one. node:http
 * holds the socket until the response's end; fetch (undici) reads small bodies on its own, so with
 * fetch the bodies are 16 KB, more than it drains.
 */
import { CLOSE_AFTER_RESPONSE_MS } from '../../analyze/findings/thresholds.js';
import { runLab } from '../engine.js';
import { scenarioExperiment } from './common.js';
import type { FindingScenario } from './index.js';

export const bodyNotRead: FindingScenario = {
  name: 'body-not-read',
  title: 'body not read: 10 sequential requests, no response body read',
  finding: 'body-not-read',
  run(options) {
    return runLab(
      scenarioExperiment(bodyNotRead, options, {
        requests: 10,
        // Longer than CLOSE_AFTER_RESPONSE_MS: when the pool closes at the end, only the last connection
        // looks closed "right after its response" (a full pool); the others were left stranded.
        intervalMs: CLOSE_AFTER_RESPONSE_MS + 50,
        consumeBody: false,
        bodySize: options.client === 'fetch' ? 16 * 1024 : 11,
      }),
    );
  },
};
