/** Durations (`90s`, `10m`, `12h`, `30d`) and sizes (`512MiB`, `1GB`, `1048576`) as users write them. */

import { own } from '../util/own.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
};

/** Milliseconds, or null when the text is not a duration. A bare number is seconds. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(text);
  if (m === null) return null;
  const ms = Number(m[1]) * own(DURATION_UNITS, m[2] ?? 's')!;
  return Number.isFinite(ms) ? ms : null; // 400 digits of days is not a duration
}

export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m === null ? undefined : own(SIZE_UNITS, m[2]!.toLowerCase());
  const bytes = m === null || unit === undefined ? null : Math.floor(Number(m[1]) * unit);
  return bytes !== null && Number.isFinite(bytes) ? bytes : null;
}

/** The range of a JavaScript Date: ±8.64e15 ms around the epoch. */
export const MAX_TIME_MS = 8.64e15;

/**
 * A point in time: relative to now (`10m` = ten minutes ago), an ISO date, or epoch milliseconds.
 * Returns null when the text is none of these, 'out of range' when it names a time before 1970
 * or beyond what a date can hold (`999999999d` ago, a 400-digit epoch).
 */
export function parseTimePoint(text: string, nowMs: number = Date.now()): number | null | 'out of range' {
  const t = timePoint(text, nowMs);
  if (t === null) return null;
  return Number.isFinite(t) && t >= 0 && t <= MAX_TIME_MS ? t : 'out of range';
}

function timePoint(text: string, nowMs: number): number | null {
  if (/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*$/.test(text) && parseDuration(text) === null) return -Infinity; // too many days ago
  const ago = parseDuration(text);
  if (ago !== null && /[a-z]$/.test(text.trim())) return nowMs - ago;
  if (/^\d{12,}$/.test(text)) return Number(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}
