/** One interface for every kind of check, and the context a round of evaluation shares. */

import type { ProcReader, UserDb } from '../procfs/index.js';
import type { CheckResult } from './types.js';
import type { Snapshot } from './snapshot.js';

/** What one round of checks shares: the readers and one snapshot, taken on first use. */
export interface Round {
  reader: ProcReader;
  users: UserDb;
  interpreters: ReadonlySet<string>;
  snapshot(): Snapshot;
  /** A fresh snapshot, for checks that sample twice (CPU over a window). */
  freshSnapshot(): Snapshot;
}

export interface Check {
  id: string;
  kind: CheckResult['kind'];
  evaluate(round: Round): Promise<CheckResult>;
}

export function emptyResult(id: string, kind: CheckResult['kind']): CheckResult {
  return { id, kind, status: 'ok', summary: '', details: [], perf: [], processes: [], attempts: 1, data: {} };
}
