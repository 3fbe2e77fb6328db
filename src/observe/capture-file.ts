/**
 * Offline analysis: a capture file (or stdin) streamed through the same CaptureAnalysis as live
 * capture, chunk by chunk, in memory that follows the connections open at once: records are handed
 * to the caller as connections end (`onConnection`), with a pause after each chunk for a slow
 * consumer (`afterChunk`), and only the first `keepConnections` stay in the report.
 *
 * A file is read into two buffers that take turns: the next read runs on libuv's thread pool while
 * the current chunk is decoded, and no buffer is allocated per chunk (fresh buffers cost page
 * faults and garbage collection at hundreds of MB/s). This is safe because CaptureAnalysis.push()
 * is synchronous and copies whatever it keeps past the call (a record split across chunks, the
 * tracker's out-of-order segments, the HTTP framer's split lines).
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { CaptureAnalysis } from '../analyze/capture-analysis.js';
import type { CaptureAnalysisOptions } from '../analyze/capture-analysis.js';
import { runReport } from '../analyze/run-report.js';
import type { ObserverHead, RunHead } from '../analyze/run-report.js';
import { FileError, KeepaliveLabError, invalidOption, readFailure } from '../errors.js';
import { formatEndpoint } from '../model/endpoint.js';
import type { TlsKeySource } from '../decode/tls-keylog.js';
import type { HostFacts } from '../model/host.js';
import type { ConnectionRecord, Endpoint, RunReport, Warning } from '../model/report.js';
import { KeyLogFile } from './keylog-file.js';
import type { TcpPacket } from '../model/packet.js';
import { onAbort } from '../util/abort.js';

/** What to analyze in a capture, where its records go, and how to stop. */
export interface AnalyzeOptions {
  /** Keep connections with this port on either side. */
  port?: number;
  /** Keep connections to this server only (an IP address, canonical: see parseEndpoint). */
  server?: Endpoint;
  /**
   * The path the requests take, client-facing hop first: each hop's server (a load balancer's
   * endpoint, then its backend's; canonical addresses). Only the connections to these servers are
   * kept, and the idle-timeout-order finding compares their idle timeouts. Not with `port` or `server`.
   */
  path?: Endpoint[];
  /** Frame HTTP (default true). */
  http?: boolean;
  /** List each connection's request/response exchanges (ConnectionRecord.exchanges; `--html`). Default false. */
  exchanges?: boolean;
  /**
   * TLS secrets: TLS connections are decrypted and their requests counted (analyze/streams/tls.ts).
   * A KeyLog read whole, or a KeyLogFile (observe/keylog-file.ts) for a key log that grows.
   */
  keys?: TlsKeySource;
  /**
   * A TLS key log file (NSS format, `SSLKEYLOGFILE`), read with KeyLogFile (re-read when it grows);
   * not with `keys`. One that cannot be read is a KeyLogError (KAL_ERR_KEYLOG); one with no usable
   * line is a KAL_WARN_KEYLOG warning.
   */
  keylog?: string;
  /** Records kept in the report: those of the first N connections (default: all). */
  keepConnections?: number;
  /** Each connection's record as the connection ends, in id order (see CaptureAnalysis). */
  onConnection?: (record: ConnectionRecord) => void;
  /**
   * Awaited after each chunk is analyzed (and after the last records are handed over): the caller
   * writes what onConnection gave it and waits while its output is full, so a slow reader of the
   * output slows the analysis down instead of letting records pile up in memory. `bytesRead`:
   * the capture's bytes read so far (a progress line against the file's size; absent on the call
   * after the last records).
   */
  afterChunk?: (bytesRead?: number) => Promise<void> | void;
  /**
   * The clients' machine, for the port outlook: this machine's addresses and settings (readHostFacts
   * in observe/host-facts.ts), and those the user gives for the capture's clients. Without it the
   * outlook assumes Linux's defaults and says so (a capture may come from anywhere).
   */
  hostFacts?: HostFacts;
  /** What the report calls the source (default: the path; for a stream '-', titled 'standard input'). */
  subject?: string;
  /** Stops reading: the file is closed (a stream destroyed) and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Read chunks of 1 MiB: large enough that per-chunk overhead vanishes, small enough to stay flat. */
const CHUNK = 1024 * 1024;

type AfterChunk = AnalyzeOptions['afterChunk'];

/** Feeds the file at `path` to `analysis`, reading the next chunk while the current one is decoded. */
async function pushFile(
  analysis: CaptureAnalysis,
  path: string,
  afterChunk: AfterChunk,
  signal: AbortSignal | undefined,
): Promise<void> {
  const handle = await open(path, 'r');
  let current = Buffer.allocUnsafe(CHUNK);
  let spare = Buffer.allocUnsafe(CHUNK);
  let reading: Promise<{ bytesRead: number }> | null = handle.read(current, 0, CHUNK, null);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await reading;
      reading = null;
      signal?.throwIfAborted();
      if (bytesRead === 0) break;
      const chunk = current;
      reading = handle.read(spare, 0, CHUNK, null);
      analysis.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      // The chunk stays unused until the read after next: waiting here is safe.
      if (afterChunk) await afterChunk(total);
      if (analysis.readingStopped) break;
      current = spare;
      spare = chunk;
    }
  } finally {
    // A read still in flight (push threw) must finish before the handle closes.
    if (reading !== null) await reading.catch(() => undefined);
    await handle.close();
  }
}

