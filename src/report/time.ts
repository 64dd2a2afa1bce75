/**
 * One time policy for every text output (README "Times"): local time, as journalctl prints it,
 * or UTC with `--utc`, marked by a trailing `Z`. JSON always carries ISO 8601 UTC.
 * Durations are human: `2.50s`, `3m12s`, `4h05m`, `3d4h`.
 */

import { constants } from 'node:os';

export interface TimeStyle {
  utc: boolean;
}

export const LOCAL: TimeStyle = { utc: false };

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function parts(ms: number, style: TimeStyle): [y: number, mo: number, d: number, h: number, mi: number, s: number, milli: number] {
  const t = new Date(ms);
  return style.utc
    ? [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes(), t.getUTCSeconds(), t.getUTCMilliseconds()]
    : [t.getFullYear(), t.getMonth() + 1, t.getDate(), t.getHours(), t.getMinutes(), t.getSeconds(), t.getMilliseconds()];
}

/** `13:51:55.123` (watch: events as they come, all of today). */
export function clockTime(ms: number, style: TimeStyle = LOCAL): string {
  const [, , , h, mi, s, milli] = parts(ms, style);
  return `${pad(h)}:${pad(mi)}:${pad(s)}.${pad(milli, 3)}${style.utc ? 'Z' : ''}`;
}

/** `2026-12-02 13:51:55` (history, lineage), with `.123` when `millis`. */
export function dateTime(ms: number, style: TimeStyle = LOCAL, millis = false): string {
  const [y, mo, d, h, mi, s, milli] = parts(ms, style);
  return `${y}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}${millis ? `.${pad(milli, 3)}` : ''}${style.utc ? 'Z' : ''}`;
}

/** An ISO time from the API as `dateTime` shows it; '?' when unknown or unreadable. */
export function isoDateTime(iso: string | null | undefined, style: TimeStyle = LOCAL, millis = false): string {
  if (iso === null || iso === undefined) return '?';
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? '?' : dateTime(ms, style, millis);
}

/** A lifetime or an age in nanoseconds, short: `850µs`, `12.5ms`, `2.50s`, `3m12s`, `4h05m`, `3d04h`. */
export function formatDuration(ns: number): string {
  if (ns < 1e6) return `${(ns / 1e3).toFixed(0)}µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
  if (ns < 60e9) return `${(ns / 1e9).toFixed(2)}s`;
  const s = Math.round(ns / 1e9);
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** An uptime, as people say it: `45s`, `12m 5s`, `4h 12m`, `3d 4h`. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

const SIGNAL_NAMES = new Map<number, string>();
for (const [name, number] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(number)) SIGNAL_NAMES.set(number, name);

/** `SIGSEGV` for 11; `signal 99` for a number Linux does not name (real-time signals: `SIGRTMIN+3`). */
export function signalName(n: number): string {
  const name = SIGNAL_NAMES.get(n);
  if (name !== undefined) return name;
  if (n >= 34 && n <= 64) return n === 34 ? 'SIGRTMIN' : `SIGRTMIN+${n - 34}`;
  return `signal ${n}`;
}
