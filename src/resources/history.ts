/**
 * What the sampler keeps of its snapshots (issue 12): every `intervalMs` (default 10 s), a
 * row per process whose figures changed since its last row, and a row at least every
 * `keyframeMs` for those that did not (so a query at any time finds each live process's
 * figures no older than that). At most `maxRowsPerMinute` rows in any minute: beyond, the
 * processes whose CPU grew the most are written first and the rest wait, counted.
 */

import type { ResourceHistory, StoredSample } from '../store/resources.js';
import type { ResourceView } from './sampler.js';

export interface HistoryOptions {
  intervalMs: number;
  keyframeMs: number;
  maxRowsPerMinute: number;
}

interface Written {
  timeMs: number;
  cpuNs: number;
  rss: number | null;
  threads: number | null;
  fds: number | null;
  state: string | null;
  seen: number;
}

/** RSS moves this much (relative, or bytes) before it is a change worth a row. */
const RSS_CHANGE = 0.01;
const RSS_CHANGE_BYTES = 256 * 1024;

export class HistoryRecorder {
  private readonly last = new Map<string, Written>();
  private lastWriteMs = -Infinity;
  /** Rows written per write, with its time: the rolling minute's budget. */
  private readonly recent: Array<{ timeMs: number; rows: number }> = [];
  private generation = 0;
  readonly stats = { writes: 0, rows: 0, deferred: 0 };

  constructor(private readonly store: ResourceHistory, private readonly options: HistoryOptions) {}

  /** Writes what is due of this view; returns the rows written. */
  consider(view: ResourceView): number {
    const now = view.snapshot.wallMs;
    if (now - this.lastWriteMs < this.options.intervalMs) return 0;
    const gen = ++this.generation;
    const candidates: Array<{ row: StoredSample; priority: number }> = [];
    for (const p of view.processes) {
      const was = this.last.get(p.key);
      if (was !== undefined) was.seen = gen;
      const changed = was === undefined || p.cpuNs !== was.cpuNs || p.threads !== was.threads || p.fds !== was.fds || p.state !== was.state ||
        rssMoved(was.rss, p.rssBytes);
      const due = was === undefined || now - was.timeMs >= this.options.keyframeMs;
      if (!changed && !due) continue;
      const spanMs = was === undefined ? null : now - was.timeMs;
      // A process not written yet: all its CPU so far is new to the history.
      const cpuDelta = was === undefined ? p.cpuNs : p.cpuNs - was.cpuNs;
      const cpuPct = spanMs === null || spanMs <= 0 ? p.cpuPct : Math.max(0, ((p.cpuNs - was!.cpuNs) / (spanMs * 1e6)) * 100);
      candidates.push({
        priority: changed ? cpuDelta + 1 : 0, // keyframes of idle processes last
        row: {
          timeMs: now, key: p.key, cpuNs: p.cpuNs, cpuPct, rssBytes: p.rssBytes, vsizeBytes: p.vsizeBytes, swapBytes: p.swapBytes,
          threads: p.threads, fds: p.fds, readBytes: p.readBytes, writeBytes: p.writeBytes, state: p.state,
        },
      });
    }
    // Instances no longer listed are gone: forget them.
    for (const [key, w] of this.last) if (w.seen !== gen) this.last.delete(key);
    while (this.recent.length > 0 && now - this.recent[0]!.timeMs >= 60_000) this.recent.shift();
    const used = this.recent.reduce((n, r) => n + r.rows, 0);
    const allowed = Math.max(0, this.options.maxRowsPerMinute - used);
    if (candidates.length > allowed) candidates.sort((a, b) => b.priority - a.priority);
    const rows = candidates.slice(0, allowed).map((c) => c.row);
    this.stats.deferred += candidates.length - rows.length;
    this.store.write(rows);
    for (const r of rows) {
      this.last.set(r.key, { timeMs: r.timeMs, cpuNs: r.cpuNs!, rss: r.rssBytes, threads: r.threads, fds: r.fds, state: r.state, seen: gen });
    }
    this.recent.push({ timeMs: now, rows: rows.length });
    this.lastWriteMs = now;
    this.stats.writes++;
    this.stats.rows += rows.length;
    return rows.length;
  }
}

function rssMoved(was: number | null, now: number | null): boolean {
  if (was === null || now === null) return was !== now;
  const d = Math.abs(now - was);
  return d >= RSS_CHANGE_BYTES && d >= was * RSS_CHANGE;
}
