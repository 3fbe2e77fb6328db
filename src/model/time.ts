/**
 * Time units. Capture timestamps, the HTTP framer's and the HTTP counter's are microseconds since the
 * Unix epoch (`Micros`); the report speaks milliseconds (`Millis`, model/report.ts). `toMillis` is the
 * one conversion between them.
 */

/** Microseconds since the Unix epoch, or a span of microseconds. */
export type Micros = number;
/** Milliseconds since the Unix epoch, or a span of milliseconds: the unit of every time in a report. */
export type Millis = number;

export const MICROS_PER_MILLI = 1000;

export function toMillis(us: Micros): Millis {
  return us / MICROS_PER_MILLI;
}

/**
 * The wall clock in microseconds, for the live observers (proxy, server accounting). Date.now()'s
 * millisecond resolution: their idle gaps stay whole milliseconds, as they always were.
 */
export function nowMicros(): Micros {
  return Date.now() * MICROS_PER_MILLI;
}
