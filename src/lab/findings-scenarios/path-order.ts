/**
 * Lab scenario 'path-order' (finding idle-timeout-order): a Node client (an http.Agent with
 * keep-alive) -> a load balancer in this process (a node:http server that forwards each request over
 * its own keep-alive http.Agent, whose idle upstream sockets live UPSTREAM_IDLE_MS, and answers 502
 * when the upstream request fails) -> the lab's backend server, whose keepAliveTimeout is short and
 * which sends no Keep-Alive hint, so that the balancer cannot learn it (nginx sends none either).
 *
 * Each round: a request goes through the balancer to the backend; the next one leaves when the
 * backend's keep-alive timer runs out, from that timer itself (LabServer.onIdleDue): the instant that
 * real traffic meets by chance once in a while, here every time. In that one turn of the event loop
 * the client's request is written first and the backend closes the idle connection right after, so
 * the balancer reads the request before it notices the FIN. It sends the request on that connection,
 * the backend's kernel answers with a RST, the balancer answers 502. (A timer of the client's own,
 * armed with the backend's, fired a turn early now and then on a busy machine: the request then
 * reached the backend before its close, which reset the connection without a FIN.)
 *
 * Both hops are captured on loopback (the capture observer, one filter for both ports) and the
 * finding is read from the wire with the path given: the balancer's endpoint, then the backend's. The
 * kernel observer watches one server port, so this scenario has none. Everything runs in this
 * process and is closed at the end, or at once when `signal` aborts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { detectFindings } from '../../analyze/findings/index.js';
import { runReport } from '../../analyze/run-report.js';
import type { ClientOutcome, Endpoint, ObserverReport, RunReport, Warning } from '../../model/report.js';
import { CaptureObserver } from '../../observe/capture.js';
import { startAll } from '../../observe/observer.js';
import { LOOPBACK_INTERFACE } from '../../observe/tcpdump.js';
import { abortable, onAbort } from '../../util/abort.js';
import { withTimeout } from '../../util/time.js';
import { settleAndStop } from '../engine.js';
import { startLabServer } from '../server.js';
import type { FindingScenario, FindingScenarioOptions } from './index.js';

const HOST = '127.0.0.1';
/** The backend's idle timeout (the lab server's own timer: it closes on time). */
const BACKEND_KEEP_ALIVE_MS = 200;
/** The balancer's upstream pool keeps idle sockets this long: longer than the backend does. */
const UPSTREAM_IDLE_MS = 4000;
/** Rounds of (request, request timed to the backend's close): each loses one request to a 502. */
const ROUNDS = 3;
/** The whole traffic, at most (about 0.2 s a round). */
const TRAFFIC_TIMEOUT_MS = 15_000;
/** Closing handshakes to show on the wire, at most. */
const SETTLE_MS = 3000;
const BAD_GATEWAY = 502;

/** Hop-by-hop headers a proxy does not forward (RFC 9110 7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'];

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = { ...headers };
  for (const name of HOP_BY_HOP) delete out[name];
  return out;
}

interface Balancer {
  readonly port: number;
  close(): Promise<void>;
}

/** The load balancer: forwards over a keep-alive pool whose idle sockets live `upstreamIdleMs`; 502 on failure. */
async function startBalancer(upstream: Endpoint, upstreamIdleMs: number): Promise<Balancer> {
  const agent = new http.Agent({ keepAlive: true, timeout: upstreamIdleMs });
  const server = http.createServer((req, res) => {
    const forward = http.request(
      {
        host: upstream.address,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: endToEnd(req.headers),
        agent,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? BAD_GATEWAY, endToEnd(answer.headers));
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(BAD_GATEWAY, { 'content-type': 'text/plain', 'content-length': 12 });
      res.end('bad gateway\n');
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One GET through the client's pool: the status, once the body was read. */
function get(url: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        res.on('error', reject);
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.resume();
      })
      .on('error', reject);
  });
}

