/**
 * Scripted TCP conversations for analyzer tests: each call appends one segment with the sequence
 * numbers a real stack would use (RFC 9293 section 3.4: SYN and FIN take one sequence number each),
 * so a test reads as the exchange it describes and can then bend it (lose, repeat, reorder, cut).
 *
 *   const c = new Conversation({ address: '10.0.0.1', port: 50000 }, { address: '10.0.0.2', port: 80 });
 *   c.handshake(); c.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'); c.close('client');
 *   new ConnectionTracker().packet(toTcpPacket(c.packets[0]!));   // or buildPcap({ packets: c.packets })
 *
 * The segments are capture-builder TcpPacketSpecs, so the same script becomes TcpPacket objects
 * (toTcpPacket) or a pcap/pcapng file (test/support/capture-builder.ts).
 */
import { flagBits, DEFAULT_TS } from './capture-builder.js';
import type { TcpPacketSpec } from './capture-builder.js';
import type { TcpPacket } from '../../src/model/packet.js';
import type { Endpoint, Side } from '../../src/model/report.js';

export interface ConversationOptions {
  clientIsn?: number;
  serverIsn?: number;
  /** Microseconds since the epoch of the first segment (default capture-builder's DEFAULT_TS). */
  start?: number;
  /** Microseconds between segments when no time is given (default 100). */
  step?: number;
}

export interface SegmentOptions {
  /**
   * Extra flags (letters as in capture-builder, e.g. 'F' to add FIN to a data segment). Default 'PA' for data,
   * 'A' otherwise.
   */
  flags?: string;
  /** Sequence number to use instead of the next one (a retransmission, a segment sent again). */
  seq?: number;
  /** Advance the side's next sequence number (default true; false for retransmissions). */
  advance?: boolean;
  /** Microseconds since the epoch (default: previous segment + step). */
  ts?: number;
}

const enc = new TextEncoder();

export class Conversation {
  readonly packets: TcpPacketSpec[] = [];
  readonly client: Endpoint;
  readonly server: Endpoint;
  /** Next sequence number each side will send. */
  readonly next: Record<Side, number>;
  readonly isn: Record<Side, number>;
  private now: number;
  private readonly step: number;

  constructor(client: Endpoint, server: Endpoint, options: ConversationOptions = {}) {
    this.client = client;
    this.server = server;
    this.isn = { client: (options.clientIsn ?? 1000) >>> 0, server: (options.serverIsn ?? 5000) >>> 0 };
    this.next = { ...this.isn };
    this.step = options.step ?? 100;
    this.now = (options.start ?? DEFAULT_TS) - this.step;
  }

  /** Time of the last segment, microseconds. */
  get time(): number {
    return this.now;
  }

  /** Let `ms` milliseconds pass before the next segment. */
  wait(ms: number): this {
    this.now += ms * 1000;
    return this;
  }

  /** Appends one segment from `from`. */
  segment(from: Side, flags: string, payload: Uint8Array | string = '', options: SegmentOptions = {}): TcpPacketSpec {
    const bytes = typeof payload === 'string' ? enc.encode(payload) : payload;
    const [src, dst] = from === 'client' ? [this.client, this.server] : [this.server, this.client];
    const other: Side = from === 'client' ? 'server' : 'client';
    this.now = options.ts ?? this.now + this.step;
    const seq = options.seq ?? this.next[from];
    const bits = flagBits(flags);
    const spec: TcpPacketSpec = {
      ts: this.now,
      src: src.address,
      dst: dst.address,
      srcPort: src.port,
      dstPort: dst.port,
      seq: seq >>> 0,
      ack: (bits & flagBits('A')) !== 0 ? this.next[other] : 0,
      flags,
      payload: bytes,
    };
    if (options.advance ?? options.seq === undefined) {
      const used = bytes.length + ((bits & flagBits('S')) !== 0 ? 1 : 0) + ((bits & flagBits('F')) !== 0 ? 1 : 0);
      this.next[from] = (seq + used) >>> 0;
    }
    this.packets.push(spec);
    return spec;
  }

  syn(options?: SegmentOptions): TcpPacketSpec {
    return this.segment('client', 'S', '', options);
  }

  synAck(options?: SegmentOptions): TcpPacketSpec {
    return this.segment('server', 'SA', '', options);
  }

  ack(from: Side, options?: SegmentOptions): TcpPacketSpec {
    return this.segment(from, 'A', '', options);
  }

  /** SYN, SYN/ACK, ACK; `rttMs` between the SYN and the SYN/ACK. */
  handshake(rttMs = 0.1): this {
    this.syn();
    this.wait(rttMs - this.step / 1000);
    this.synAck();
    this.ack('client');
    return this;
  }

  /** Data from one side (PSH/ACK), then the peer's ACK unless `ack` is false. */
  send(from: Side, data: Uint8Array | string, options: SegmentOptions & { ack?: boolean } = {}): TcpPacketSpec {
    const spec = this.segment(from, options.flags ?? 'PA', data, options);
    if (options.ack ?? false) this.ack(from === 'client' ? 'server' : 'client');
    return spec;
  }

  /** FIN from `from`, optionally answered by the other side's FIN and the last ACK. */
  fin(from: Side, options?: SegmentOptions): TcpPacketSpec {
    return this.segment(from, 'FA', '', options);
  }

  /** Orderly close: FIN from `first`, FIN from the other, last ACK. */
  close(first: Side): this {
    const other: Side = first === 'client' ? 'server' : 'client';
    this.fin(first);
    this.fin(other);
    this.ack(first);
    return this;
  }

  rst(from: Side, options?: SegmentOptions): TcpPacketSpec {
    return this.segment(from, 'RA', '', options);
  }
}

/** A scripted segment as the packet decoder would hand it over; `captured` cuts the payload (snap length). */
export function toTcpPacket(spec: TcpPacketSpec, captured?: number): TcpPacket {
  const payload =
    spec.payload === undefined
      ? new Uint8Array(0)
      : typeof spec.payload === 'string'
        ? enc.encode(spec.payload)
        : spec.payload;
  return {
    ts: spec.ts ?? DEFAULT_TS,
    ipVersion: spec.src.includes(':') ? 6 : 4,
    src: spec.src,
    dst: spec.dst,
    srcPort: spec.srcPort,
    dstPort: spec.dstPort,
    seq: (spec.seq ?? 1) >>> 0,
    ack: (spec.ack ?? 0) >>> 0,
    flags: flagBits(spec.flags),
    window: spec.window ?? 65535,
    payloadLength: payload.length,
    payload: captured === undefined ? payload : payload.subarray(0, captured),
  };
}

/** An HTTP/1.1 request head (no body). */
export function httpGet(path = '/', headers: Record<string, string> = {}): string {
  const fields = Object.entries({ Host: 'example.test', ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `GET ${path} HTTP/1.1\r\n${fields}\r\n`;
}

/** An HTTP/1.1 response with a Content-Length body of `body` (a string, or a size in bytes of 'x'). */
export function httpResponse(
  status = 200,
  body: string | number = 'hello',
  headers: Record<string, string> = {},
  version = '1.1',
): string {
  const text = typeof body === 'number' ? 'x'.repeat(body) : body;
  const fields = Object.entries({ 'Content-Length': String(text.length), ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `HTTP/${version} ${status} ${status === 200 ? 'OK' : 'Other'}\r\n${fields}\r\n${text}`;
}
