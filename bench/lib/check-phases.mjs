#!/usr/bin/env node
/**
 * Child process for the `check` benchmark's "where the time goes" table: does what
 * `procwatch check SPEC...` does, in the same cold process, and prints how long each phase
 * took as JSON. performance.now() counts from process start, so the first mark is Node's own
 * bootstrap. Usage: node bench/lib/check-phases.mjs SPEC...
 */

const boot = performance.now();
const { Command } = await import('commander');
const { checkCommand } = await import('../../dist/src/cli/check.js'); // the modules `procwatch check` loads
const { CountCheck, parseSpec, runChecks, PS_MONITOR_INTERPRETERS } = await import('../../dist/src/checks/index.js');
const { renderMon } = await import('../../dist/src/report/index.js');
new Command('procwatch').addCommand(checkCommand()); // commander setup, as main.ts does
const loaded = performance.now();
const results = await runChecks(process.argv.slice(2).map((s) => new CountCheck(parseSpec(s))), {
  procRoot: '/proc',
  etcRoot: '/etc',
  interpreters: new Set(PS_MONITOR_INTERPRETERS),
  recheckDelaySeconds: 0,
  recheckTimes: 0,
  excludePids: new Set([process.pid]),
});
const scanned = performance.now();
renderMon(results);
const rendered = performance.now();
process.stdout.write(JSON.stringify({
  bootstrap: boot,
  modules: loaded - boot,
  scan: scanned - loaded,
  render: rendered - scanned,
  total: rendered,
}));
