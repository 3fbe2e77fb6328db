/**
 * What each server showed over all its connections, gathered record by record: how long it let a
 * connection idle before closing it (measured), what it advertised (`Keep-Alive: timeout=N`), and
 * the longest idle gap after which it still answered. The detectors read these once every record
 * is in, to word their findings with the server's own figures.
 */
import type { ConnectionRecord, Endpoint } from '../../model/report.js';
import { longestAnsweredIdleMs, median, serverIdleCloseMs, serverKey } from './facts.js';
import { ADVERTISED_CLOSE_SLACK_MS, MAX_IDLE_SAMPLES } from './thresholds.js';

export class ServerFacts {
  connections = 0;
  /** Idle closes (see facts.ts serverIdleCloseMs): how many, their extremes, a sample for the median. */
  idleCloses = 0;
  idleCloseMinMs = Infinity;
  idleCloseMaxMs = 0;
  private readonly idleSamples: number[] = [];
  /** The longest idle gap after which a request was still answered. */
  longestAnsweredIdleMs = 0;
  /** Keep-Alive timeout=N values seen (seconds) -> connections that carried it. */
  readonly advertised = new Map<number, number>();

  constructor(readonly endpoint: Endpoint) {}

  add(r: ConnectionRecord): void {
    this.connections++;
    const idle = serverIdleCloseMs(r);
    if (idle !== null) {
      this.idleCloses++;
      this.idleCloseMinMs = Math.min(this.idleCloseMinMs, idle);
      this.idleCloseMaxMs = Math.max(this.idleCloseMaxMs, idle);
      if (this.idleSamples.length < MAX_IDLE_SAMPLES) this.idleSamples.push(idle);
    }
    this.longestAnsweredIdleMs = Math.max(this.longestAnsweredIdleMs, longestAnsweredIdleMs(r));
    if (r.keepAliveTimeoutS !== undefined)
      this.advertised.set(r.keepAliveTimeoutS, (this.advertised.get(r.keepAliveTimeoutS) ?? 0) + 1);
  }

  /** The server's idle timeout as measured: the median idle close (null without one). */
  get idleTimeoutMs(): number | null {
    return this.idleSamples.length === 0 ? null : median(this.idleSamples);
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

  /**
   * Would a request after `idleMs` idle meet this server closing the connection (within `windowMs`,
   * the crossing window)? Between its shortest and longest measured idle close; with none measured,
   * from its advertised timeout to ADVERTISED_CLOSE_SLACK_MS after. False when neither is known.
   */
  closesAround(idleMs: number, windowMs: number): boolean {
    if (this.idleCloses > 0)
      return idleMs >= this.idleCloseMinMs - windowMs && idleMs <= this.idleCloseMaxMs + windowMs;
    const advertised = this.advertisedTimeoutS;
    if (advertised === null) return false;
    return idleMs >= advertised * 1000 - windowMs && idleMs <= advertised * 1000 + ADVERTISED_CLOSE_SLACK_MS + windowMs;
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
}
