/**
 * The evidence of one finding, gathered connection by connection: every connection is counted, the
 * first ones are listed with what happened on them (bounded, whatever the capture's size).
 */
import type { Endpoint, FindingEvent, FindingEvidence } from '../../model/report.js';
import { MAX_EVIDENCE_EVENTS, MAX_EVIDENCE_IDS } from './thresholds.js';

export class EvidenceList {
  count = 0;
  readonly connections: number[] = [];
  readonly events: FindingEvent[] = [];

  add(connection: number, at: number, what: string): void {
    this.addConnection(connection);
    this.addEvent(connection, at, what);
  }

  /** A connection that shows the finding, with no event of its own to tell. */
  addConnection(connection: number): void {
    this.count++;
    if (this.connections.length < MAX_EVIDENCE_IDS) this.connections.push(connection);
  }

  /** What happened on a connection counted already. */
  addEvent(connection: number, at: number, what: string): void {
    if (this.events.length < MAX_EVIDENCE_EVENTS) this.events.push({ connection, at, what });
  }

  /** Adds another list's connections and events after this one's (each still bounded). */
  absorb(other: EvidenceList): void {
    this.count += other.count;
    for (const id of other.connections) if (this.connections.length < MAX_EVIDENCE_IDS) this.connections.push(id);
    for (const e of other.events) if (this.events.length < MAX_EVIDENCE_EVENTS) this.events.push(e);
  }

  /** A copy to add to without changing this one. */
  clone(): EvidenceList {
    const copy = new EvidenceList();
    copy.count = this.count;
    copy.connections.push(...this.connections);
    copy.events.push(...this.events);
    return copy;
  }

  evidence(server: Endpoint | null, values: FindingEvidence['values']): FindingEvidence {
    const connections = [...this.connections].sort((a, b) => a - b);
    const events = [...this.events].sort((a, b) => a.connection - b.connection);
    // Measured times to the microsecond, as the records hold them.
    const rounded: FindingEvidence['values'] = {};
    for (const [k, v] of Object.entries(values)) rounded[k] = typeof v === 'number' ? Math.round(v * 1000) / 1000 : v;
    return { server, count: this.count, connections, events, values: rounded };
  }
}
