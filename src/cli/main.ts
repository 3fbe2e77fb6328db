#!/usr/bin/env node
/**
 * keepalive-lab's command line: dispatch to one command, map errors to exit codes
 * (0 ok, 1 failure or failed expectation, 2 bad usage, 130/143 interrupted), and own the process's
 * signals: Ctrl-C and SIGTERM abort the signals the command passed down to the library, which
 * closes what it opened (tcpdump, servers, sockets), so nothing outlives the process (interrupts.ts).
 */
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { CommandError, KeepaliveLabError, UsageError } from '../errors.js';
import { VERSION } from '../version.js';
import { flagFor } from './args.js';
import type { Command, Io } from './command.js';
import { Interrupts } from './interrupts.js';

/**
 * The commands, loaded on demand: `analyze` on a small file should not pay for loading the lab,
 * the proxy and the renderers it does not use (start-up is a fixed cost of every run).
 */
const COMMANDS: readonly { name: string; summary: string; load: () => Promise<Command> }[] = [
  {
    name: 'demo',
    summary: "run the article's experiments and more, seen by four observers, side by side",
    load: async () => (await import('./demo.js')).demo,
  },
  {
    name: 'run',
    summary: 'run one experiment, every knob on the command line',
    load: async () => (await import('./run.js')).run,
  },
  {
    name: 'analyze',
    summary: 'explain a pcap/pcapng capture connection by connection (- reads stdin)',
    load: async () => (await import('./analyze.js')).analyze,
  },
  {
    name: 'watch',
    summary: 'observe the connections a program makes to a port (-- COMMAND ...), with CI assertions',
    load: async () => (await import('./watch.js')).watchCommand,
  },
  {
    name: 'proxy',
    summary: 'forward TCP to a server and count connections and requests on the way (when capture is not allowed)',
    load: async () => (await import('./proxy.js')).proxy,
  },
  {
    name: 'diff',
    summary: 'compare two --json reports (before/after a fix): reuse, handshakes, findings, verdicts',
    load: async () => (await import('./diff.js')).diff,
  },
  {
    name: 'probe',
    summary: "measure a server's idle timeout, requests per connection, TLS and HTTP/2 behaviour; client settings",
    load: async () => (await import('./probe.js')).probe,
  },
  {
    name: 'sockets',
    summary: "print the kernel's TCP socket table, like netstat -tn / ss -tan",
    load: async () => (await import('./sockets.js')).sockets,
  },
  {
    name: 'bench',
    summary: 'what keep-alive is worth: requests/s, latency and TIME_WAIT with and without connection reuse',
    load: async () => (await import('./bench.js')).bench,
  },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `keepalive-lab ${VERSION}: see, measure and explain HTTP/1.1 connection reuse (keep-alive)

Usage: keepalive-lab <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'keepalive-lab <command> --help' for a command's options.`;
}

export async function main(argv: string[], io: Io, interrupts = new Interrupts()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(VERSION + '\n');
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    io.stderr.write(`keepalive-lab: unknown command '${name}' (see keepalive-lab --help)\n`);
    return 2;
  }
  const command = await entry.load();
  interrupts.stopsOn = command.stopsOn ?? [];
  try {
    return interrupts.exitCode(await command.run(rest, io, interrupts));
  } catch (error) {
    // Ended by a signal: what failed after it (the abort itself, a socket closed under a request) is no news.
    if (interrupts.abort.aborted) return interrupts.exitCode(1);
    // The library names options (`target`); a user of the CLI knows them by their flags (`--target`).
    const message = (e: KeepaliveLabError) =>
      e.option === undefined ? e.message : e.messageFor(flagFor(e.option, command.flags));
    // One line and where to look: the whole help would bury the line that says what was wrong.
    if (error instanceof UsageError) {
      io.stderr.write(`keepalive-lab ${command.name}: ${message(error)} (see keepalive-lab ${command.name} --help)\n`);
      return 2;
    }
    if (error instanceof KeepaliveLabError) {
      io.stderr.write(`keepalive-lab ${command.name}: error: ${message(error)} (${error.code})\n`);
      // A command watch cannot run exits as a shell's would: 127 not found, 126 not executable.
      return error instanceof CommandError ? error.exitCode : 1;
    }
    io.stderr.write(`keepalive-lab ${command.name}: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

/** After a signal ended the command, how long it may take to close what it opened before the process exits anyway. */
const CLEANUP_TIMEOUT_MS = 10_000;

const interrupts = new Interrupts();
function onSignal(signal: NodeJS.Signals): void {
  if (!interrupts.signal(signal)) return;
  process.stderr.write(`\nkeepalive-lab: ${signal}, cleaning up\n`);
  // The command closes what it opened, then returns; should that hang, do not hang with it.
  setTimeout(() => process.exit(interrupts.exitCode(1)), CLEANUP_TIMEOUT_MS).unref();
}

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `keepalive-lab analyze big.pcap --json | head`: the reader went away; stop quietly, as Unix tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  interrupts.endQuietly();
  setTimeout(() => process.exit(0), CLEANUP_TIMEOUT_MS).unref();
});
const code = await main(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env },
  interrupts,
);
// Interrupted: exit now, whatever may still hold the event loop (stdin, say); but first let the report
// reach a pipe: process.exit() drops what the pipe has not taken yet (a proxy --json report after a
// 5 s wrk run was cut at 219 KB, exit 0). Bounded by CLEANUP_TIMEOUT_MS.
if (interrupts.interrupted) {
  await Promise.race([
    Promise.all([drained(process.stdout), drained(process.stderr)]),
    delay(CLEANUP_TIMEOUT_MS, undefined, { ref: false }),
  ]);
  process.exit(code);
}
process.exitCode = code;

/** Resolves once everything written to `stream` so far has been handed to the operating system. */
async function drained(stream: NodeJS.WriteStream): Promise<void> {
  while (stream.writableLength > 0) await once(stream, 'drain');
}
