/**
 * An idle reset by a middlebox (finding idle-reset): a proxy on the path plays a NAT gateway or load
 * balancer that drops flows idle for 200 ms (AWS NAT gateway: 350 s; ALB: 60 s by default). The
 * server would keep the connection 5 s and says so (`Keep-Alive: timeout=5`), so the client keeps it
 * too; after 300 ms idle its next request meets the dropped flow: a RST, no FIN, and the request is
 * lost (node:http: ECONNRESET; fetch: UND_ERR_SOCKET). The wire is watched on the client's side of the
 * path, as a capture on the client's host would be: the RST comes from the server's address.
 */
import { sleep } from '../../util/time.js';
import { createDriver } from '../clients.js';
import { runLab } from '../engine.js';
import type { LabClient, LabContext } from '../engine.js';
import { counted, scenarioExperiment } from './common.js';
import type { FindingScenario } from './index.js';

/** The middlebox drops a flow idle this long (ms)... */
export const MIDDLEBOX_IDLE_MS = 200;
/** ...and the client reuses its connection after this long idle: longer, and far below the server's 5 s. */
export const CLIENT_IDLE_MS = 300;
/** Connections that go through it: a request, the idle gap, the request that is lost. */
const ATTEMPTS = 2;

export const idleReset: FindingScenario = {
  name: 'idle-reset',
  title: `idle reset: a middlebox drops flows idle ${MIDDLEBOX_IDLE_MS} ms, reused after ${CLIENT_IDLE_MS} ms`,
  finding: 'idle-reset',
  run(options) {
    return runLab(scenarioExperiment(idleReset, options, { requests: 2 * ATTEMPTS }), {
      hop: { idleResetMs: MIDDLEBOX_IDLE_MS },
      client: idleClient,
    });
  },
};

function idleClient(lab: LabContext): LabClient {
  const driver = createDriver(lab.config, lab.url);
  return {
    close: () => driver.close(),
    async run(outcome, signal) {
      for (let i = 0; i < ATTEMPTS && !signal.aborted; i++) {
        // The pool is empty (the previous connection was lost): this request opens a connection.
        if (!(await counted(outcome, () => driver.request()))) continue;
        await sleep(CLIENT_IDLE_MS, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
        await counted(outcome, () => driver.request(), { lost: true });
      }
    },
  };
}
