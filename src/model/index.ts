export * from './packet.js';
export * from './report.js';
export type { Micros, Millis } from './time.js';