/** Feeds a stream to `analysis`; an abort destroys the stream (a read may wait for bytes that never come). */
async function pushStream(
  analysis: CaptureAnalysis,
  stream: Readable,
  afterChunk: AfterChunk,
  signal: AbortSignal | undefined,
): Promise<void> {
  const off = onAbort(signal, () => stream.destroy());
  let total = 0;
  try {
    for await (const chunk of stream) {
      analysis.push(chunk as Buffer);
      total += (chunk as Buffer).length;
      if (afterChunk) await afterChunk(total);
      // Damaged beyond reading: the rest would be ignored, and an endless stream (a pipe from
      // /dev/zero) would never end. Leaving the loop destroys the stream, as a file is closed.
      if (analysis.readingStopped) break;
    }
  } finally {
    off();
  }
  signal?.throwIfAborted();
}

/**
 * Analyzes a capture (pcap or pcapng): a file at `source`, or a stream of its bytes (stdin, a
 * socket, tcpdump's stdout). Resolves with the run's report: one observer, the wire.
 */
export async function analyzeCapture(source: string | Readable, options: AnalyzeOptions = {}): Promise<RunReport> {
  const { signal } = options;
  signal?.throwIfAborted();
  const subject = typeof source === 'string' ? source : (options.subject ?? '-');
  const analysisOptions: CaptureAnalysisOptions = { http: options.http ?? true };
  if (options.keepConnections !== undefined) analysisOptions.keepConnections = options.keepConnections;
  if (options.onConnection) analysisOptions.onConnection = options.onConnection;
  if (options.hostFacts) analysisOptions.hostFacts = options.hostFacts;
  if (options.exchanges === true) analysisOptions.exchanges = true;
  if (options.keys !== undefined && options.keylog !== undefined)
    throw invalidOption('keylog', 'is a key log file to read: not with keys');
  const keyLogFile = options.keylog === undefined ? null : new KeyLogFile(options.keylog);
  const keys = keyLogFile ?? options.keys;
  if (keys !== undefined) analysisOptions.keys = keys;
  const accept = acceptFor(options);
  if (accept) analysisOptions.accept = accept;
  const serverPort = options.server?.port ?? options.port;
  if (serverPort !== undefined) analysisOptions.serverPorts = [serverPort];
  if (options.path !== undefined) {
    checkPath(options);
    analysisOptions.serverPorts = options.path.map((e) => e.port);
    analysisOptions.findings = { path: options.path };
  }
  const analysis = new CaptureAnalysis(analysisOptions);
  try {
    if (typeof source === 'string') await pushFile(analysis, source, options.afterChunk, signal);
    else await pushStream(analysis, source, options.afterChunk, signal);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const e = error as NodeJS.ErrnoException;
    // Only the system's errors (open, read) are about the file; anything else is a bug to show as is.
    if (error instanceof KeepaliveLabError || typeof e?.syscall !== 'string') throw error;
    // Worded as analyze always has: "no such file: X", "X is a directory, not a capture", "cannot read X: ...".
    const problem = readFailure(e, 'a capture');
    const message =
      e.code === 'ENOENT'
        ? `${problem}: ${subject}`
        : e.code === 'EISDIR'
          ? `${subject} ${problem}`
          : `cannot read ${subject}: ${problem}`;
    throw new FileError(message, { cause: error });
  }
  analysis.end();
  // Hands over the records of the connections still open.
  const { report, summary, findings } = analysis.result();
  if (keyLogFile !== null) report.warnings.push(...keyLogWarnings(keyLogFile));
  if (options.afterChunk) await options.afterChunk();
  return runReport(analyzeRunHead(subject), [report], { capture: summary, findings });
}

