/**
 * What each server showed over all its connections, gathered record by record: how long it let a
 * connection idle before closing it (measured), what it advertised (`Keep-Alive: timeout=N`), and
 * the longest idle gap after which it still answered; and what its clients showed: how long they
 * let a connection idle before closing it themselves, the longest idle gap after which they reused
 * one, which addresses they came from. The detectors read these once every record is in, to word
 * their findings with each side's own figures.
 */
import type { ConnectionRecord, Endpoint } from '../../model/report.js';
import {
  clientIdleCloseMs,
  longestAnsweredIdleMs,
  longestReuseIdleMs,
  median,
  serverIdleCloseMs,
  serverKey,
} from './facts.js';
import { MAX_CLIENT_ADDRESSES, MAX_IDLE_SAMPLES } from './thresholds.js';

/** HTTP status codes a proxy answers when its upstream request failed (RFC 9110 15.6.3, 15.6.4). */
const BAD_GATEWAY = 502;
const SERVICE_UNAVAILABLE = 503;

/** One side's idle closes (see facts.ts): how many, their extremes, a sample for the median. */
export class IdleCloses {
  count = 0;
  minMs = Infinity;
  maxMs = 0;
  private readonly samples: number[] = [];

  add(idleMs: number | null): void {
    if (idleMs === null) return;
    this.count++;
    this.minMs = Math.min(this.minMs, idleMs);
    this.maxMs = Math.max(this.maxMs, idleMs);
    if (this.samples.length < MAX_IDLE_SAMPLES) this.samples.push(idleMs);
  }

  /** The median idle close (null without one). */
  get medianMs(): number | null {
    return this.samples.length === 0 ? null : median(this.samples);
  }
}

export class ServerFacts {
  connections = 0;
  /** The server's idle closes (facts.ts serverIdleCloseMs). */
  readonly serverIdle = new IdleCloses();
  /** Its clients' own idle closes (facts.ts clientIdleCloseMs). */
  readonly clientIdle = new IdleCloses();
  /** The longest idle gap after which a request was still answered. */
  longestAnsweredIdleMs = 0;
  /** The longest idle gap after which a client sent a request, answered or not. */
  longestReuseIdleMs = 0;
  /** Responses 502 Bad Gateway and 503 Service Unavailable: what a proxy answers when its upstream failed. */
  badGateway = 0;
  serviceUnavailable = 0;
  /** The addresses its clients came from (the first MAX_CLIENT_ADDRESSES; `manyClients` once there were more). */
  readonly clientAddresses = new Set<string>();
  manyClients = false;
  /** Keep-Alive timeout=N values seen (seconds) -> connections that carried it. */
  readonly advertised = new Map<number, number>();

  constructor(readonly endpoint: Endpoint) {}

  add(r: ConnectionRecord): void {
    this.connections++;
    this.serverIdle.add(serverIdleCloseMs(r));
    this.clientIdle.add(clientIdleCloseMs(r));
    this.longestAnsweredIdleMs = Math.max(this.longestAnsweredIdleMs, longestAnsweredIdleMs(r));
    this.longestReuseIdleMs = Math.max(this.longestReuseIdleMs, longestReuseIdleMs(r));
    for (const status of r.statusCodes) {
      if (status === BAD_GATEWAY) this.badGateway++;
      else if (status === SERVICE_UNAVAILABLE) this.serviceUnavailable++;
    }
    if (!this.clientAddresses.has(r.client.address)) {
      if (this.clientAddresses.size < MAX_CLIENT_ADDRESSES) this.clientAddresses.add(r.client.address);
      else this.manyClients = true;
    }
    if (r.keepAliveTimeoutS !== undefined)
      this.advertised.set(r.keepAliveTimeoutS, (this.advertised.get(r.keepAliveTimeoutS) ?? 0) + 1);
  }

  /** Idle closes by the server: how many, the shortest and the longest. */
  get idleCloses(): number {
    return this.serverIdle.count;
  }
  get idleCloseMinMs(): number {
    return this.serverIdle.minMs;
  }
  get idleCloseMaxMs(): number {
    return this.serverIdle.maxMs;
  }

  /** The server's idle timeout as measured: the median idle close (null without one). */
  get idleTimeoutMs(): number | null {
    return this.serverIdle.medianMs;
  }

  /** The Keep-Alive timeout it advertised most often, in seconds (null when it sent none). */
  get advertisedTimeoutS(): number | null {
    let best: number | null = null;
    let count = 0;
    for (const [value, n] of this.advertised)
      if (n > count) {
        best = value;
        count = n;
      }
    return best;
  }

  /** The idle timeout to plan with: the measured one, else the advertised one, in milliseconds. */
  get effectiveTimeoutMs(): number | null {
    const advertised = this.advertisedTimeoutS;
    return this.idleTimeoutMs ?? (advertised === null ? null : advertised * 1000);
  }

  /** The measured and advertised figures, as a finding's evidence values. */
  values(): Record<string, number | null> {
    return {
      serverIdleTimeoutMs: this.idleTimeoutMs,
      serverIdleClosesMeasured: this.idleCloses,
      serverIdleCloseMinMs: this.idleCloses > 0 ? this.idleCloseMinMs : null,
      serverIdleCloseMaxMs: this.idleCloses > 0 ? this.idleCloseMaxMs : null,
      advertisedKeepAliveTimeoutS: this.advertisedTimeoutS,
      longestAnsweredIdleMs: this.longestAnsweredIdleMs,
    };
  }
}

/** The servers of one observer, by endpoint. */
export class ServerTable {
  private readonly byKey = new Map<string, ServerFacts>();

  /** The record's server, with the record counted in. */
  add(r: ConnectionRecord): ServerFacts {
    const key = serverKey(r.server);
    let facts = this.byKey.get(key);
    if (facts === undefined) {
      facts = new ServerFacts(r.server);
      this.byKey.set(key, facts);
    }
    facts.add(r);
    return facts;
  }

  get(server: Endpoint): ServerFacts | undefined {
    return this.byKey.get(serverKey(server));
  }

  /** Every server seen, in the order they first appeared. */
  all(): IterableIterator<ServerFacts> {
    return this.byKey.values();
  }
}
