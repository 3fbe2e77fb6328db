/**
 * A finding's detector: fed every record of one observer (with the record's server already counted in
 * the ServerTable), it keeps what it needs (bounded) and words its findings once every record is in.
 * The list of detectors is in index.ts.
 */
import type { ConnectionRecord, Finding } from '../../model/report.js';
import type { ServerFacts, ServerTable } from './servers.js';

export interface FindingDetector {
  add(r: ConnectionRecord, server: ServerFacts): void;
  finish(servers: ServerTable): Finding[];
}
