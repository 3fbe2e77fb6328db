import { REPORT_SCHEMA } from '../model/report.js';
import type { Report, RunReport } from '../model/report.js';
import { VERSION } from '../version.js';

export function buildReport(command: Report['command'], runs: RunReport[]): Report {
  return {
    schema: REPORT_SCHEMA,
    tool: { name: 'keepalive-lab', version: VERSION },
    command,
    createdAt: new Date().toISOString(),
    runs,
  };
}
