/**
 * tshark reads every capture the tests build or record, and analyze must agree with it (issue 8,
 * part 3): the same connections, the same requests on each, the same side sending the first FIN.
 *
 * How: the capture builders (buildPcap, buildPcapng), the recorder (recordTraffic) and the tests that
 * write captures otherwise call registerCapture(); identical captures are kept once (SHA-1). Under
 * `node --test` every test file runs in a process of its own, and this module, loaded with the
 * builders, adds one `after` hook to the file's root: when the file's tests are done, each capture is
 * written to a temporary file, read by sharkd (test/support/sharkd.ts: tshark's dissectors, one
 * process for the whole file) and by analyzeCapture, and any disagreement fails the file with the
 * list of them. The hook says how many captures it checked (a diagnostic line).
 *
 * What is compared, and how the two vocabularies meet:
 * - Connections: tshark's tcp.stream against the tool's ConnectionRecords. Both are matched on their
 *   two endpoints (innermost IP address and TCP port, in either direction), then in order of first
 *   appearance among those with the same endpoints: a 4-tuple reused (a new SYN after the last one
 *   closed) is a new tcp.stream in tshark and a new record in the tool; a SYN sent again is neither.
 *   Each side's count per pair of endpoints must be equal, and the total too.
 * - Requests per connection: the http.request.method occurrences in the stream's frames (a segment with
 *   two pipelined requests has two), and for HTTP/2 the header blocks with a :method the client sent
 *   (http2.headers.method in its frames: the streams it opened, as the tool counts them; the side is
 *   the one that sent the SYN; without one, the :method blocks less the PUSH_PROMISE frames), against
 *   record.requests. tshark has no heuristic for cleartext HTTP/2 on a port it does not know: a
 *   capture in which the tool found HTTP/2 is read by a sharkd told to decode those server ports as
 *   HTTP2 (or as HTTP, for an h2c Upgrade, which tshark's HTTP dissector follows into HTTP/2),
 *   through a `decode_as_entries` file in its configuration directory.
 * - First FIN: the source endpoint of the stream's first frame with FIN set, against the endpoint of
 *   record.closedFirstBy (client or server). Compared as endpoints, so the tool's guess of which side
 *   is the client (a capture that starts mid-connection, without a SYN) is not part of the question.
 *   No FIN in the stream (RST only, or still open at the end): null on both sides.
 * - TLS (tshark finds it on any port by its heuristic, as the tool does): the ClientHellos of the
 *   stream (2 after a HelloRetryRequest), against 1 or 2 for a record with `tls` (helloRetry), 0
 *   without; and for the streams where either side saw TLS, the version and cipher suite of the
 *   ServerHello (a HelloRetryRequest's fixed random left aside), the SNI and the ALPN offered, the
 *   ALPN chosen (a ServerHello's: TLS 1.2 and below; with the keys, TLS 1.3's EncryptedExtensions)
 *   and resumption, which tshark's fields show in their own way: TLS 1.3, its ServerHello selected a
 *   PSK identity; TLS 1.2, the server sent no Certificate after its ServerHello. Null on both sides
 *   when no ServerHello was seen.
 * A capture the tool rejects (a KeepaliveLabError: not a capture, a link type it does not read) is a
 * disagreement unless tshark finds no TCP in it either.
 *
 * TLS with its keys: the check at the end reads every capture without keys (no request on either
 * side of a TLS stream). A test that has the key log its clients wrote calls compareWithTshark: tshark
 * reads the file with `tls.keylog_file` set and counts the HTTP inside the TLS (HTTP/2 by ALPN, on
 * any port), and the test compares that with analyze's report of the file read with the same keys.
 *
 * Captures where the comparison means nothing are left out explicitly, by wrapping the code that
 * builds them in withoutTshark(reason, ...) (fuzzed bytes; a link type tshark does not dissect);
 * they are counted by reason in the diagnostic line.
 *
 * The census of findings (issue 9: which test captures raise which finding, false alarms: 0): with
 * KAL_FINDINGS_CENSUS=FILE, each capture analyze read here adds a line to FILE (JSON, appended: every
 * test file's process writes its own lines) with the test file, where the capture was built, and the
 * findings analyze raised on it. `npm run census:findings` (bench/census-findings.ts) runs the suite
 * so and prints the table.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { after, beforeEach } from 'node:test';
import { KeepaliveLabError } from '../../src/errors.js';
import type { ConnectionRecord, Endpoint, FindingCode, FindingSeverity, RunReport } from '../../src/model/report.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { HELLO_RETRY_REQUEST_RANDOM } from '../../src/decode/tls.js';
import { Sharkd, sharkdProblem, type TsharkFrame } from './sharkd.js';

interface Registered {
  bytes: Uint8Array;
  /** Where it was built: the first stack frame outside test/support (file:line). */
  origin: string;
  /** The test that built it (its name; empty outside a test). */
  test: string;
  /** The bytes tshark reads instead, when it cannot read these (see RegisterOptions). */
  forTshark?: Uint8Array;
}

