/**
 * Runs checks in rounds. A failing check is evaluated again after a delay, up to N more
 * times, and counts as failed only if it fails every time: a daemon restart (two
 * instances, or none, for a moment) does not alert.
 */

import { ProcReader, UserDb } from '../procfs/index.js';
import { takeSnapshot, type Snapshot } from './snapshot.js';
import { InputError } from '../errors.js';
import { MAX_WAIT_SECONDS, waitSeconds, type Check, type Round } from './check.js';
import type { CheckResult } from './types.js';

export interface RunOptions {
  procRoot: string;
  etcRoot: string;
  interpreters: ReadonlySet<string>;
  /** Seconds to wait before re-checking failures; 0 disables re-checks. */
  recheckDelaySeconds: number;
  /** Re-checks after the first evaluation. */
  recheckTimes: number;
  excludePids: ReadonlySet<number>;
  /** Told before each wait, so long runs show progress. */
  onRecheck?: (failing: string[], attempt: number, delaySeconds: number) => void;
}

function newRound(reader: ProcReader, users: UserDb, options: RunOptions): Round {
  let current: Snapshot | null = null;
  const fresh = (): Snapshot => (current = takeSnapshot(reader, { excludePids: options.excludePids }));
  return {
    reader,
    users,
    interpreters: options.interpreters,
    snapshot: () => current ?? fresh(),
    freshSnapshot: fresh,
  };
}

export async function runChecks(checks: Check[], options: RunOptions): Promise<CheckResult[]> {
  if (options.recheckDelaySeconds > MAX_WAIT_SECONDS) throw new InputError(`the re-check delay (${options.recheckDelaySeconds}s) is above ${MAX_WAIT_SECONDS}s`);
  const reader = new ProcReader(options.procRoot);
  const users = new UserDb(options.etcRoot);
  const round = newRound(reader, users, options);
  // Every check is compiled first: bad input fails here, before /proc is read or a socket opened.
  for (const check of checks) check.prepare(round);
  const results = await Promise.all(checks.map((c) => c.evaluate(round)));
  const times = options.recheckDelaySeconds > 0 ? options.recheckTimes : 0;
  for (let attempt = 1; attempt <= times; attempt++) {
    const failing = results.map((r, i) => (r.status === 'ok' ? -1 : i)).filter((i) => i >= 0);
    if (failing.length === 0) break;
    options.onRecheck?.(failing.map((i) => results[i]!.id), attempt, options.recheckDelaySeconds);
    await waitSeconds(options.recheckDelaySeconds);
    const again = newRound(reader, users, options);
    const rechecked = await Promise.all(failing.map((i) => checks[i]!.evaluate(again)));
    failing.forEach((index, j) => {
      results[index] = { ...rechecked[j]!, attempts: attempt + 1 };
    });
  }
  return results;
}
