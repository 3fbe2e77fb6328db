/**
 * The types of the HTML report's page: its data (built by html/data.ts, embedded as JSON, read back by
 * the script html/browser.ts) and what the script says about itself once drawn. Types only, and no
 * DOM: both the server's code and the browser's (tsconfig.browser.json, the DOM's types) use them.
 */
import type { FindingSeverity, Side } from '../../model/report.js';

/** One request on a lane: [start, end (null: no response end), method, path, status (null: none)]. */
export type PageExchange = [number, number | null, string, string, number | null];

/** One connection: a lane of the timeline and a row of the table. */
export interface PageConnection {
  id: number;
  /** The client's and the server's endpoints ("10.0.0.1:51234", "[::1]:8080"). */
  client: string;
  server: string;
  /** First and last evidence; null when unknown. */
  start: number | null;
  end: number | null;
  syn: boolean;
  open: boolean;
  requests: number;
  /** The requests are unknown (TLS read without the keys). */
  unknown: boolean;
  statuses: number[];
  clientFin: number | null;
  serverFin: number | null;
  firstFin: Side | null;
  resetBy: Side | null;
  resetAt: number | null;
  timeWait: Side | null;
  tls: 'full' | 'resumed' | null;
  bytesFromClient: number;
  bytesFromServer: number;
  /** The requests and their responses, when the observer listed them (ConnectionRecord.exchanges). */
  exchanges: PageExchange[];
  /** Exchanges beyond those listed. */
  exchangesOmitted: number;
  /** Busy periods [from, to, ...] (ConnectionRecord.busyAt), drawn when no exchange is listed. */
  busy: number[];
  /** The idle timeout of its server, measured (the median idle close) or advertised; null when neither. */
  idleTimeoutMs: number | null;
  notes: string[];
}

/** A finding's event, placed on its connection's lane. */
export interface PageMark {
  connection: number;
  at: number;
  code: string;
  severity: FindingSeverity;
  what: string;
}

/** A connection as embedded: its values in the order of PageData.fields (html/data.ts CONNECTION_FIELDS). */
export type PackedConnection = PageConnection[keyof PageConnection][];

export interface PageRun {
  title: string;
  /** The observer whose connections are drawn. */
  observer: string;
  /** The run's time origin, ms since the Unix epoch (null when no connection has a time). */
  origin: number | null;
  /** Packed: the values of each connection in the order of `PageData.fields`. */
  connections: PackedConnection[];
  /** Connections counted in the run's totals but not in `connections` (not kept by the command). */
  omitted: number;
  marks: PageMark[];
}

export interface PageData {
  /** The order of a packed connection's values (CONNECTION_FIELDS). */
  fields: readonly string[];
  runs: PageRun[];
  /** How long a TIME_WAIT tail lasts on the timeline: Linux's TCP_TIMEWAIT_LEN (60 s, 2 x MSL). */
  timeWaitMs: number;
}

/** What the page says about itself once drawn (window.__kal): for tests and for the curious. */
export interface PageSummary {
  rendered: boolean;
  /** Timeline lanes (one per connection) and bars (one per request, or per busy period). */
  lanes: number;
  bars: number;
  marks: number;
  runs: number;
  /** Time from the start of the script to the first complete drawing, ms. */
  renderMs: number;
  /** Time from the start of the navigation to the first complete drawing, ms (performance.now()). */
  readyMs: number;
  /**
   * Where a bar is on screen now (scrolled into view first): in the viewport (x, y) and on the canvas
   * (canvasX, canvasY); null when it is not drawn.
   */
  barAt(
    run: number,
    connection: number,
    exchange: number,
  ): { x: number; y: number; canvasX: number; canvasY: number } | null;
  /** The table's rows shown after the filter (all of them, not only those in view). */
  tableRows(): number;
}