export interface RegisterOptions {
  /** Where it comes from, when the stack does not say it well (a recording's path). */
  origin?: string;
  /**
   * The same capture in a form tshark reads, when it cannot read this one (a link type it does not
   * dissect, shown with an equivalent pseudo-header): tshark reads these bytes, the tool `bytes`.
   */
  forTshark?: Uint8Array;
}

/** On only under `node --test` (a benchmark that builds captures imports the builders too). */
const active = process.env.NODE_TEST_CONTEXT !== undefined;
const captures = new Map<string, Registered>();
/** Registrations of a capture already registered. */
let duplicates = 0;
/** Captures left out, by reason: the set of their hashes. */
const excluded = new Map<string, Set<string>>();
const exclusion = new AsyncLocalStorage<string>();
/** The test running now (a file's tests run one after the other), for the census. */
let currentTest = '';

const hash = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

/** The first caller outside this folder (and the benchmark writers), as path:line. */
function origin(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const frame = lines.find((l) => !/[/\\]test[/\\]support[/\\]|[/\\]bench[/\\]|node:/.test(l)) ?? lines[0] ?? '';
  const m = /(?:file:\/\/)?(\/[^\s():]+):(\d+):\d+/.exec(frame);
  return m ? `${relative(process.cwd(), m[1]!)}:${m[2]}` : frame.trim();
}

/**
 * Registers a capture for the comparison with tshark at the end of this test file. The bytes are
 * copied: a test may go on to change its buffer.
 */
export function registerCapture(bytes: Uint8Array, options: RegisterOptions = {}): void {
  if (!active) return;
  const key = hash(bytes);
  const reason = options.forTshark ? undefined : exclusion.getStore();
  if (reason !== undefined) {
    exclude(reason, key);
    return;
  }
  if (captures.has(key)) {
    duplicates++;
    return;
  }
  const entry: Registered = { bytes: bytes.slice(), origin: options.origin ?? origin(), test: currentTest };
  if (options.forTshark) entry.forTshark = options.forTshark.slice();
  captures.set(key, entry);
}

/** registerCapture for a file just written (read now: a test removes its temporary folder). */
export function registerCaptureFile(path: string, options: RegisterOptions = {}): void {
  if (!active) return;
  registerCapture(readFileSync(path), { ...options, origin: options.origin ?? `${origin()} (${basename(path)})` });
}

/**
 * Runs `build` with the captures it registers left out of the comparison, counted under `reason`.
 * For captures where agreeing with tshark means nothing: deliberately damaged or random bytes, a
 * link type tshark does not dissect. Works for async `build` too (AsyncLocalStorage).
 */
export function withoutTshark<T>(reason: string, build: () => T): T {
  return exclusion.run(reason, build);
}

