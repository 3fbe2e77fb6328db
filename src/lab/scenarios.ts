/**
 * The demo's experiments: the article's four (sequential without/with reading the body; 10 workers x
 * 10 requests with an idle pool of 2 and of 10), then what the article could not show.
 */
import type { ExperimentConfig } from '../model/report.js';
import { experimentConfig } from './config.js';

export interface Scenario {
  name: string;
  title: string;
  config: ExperimentConfig;
}

export function demoScenarios(overrides: Partial<ExperimentConfig> = {}): Scenario[] {
  const c = (o: Partial<ExperimentConfig>) => experimentConfig({ ...o, ...overrides });
  return [
    { name: 'seq-unread', title: 'sequential, body never read', config: c({ consumeBody: false }) },
    { name: 'seq-read', title: 'sequential, body read to the end', config: c({ consumeBody: true }) },
    {
      name: 'conc-pool-2',
      title: '10 workers x 10, idle pool 2',
      config: c({ requests: 100, concurrency: 10, maxFreeSockets: 2 }),
    },
    {
      name: 'conc-pool-10',
      title: '10 workers x 10, idle pool 10',
      config: c({ requests: 100, concurrency: 10, maxFreeSockets: 10 }),
    },
    {
      name: 'fetch-unread-small',
      title: 'fetch, 11 B body never read',
      config: c({ client: 'fetch', consumeBody: false, bodySize: 11 }),
    },
    {
      name: 'fetch-unread-16k',
      title: 'fetch, 16 KB body never read',
      config: c({ client: 'fetch', consumeBody: false, bodySize: 16384 }),
    },
    { name: 'no-keepalive', title: 'keep-alive disabled (client)', config: c({ keepAlive: false }) },
    { name: 'server-close', title: 'server sends Connection: close', config: c({ serverConnectionClose: true }) },
  ];
}
