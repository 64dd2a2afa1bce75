/**
 * Event rows waiting for the disk, as the columns of the events table rather than as the
 * events. An event is a small graph (its details, argv, exit status, usage, and the table's
 * copy of its process record), and the store held it until the flush (up to 200 ms), long
 * after everything else was done with it. Serialised when queued, an event costs one string
 * and a few unboxed numbers while it waits, and the event is garbage as soon as the listeners
 * have seen it: 2–7% less CPU per event in an exec storm (BENCHMARKS.md, "The store holds
 * rows, not events"). The row is what the flush would have written: nothing changes an event
 * once it is released (the table sets its key and sequence number before).
 */

import type { ProcEvent } from '../events/types.js';

/** The kind-specific fields of an event, as the `data` column stores them: everything but the common columns. */
export function eventData(e: ProcEvent): string {
  const { seq: _s, ktimeNs: _k, pid: _p, tid: _t, provenance: _v, key: _key, kind: _kind, ...rest } = e;
  return JSON.stringify(rest);
}

/** Queued event rows, oldest first, one array per column (numbers unboxed, no object per row). */
export class PendingRows {
  readonly seq: number[] = [];
  /** Wall time, ms: the `time` column, and how far behind the store is. */
  readonly wallMs: number[] = [];
  /** Kernel time, ns, rounded as stored. */
  readonly ktimeNs: number[] = [];
  readonly kind: string[] = [];
  readonly pid: number[] = [];
  readonly tid: number[] = [];
  readonly key: Array<string | null> = [];
  readonly provenance: string[] = [];
  readonly data: string[] = [];

  get length(): number {
    return this.seq.length;
  }

  push(e: ProcEvent, wallMs: number): void {
    this.seq.push(e.seq);
    this.wallMs.push(wallMs);
    this.ktimeNs.push(Math.round(e.ktimeNs));
    this.kind.push(e.kind);
    this.pid.push(e.pid);
    this.tid.push(e.tid);
    this.key.push(e.key ?? null);
    this.provenance.push(e.provenance);
    this.data.push(eventData(e));
  }

  /** Removes the oldest n rows (written, or dropped). */
  shift(n: number): void {
    const columns: unknown[][] = [this.seq, this.wallMs, this.ktimeNs, this.kind, this.pid, this.tid, this.key, this.provenance, this.data];
    for (const column of columns) column.splice(0, n);
  }
}
