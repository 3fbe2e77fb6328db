/**
 * tshark's reading of a capture, through sharkd (Wireshark's dissection daemon, in wireshark-common
 * beside tshark): the same dissectors and defaults as tshark, but started once per test process
 * and then given file after file. A tshark run costs ~0.7 s of CPU before it reads a byte (every
 * dissector registers itself); a sharkd `load` ~0.1 s, so hundreds of small captures stay cheap.
 *
 * Protocol: JSON-RPC 2.0, one request per line on stdin, one answer per line on stdout
 * (https://wiki.wireshark.org/Development/sharkd). Methods used: `load` {file} and `frames` with
 * custom columns "field:occurrence" (0: all occurrences, comma-separated; -1: the last one).
 * sharkd reads its preferences from WIRESHARK_CONFIG_DIR, set to an empty directory: the defaults,
 * whatever the user running the tests has configured.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';

/** One frame as tshark dissects it; only frames that carry TCP (tcp.stream present). */
export interface TsharkFrame {
  /** 1-based frame number. */
  frame: number;
  /** The protocol tshark dissected the TCP payload as (frame.protocols after "tcp"), or null. */
  payloadProtocol: string | null;
  stream: number;
  /** The innermost IP header's source and destination, and the TCP ports. */
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  syn: boolean;
  ack: boolean;
  fin: boolean;
  rst: boolean;
  /**
   * HTTP requests dissected in this frame: http.request.method occurrences (a pipelined segment has
   * several; tshark leaves http.request out of some cut frames, the method never).
   */
  requests: number;
  /**
   * HTTP/2 header blocks with a :method in this frame (http2.headers.method occurrences): a stream
   * the client opened (HEADERS), or one the server promised (PUSH_PROMISE).
   */
  h2Methods: number;
  /** HTTP/2 PUSH_PROMISE frames in this frame (http2.type 5, shown by name): each carries a :method. */
  h2PushPromises: number;
  statusCodes: number[];
  /** Expert messages ("Previous segment(s) not captured", ...). */
  expert: string;
  /** The TLS handshake messages tshark dissected in the clear in this frame, or null when none. */
  tls: TsharkTlsFrame | null;
}

/**
 * A frame's TLS handshake fields, as sharkd displays them (names, not numbers: "Client Hello",
 * "TLS 1.3", "TLS_AES_128_GCM_SHA256"). tshark finds TLS on any port by its heuristic (on by default
 * for TCP), as the tool does.
 */
export interface TsharkTlsFrame {
  /** tls.handshake.type, every message in the frame ("Client Hello", "Server Hello", "Certificate", ...). */
  types: string[];
  /** tls.handshake.version: the hellos' legacy_version. */
  versions: string[];
  /** tls.handshake.extensions.supported_version: a ClientHello's offer, or a ServerHello's choice. */
  supportedVersions: string[];
  /** tls.handshake.ciphersuite: a ClientHello's offer, or a ServerHello's choice. */
  cipherSuites: string[];
  /** tls.handshake.extensions_server_name (SNI). */
  serverNames: string[];
  /** tls.handshake.extensions_alpn_str: a ClientHello's offer, or a ServerHello's choice. */
  alpn: string[];
  /** tls.handshake.extensions.psk.identity.selected: a ServerHello that resumes a TLS 1.3 session. */
  pskSelected: boolean;
  /** tls.handshake.random (hex): a HelloRetryRequest has a fixed one (RFC 8446 4.1.3). */
  randoms: string[];
}

/** The custom columns asked for, in this order (field:occurrence). */
const COLUMNS = [
  'tcp.stream:0',
  'tcp.flags.syn:0',
  'tcp.flags.ack:0',
  'tcp.flags.fin:0',
  'tcp.flags.reset:0',
  'tcp.srcport:0',
  'tcp.dstport:0',
  'ip.src:-1',
  'ip.dst:-1',
  'ipv6.src:-1',
  'ipv6.dst:-1',
  'frame.protocols:0',
  'http.request.method:0',
  'http.response.code:0',
  '_ws.expert.message:0',
  'http2.headers.method:0',
  'http2.type:0',
  'tls.handshake.type:0',
  'tls.handshake.version:0',
  'tls.handshake.extensions.supported_version:0',
  'tls.handshake.ciphersuite:0',
  'tls.handshake.extensions_server_name:0',
  'tls.handshake.extensions_alpn_str:0',
  'tls.handshake.extensions.psk.identity.selected:0',
  'tls.handshake.random:0',
] as const;

