/**
 * keepalive-lab's public API: re-exports only. Long calls take `(source, options)` with an
 * AbortSignal and resolve to a RunReport; every option and result type is here. The low-level
 * decoders (capture files, link/IP/TCP, HTTP/1.x, the connection tracker) are on a subpath:
 * `keepalive-lab/decode` (src/decode/index.ts).
 */

// The report (docs/report-schema.md), errors and warnings with their codes (docs/errors.md).
export * from './model/report.js';
export * from './model/probe.js';
export * from './errors.js';
export type { Micros, Millis } from './model/time.js';

// Runs: an experiment in the lab, a capture, a watched program, a counting proxy.
export { clientFailure, runExperiment, runExperiments } from './lab/engine.js';
export type { ExperimentOptions, RunExperimentsOptions } from './lab/engine.js';
export { analyzeCapture } from './observe/capture-file.js';
export type { AnalyzeOptions } from './observe/capture-file.js';
export { watch } from './lab/watch.js';
export type { WatchOptions, WatchResult } from './lab/watch.js';
export { runProxy } from './lab/proxy.js';
export type { RunProxyOptions, RunningProxy } from './lab/proxy.js';
export type { ProxyOptions, ProxyProgress } from './observe/proxy.js';

// The lab's knobs, scenarios and server.
export { DEFAULT_CONFIG, describeConfig, experimentConfig } from './lab/config.js';
export { demoScenarios, labExperiments, tlsScenarios } from './lab/scenarios.js';
export type { ExperimentExpectation, Scenario } from './lab/scenarios.js';
export { missedExpectation, unmetExpectations } from './lab/expectations.js';
export { createLabCertificate } from './lab/certificate.js';
export type { LabCertificate } from './lab/certificate.js';
export { FINDING_SCENARIOS, findingScenario, missedFinding } from './lab/findings-scenarios/index.js';
export type { FindingScenario, FindingScenarioOptions } from './lab/findings-scenarios/index.js';
export { probe, probeTarget } from './lab/probe/index.js';
export type { ProbeOptions, ProbeProgress } from './lab/probe/index.js';
export { startLabServer } from './lab/server.js';
export { trackConnections } from './observe/in-process/tracker.js';
export type { ConnectionTracker, ProcessView, TrackOptions } from './observe/in-process/tracker.js';
export type * from './observe/in-process/events.js';
export type * from './model/process.js';
export type { LabServer, LabServerOptions } from './lab/server.js';
export { runBench } from './lab/bench.js';
export type { BenchOptions } from './lab/bench.js';
export { runLoad } from './lab/loadgen.js';
export type { LoadOptions, LoadOutcome, LoadProgress } from './lab/loadgen.js';
export { BENCH_SCHEMA } from './model/bench.js';
export type { BenchReport, BenchRun, LatencySummary, LoadMode, LoadResult, TimeWaitLeft } from './model/bench.js';

// Building and judging reports.
export { buildReport, reportHead, runReport, unavailableReport } from './analyze/run-report.js';
export type { ObserverHead, ReportHead, RunContext, RunHead } from './analyze/run-report.js';
export { computeTotals } from './analyze/totals.js';
export { decideVerdict, primaryObserver } from './analyze/verdict.js';
export type { VerdictContext } from './analyze/verdict.js';
export { compareObservers } from './analyze/agreement.js';
export { checkExpectations, evaluateExpectations } from './analyze/expect.js';
export type { ExpectationResult, Expectations } from './analyze/expect.js';

// Observers, for runs of one's own.
export type { Observer } from './observe/observer.js';
export { CaptureObserver, serverFocus } from './observe/capture.js';
export type { CaptureOptions, ServerFocus } from './observe/capture.js';
export { KernelObserver } from './observe/kernel.js';
export type { KernelObserverOptions } from './observe/kernel.js';
export type { KernelFocus } from './analyze/kernel.js';
export { ServerAccounting } from './observe/server-accounting.js';
export { filterSockets, readSocketTable } from './observe/socket-table.js';
export type { SocketFilter, SocketTable, SocketTableOptions, SocketTableSource } from './observe/socket-table.js';
export type { SocketEntry, TcpState } from './decode/socket-entry.js';

// Endpoints as text.
export { formatEndpoint, formatHostPort, parseEndpoint, parseHostPort } from './model/endpoint.js';
export type { HostPort, ParseHostPortOptions } from './model/endpoint.js';

// Renderers: a Report in, a string out; and the streamed JSON writer.
export { renderTerminal } from './report/terminal.js';
export type { TerminalOptions } from './report/terminal.js';
export { renderJson } from './report/json.js';
export { JsonReportStream, restOf } from './report/json-stream.js';
export type { StreamHead, StreamRest } from './report/json-stream.js';
export { renderHtml } from './report/html.js';
export { renderSocketTable } from './report/sockets.js';
export { runSummary } from './report/summary.js';
export type { RunSummary } from './report/summary.js';
