/** ConnectionRecords and ObserverReports for the analyze unit tests: defaults plus what a test sets. */
import { computeTotals } from '../../../src/analyze/totals.js';
import type { ConnectionRecord, HttpEvidence, ObserverName, ObserverReport } from '../../../src/model/report.js';

let nextPort = 40000;

export function record(fields: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id: 1,
    client: { address: '127.0.0.1', port: nextPort++ },
    server: { address: '127.0.0.1', port: 8080 },
    start: 1000,
    end: 1010,
    handshakeRttMs: 0.1,
    requests: 1,
    responses: 1,
    statusCodes: [200],
    idleGapsMs: [],
    closedFirstBy: 'client',
    resetBy: null,
    timeWait: 'client',
    startedBefore: false,
    openAtEnd: false,
    bytesFromClient: 80,
    bytesFromServer: 120,
    notes: [],
    ...fields,
  };
}

/** `n` connections carrying `requestsEach` requests each, the same other fields. */
export function records(n: number, requestsEach: number, fields: Partial<ConnectionRecord> = {}): ConnectionRecord[] {
  return Array.from({ length: n }, (_, i) =>
    record({ id: i + 1, requests: requestsEach, responses: requestsEach, ...fields }),
  );
}

export function observer(
  name: ObserverName,
  connections: ConnectionRecord[],
  extra: { syns?: number | null; http?: HttpEvidence; available?: boolean; seesRequests?: boolean } = {},
): ObserverReport {
  const seesRequests = extra.seesRequests ?? name !== 'kernel';
  const report: ObserverReport = {
    observer: name,
    available: extra.available ?? true,
    seesRequests,
    totals: computeTotals(
      connections,
      extra.syns === undefined ? (name === 'wire' ? connections.length : null) : extra.syns,
    ),
    connections,
    warnings: [],
  };
  if (extra.http) report.http = extra.http;
  if (report.available === false) {
    report.reason = 'not permitted';
    report.fix = 'run as root';
  }
  return report;
}

/** The `tls` facts of a TLS connection: TLS 1.3, a full handshake, one exchange; what a test sets. */
export function tlsFacts(
  fields: Partial<NonNullable<ConnectionRecord['tls']>> = {},
): NonNullable<ConnectionRecord['tls']> {
  return {
    version: 'TLS 1.3',
    cipherSuite: 'TLS_AES_128_GCM_SHA256',
    sni: 'example.com',
    alpnOffered: ['http/1.1'],
    alpnChosen: null,
    alpnChosenWhyNull: 'encrypted',
    handshake: 'full',
    resumptionOffered: null,
    handshakeMs: 2,
    applicationData: { client: { records: 1, bytes: 100 }, server: { records: 1, bytes: 300 } },
    estimatedExchanges: 1,
    ...fields,
  };
}

/** `n` TLS connections (no request counted), each with these facts. */
export function tlsRecords(n: number, fields: Partial<NonNullable<ConnectionRecord['tls']>> = {}): ConnectionRecord[] {
  return records(n, 0, { server: { address: '127.0.0.1', port: 443 }, statusCodes: [], tls: tlsFacts(fields) });
}
