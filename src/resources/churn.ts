/**
 * What started and ended between two refreshes (issue 12): a ring of the latest starts, ends
 * and exit accountings, read by `churn_after` cursors. Kept as columns (typed arrays, and
 * arrays of the strings an entry needs), not an object per entry: a storm leaves three entries
 * per process and the ring keeps 100,000 of them, ~7 MiB as objects, ~3 MiB so.
 */

/** Processes that started and ended in a window (`churn_after` cursor). */
export interface Churn {
  /** Pass as `after` next time. */
  cursor: number;
  started: number;
  ended: number;
  /** CPU of the processes accounted (reaped) in the window: ended ones, short-lived included. */
  endedCpuSeconds: number;
  /** Of those ended, how many had no accounting (yet, or ever: netlink when reaped at once). */
  endedUnaccounted: number;
  /** The ones that used the most CPU, at most 5. */
  top: Array<{ key: string; pid: number; comm: string | null; cpuSeconds: number }>;
  /** False when `after` was older than the window kept (the counts start later). */
  complete: boolean;
}

/** Entries kept: a storm's worth (about 10 s at 2,500 exits/s, three entries each). */
export const CHURN_MAX = 100_000;
/** The ring's first size; it doubles up to its maximum as entries come. */
const FIRST_CAPACITY = 1024;

const START = 0;
const END = 1;
const ACCT = 2;

export class ChurnLog {
  private capacity: number;
  private kind: Uint8Array;
  /** Of an accounting: the pid, and its CPU seconds (NaN: unknown). */
  private pid: Int32Array;
  private cpuSeconds: Float64Array;
  /** Of an end or an accounting: the instance; of an accounting, its name too. A start needs neither. */
  private key: Array<string | null>;
  private comm: Array<string | null>;
  private length = 0;
  /** Where the oldest entry is, once the ring is full. */
  private head = 0;
  /** Entries ever added: the cursor. The ring's entries are the latest `length` of them, in order. */
  private seq = 0;

  constructor(private readonly max = CHURN_MAX) {
    this.capacity = Math.min(FIRST_CAPACITY, max);
    this.kind = new Uint8Array(this.capacity);
    this.pid = new Int32Array(this.capacity);
    this.cpuSeconds = new Float64Array(this.capacity);
    this.key = new Array<string | null>(this.capacity).fill(null);
    this.comm = new Array<string | null>(this.capacity).fill(null);
  }

  /** The cursor now: a window `since` it holds what comes from now on. */
  get cursor(): number {
    return this.seq;
  }

  start(): void {
    this.add(START, null, 0, null, NaN);
  }

  end(key: string): void {
    this.add(END, key, 0, null, NaN);
  }

  accounted(key: string, pid: number, comm: string | null, cpuSeconds: number | null): void {
    this.add(ACCT, key, pid, comm, cpuSeconds ?? NaN);
  }

  private add(kind: number, key: string | null, pid: number, comm: string | null, cpuSeconds: number): void {
    let at: number;
    if (this.length < this.max) {
      if (this.length === this.capacity) this.grow();
      at = this.length++;
    } else {
      at = this.head;
      this.head = (this.head + 1) % this.max;
    }
    this.kind[at] = kind;
    this.key[at] = key;
    this.pid[at] = pid;
    this.comm[at] = comm;
    this.cpuSeconds[at] = cpuSeconds;
    this.seq++;
  }

  /** Doubles the columns (only while the ring is not full: then head is 0 and the order is the index's). */
  private grow(): void {
    const capacity = Math.min(this.capacity * 2, this.max);
    const kind = new Uint8Array(capacity);
    kind.set(this.kind);
    const pid = new Int32Array(capacity);
    pid.set(this.pid);
    const cpuSeconds = new Float64Array(capacity);
    cpuSeconds.set(this.cpuSeconds);
    this.kind = kind;
    this.pid = pid;
    this.cpuSeconds = cpuSeconds;
    for (let i = this.capacity; i < capacity; i++) {
      this.key.push(null);
      this.comm.push(null);
    }
    this.capacity = capacity;
  }

  /** Starts, ends and the CPU of processes accounted after cursor `after` (0: all kept). */
  since(after: number): Churn {
    let started = 0;
    let ended = 0;
    let cpu = 0;
    const accounted = new Set<string>();
    const endedKeys = new Set<string>();
    const top: Churn['top'] = [];
    // The n-th oldest entry kept has cursor oldest + n.
    const oldest = this.seq - this.length + 1;
    for (let n = Math.max(0, after + 1 - oldest); n < this.length; n++) {
      const i = (this.head + n) % this.length;
      const kind = this.kind[i];
      if (kind === START) started++;
      else if (kind === END) {
        ended++;
        endedKeys.add(this.key[i]!);
      } else if (!Number.isNaN(this.cpuSeconds[i])) {
        const key = this.key[i]!;
        const cpuSeconds = this.cpuSeconds[i]!;
        cpu += cpuSeconds;
        accounted.add(key);
        top.push({ key, pid: this.pid[i]!, comm: this.comm[i]!, cpuSeconds });
      }
    }
    top.sort((a, b) => b.cpuSeconds - a.cpuSeconds);
    let unaccounted = 0;
    for (const key of endedKeys) if (!accounted.has(key)) unaccounted++;
    return {
      cursor: this.seq, started, ended, endedCpuSeconds: cpu, endedUnaccounted: unaccounted, top: top.slice(0, 5),
      complete: after === 0 || after + 1 >= oldest,
    };
  }
}
