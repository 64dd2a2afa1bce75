/**
 * Events from different CPUs can reach us out of order (a child's exit before its fork).
 * The reorder buffer holds each event until the clock is `holdNs` past its kernel time,
 * then releases everything due in kernel-time order. An event that arrives after later
 * events were released is "late": it is released at once and counted, and the table
 * copes with it (see ProcessTable: recent exits).
 */

import type { ProcEvent } from '../events/types.js';

export interface ReorderCounters {
  late: number;
  forced: number;
  held: number;
}

const byTime = (a: ProcEvent, b: ProcEvent): number => a.ktimeNs - b.ktimeNs || a.seq - b.seq;

export class ReorderBuffer {
  private held: ProcEvent[] = [];
  private releasedUpTo = -Infinity;
  private late = 0;
  private forced = 0;

  constructor(readonly holdNs: number, readonly maxHeld: number = 100_000) {}

  push(batch: readonly ProcEvent[]): void {
    for (const event of batch) {
      if (event.ktimeNs < this.releasedUpTo) this.late++;
      this.held.push(event);
    }
  }

  /** Events due at `nowNs`, oldest first. Past `maxHeld`, the oldest go early: memory stays bounded. */
  release(nowNs: number): ProcEvent[] {
    if (this.held.length === 0) return [];
    this.held.sort(byTime);
    const cutoff = nowNs - this.holdNs;
    let due = 0;
    while (due < this.held.length && this.held[due]!.ktimeNs <= cutoff) due++;
    if (this.held.length - due > this.maxHeld) {
      this.forced += this.held.length - due - this.maxHeld;
      due = this.held.length - this.maxHeld;
    }
    const out = this.held.splice(0, due);
    const last = out[out.length - 1];
    if (last !== undefined && last.ktimeNs > this.releasedUpTo) this.releasedUpTo = last.ktimeNs;
    return out;
  }

  /** When the oldest held event falls due (kernel ns), or null when nothing is held. */
  nextDueNs(): number | null {
    if (this.held.length === 0) return null;
    let oldest = Infinity;
    for (const event of this.held) if (event.ktimeNs < oldest) oldest = event.ktimeNs;
    return oldest + this.holdNs;
  }

  /** Everything still held, in order (on stop). */
  drain(): ProcEvent[] {
    return this.release(Infinity);
  }

  counters(): ReorderCounters {
    return { late: this.late, forced: this.forced, held: this.held.length };
  }
}
