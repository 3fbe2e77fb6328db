/**
 * The observers' programs started once for several experiments run one after another (the demo:
 * lab/engine.ts runExperiments): one tcpdump (a CaptureSession) whose filter holds every
 * experiment's server port, and one `ss -E` (SocketEvents) following them all. Each experiment's
 * wire and kernel observers are views of them, from their start() to their stop(), of their own
 * port: the `session` option of CaptureObserver, `sharedEvents` of KernelObserver. What a view
 * reports is what an observer with programs of its own would (its port's packets and destroyed
 * sockets, from its start to its stop, the packets the kernel dropped since the previous view's stop).
 *
 * Why: each program takes ~200 ms to start (tcpdump saying it listens, ss -E showing a first
 * event), more on a loaded machine; the demo's eight experiments paid that eight times (issue 8:
 * the demo in under 5 s on a host with 100,000 TIME_WAIT sockets).
 *
 * The lifecycle: start() once the servers are bound (their ports known), close() when the last
 * experiment has stopped, or at once when the run is aborted; both programs run under the guard of
 * guarded-child.ts, so a SIGKILL of this process ends them too. The servers' ports must stay
 * theirs meanwhile: the caller keeps the servers bound until it closes this.
 */
import { onAbort } from '../util/abort.js';
import { CaptureSession } from './capture-session.js';
import { serverFocus } from './capture.js';
import { SocketEvents } from './socket-events.js';
import type { SharedSocketEvents } from './socket-events.js';

export interface SharedObservationOptions {
  /** The servers' address (they all listen on it). */
  host: string;
  /** The servers' ports, one per experiment. */
  ports: readonly number[];
  /** Start tcpdump (default true). */
  capture?: boolean;
  tcpdump?: string;
  /** Start ss -E (default true). */
  events?: boolean;
  /** Aborted while starting: what started is ended, and start() rejects with the signal's reason. */
  signal?: AbortSignal;
}

export class SharedObservation {
  private constructor(
    /** The capture (null: not asked for); `unavailable` says when tcpdump cannot run. */
    readonly capture: CaptureSession | null,
    /** The socket-destroy events (null: not asked for), or why they cannot be followed. */
    readonly events: SharedSocketEvents | null,
  ) {}

  /** Starts tcpdump and ss -E side by side; resolves once both run (or are known not to be able to). */
  static async start(options: SharedObservationOptions): Promise<SharedObservation> {
    const { signal } = options;
    signal?.throwIfAborted();
    const focus = serverFocus(options.host, options.ports);
    const capture =
      (options.capture ?? true)
        ? new CaptureSession({
            interface: focus.interface,
            filter: focus.filter,
            ...(options.tcpdump !== undefined ? { tcpdump: options.tcpdump } : {}),
          })
        : null;
    const closing = new AbortController();
    const offAbort = onAbort(signal, () => {
      closing.abort(signal!.reason);
      void capture?.close();
    });
    const starting =
      (options.events ?? true)
        ? SocketEvents.start({
            ports: options.ports,
            signal: closing.signal,
          }).then(
            (events): SharedSocketEvents => ({ events, problem: null }),
            (error: unknown): SharedSocketEvents => ({ events: null, problem: (error as Error).message }),
          )
        : Promise.resolve(null);
    try {
      const [events] = await Promise.all([starting, capture?.start()]).catch(async (error: unknown) => {
        // The capture failed (a bad interface): ss -E, started or starting, is ended too.
        closing.abort(error);
        await capture?.close();
        await (await starting)?.events?.close();
        throw error;
      });
      const shared = new SharedObservation(capture, events);
      if (signal?.aborted) {
        await shared.close();
        throw signal.reason;
      }
      return shared;
    } finally {
      offAbort();
    }
  }

  /** Ends tcpdump and ss -E. Safe to call more than once. */
  async close(): Promise<void> {
    await Promise.all([this.capture?.close(), this.events?.events?.close()]);
  }
}
