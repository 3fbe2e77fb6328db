/**
 * A worker thread that runs one program under a guard (see GUARD) and relays what it writes to
 * the thread that started it (guarded-child.ts). It runs tcpdump (tcpdump.ts) and `ss -E`
 * (socket-events.ts): programs that write as fast as the kernel gives them something, and that the
 * kernel makes lose it when they are not read. Why a thread of its own: tcpdump blocks when the
 * pipe to us is full (64 KiB), and its kernel ring overflows a few milliseconds later (ss's netlink
 * socket the same way: ENOBUFS, and ss exits); the main thread, parsing tcpdump's output and running
 * the other observers, stalled 30-600 ms at a time beside `wrk -c 100` on a loaded two-core machine
 * (garbage collection, its share of the CPU), and the kernel dropped 7,000-31,000 packets a run.
 * This thread does nothing but read and pass chunks on; its pauses are those of a tiny heap.
 * Measured beside the same wrk: 0 drops in every run, with the main thread stalled up to 610 ms.
 *
 * Messages to the parent, in order: `spawned` (the guard's pid), `stderr` text and `data`
 * chunks (ArrayBuffers, transferred, each with the time it was read) as they come, `exit` when the
 * guard has exited, `closed` once all its output has been relayed, or `error` when it could not be
 * spawned. From the parent: `stop` (close the guard's pipe: the program ends), `pause`/`resume`
 * (stop/start reading), `kill` (SIGKILL to the guard's process group).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The guard, run as `sh -c GUARD PROGRAM ARGS...`: it ends the program when the pipe on its stdin
 * closes, which happens when we close it (stop) and when our process dies, whatever the signal
 * (SIGKILL runs no handler of ours, but the kernel closes our descriptors). Node has no
 * PR_SET_PDEATHSIG (and tcpdump, which drops its privileges, would clear it: a change of
 * credentials does). fd 3 keeps that pipe; the program gets neither it nor stdin. A background
 * reader waits for the pipe to close (read returns at end of file), then sends the program
 * SIGTERM; its output goes to /dev/null (`exec`: no copy of our stdout/stderr pipes stays open in
 * it). The guard exits with the program's status. It and its reader ignore SIGUSR1 and SIGUSR2,
 * sent to the whole group to reach the program (tcpdump prints its statistics on SIGUSR1, and sets
 * its own handler: a program that sets none ignores them too, as the ignored disposition is inherited).
 */
const GUARD = [
  "trap '' USR1 USR2",
  'exec 3<&0 </dev/null',
  '"$0" "$@" 3<&- &',
  'pid=$!',
  '(exec >/dev/null 2>&1; read -r _ <&3; kill -TERM "$pid") &',
  'exec 3<&-',
  'wait "$pid"',
].join('\n');

/** What the parent gives this thread. */
export interface ReaderData {
  binary: string;
  args: string[];
  /** A nice value for this thread (Linux: a thread has its own), inherited by the program (guarded-child.ts). */
  priority: number;
  /** A SCHED_FIFO priority (1-99) for this thread and the program, when permitted (guarded-child.ts). */
  realtime?: number;
}

/** What this thread tells the parent. */
export type ReaderMessage =
  | { type: 'spawned'; pid: number }
  | { type: 'stderr'; text: string }
  /** `at`: when this thread read the chunk, in ms since the Unix epoch. */
  | { type: 'data'; chunk: ArrayBuffer; at: number }
  | { type: 'exit'; code: number | null }
  | { type: 'closed' }
  | { type: 'error'; message: string };

export type ReaderCommand = 'stop' | 'pause' | 'resume' | 'kill';

const port = parentPort!;
const { binary, args, priority, realtime } = workerData as ReaderData;

// This thread reads for the program, which blocks when we do not: it goes first, as the program does.
// /proc/thread-self is this thread's /proc/PID/task/TID; setpriority(2) on a TID is per thread.
const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
try {
  setPriority(tid, priority);
} catch {
  // Not permitted, or not Linux.
}
if (realtime !== undefined) {
  // SCHED_FIFO for this thread, and so for what it spawns (fork copies the calling thread's
  // policy); chrt fails without privileges (or is not there), and the nice value stays.
  spawnSync('chrt', ['-f', '-p', String(realtime), String(tid)], { stdio: 'ignore' });
}
const post = (message: ReaderMessage, transfer?: ArrayBuffer[]) => port.postMessage(message, transfer);

// The guard and the program get a process group of their own: a Ctrl-C on the terminal reaches
// us, not them (we end a capture once we have read what is still in the kernel's ring), and the
// group is what a last-resort SIGKILL goes to.
const child = spawn('sh', ['-c', GUARD, binary, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
child.stdin.on('error', () => undefined);
child.stdout.on('data', (chunk: Buffer) => {
  // A copy of our own to transfer: the chunk's memory may be shared with others.
  const copy = new ArrayBuffer(chunk.length);
  new Uint8Array(copy).set(chunk);
  post({ type: 'data', chunk: copy, at: Date.now() }, [copy]);
});
child.stderr.on('data', (chunk: Buffer) => post({ type: 'stderr', text: chunk.toString() }));
child.once('spawn', () => post({ type: 'spawned', pid: child.pid! }));
child.once('error', (error) => {
  post({ type: 'error', message: error.message });
  port.close();
});
child.once('exit', (code) => post({ type: 'exit', code }));
child.once('close', () => {
  post({ type: 'closed' });
  port.close();
});
port.on('message', (command: ReaderCommand) => {
  if (command === 'stop') child.stdin.destroy();
  else if (command === 'pause') child.stdout.pause();
  else if (command === 'resume') child.stdout.resume();
  else if (command === 'kill' && child.pid !== undefined) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
});
