/**
 * A report written while its connections come, for `analyze --json` on captures of any size and
 * `proxy --json` on runs of any length:
 * `begin(head)` gives the text up to the first record, `record(r)` each record, `end(rest)` the
 * text after the last one. The types say what goes where: the head holds the fields known before
 * the capture is read (the Report's, the run's and the observer's first fields), the records are
 * the observer's `connections`, the rest holds the fields computed once the capture has been read.
 *
 * The text is renderJson()'s, byte for byte, of the report whose fields come in that order (head,
 * connections, rest): each field is printed by JSON.stringify at its depth, so a field added to
 * the head or to the rest needs no change here. The writer is pure (strings in, strings out); the
 * caller decides when to write them and waits for its output to drain.
 */
import type { ObserverHead, ReportHead, RunHead } from '../analyze/run-report.js';
import type { ConnectionRecord, ObserverReport, RunReport } from '../model/report.js';
import { jsonRecordText } from './json-record.js';

/** What is known before the capture is read. */
export interface StreamHead {
  report: ReportHead;
  run: RunHead;
  observer: ObserverHead;
}

/**
 * What is known once the capture has been read: the observer's fields after `connections` (a
 * streamed report lists every connection: no `connectionsOmitted`), then the run's after `observers`.
 */
export interface StreamRest {
  observer: Omit<ObserverReport, keyof ObserverHead | 'connections' | 'connectionsOmitted'>;
  run: Omit<RunReport, keyof RunHead | 'observers'>;
}

/** JSON.stringify's indentation step (renderJson uses 2). */
const STEP = '  ';
/** Depths in the document: the Report's fields, a run, a run's fields, an observer, its fields, a record. */
const REPORT_FIELDS = 1;
const RUN = 2;
const RUN_FIELDS = 3;
const OBSERVER = 4;
const OBSERVER_FIELDS = 5;
const RECORD = 6;

const pad = (depth: number) => STEP.repeat(depth);

/** A value as JSON.stringify(..., null, 2) prints it at `depth`. */
function nested(value: unknown, depth: number): string {
  return JSON.stringify(value, null, STEP.length).replaceAll('\n', `\n${pad(depth)}`);
}

/** An object's fields, one `"key": value` line each, as JSON.stringify prints them at `depth` (undefined left out). */
function members(object: object, depth: number): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(object)) {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    out.push(`${pad(depth)}${JSON.stringify(key)}: ${nested(value, depth)}`);
  }
  return out;
}

/** `fields` then an array that opens on the last line, inside an object that opens at `depth - 1`. */
function open(fields: object, depth: number, array: string): string {
  return `{\n${[...members(fields, depth), `${pad(depth)}${JSON.stringify(array)}: [`].join(',\n')}`;
}

/** The closing of an array whose elements are at `depth + 1`, then more fields, then the object's `}`. */
function close(fields: object, depth: number, elements: number): string {
  const rest = members(fields, depth);
  const array = elements === 0 ? ']' : `\n${pad(depth)}]`;
  return `${array}${rest.length > 0 ? `,\n${rest.join(',\n')}` : ''}\n${pad(depth - 1)}}`;
}

export class JsonReportStream {
  private records = 0;
  private state: 'new' | 'open' | 'closed' = 'new';

  /** The text before the first record. */
  begin(head: StreamHead): string {
    this.expect('new', 'begin');
    this.state = 'open';
    const report = open(head.report, REPORT_FIELDS, 'runs');
    const run = open(head.run, RUN_FIELDS, 'observers');
    return `${report}\n${pad(RUN)}${run}\n${pad(OBSERVER)}${open(head.observer, OBSERVER_FIELDS, 'connections')}`;
  }

  /** One record, with the comma before it after the first. */
  record(record: ConnectionRecord): string {
    this.expect('open', 'record');
    const indent = pad(RECORD);
    return `${this.records++ === 0 ? '' : ','}\n${indent}${jsonRecordText(record, indent)}`;
  }

  /** The text after the last record, to the end of the document. */
  end(rest: StreamRest): string {
    this.expect('open', 'end');
    this.state = 'closed';
    // The records, the observer's rest; the one observer, the run's rest; the one run, the Report.
    const observer = close(rest.observer, OBSERVER_FIELDS, this.records);
    return `${observer}${close(rest.run, RUN_FIELDS, 1)}${close({}, REPORT_FIELDS, 1)}\n`;
  }

  private expect(state: JsonReportStream['state'], call: string): void {
    if (this.state !== state) throw new Error(`JsonReportStream: ${call}() out of order (begin, records, end)`);
  }
}

/** A finished run, less what `head` already wrote and the records: what `end()` takes. */
export function restOf(head: StreamHead, run: RunReport): StreamRest {
  const observer = run.observers[0];
  if (observer === undefined || run.observers.length !== 1) throw new Error('a streamed run has one observer');
  return {
    observer: without(observer, [...Object.keys(head.observer), 'connections', 'connectionsOmitted']),
    run: without(run, [...Object.keys(head.run), 'observers']),
  } as StreamRest;
}

function without(object: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) if (!keys.includes(key)) out[key] = value;
  return out;
}

/** The whole report that head, records and rest make up, in the order the stream writes them. */
export function streamedReport(head: StreamHead, records: ConnectionRecord[], rest: StreamRest) {
  return {
    ...head.report,
    runs: [{ ...head.run, observers: [{ ...head.observer, connections: records, ...rest.observer }], ...rest.run }],
  };
}
