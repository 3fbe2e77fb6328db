#!/usr/bin/env node
/**
 * keepalive-lab's command line: dispatch to one command, map errors to exit codes
 * (0 ok, 1 failure or failed expectation, 2 bad usage, 130 interrupted) and make sure nothing
 * (tcpdump, servers, sockets) outlives the process, Ctrl-C included.
 */
import { KeepaliveLabError, UsageError } from '../errors.js';
import { closeAll, takeInterrupt } from '../util/lifecycle.js';
import { VERSION } from '../version.js';
import { flagFor } from './args.js';
import type { Command, Io } from './command.js';

/**
 * The commands, loaded on demand: `analyze` on a small file should not pay for loading the lab,
 * the proxy and the renderers it does not use (start-up is a fixed cost of every run).
 */
const COMMANDS: readonly { name: string; summary: string; load: () => Promise<Command> }[] = [
  {
    name: 'demo',
    summary: "run the article's experiments and more, seen by three observers, side by side",
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
    name: 'sockets',
    summary: "print the kernel's TCP socket table, like netstat -tn / ss -tan",
    load: async () => (await import('./sockets.js')).sockets,
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

export async function main(argv: string[], io: Io): Promise<number> {
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
    io.stderr.write(`keepalive-lab: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const command = await entry.load();
  try {
    return await command.run(rest, io);
  } catch (error) {
    // The library names options (`target`); a user of the CLI knows them by their flags (`--target`).
    const message = (e: KeepaliveLabError) =>
      e.option === undefined ? e.message : e.messageFor(flagFor(e.option, command.flags));
    if (error instanceof UsageError) {
      io.stderr.write(`keepalive-lab ${command.name}: ${message(error)}\n\n${command.usage}\n`);
      return 2;
    }
    if (error instanceof KeepaliveLabError) {
      io.stderr.write(`keepalive-lab ${command.name}: error: ${message(error)} (${error.code})\n`);
      return 1;
    }
    io.stderr.write(`keepalive-lab ${command.name}: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  } finally {
    await closeAll();
  }
}

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  // watch and proxy take the first Ctrl-C as "stop and report"; a second one, or SIGTERM, ends all.
  if (signal === 'SIGINT' && !interrupted && takeInterrupt()) {
    interrupted = true;
    return;
  }
  process.stderr.write(`\nkeepalive-lab: ${signal}, cleaning up\n`);
  void closeAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
}

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// `keepalive-lab analyze big.pcap --json | head`: the reader went away; stop quietly, as Unix tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  void closeAll().finally(() => process.exit(0));
});
const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
process.exitCode = code;
