/**
 * The one interface every event source implements (netlink, eBPF, /proc polling), and
 * that the shared contract test suite (test/sources/contract.ts) checks.
 */

import type { ProcEvent } from '../events/types.js';

export type SourceName = 'netlink' | 'ebpf' | 'poll';

/** Counters every source keeps; sources may add their own. */
export interface SourceCounters {
  events: number;
  batches: number;
  /** Events known to be missed (a lower bound when the kernel cannot say how many). */
  lost: number;
  /** Frames or records that could not be decoded. */
  malformed: number;
  [name: string]: number;
}

export type BatchSink = (batch: ProcEvent[]) => void;

export interface EventSource {
  readonly name: SourceName;
  /** What this source cannot see, told to the user when it is chosen (empty when nothing). */
  readonly limitations: string;
  /** Starts delivering batches to `sink`; rejects with a one-line reason if it cannot. */
  start(sink: BatchSink): Promise<void>;
  /** Stops and releases kernel resources; safe to call twice. */
  stop(): Promise<void>;
  counters(): SourceCounters;
}

/** Whether a source can run here, and if not, why. */
export interface Availability {
  available: boolean;
  reason: string;
}
