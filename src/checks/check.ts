/** One interface for every kind of check, and the context a round of evaluation shares. */

import { InputError } from '../errors.js';
import type { ProcReader, UserDb } from '../procfs/index.js';
import type { CheckResult } from './types.js';
import type { Snapshot } from './snapshot.js';

/**
 * The longest delay procwatch waits on (re-check delay, CPU window, banner timeout): one day.
 * Node's timers hold at most 2^31-1 ms (~24.8 days) and fire after 1 ms beyond that.
 */
export const MAX_WAIT_SECONDS = 86_400;

/** What checks are prepared with: the user database and the interpreter list, no /proc yet. */
export interface CheckEnv {
  users: UserDb;
  interpreters: ReadonlySet<string>;
}

/** What one round of checks shares: the readers and one snapshot, taken on first use. */
export interface Round extends CheckEnv {
  reader: ProcReader;
  snapshot(): Snapshot;
  /** A fresh snapshot, for checks that sample twice (CPU over a window). */
  freshSnapshot(): Snapshot;
}

export interface Check {
  id: string;
  kind: CheckResult['kind'];
  /**
   * Resolves and compiles everything the check needs (selectors, user names) and throws
   * InputError for bad input. runChecks calls it for every check before any of them reads
   * /proc, connects or waits, so a typo is reported at once, not after a banner timeout.
   */
  prepare(env: CheckEnv): void;
  evaluate(round: Round): Promise<CheckResult>;
}

export function emptyResult(id: string, kind: CheckResult['kind']): CheckResult {
  return { id, kind, status: 'ok', summary: '', details: [], perf: [], processes: [], attempts: 1, data: {} };
}

/** Waits `seconds`; refuses a delay a Node timer cannot hold rather than firing at once. */
export function waitSeconds(seconds: number): Promise<void> {
  if (!(seconds >= 0 && seconds <= MAX_WAIT_SECONDS)) throw new InputError(`cannot wait ${seconds}s: at most ${MAX_WAIT_SECONDS}s (one day)`);
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}