// ------------------------------------------------------------------------------------------------
// The comparison

/** One connection as both sides describe it, in the terms compared. */
export interface Described {
  /** The two endpoints, sorted: the key connections are matched on. */
  pair: string;
  requests: number;
  /** "address port" of the side that sent the first FIN, or null. */
  firstFin: string | null;
  /** tshark only: the protocol other than HTTP it dissected the stream's payload as, if any. */
  otherProtocol?: string;
  /** Its TLS, when either side saw a ClientHello (see the header). */
  tls?: DescribedTls;
}

export interface DescribedTls {
  clientHellos: number;
  version: string | null;
  cipherSuite: string | null;
  sni: string | null;
  alpnOffered: string;
  alpnChosen: string | null;
  resumed: boolean | null;
}

/** The random of a HelloRetryRequest, as sharkd prints it (hex). */
const HRR_RANDOM = Buffer.from(HELLO_RETRY_REQUEST_RANDOM).toString('hex');

/**
 * Payload protocols that leave HTTP counting comparable: HTTP itself, bytes tshark does not
 * dissect (data), and TLS (no request without the keys on either side; with them, the HTTP inside,
 * see compareWithTshark). Any other means tshark dissected the stream as the protocol registered on its
 * port: a test server's random port can be one (44818 is EtherNet/IP's), and tshark then counts no
 * request there. sharkd 4.0 has no decode-as to say otherwise, so the requests of such a stream are
 * not compared (counted in the check's line); its connection and first FIN still are.
 */
const HTTP_OR_UNDISSECTED: ReadonlySet<string> = new Set(['http', 'http2', 'data', 'tls']);
/** Streams whose requests were not compared, by "protocol on port N". */
export const otherProtocolStreams = new Map<string, number>();

/** An address as both print it: IPv6 through the WHATWG URL parser (RFC 5952, lower case). */
function address(text: string): string {
  return text.includes(':') ? new URL(`http://[${text}]/`).hostname.slice(1, -1) : text;
}

const endpoint = (a: string, port: number): string => `${address(a)} ${port}`;
const pairOf = (a: string, b: string): string => (a < b ? `${a} <-> ${b}` : `${b} <-> ${a}`);

/** What one stream's frames show of TLS, gathered frame by frame. */
interface TlsAcc {
  tls: DescribedTls;
  /** The endpoint that sent the ServerHello, and whether it then sent a Certificate. */
  server: string | null;
  certificate: boolean;
  pskSelected: boolean;
}

function addTls(acc: TlsAcc | undefined, f: TsharkFrame, src: string): TlsAcc | undefined {
  const t = f.tls;
  if (t === null) return acc;
  const clientHellos = t.types.filter((type) => type === 'Client Hello').length;
  if (acc === undefined) {
    if (clientHellos === 0) return undefined;
    acc = {
      tls: {
        clientHellos: 0,
        version: null,
        cipherSuite: null,
        sni: t.serverNames[0] ?? null,
        alpnOffered: t.alpn.join(','),
        alpnChosen: null,
        resumed: null,
      },
      server: null,
      certificate: false,
      pskSelected: false,
    };
  }
  acc.tls.clientHellos += clientHellos;
  if (t.types.includes('Server Hello') && !t.randoms.includes(HRR_RANDOM)) {
    acc.server = src;
    acc.tls.version = t.supportedVersions[0] ?? t.versions[0] ?? null;
    acc.tls.cipherSuite = t.cipherSuites[0] ?? null;
    acc.tls.alpnChosen = null;
    acc.pskSelected = t.pskSelected;
  }
  // The server's ALPN choice: in its ServerHello (TLS 1.2 and below), or in its EncryptedExtensions
  // (TLS 1.3), which tshark shows only with the keys, in the ServerHello's frame or a later one.
  if (acc.server === src && t.alpn.length > 0) acc.tls.alpnChosen = t.alpn[t.alpn.length - 1]!;
  if (acc.server === src && t.types.includes('Certificate')) acc.certificate = true;
  return acc;
}

