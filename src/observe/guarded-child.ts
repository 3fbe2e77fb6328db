/**
 * A program an observer runs beside us (tcpdump, `ss -E`) that must never outlive us and whose
 * output must be read as soon as it comes: run and read by a worker thread of its own
 * (child-reader.ts), under a guard shell that ends it when our end of a pipe closes, which the
 * kernel does when this process dies, SIGKILL included. This is the main thread's side: the
 * program's output, chunk by chunk, its stderr, its end.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { ReaderCommand, ReaderData, ReaderMessage } from './child-reader.js';

/**
 * The nice value (-20 first, 0 the default, 19 last) of the thread that reads the program and, as
 * they inherit it, of the program and its guard: when every core is busy (wrk beside a loaded
 * machine), a reader at the load's priority falls behind and the kernel drops what it had for it
 * (packets for tcpdump, socket events for ss). Parsing stays at ours and may lag (backlog.ts).
 * Needs privileges (root, CAP_SYS_NICE); without, ours.
 */
export const OBSERVER_PRIORITY = -10;
/**
 * Better still, where permitted (root, CAP_SYS_NICE): the real-time policy SCHED_FIFO, at its
 * lowest priority, for that thread and so for the program (chrt(1); fork copies the calling
 * thread's policy). A nice value only weighs a task's share of the CPU: beside a loaded machine
 * tcpdump still waited for a core long enough for its ring to overflow. A real-time task runs as
 * soon as it is woken, before any task of the normal policy. It cannot take the machine: tcpdump
 * and ss sleep until the kernel has something for them, and the kernel keeps 5% of each second for
 * the others (sched_rt_runtime_us). Measured with `wrk -c 100 -d 2s` watched (stress/watch.ts),
 * alternating blocks of 10 runs while other test suites kept both cores busy: at nice -10, 3 of
 * 30 runs exact, packets dropped in 27; SCHED_FIFO 1, 24 of 30 exact, drops in 6.
 */
export const OBSERVER_REALTIME_PRIORITY = 1;
/** After our end of its stdin closes, how long the program gets before the group gets SIGKILL. */
const KILL_AFTER_MS = 3000;

/** The reader thread's script (child-reader.ts, built next to this file). */
const READER = new URL('./child-reader.js', import.meta.url);

export class GuardedChild {
  /** What the program wrote on stderr, up to 64 KiB. */
  stderr = '';
  /** The guard's pid, which is also its process group's (null until spawned). */
  pid: number | null = null;
  /** Resolves once the program (and its guard) have exited and all they wrote has been handed to onData. */
  readonly exited: Promise<void>;
  /** The guard's exit code once it has exited (null: killed by a signal); undefined while it runs. */
  exitCode: number | null | undefined;
  /** The reader's messages, in order (start-up waits on them). */
  readonly messages = new EventEmitter();
  private closed = false;
  private readonly worker: Worker;

  /** Starts `binary args` under the guard, read by a thread of its own; `onData` gets each chunk and its time. */
  constructor(binary: string, args: string[], onData: (chunk: Buffer, at: number) => void) {
    const data: ReaderData = { binary, args, priority: OBSERVER_PRIORITY, realtime: OBSERVER_REALTIME_PRIORITY };
    this.worker = new Worker(READER, { workerData: data });
    this.exited = new Promise((resolve) => {
      const done = () => {
        this.closed = true;
        resolve();
      };
      this.worker.on('message', (m: ReaderMessage) => {
        if (m.type === 'data') onData(Buffer.from(m.chunk), m.at);
        else if (m.type === 'stderr') {
          if (this.stderr.length < 64 * 1024) this.stderr += m.text;
        } else if (m.type === 'spawned') this.pid = m.pid;
        else if (m.type === 'exit') this.exitCode = m.code;
        else if (m.type === 'closed') done();
        this.messages.emit('message', m);
      });
      // The thread ends once the program's output is all relayed (or it failed): nothing more can come.
      this.worker.once('exit', done);
      this.worker.once('error', (error) => {
        this.messages.emit('message', { type: 'error', message: error.message } satisfies ReaderMessage);
        done();
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined && !this.closed;
  }

  /** Stops reading the program's output: it blocks writing, and what the kernel holds for it fills (then drops). */
  pause(): void {
    this.command('pause');
  }

  resume(): void {
    this.command('resume');
  }

  /**
   * Sends `signal` to the program's process group (the guard ignores SIGUSR1 and SIGUSR2: see
   * child-reader.ts); false when it has not been spawned or has gone.
   */
  signal(signal: NodeJS.Signals): boolean {
    if (this.pid === null || !this.running) return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  private command(command: ReaderCommand): void {
    if (!this.closed) this.worker.postMessage(command);
  }

  /**
   * Ends the program: closes our end of the guard's pipe (the guard then sends it SIGTERM; tcpdump
   * prints its statistics and exits), and resolves once all it wrote has been relayed. Should that
   * take longer than 3 s, the guard's process group gets SIGKILL.
   */
  async stop(): Promise<void> {
    this.command('stop');
    const timer = setTimeout(() => this.command('kill'), KILL_AFTER_MS);
    await this.exited;
    clearTimeout(timer);
    await this.worker.terminate();
  }
}
