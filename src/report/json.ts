import type { ConnectionRecord, Report } from '../model/report.js';
import { jsonRecordText } from './json-record.js';

/** `--json` prints the Report object as it is (docs/report-schema.md). */
export function renderJson(report: Report): string {
  return JSON.stringify(report, null, 2) + '\n';
}

/**
 * The same document written while the connections come, for `analyze --json` on captures of any
 * size: the text before the first record (`head`), each record (`jsonRecord`), the text after the
 * last one (`tail`). The streamed list is the `connections` of the first run's first observer;
 * everything before it in the document must be known before the capture is read (the observer's
 * fields computed at the end, such as `totals`, come after `connections`). JSON.parse of
 * head + records + tail gives what renderJson() of the whole report gives, all records included.
 */
export interface JsonStreamParts {
  head: string;
  tail: string;
  /** The records' indentation inside the document. */
  indent: string;
}

/** A string no report holds as an array element alone on its line. */
const MARK = '\u0000keepalive-lab: the connections go here\u0000';
const MARK_JSON = JSON.stringify(MARK);

/**
 * Splits the document of `report` where its streamed records go. Call it on a report holding the
 * head's fields only (for `head`), and again on the finished report (for `tail`): the two heads
 * must be equal, or the fields before `connections` changed while the capture was read.
 */
export function jsonStreamParts(report: Report): JsonStreamParts {
  const run = report.runs[0];
  const observer = run?.observers[0];
  if (run === undefined || observer === undefined) throw new Error('a streamed report needs a run with an observer');
  // The streamed document holds every record: none is omitted.
  const { connectionsOmitted: _omitted, ...rest } = observer;
  const marked: Report = {
    ...report,
    runs: [
      {
        ...run,
        observers: [{ ...rest, connections: [MARK as unknown as ConnectionRecord] }, ...run.observers.slice(1)],
      },
      ...report.runs.slice(1),
    ],
  };
  const text = renderJson(marked);
  // The first element of an array, alone on its line: nothing before it in the document is an array of strings.
  const mark = text.indexOf(`${MARK_JSON}\n`);
  const lineStart = text.lastIndexOf('\n', mark);
  if (mark < 0 || text[lineStart - 1] !== '[') throw new Error('cannot find where the connections go');
  return {
    head: text.slice(0, lineStart),
    tail: text.slice(mark + MARK_JSON.length),
    indent: text.slice(lineStart + 1, mark),
  };
}

/** One streamed record: `index` 0 for the first (no comma before it). */
export function jsonRecord(record: ConnectionRecord, index: number, indent: string): string {
  return `${index === 0 ? '' : ','}\n${indent}${jsonRecordText(record, indent)}`;
}