function finishTls(acc: TlsAcc): DescribedTls {
  const t = acc.tls;
  if (t.version !== null) t.resumed = t.version === 'TLS 1.3' ? acc.pskSelected : !acc.certificate;
  return t;
}

/** The tool's record in the terms of DescribedTls, or undefined for a connection without TLS. */
function recordTls(r: ConnectionRecord): DescribedTls | undefined {
  const t = r.tls;
  if (t === undefined) return undefined;
  return {
    clientHellos: t.helloRetry ? 2 : 1,
    version: t.version,
    cipherSuite: t.cipherSuite,
    sni: t.sni,
    alpnOffered: t.alpnOffered.join(','),
    alpnChosen: t.alpnChosen,
    resumed: t.handshake === null ? null : t.handshake === 'resumed',
  };
}

/** tshark's streams, in tcp.stream order (the order of first appearance). */
export function describeTshark(frames: readonly TsharkFrame[]): Described[] {
  const streams = new Map<number, Described>();
  const tls = new Map<number, TlsAcc>();
  /** Each stream's client: the sender of its SYN, when seen. */
  const clients = new Map<number, string>();
  for (const f of frames) {
    const src = endpoint(f.src, f.srcPort);
    let s = streams.get(f.stream);
    if (s === undefined) {
      s = { pair: pairOf(src, endpoint(f.dst, f.dstPort)), requests: 0, firstFin: null };
      streams.set(f.stream, s);
    }
    if (f.syn && !f.ack && !clients.has(f.stream)) clients.set(f.stream, src);
    s.requests += f.requests;
    const acc = addTls(tls.get(f.stream), f, src);
    if (acc !== undefined) tls.set(f.stream, acc);
    // HTTP/2: streams the client opened. A PUSH_PROMISE from the server carries a :method too: the
    // client is the SYN's sender; without a SYN, the frame's PUSH_PROMISEs are taken off.
    const client = clients.get(f.stream);
    if (client === src) s.requests += f.h2Methods;
    else if (client === undefined) s.requests += Math.max(0, f.h2Methods - f.h2PushPromises);
    if (f.fin && s.firstFin === null) s.firstFin = src;
    const protocol = f.payloadProtocol;
    if (protocol !== null && !HTTP_OR_UNDISSECTED.has(protocol) && s.otherProtocol === undefined)
      s.otherProtocol = `${protocol} on port ${Math.min(f.srcPort, f.dstPort)}`;
  }
  for (const [stream, acc] of tls) streams.get(stream)!.tls = finishTls(acc);
  return [...streams.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
}

/** The tool's records, in id order (the order of first appearance). */
export function describeRecords(records: readonly ConnectionRecord[]): Described[] {
  const at = (e: Endpoint) => endpoint(e.address, e.port);
  return [...records]
    .sort((a, b) => a.id - b.id)
    .map((r) => {
      const d: Described = {
        pair: pairOf(at(r.client), at(r.server)),
        requests: r.requests,
        firstFin: r.closedFirstBy === null ? null : at(r[r.closedFirstBy]),
      };
      const tls = recordTls(r);
      if (tls !== undefined) d.tls = tls;
      return d;
    });
}

/** What differs between the two descriptions, one line each; empty when they agree. */
export function compareDescriptions(ours: readonly Described[], tshark: readonly Described[]): string[] {
  const out: string[] = [];
  if (ours.length !== tshark.length) out.push(`${ours.length} connections, tshark ${tshark.length} tcp.streams`);
  const byPair = (list: readonly Described[]) => {
    const m = new Map<string, Described[]>();
    for (const d of list) m.set(d.pair, [...(m.get(d.pair) ?? []), d]);
    return m;
  };
  const mine = byPair(ours);
  const theirs = byPair(tshark);
  for (const pair of new Set([...mine.keys(), ...theirs.keys()])) {
    const a = mine.get(pair) ?? [];
    const b = theirs.get(pair) ?? [];
    if (a.length !== b.length) out.push(`${pair}: ${a.length} connections, tshark ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const on = a.length > 1 ? `${pair} (#${i + 1})` : pair;
      const other = b[i]!.otherProtocol;
      if (other !== undefined && a[i]!.requests > 0)
        otherProtocolStreams.set(other, (otherProtocolStreams.get(other) ?? 0) + 1);
      else if (a[i]!.requests !== b[i]!.requests)
        out.push(`${on}: ${a[i]!.requests} requests, tshark ${b[i]!.requests}`);
      if (a[i]!.firstFin !== b[i]!.firstFin)
        out.push(`${on}: first FIN from ${a[i]!.firstFin ?? 'nobody'}, tshark ${b[i]!.firstFin ?? 'nobody'}`);
      out.push(...compareTls(on, a[i]!.tls, b[i]!.tls));
    }
  }
  return out;
}

/** The TLS facts that differ on one connection ("TLS version TLS 1.3, tshark TLS 1.2"). */
export function compareTls(on: string, ours: DescribedTls | undefined, tshark: DescribedTls | undefined): string[] {
  if (ours === undefined && tshark === undefined) return [];
  const a = ours ?? { clientHellos: 0 };
  const b = tshark ?? { clientHellos: 0 };
  if (a.clientHellos !== b.clientHellos) return [`${on}: ${a.clientHellos} TLS ClientHellos, tshark ${b.clientHellos}`];
  const out: string[] = [];
  for (const key of ['version', 'cipherSuite', 'sni', 'alpnOffered', 'alpnChosen', 'resumed'] as const) {
    const x = (a as DescribedTls)[key];
    const y = (b as DescribedTls)[key];
    if (x !== y) out.push(`${on}: TLS ${key} ${String(x)}, tshark ${String(y)}`);
  }
  return out;
}

/**
 * Out-of-order TCP segments. tshark does not put them back in order for the dissectors unless asked
 * (tcp.reassemble_out_of_order, off by default since it came in Wireshark 3.0): a request whose
 * segments were reordered is then not dissected at all, where analyze reorders them as the receiving
 * stack does. Asked to, tshark waits for a missing segment for ever, and dissects nothing of that
 * direction after a hole that is never filled, where analyze gives the hole up and frames again
 * from the next message (as tshark does without the preference). So the preference is on for a
 * capture in which analyze filled every hole, and off when it gave holes up (KAL_WARN_MISSING_BYTES:
 * segments never captured): each time the reading both define.
 */
const OUT_OF_ORDER = 'tcp.reassemble_out_of_order';
/** tshark's key log (`-o tls.keylog_file:FILE`): NSS key log lines it decrypts TLS with; '' for none. */
const KEYLOG_FILE = 'tls.keylog_file';

/**
 * Link types tshark 4.0 does not read down to TCP. It lists the frames of SLIP (8) and
 * NETANALYZER_TRANSPARENT (241) but finds no IP in them, and does not open files of PPP_PPPD (166),
 * C_HDLC_WITH_DIR (205), FRELAY_WITH_DIR (206), MPLS (219) or the DSA tags (281, 282, 284, 285):
 * "network type unknown or unsupported". A capture of only these is left out here;
 * test/integration/encapsulation-tshark.test.ts has tcpdump read them, or shows tshark the same
 * frames with an equivalent header (registered with `forTshark`, and then compared here too).
 */
const TSHARK_UNDISSECTED = new Map<number, string>([
  [8, 'SLIP'],
  [166, 'PPP_PPPD'],
  [205, 'C_HDLC_WITH_DIR'],
  [206, 'FRELAY_WITH_DIR'],
  [219, 'MPLS'],
  [241, 'NETANALYZER_TRANSPARENT'],
  [281, 'DSA_TAG_BRCM'],
  [282, 'DSA_TAG_BRCM_PREPEND'],
  [284, 'DSA_TAG_DSA'],
  [285, 'DSA_TAG_EDSA'],
]);
const UNDISSECTED = `link types tshark does not read to TCP (${[...TSHARK_UNDISSECTED.values()].join(', ')})`;

interface Outcome {
  connections: number;
  disagreements: string[];
  /** Left out after all, for this reason. */
  excluded?: string;
  /** What analyze found in it (absent when it rejected the capture). */
  run?: RunReport;
}

/** One line of the findings census (KAL_FINDINGS_CENSUS): a capture and the findings raised on it. */
export interface CensusLine {
  /** The test file (its compiled path, relative to the working directory). */
  file: string;
  /** The test that built the capture. */
  test: string;
  /** Where the capture was built or recorded (file:line, and the file name of a recording). */
  origin: string;
  connections: number;
  findings: { code: FindingCode; severity: FindingSeverity; connections: number }[];
  verdict: string;
  /** Left out of the tshark comparison, and why (it was still analyzed). */
  excluded?: string;
}

const CENSUS = process.env.KAL_FINDINGS_CENSUS;

export function censusLine(
  at: { file: string; test: string; origin: string },
  run: RunReport,
  excluded?: string,
): CensusLine {
  return {
    ...at,
    connections: run.observers[0]?.totals.connections ?? 0,
    findings: run.findings.map((f) => ({ code: f.code, severity: f.severity, connections: f.evidence.count })),
    verdict: run.verdict.code,
    ...(excluded === undefined ? {} : { excluded }),
  };
}

/**
 * The sharkd processes of one check, by the "decode as" entries they were started with (the
 * `decode_as_entries` file of Wireshark's configuration directory: sharkd 4.0 has no request for it).
 */
class SharkdPool {
  private readonly started = new Map<string, Sharkd>();
  constructor(private readonly dir: string) {}

  /** A sharkd that decodes these TCP ports as these protocols ("HTTP2", "HTTP"); [] for the defaults. */
  async get(decodeAs: readonly [number, string][]): Promise<Sharkd> {
    const key = decodeAs.map(([port, protocol]) => `${port}=${protocol}`).join(',');
    let sharkd = this.started.get(key);
    if (sharkd === undefined) {
      const config = join(this.dir, `wireshark-config-${this.started.size}`);
      await mkdir(config);
      const lines = decodeAs.map(([port, protocol]) => `decode_as_entry: tcp.port,${port},(none),${protocol}\n`);
      if (lines.length > 0) await writeFile(join(config, 'decode_as_entries'), lines.join(''));
      this.started.set(key, (sharkd = new Sharkd(config)));
    }
    return sharkd;
  }

  async close(): Promise<void> {
    await Promise.all([...this.started.values()].map((s) => s.close()));
  }
}

/** The server ports on which the tool found HTTP/2, and how tshark must decode each (see the header). */
function http2Ports(records: readonly ConnectionRecord[]): [number, string][] {
  const ports = new Map<number, string>();
  for (const r of records) {
    // HTTP/2 inside TLS: tshark finds it there by ALPN, and decoding the port as HTTP2 would hide the TLS.
    if (r.http2 === undefined || r.tls !== undefined) continue;
    // One protocol per port: prior knowledge wins (tshark's HTTP dissector would not see a preface).
    if (r.http2.start === 'prior-knowledge' || !ports.has(r.server.port)) {
      ports.set(r.server.port, r.http2.start === 'upgrade' ? 'HTTP' : 'HTTP2');
    }
  }
  return [...ports.entries()].sort((a, b) => a[0] - b[0]);
}

/**
 * tshark's preferences for reading this capture as analyze read it (`run`): out-of-order segments put
 * back in order unless analyze gave holes up (see OUT_OF_ORDER), and the key log, or none.
 */
async function sharkdFor(pool: SharkdPool, run: RunReport, keylog: string | null): Promise<Sharkd> {
  const sharkd = await pool.get(http2Ports(run.observers[0]!.connections));
  const holes = run.observers[0]!.warnings.some((w) => w.code === 'KAL_WARN_MISSING_BYTES');
  await sharkd.setPreference(OUT_OF_ORDER, holes ? 'FALSE' : 'TRUE');
  await sharkd.setPreference(KEYLOG_FILE, keylog ?? '');
  return sharkd;
}

async function checkOne(pool: SharkdPool, dir: string, index: number, c: Registered): Promise<Outcome> {
  const ours = join(dir, `${index}.cap`);
  await writeFile(ours, c.bytes);
  let theirs = ours;
  if (c.forTshark) await writeFile((theirs = join(dir, `${index}-for-tshark.cap`)), c.forTshark);
  let run: RunReport;
  try {
    run = await analyzeCapture(ours);
  } catch (error) {
    if (!(error instanceof KeepaliveLabError)) throw error;
    // Rejected: tshark must find no TCP in it either (or not read it at all).
    const frames = await (await pool.get([])).frames(theirs);
    const streams = frames === null ? 0 : describeTshark(frames).length;
    return {
      connections: 0,
      disagreements: streams === 0 ? [] : [`: rejected (${error.code}), tshark ${streams} streams`],
    };
  }
  const sharkd = await sharkdFor(pool, run, null);
  const linkTypes = run.capture?.linkTypes ?? [];
  if (!c.forTshark && linkTypes.length > 0 && linkTypes.every((t) => TSHARK_UNDISSECTED.has(t)))
    return { connections: 0, disagreements: [], excluded: UNDISSECTED, run };
  const what = ` (${run.capture?.format ?? '?'}, link type ${linkTypes.join('/')})`;
  const mine = describeRecords(run.observers[0]!.connections);
  const frames = await sharkd.frames(theirs);
  if (frames === null) return { connections: mine.length, disagreements: [`${what}: tshark cannot read it`], run };
  return {
    connections: mine.length,
    disagreements: compareDescriptions(mine, describeTshark(frames)).map((d) => `${what}: ${d}`),
    run,
  };
}

/** The sharkd processes of this test file: started when first needed, ended by its root `after` hook. */
let filePool: { dir: string; pool: SharkdPool } | null = null;

async function sharkdPool(): Promise<SharkdPool> {
  if (filePool === null) {
    const dir = await mkdtemp(join(tmpdir(), 'kal-sharkd-'));
    filePool = { dir, pool: new SharkdPool(dir) };
  }
  return filePool.pool;
}

async function closeSharkdPool(): Promise<void> {
  const open = filePool;
  filePool = null;
  if (open === null) return;
  try {
    await open.pool.close();
  } finally {
    await rm(open.dir, { recursive: true, force: true });
  }
}

/** tshark's reading of one capture beside analyze's, as compareWithTshark gives them. */
export interface TsharkAgreement {
  /** tshark's connections (tcp.stream order) and the tool's (id order), in the terms compared. */
  tshark: Described[];
  ours: Described[];
  /** What differs, one line each (compareDescriptions); empty when they agree. */
  disagreements: string[];
}

/**
 * Reads the capture at `path` with tshark now (through this file's sharkd), with the key log when one
 * is given (`-o tls.keylog_file:FILE`, an absolute path: tshark then dissects the HTTP inside TLS), and
 * compares it with `run`, analyze's report of the same file (read with the same keys by the caller).
 * For the captures whose truth needs the keys; every capture registered is still compared without
 * them at the end of the file.
 */
export async function compareWithTshark(
  path: string,
  run: RunReport,
  options: { keylog?: string } = {},
): Promise<TsharkAgreement> {
  const problem = sharkdProblem();
  if (problem !== null) throw new Error(`tshark is needed here: ${problem}`);
  const sharkd = await sharkdFor(await sharkdPool(), run, options.keylog ?? null);
  const frames = await sharkd.frames(path);
  if (frames === null) throw new Error(`tshark cannot read ${path}`);
  const tshark = describeTshark(frames);
  const ours = describeRecords(run.observers[0]!.connections);
  return { tshark, ours, disagreements: compareDescriptions(ours, tshark) };
}

function exclude(reason: string, key: string): void {
  let set = excluded.get(reason);
  if (set === undefined) excluded.set(reason, (set = new Set()));
  set.add(key);
}

async function checkAll(t: { diagnostic(message: string): void }): Promise<void> {
  if (captures.size === 0 && excluded.size === 0) return;
  const problem = sharkdProblem();
  if (problem !== null) {
    if (process.env.CI) throw new Error(`CI must have tshark: ${problem}`);
    t.diagnostic(`tshark check skipped: ${problem}`);
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'kal-tshark-'));
  const pool = await sharkdPool();
  const disagreements: string[] = [];
  const census: CensusLine[] = [];
  const testFile = relative(process.cwd(), process.argv[1] ?? '?');
  let connections = 0;
  let checked = 0;
  try {
    let index = 0;
    for (const [key, c] of captures) {
      if (process.env.KAL_KEEP_CAPTURES) await appendFile(join(dir, 'index.txt'), `${index}.cap ${c.origin}\n`);
      const r = await checkOne(pool, dir, index++, c);
      if (CENSUS && r.run !== undefined)
        census.push(censusLine({ file: testFile, test: c.test, origin: c.origin }, r.run, r.excluded));
      if (r.excluded !== undefined) {
        exclude(r.excluded, key);
        continue;
      }
      checked++;
      connections += r.connections;
      disagreements.push(...r.disagreements.map((d) => `${c.origin}${d}`));
    }
  } finally {
    if (process.env.KAL_KEEP_CAPTURES) t.diagnostic(`tshark check: captures kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  // One append per test file: its lines stay together (O_APPEND: whole writes, even with files run at once).
  if (CENSUS && census.length > 0) await appendFile(CENSUS, census.map((l) => JSON.stringify(l) + '\n').join(''));
  // A capture left out once but registered for the comparison after all (in another form) was checked.
  for (const [reason, set] of excluded) {
    for (const key of set) if (captures.has(key) && reason !== UNDISSECTED) set.delete(key);
    if (set.size === 0) excluded.delete(reason);
  }
  const excludedCount = [...excluded.values()].reduce((n, s) => n + s.size, 0);
  const reasons = [...excluded.entries()].map(([reason, s]) => `${s.size} ${reason}`).join('; ');
  const others = [...otherProtocolStreams].map(([what, n]) => `${n} as ${what}`).join(', ');
  t.diagnostic(
    `tshark check: ${checked} captures (${connections} connections) read by tshark and analyze, ` +
      `${disagreements.length} disagreements; ${duplicates} duplicates skipped; ` +
      `${excludedCount} excluded${reasons ? ` (${reasons})` : ''}` +
      (others ? `; requests not compared on streams tshark dissected as another protocol: ${others}` : ''),
  );
  assert.deepEqual(disagreements, [], 'analyze and tshark disagree');
}

// The file's root hook: registered as this module loads, before any test runs (a hook added from
// inside a test would belong to that test). A failure here fails the file under node --test.
if (active)
  after(async (c) => {
    try {
      await checkAll('diagnostic' in c ? c : { diagnostic: (m: string) => console.log(`# ${m}`) });
    } finally {
      await closeSharkdPool();
    }
  });
// The census names the test that built each capture.
if (active && CENSUS) beforeEach((c) => void (currentTest = 'name' in c ? c.name : ''));
