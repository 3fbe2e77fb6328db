/** Reading a lab run's report in integration tests. */
import assert from 'node:assert/strict';
import type { ObserverReport, RunReport } from '../../src/model/report.js';

/** The run's observer `name`, asserted present and available (its reason in the message when not). */
export function observer(run: RunReport, name: ObserverReport['observer']): ObserverReport {
  const o = run.observers.find((x) => x.observer === name);
  assert.ok(o, `${name} observer present`);
  assert.equal(o.available, true, `${name} observer available: ${o.reason ?? ''}`);
  return o;
}