async function runPathOrder(options: FindingScenarioOptions = {}): Promise<RunReport> {
  const { signal } = options;
  signal?.throwIfAborted();
  const closers: (() => Promise<void>)[] = [];
  const warnings: Warning[] = [];
  let wire: CaptureObserver | undefined;
  const step = <T>(promise: Promise<T>) => abortable(promise, signal);
  try {
    const backend = await startLabServer({
      host: HOST,
      keepAliveTimeoutMs: BACKEND_KEEP_ALIVE_MS,
      keepAliveHint: false,
    });
    closers.push(() => backend.close());
    // The round's late request, sent from the backend's keep-alive timer (see the top of the file).
    let sendLate: (() => void) | null = null;
    backend.onIdleDue(() => {
      const send = sendLate;
      if (send === null) return;
      sendLate = null;
      send();
    });
    const backendEndpoint = { address: HOST, port: backend.port };
    const balancer = await startBalancer(backendEndpoint, UPSTREAM_IDLE_MS);
    closers.push(() => balancer.close());
    const path = [{ address: HOST, port: balancer.port }, backendEndpoint];
    const url = `http://${HOST}:${balancer.port}/`;

    if (options.capture ?? true) {
      wire = new CaptureObserver({
        interface: LOOPBACK_INTERFACE,
        filter: `host ${HOST} and (tcp port ${balancer.port} or tcp port ${backend.port})`,
        serverPorts: [balancer.port, backend.port],
        ...(options.tcpdump !== undefined ? { tcpdump: options.tcpdump } : {}),
      });
      await startAll([wire], signal);
    }

    const client = new http.Agent({ keepAlive: true, maxSockets: 1 });
    closers.unshift(async () => client.destroy());
    const outcome: ClientOutcome = { requests: 0, completed: 0, errors: [], elapsedMs: 0 };
    const started = performance.now();
    let badGateway = 0;
    const request = async () => {
      outcome.requests++;
      try {
        const status = await get(url, client);
        if (status === BAD_GATEWAY) badGateway++;
        else outcome.completed++;
      } catch (error) {
        const message = (error as Error).message;
        if (!outcome.errors.includes(message)) outcome.errors.push(message);
      }
    };
    const offAbort = onAbort(signal, () => client.destroy());
    try {
      const traffic = async () => {
        for (let round = 0; round < ROUNDS && !signal?.aborted; round++) {
          const late = new Promise<void>((resolve) => {
            sendLate = () => void request().then(resolve);
          });
          await request();
          await late;
        }
      };
      await step(withTimeout(traffic(), TRAFFIC_TIMEOUT_MS, 'the path-order traffic'));
    } finally {
      offAbort();
    }
    outcome.elapsedMs = performance.now() - started;
    if (badGateway > 0)
      outcome.errors.unshift(
        `${badGateway} of ${outcome.requests} responses were 502 Bad Gateway (the load balancer's)`,
      );

    // The client's pool, the balancer and the backend close; the wire catches up with their FINs.
    // One at a time off the list: when one fails, `finally` still closes those after it.
    for (let close = closers.shift(); close !== undefined; close = closers.shift()) await close();
    const observers: ObserverReport[] = [];
    if (wire !== undefined) {
      const stopped = await settleAndStop([wire], {
        expected: () => 0,
        settleTimeoutMs: SETTLE_MS,
        signal,
        stopping: 'the capture stopped',
      });
      observers.push(...stopped.reports);
      if (stopped.warning !== undefined) warnings.push(stopped.warning);
      wire = undefined;
    }
    const records = observers[0]?.available ? observers[0].connections : [];
    const head = {
      name: pathOrderScenario.name,
      title: pathOrderScenario.title,
      subject: url,
      config: null,
      client: outcome,
    };
    return runReport(head, observers, { warnings, findings: detectFindings(records, { path }) });
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    await wire?.close();
  }
}

export const pathOrderScenario: FindingScenario = {
  name: 'path-order',
  title:
    `client -> load balancer (upstream idle ${UPSTREAM_IDLE_MS / 1000} s) -> backend ` +
    `(keepAliveTimeout ${BACKEND_KEEP_ALIVE_MS} ms, no Keep-Alive hint)`,
  finding: 'idle-timeout-order',
  run: runPathOrder,
};
