import type { ConnectionRecord, Endpoint } from '../model/report.js';

/** A connection record with nothing counted yet: every observer starts from this one. */
export function newConnectionRecord(
  id: number,
  client: Endpoint,
  server: Endpoint,
  start: number | null,
): ConnectionRecord {
  return {
    id,
    client,
    server,
    start,
    end: null,
    handshakeRttMs: null,
    requests: 0,
    responses: 0,
    statusCodes: [],
    idleGapsMs: [],
    closedFirstBy: null,
    resetBy: null,
    timeWait: null,
    startedBefore: false,
    openAtEnd: true,
    bytesFromClient: 0,
    bytesFromServer: 0,
    notes: [],
  };
}
