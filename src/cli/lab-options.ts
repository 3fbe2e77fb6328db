/** Options shared by `demo` and `run`: where the server listens, which observers run, output. */
import type { ExperimentOptions } from '../lab/engine.js';
import { flag, port, str } from './args.js';
import type { Options, Parsed } from './args.js';
import { TERMINAL_OPTIONS, TERMINAL_USAGE } from './output.js';

export const ENGINE_OPTIONS: Options = {
  host: { type: 'string' },
  port: { type: 'string' },
  'no-capture': { type: 'boolean' },
  tcpdump: { type: 'string' },
  json: { type: 'boolean' },
  html: { type: 'string' },
  connections: { type: 'boolean' },
  explain: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...TERMINAL_OPTIONS,
};

export const ENGINE_USAGE = `  --host H              address of the in-process server (default 127.0.0.1; ::1 for IPv6)
  --port P              its port (default: a free ephemeral port)
  --no-capture          do not start tcpdump (the wire observer)
  --tcpdump PATH        tcpdump binary to use (default: tcpdump on PATH)
  --connections         also print every connection, one row each
  --explain             with each finding, the reasoning and the evidence behind it
  --json                print the report as JSON (schema: docs/report-schema.md)
  --html FILE           also write an HTML report with a timeline of each run's connections
${TERMINAL_USAGE}
  -h, --help            this help`;

/** How to run the experiments (not their knobs): where the server listens, which observers run. */
export type EngineOptions = Pick<ExperimentOptions, 'host' | 'port' | 'capture' | 'tcpdump' | 'exchanges'>;

export function engineOptions(p: Parsed): EngineOptions {
  const options: EngineOptions = { capture: !flag(p, 'no-capture') };
  const host = str(p, 'host');
  if (host !== undefined) options.host = host;
  const portValue = port(p);
  if (portValue !== undefined) options.port = portValue;
  const tcpdump = str(p, 'tcpdump');
  if (tcpdump !== undefined) options.tcpdump = tcpdump;
  // The HTML timeline draws each request: the observers list them.
  if (str(p, 'html') !== undefined) options.exchanges = true;
  return options;
}
