/**
 * The synthetic captures of bench/synthetic-capture.ts and bench/synthetic-https.ts, as tests write
 * them: each file written is also registered for the comparison with tshark (test/support/tshark-check.ts).
 */
import * as bench from '../../bench/synthetic-capture.js';
import type { CaptureMeta, CaptureSpec, SynFloodSpec } from '../../bench/synthetic-capture.js';
import * as https from '../../bench/synthetic-https.js';
import type { HttpsCaptureMeta, HttpsCaptureSpec } from '../../bench/synthetic-https.js';
import { registerCaptureFile } from './tshark-check.js';

export function writeChurnCapture(spec: CaptureSpec): CaptureMeta {
  const meta = bench.writeChurnCapture(spec);
  registerCaptureFile(spec.path);
  return meta;
}

export function writeKeepAliveCapture(spec: CaptureSpec): CaptureMeta {
  const meta = bench.writeKeepAliveCapture(spec);
  registerCaptureFile(spec.path);
  return meta;
}

export function writeSynFloodCapture(spec: SynFloodSpec): CaptureMeta {
  const meta = bench.writeSynFloodCapture(spec);
  registerCaptureFile(spec.path);
  return meta;
}

/** Registered as the others: the comparison with tshark without the key log (the handshakes, no requests). */
export function writeHttpsCapture(spec: HttpsCaptureSpec): HttpsCaptureMeta {
  const meta = https.writeHttpsCapture(spec);
  registerCaptureFile(spec.path);
  return meta;
}
