import type { ExperimentConfig } from '../model/report.js';

/** The article's 1 s pauses, shortened so the whole demo runs in seconds. */
export const DEFAULT_INTERVAL_MS = 20;

export const DEFAULT_CONFIG: ExperimentConfig = {
  client: 'http',
  requests: 10,
  concurrency: 1,
  intervalMs: DEFAULT_INTERVAL_MS,
  keepAlive: true,
  consumeBody: true,
  bodySize: 11,
  maxSockets: null,
  // Node's own default for Agent maxFreeSockets.
  maxFreeSockets: 256,
  serverKeepAliveTimeoutMs: 5000,
  serverConnectionClose: false,
  target: null,
  timeoutMs: 20000,
};

export function experimentConfig(overrides: Partial<ExperimentConfig> = {}): ExperimentConfig {
  return { ...DEFAULT_CONFIG, ...overrides };
}