/** Why sharkd cannot run here, or null. */
export function sharkdProblem(): string | null {
  const r = spawnSync('sharkd', ['--version'], { stdio: 'ignore' });
  return r.error ? 'sharkd is not installed (apt-get install tshark: it is in wireshark-common)' : null;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** One sharkd process; requests are answered in order. close() ends it. */
export class Sharkd {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderr = '';
  private exited: Promise<void>;
  private onStderr: ((text: string) => void) | undefined;

  constructor(configDir: string) {
    this.child = spawn('sharkd', ['-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, WIRESHARK_CONFIG_DIR: configDir },
    });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString()).slice(-4000);
      this.onStderr?.(c.toString());
    });
    const lines = createInterface({ input: this.child.stdout! });
    lines.on('line', (line) => this.answer(line));
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.once('error', (e) => this.failAll(e));
    void this.exited.then(() => this.failAll(new Error(`sharkd exited: ${this.stderr.trim()}`)));
  }

  private answer(line: string): void {
    if (!line.startsWith('{')) return;
    const msg = JSON.parse(line) as { id?: number; result?: unknown; error?: { code: number; message: string } };
    const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
    if (p === undefined) return;
    this.pending.delete(msg.id!);
    if (msg.error) p.reject(new Error(`sharkd: ${msg.error.message} (${msg.error.code})`));
    else p.resolve(msg.result);
  }

  private failAll(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  private request(method: string, params: Record<string, unknown>, timeoutMs = 120_000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`sharkd did not answer ${method} within ${timeoutMs} ms: ${this.stderr.trim()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(id);
      };
      this.pending.set(id, {
        resolve: (v) => (done(), resolve(v)),
        reject: (e) => (done(), reject(e)),
      });
      this.child.stdin!.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  }

  /**
   * Loads a file: true if tshark reads it (maybe only up to damage), false if it cannot open it (a
   * link type it does not know). When reading stops at damage (a record cut short, a block that makes
   * no sense), sharkd 4.0 says so on stderr and never answers the request, but keeps the frames
   * before the damage, as tshark does (which exits 2 after printing them): that message ends the
   * load. Then `status` must name this file: otherwise the frames would be the last file's.
   */
  private async load(path: string): Promise<boolean> {
    const id = this.nextId;
    const damaged = `sharkd: The file "${path}" appears to`;
    let said = '';
    const loaded = new Promise<boolean>((resolve) => {
      this.onStderr = (text) => {
        said += text;
        if (said.includes(damaged)) this.pending.get(id)?.resolve(undefined);
      };
      this.request('load', { file: path }).then(
        () => resolve(true),
        () => resolve(false),
      );
    });
    const ok = await loaded.finally(() => (this.onStderr = undefined));
    if (!ok) return false;
    const status = (await this.request('status', {})) as { filename?: string };
    return status.filename === basename(path);
  }

  /** Sets one of tshark's preferences (as `tshark -o name:value`) for the files loaded after. */
  async setPreference(name: string, value: string): Promise<void> {
    await this.request('setconf', { name, value });
  }

  /**
   * Every TCP frame of the file, as tshark dissects it (two passes, as Wireshark shows a file), or
   * null when tshark cannot read the file at all.
   */
  async frames(path: string): Promise<TsharkFrame[] | null> {
    if (!(await this.load(path))) return null;
    const params: Record<string, string> = {};
    COLUMNS.forEach((c, i) => (params[`column${i}`] = c));
    const rows = (await this.request('frames', params)) as { c: string[]; num: number }[];
    const out: TsharkFrame[] = [];
    for (const row of rows) {
      const f = parseRow(row.num, row.c);
      if (f) out.push(f);
    }
    return out;
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

const set = (v: string | undefined): boolean => v !== undefined && /^(Set|True|1)/.test(v);
const all = (v: string | undefined): string[] => (v ? v.split(',') : []);

/** One row of `frames` (the columns of COLUMNS) -> a TsharkFrame, or null when it carries no TCP. */
export function parseRow(num: number, c: string[]): TsharkFrame | null {
  const [
    stream,
    syn,
    ack,
    fin,
    rst,
    sport,
    dport,
    ipSrc,
    ipDst,
    ip6Src,
    ip6Dst,
    protocols,
    request,
    code,
    expert,
    h2Method,
    h2Type,
  ] = c;
  const [types, versions, supported, suites, names, alpn, psk, randoms] = c.slice(17);
  if (!stream) return null;
  // The innermost IP header is the last "ip" or "ipv6" before "tcp" in frame.protocols (a tunnel
  // may carry IPv6 in IPv4 or the other way round): its addresses are the last occurrences.
  const layers = (protocols ?? '').split(':');
  const tcp = layers.indexOf('tcp');
  const inner = layers
    .slice(0, tcp < 0 ? layers.length : tcp)
    .reverse()
    .find((l) => l === 'ip' || l === 'ipv6');
  const v6 = inner === 'ipv6';
  return {
    frame: num,
    payloadProtocol: tcp < 0 ? null : (layers[tcp + 1] ?? null),
    // A frame carries one TCP header (an ICMP error's quoted header gets no stream of its own).
    stream: Number(all(stream)[0]),
    src: (v6 ? ip6Src : ipSrc) ?? '',
    dst: (v6 ? ip6Dst : ipDst) ?? '',
    srcPort: Number(all(sport)[0]),
    dstPort: Number(all(dport)[0]),
    syn: set(all(syn)[0]),
    ack: set(all(ack)[0]),
    fin: set(all(fin)[0]),
    rst: set(all(rst)[0]),
    requests: all(request).length,
    h2Methods: all(h2Method).length,
    h2PushPromises: all(h2Type).filter((t) => t === 'PUSH_PROMISE' || t === '5').length,
    statusCodes: all(code).map(Number),
    expert: expert ?? '',
    tls: types
      ? {
          types: all(types),
          versions: all(versions),
          supportedVersions: all(supported),
          cipherSuites: all(suites),
          serverNames: all(names),
          alpn: all(alpn),
          pskSelected: (psk ?? '') !== '',
          randoms: all(randoms),
        }
      : null,
  };
}
