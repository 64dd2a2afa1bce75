/**
 * Wall-time measurement of whole commands, the way a user (or mon, or Nagios) pays for them:
 * fork + exec + run + exit, timed from this process. No dependency beyond Node itself.
 */

import { spawnSync } from 'node:child_process';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

/**
 * Runs one command to completion with its output discarded; returns the wall time in ms.
 * Throws when the command cannot be started at all (a missing peer must not time as "fast").
 */
export function timeCommand(argv, options = {}) {
  const [file, ...args] = argv;
  const start = process.hrtime.bigint();
  const result = spawnSync(file, args, { stdio: 'ignore', env: options.env ?? process.env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.error) throw new Error(`cannot run ${file}: ${result.error.message}`);
  return ms;
}

/** Runs one command and returns what it printed and how it exited (for verdicts, not timing). */
export function runCommand(argv, options = {}) {
  const [file, ...args] = argv;
  const result = spawnSync(file, args, { encoding: 'utf8', env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new Error(`cannot run ${file}: ${result.error.message}`);
  return { stdout: result.stdout, stderr: result.stderr, status: result.status, signal: result.signal };
}

/** Median and p90 (nearest rank) of a list of samples. */
export function summarize(samples) {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { runs: sorted.length, median, p90: rank(0.9), min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Times several cases against each other. Each case is { id, commands: [argv, ...] }; a case
 * with several commands is timed as their sum, run one after the other (check_procs needs one
 * run per spec). Cases are interleaved round by round so that drift in the machine's load
 * (page cache, CPU frequency, a neighbour) hits every tool alike; warm-up rounds are discarded.
 * It yields to the event loop after every run, so a SIGINT handler (cleanup) gets to run.
 */
export async function timeCases(cases, { runs, warmup = 2, onRound } = {}) {
  const samples = new Map(cases.map((c) => [c.id, []]));
  for (let round = -warmup; round < runs; round++) {
    for (const c of cases) {
      let total = 0;
      for (const argv of c.commands) {
        total += timeCommand(argv);
        await yieldToEventLoop();
      }
      if (round >= 0) samples.get(c.id).push(total);
    }
    onRound?.(round + 1, runs);
  }
  return new Map([...samples].map(([id, list]) => [id, summarize(list)]));
}
