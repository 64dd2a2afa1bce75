/**
 * The one interface every event source implements (netlink, eBPF, /proc polling), and
 * that the shared contract test suite (test/sources/contract.ts) checks.
 */

import type { LostEvent, ProcEvent } from '../events/types.js';

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

/** Something the user of a source must hear about, one line each. */
export interface SourceProblem {
  message: string;
  /**
   * True when the source stopped delivering events on its own (its reader thread died, /proc
   * became unreadable): nothing more will come, and a `lost` event naming the failure was
   * the last thing delivered. False for an error the reader survived.
   */
  fatal: boolean;
}

export type ProblemSink = (problem: SourceProblem) => void;

export interface EventSource {
  readonly name: SourceName;
  /** What this source cannot see, told to the user when it is chosen (empty when nothing). */
  readonly limitations: string;
  /**
   * Starts delivering batches to `sink`, and problems to `onProblem`. Rejects with a
   * SourceStartError (one line) when the kernel refuses, an InputError for bad options.
   */
  start(sink: BatchSink, onProblem?: ProblemSink): Promise<void>;
  /** Stops and releases kernel resources; safe to call twice. */
  stop(): Promise<void>;
  counters(): SourceCounters;
}

/** Whether a source can run here, and if not, why. */
export interface Availability {
  available: boolean;
  reason: string;
}

/** A source could not start although it looked available (e.g. the kernel said EPERM). Exit 4. */
export class SourceStartError extends Error {
  override readonly name = 'SourceStartError';
}

/**
 * Watches a native reader thread on behalf of its source. Errors the reader survived go to
 * onProblem as they come. A reader that closes before anyone asked it to stop has died: a
 * `lost` event (count unknown, reason naming the failure) goes into the stream, so every
 * consumer sees where the events end and the table resyncs, and onProblem hears it as fatal.
 */
const ERROR_HOLD_MS = 100;

export class ReaderWatch {
  private stopping = false;
  private lastError: string | null = null;
  private failed = false;
  /** An error not told yet: if the reader closes right after it, it is the reason, told once. */
  private held: NodeJS.Timeout | null = null;

  constructor(
    private readonly who: string,
    private readonly sink: BatchSink,
    private readonly onProblem: ProblemSink | undefined,
    /** The seq of the last event delivered, so the lost event continues the sequence. */
    private readonly lastSeq: () => number,
    /** Counts the lost event in the source's counters. */
    private readonly countLost: () => void,
  ) {}

  /**
   * An error message from the reader thread. It goes on, unless it closes next: a reader
   * posts the error that kills it just before it closes. So an error is told after a short
   * wait, and only if no close followed (then it is the reason in the fatal problem).
   */
  error(message: string): void {
    this.flush();
    this.lastError = message;
    this.held = setTimeout(() => this.flush(), ERROR_HOLD_MS);
    this.held.unref();
  }

  /** Follows the reader's `closed` promise. */
  follow(closed: Promise<void>): void {
    void closed.then(() => {
      if (!this.stopping) this.fail(this.lastError ?? 'the reader thread ended without saying why');
    });
  }

  /** stop() was asked: the close that follows is not a failure. */
  stopRequested(): void {
    this.stopping = true;
    this.flush();
  }

  private flush(): void {
    if (this.held === null) return;
    clearTimeout(this.held);
    this.held = null;
    this.tell({ message: `${this.who}: ${this.lastError ?? ''}`, fatal: false });
  }

  /** The source cannot go on: say so in the stream and to onProblem (once). */
  fail(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    if (this.held !== null) clearTimeout(this.held); // that error is the reason, told below
    this.held = null;
    const lost: LostEvent = {
      seq: this.lastSeq() + 1, ktimeNs: Number(process.hrtime.bigint()), pid: 0, tid: 0, cpu: -1, provenance: 'observed',
      kind: 'lost', count: null, reason: `${this.who} stopped: ${reason}; no more events from this source`,
    };
    this.countLost();
    try {
      this.sink([lost]);
    } finally {
      this.tell({ message: `${this.who} stopped: ${reason}`, fatal: true });
    }
  }

  private tell(problem: SourceProblem): void {
    try {
      this.onProblem?.(problem);
    } catch {
      // a problem handler that throws has nowhere left to report to
    }
  }
}
