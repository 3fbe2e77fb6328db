export * from './packet.js';
export * from './report.js';
