/**
 * The keep-alive race (finding keepalive-race): the server closes connections idle for 300 ms and
 * says nothing of it (no `Keep-Alive: timeout=N`, as many servers do); the client keeps idle
 * connections longer than that (node:http's Agent and undici keep them 4 to 5 s without a hint), so
 * its next request can leave on a connection whose FIN is already on its way. That request is lost:
 * node:http fails with ECONNRESET ("socket hang up"), fetch with UND_ERR_SOCKET ("other side
 * closed"), and the wire shows server FIN -> request -> server RST (nodejs/node#20256, undici#583).
 *
 * Why no hint: Node's Agent reads `Keep-Alive: timeout=N` and closes its idle socket a second before
 * (Node 20; Node 24 subtracts agentKeepAliveTimeoutBuffer instead), and undici likewise
 * (keepAliveTimeoutThreshold). With the hint a Node client mostly avoids the race; without it, as
 * against nginx (which sends none unless told to) or most load balancers, it walks into it.
 *
 * Why not timers: a client that waits "about the server's timeout" meets the FIN only by luck. Here
 * each late request takes its connection from the pool just before the server's idle close (a timer
 * of the same duration armed first fires first: LabServer.onIdleArm) and sends its bytes from the
 * server's own idle-close event (LabServer.onIdleClose), in the same turn of the event loop as the
 * close: the FIN is on the wire and the client has not read it yet, which is exactly the window a
 * real client hits when its request leaves within one trip of the server's FIN. Every attempt races,
 * so the counts are exact. Taking the connection first matters on Node 22.23 and 24.22: their Agent
 * looks for a pending read (a FIN already in the socket's buffer) before it hands an idle socket to a
 * request and destroys such a socket (lib/_http_agent.js hasPendingRead), so a request made after
 * the FIN went on a new connection; one made before it still meets it, on every version.
 */
import { createDriver } from '../clients.js';
import type { ClientDriver, RequestOptions } from '../clients.js';
import { runLab } from '../engine.js';
import type { LabClient, LabContext } from '../engine.js';
import type { LabServer } from '../server.js';
import { counted, scenarioExperiment } from './common.js';
import type { FindingScenario } from './index.js';

/** The server's idle timeout: short, so that three attempts take about a second. */
export const RACE_SERVER_IDLE_MS = 300;

/**
 * The late request of each attempt: one POST among them, a request that was not safe to send again
 * (RFC 9110 9.2.2), which the finding says.
 */
export const RACE_LATE_REQUESTS: readonly RequestOptions[] = [
  { method: 'GET' },
  { method: 'POST', body: 'order=42' },
  { method: 'GET' },
];

export const race: FindingScenario = {
  name: 'race',
  title: `keep-alive race: requests meet the server's idle close (${RACE_SERVER_IDLE_MS} ms, no hint)`,
  finding: 'keepalive-race',
  run(options) {
    const knobs = {
      // Each attempt: a request that opens a connection, then the late one on it.
      requests: 2 * RACE_LATE_REQUESTS.length,
      serverKeepAliveTimeoutMs: RACE_SERVER_IDLE_MS,
      serverKeepAliveHint: false,
    };
    return runLab(scenarioExperiment(race, options, knobs), { client: raceClient });
  },
};

function raceClient(lab: LabContext): LabClient {
  const driver = createDriver(lab.config, lab.url);
  return {
    close: () => driver.close(),
    async run(outcome, signal) {
      for (const late of RACE_LATE_REQUESTS) {
        if (signal.aborted) return;
        // Armed first: the next idle timer the server arms is the connection the next request opens.
        const lateRequest = atIdleClose(lab.server, signal, driver, late);
        // A connection: the pool is empty (the previous one was lost), so this request opens one.
        if (!(await counted(outcome, () => driver.request()))) {
          lateRequest.cancel();
          continue;
        }
        // It idles in the pool until the server closes it; the late request leaves in that turn.
        await counted(outcome, () => lateRequest.sent, { lost: true });
      }
    },
  };
}

/**
 * `late` on the pooled connection: taken from the pool just before the server's next idle close (a
 * timer of the idle timeout's length, armed before the server's own), sent in the close's turn.
 */
function atIdleClose(
  server: LabServer,
  signal: AbortSignal,
  driver: ClientDriver,
  late: RequestOptions,
): { sent: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let offClose = (): void => undefined;
  let offArm = (): void => undefined;
  // What an abort does now: before the timer, fail the whole; after it, fail the late request's send.
  let onAbort = (): void => undefined;
  const abortListener = () => onAbort();
  const cancel = () => {
    offArm();
    offClose();
    clearTimeout(timer);
    signal.removeEventListener('abort', abortListener);
  };
  const sent = new Promise<void>((resolve, reject) => {
    onAbort = () => {
      cancel();
      reject(signal.reason);
    };
    offArm = server.onIdleArm((_socket, ms) => {
      offArm();
      timer = setTimeout(() => {
        // The request holds its socket until the close comes; an abort meanwhile must not leave it waiting.
        const closed = new Promise<void>((closes, fails) => {
          onAbort = () => {
            cancel();
            fails(signal.reason);
          };
          offClose = server.onIdleClose(() => {
            offClose();
            signal.removeEventListener('abort', abortListener);
            closes();
          });
        });
        driver.request({ ...late, sendWhen: closed }).then(resolve, reject);
      }, ms);
    });
    signal.addEventListener('abort', abortListener, { once: true });
  });
  // Cancelled (its opening request failed) or aborted before anyone awaits it: not unhandled.
  sent.catch(() => undefined);
  return { sent, cancel };
}
