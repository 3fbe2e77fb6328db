/**
 * Offline analysis: a capture file (or stdin) streamed through the same CaptureAnalysis as live
 * capture, chunk by chunk, in constant memory.
 *
 * A file is read into two buffers that take turns: the next read runs on libuv's thread pool while
 * the current chunk is decoded, and no buffer is allocated per chunk (fresh buffers cost page
 * faults and garbage collection at hundreds of MB/s). This is safe because CaptureAnalysis.push()
 * is synchronous and copies whatever it keeps past the call (a record split across chunks, the
 * tracker's out-of-order segments, the HTTP framer's split lines).
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { CaptureAnalysis } from '../analyze/capture-analysis.js';
import type { CaptureAnalysisOptions } from '../analyze/capture-analysis.js';
import { compareObservers } from '../analyze/agreement.js';
import { decideVerdict } from '../analyze/verdict.js';
import { FileError, KeepaliveLabError } from '../errors.js';
import type { Endpoint, RunReport } from '../model/report.js';
import type { TcpPacket } from '../model/packet.js';

export interface AnalyzeFocus {
  /** Keep connections with this port on either side. */
  port?: number;
  /** Keep connections to this server only. */
  server?: Endpoint;
  /** Frame HTTP (default true). */
  http?: boolean;
}

/** Read chunks of 1 MiB: large enough that per-chunk overhead vanishes, small enough to stay flat. */
const CHUNK = 1024 * 1024;

/** Feeds the file at `path` to `analysis`, reading the next chunk while the current one is decoded. */
async function pushFile(analysis: CaptureAnalysis, path: string): Promise<void> {
  const handle = await open(path, 'r');
  let current = Buffer.allocUnsafe(CHUNK);
  let spare = Buffer.allocUnsafe(CHUNK);
  let reading: Promise<{ bytesRead: number }> | null = handle.read(current, 0, CHUNK, null);
  try {
    for (;;) {
      const { bytesRead } = await reading;
      reading = null;
      if (bytesRead === 0) break;
      const chunk = current;
      reading = handle.read(spare, 0, CHUNK, null);
      analysis.push(chunk.subarray(0, bytesRead));
      current = spare;
      spare = chunk;
    }
  } finally {
    // A read still in flight (push threw) must finish before the handle closes.
    if (reading !== null) await reading.catch(() => undefined);
    await handle.close();
  }
}

async function pushStream(analysis: CaptureAnalysis, stream: NodeJS.ReadableStream): Promise<void> {
  for await (const chunk of stream) analysis.push(chunk as Buffer);
}

export async function analyzeCapture(path: string, focus: AnalyzeFocus = {}, input?: NodeJS.ReadableStream): Promise<RunReport> {
  const options: CaptureAnalysisOptions = { http: focus.http ?? true };
  const accept = acceptFor(focus);
  if (accept) options.accept = accept;
  const serverPort = focus.server?.port ?? focus.port;
  if (serverPort !== undefined) options.serverPorts = [serverPort];
  const analysis = new CaptureAnalysis(options);
  try {
    if (input !== undefined) await pushStream(analysis, input);
    else await pushFile(analysis, path);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    // Only the system's errors (open, read) are about the file; anything else is a bug to show as is.
    if (error instanceof KeepaliveLabError || typeof e?.syscall !== 'string') throw error;
    throw new FileError(e.code === 'ENOENT' ? `no such file: ${path}` : e.code === 'EISDIR' ? `${path} is a directory, not a capture` : `cannot read ${path}: ${e.message}`, { cause: error });
  }
  analysis.end();
  const { report, summary } = analysis.result();
  if (summary.frames === 0 && summary.format === null) throw new FileError(`${path === '-' ? 'standard input' : path} is empty`);
  const observers = [report];
  return {
    name: 'analyze',
    title: path === '-' ? 'standard input' : basename(path),
    subject: path,
    config: null,
    client: null,
    observers,
    agreement: compareObservers(observers),
    verdict: decideVerdict(observers),
    warnings: [],
    capture: summary,
  };
}

function acceptFor(focus: AnalyzeFocus): ((p: TcpPacket) => boolean) | undefined {
  const server = focus.server;
  if (server !== undefined) {
    return (p) => (p.dstPort === server.port && p.dst === server.address) || (p.srcPort === server.port && p.src === server.address);
  }
  const port = focus.port;
  if (port !== undefined) return (p) => p.srcPort === port || p.dstPort === port;
  return undefined;
}
