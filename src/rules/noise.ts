/**
 * Noise control (README: "Noise control"): the same rule for the same key (by default the
 * process instance) alerts once; beyond a rule's rate limit, matches are counted, not sent,
 * and one summary alert per window says how many were held back. A storm of 10,000 matches
 * in a minute thus gives at most `rate_limit` alerts and one summary, never 10,000 pages.
 */

import type { RateLimit } from './ruleset.js';

export type Admission = 'alert' | 'duplicate' | 'suppressed';

/** Keys remembered for deduplication, all rules together; the oldest are forgotten first. */
const MAX_KEYS = 100_000;
/** A key is forgotten after this long: the same program run tomorrow alerts again. */
const KEY_TTL_MS = 86_400_000;

interface Window {
  startMs: number;
  sent: number;
  suppressed: number;
  timer: NodeJS.Timeout | null;
}

export interface SuppressedSummary {
  rule: string;
  count: number;
  fromMs: number;
  toMs: number;
}

export class NoiseControl {
  /** `rule\0key` → when it was first alerted. */
  private readonly seen = new Map<string, number>();
  private readonly windows = new Map<string, Window>();
  duplicates = 0;
  suppressed = 0;

  /** `onSummary` hears, at the end of a window, how many matches of a rule were held back in it. */
  constructor(private readonly onSummary: (s: SuppressedSummary) => void) {}

  /** Whether a match becomes an alert. `key` null: no deduplication (`dedup: none`). */
  admit(rule: string, key: string | null, limit: RateLimit, nowMs: number): Admission {
    if (key !== null) {
      const id = `${rule}\0${key}`;
      const first = this.seen.get(id);
      if (first !== undefined && nowMs - first < KEY_TTL_MS) {
        this.duplicates++;
        return 'duplicate';
      }
      if (first !== undefined) this.seen.delete(id);
      if (this.seen.size >= MAX_KEYS) this.seen.delete(this.seen.keys().next().value!);
      this.seen.set(id, nowMs);
    }
    let w = this.windows.get(rule);
    if (w === undefined || nowMs - w.startMs >= limit.perMs) {
      if (w !== undefined) this.close(rule, w, nowMs);
      w = { startMs: nowMs, sent: 0, suppressed: 0, timer: null };
      this.windows.set(rule, w);
    }
    if (w.sent < limit.count) {
      w.sent++;
      return 'alert';
    }
    w.suppressed++;
    this.suppressed++;
    if (w.timer === null) {
      // The summary comes when the window ends, even if the rule never matches again.
      const win = w;
      win.timer = setTimeout(() => {
        win.timer = null;
        if (this.windows.get(rule) === win) {
          this.windows.delete(rule);
          this.close(rule, win, win.startMs + limit.perMs);
        }
      }, Math.max(1, win.startMs + limit.perMs - nowMs));
      win.timer.unref();
    }
    return 'suppressed';
  }

  private close(rule: string, w: Window, endMs: number): void {
    if (w.timer !== null) clearTimeout(w.timer);
    w.timer = null;
    if (w.suppressed > 0) this.onSummary({ rule, count: w.suppressed, fromMs: w.startMs, toMs: endMs });
    w.suppressed = 0;
  }

  /** Sends the summaries of every open window (at stop, or when a reload changes the rules). */
  flush(nowMs: number): void {
    for (const [rule, w] of this.windows) this.close(rule, w, nowMs);
    this.windows.clear();
  }
}