/** A key log file with no session in it: not a key log, or an empty one (KAL_WARN_KEYLOG). */
export function keyLogWarnings(file: KeyLogFile): Warning[] {
  if (file.sessions > 0) return [];
  const first = file.firstMalformed;
  return [
    {
      code: 'KAL_WARN_KEYLOG',
      message:
        `the TLS key log ${file.path} has no usable line` +
        (first === null
          ? ' (it is empty): no TLS connection can be decrypted'
          : ` (${file.malformedLines} not understood, the first at line ${first.line}: ${first.reason}): ` +
            'is it an NSS key log (SSLKEYLOGFILE)?'),
    },
  ];
}

/**
 * The wire observer's fields before its connections, as CaptureAnalysis reports them: with the
 * run's head, what `analyze --json` writes before the first record (report/json-stream.ts).
 */
export const WIRE_HEAD: ObserverHead = { observer: 'wire', available: true, seesRequests: true };

/** The fields of analyze's RunReport known before the capture is read. */
export function analyzeRunHead(subject: string): RunHead {
  return {
    name: 'analyze',
    title: subject === '-' ? 'standard input' : basename(subject),
    subject,
    config: null,
    client: null,
  };
}

/** A path has two hops or more, each once, and chooses the connections itself. */
function checkPath(options: AnalyzeOptions): void {
  const path = options.path!;
  if (options.port !== undefined || options.server !== undefined)
    throw invalidOption('path', 'keeps the connections to its hops: not with port or server');
  if (path.length < 2)
    throw invalidOption('path', `needs two hops or more (the load balancer's HOST:PORT, then the backend's)`);
  const keys = path.map(formatEndpoint);
  const twice = keys.find((k, i) => keys.indexOf(k) !== i);
  if (twice !== undefined) throw invalidOption('path', `names ${twice} twice`);
}

function acceptFor(focus: Pick<AnalyzeOptions, 'port' | 'server' | 'path'>): ((p: TcpPacket) => boolean) | undefined {
  const path = focus.path;
  if (path !== undefined) {
    // Port -> the hops' addresses on it; both directions: a segment to a hop's server, or from it.
    const hops = new Map<number, Set<string>>();
    for (const e of path) hops.set(e.port, (hops.get(e.port) ?? new Set()).add(e.address));
    return (p) => hops.get(p.dstPort)?.has(p.dst) === true || hops.get(p.srcPort)?.has(p.src) === true;
  }
  const server = focus.server;
  if (server !== undefined) {
    return (p) =>
      (p.dstPort === server.port && p.dst === server.address) ||
      (p.srcPort === server.port && p.src === server.address);
  }
  const port = focus.port;
  if (port !== undefined) return (p) => p.srcPort === port || p.dstPort === port;
  return undefined;
}
