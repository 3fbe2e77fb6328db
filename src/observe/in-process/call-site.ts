/**
 * Where in the app a request was made: its stack, captured when the request starts and read only if
 * a finding needs it (V8 records the frames at capture and formats them lazily, on the first read of
 * `stack`), and the first frame outside Node's internals, node_modules and keepalive-lab itself.
 */
import { fileURLToPath } from 'node:url';

/** Frames captured: Node's http.request or undici's fetch path is 5 to 15 frames deep before the app's. */
const STACK_FRAMES = 40;

/** keepalive-lab's own compiled sources (dist/src/), as a path and as a file URL: never a call site. */
const OWN_URL = new URL('../../', import.meta.url).href;
const OWN_PATH = fileURLToPath(OWN_URL);

/** A captured stack, not yet formatted. */
export interface CapturedStack {
  stack?: string;
}

export function captureStack(): CapturedStack {
  const holder: CapturedStack = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = STACK_FRAMES;
  Error.captureStackTrace(holder);
  Error.stackTraceLimit = limit;
  return holder;
}

/** `file:line:column` of the first frame of the app, or null when the stack holds none. */
export function callSite(captured: CapturedStack | null): string | null {
  if (captured === null) return null;
  let text: string | undefined;
  try {
    text = captured.stack;
  } catch {
    return null;
  }
  if (typeof text !== 'string') return null;
  for (const line of text.split('\n').slice(1)) {
    const location = frameLocation(line);
    if (location === null) continue;
    if (location.startsWith('node:') || location.includes('/node_modules/') || location.includes('\\node_modules\\'))
      continue;
    if (location.startsWith(OWN_URL) || location.startsWith(OWN_PATH)) continue;
    return location.startsWith('file://') ? safePath(location) : location;
  }
  return null;
}

/** "    at fn (/a/b.js:1:2)" or "    at /a/b.js:1:2" -> "/a/b.js:1:2"; null for "<anonymous>", "native". */
function frameLocation(line: string): string | null {
  const m = /\(([^()]+:\d+:\d+)\)\s*$/.exec(line) ?? /^\s*at (?:async )?([^\s()]+:\d+:\d+)\s*$/.exec(line);
  return m === null ? null : m[1]!;
}

/** file:///a/b.js:1:2 -> /a/b.js:1:2 */
function safePath(location: string): string {
  const m = /^(.*):(\d+):(\d+)$/.exec(location);
  if (m === null) return location;
  try {
    return `${fileURLToPath(m[1]!)}:${m[2]}:${m[3]}`;
  } catch {
    return location;
  }
}
