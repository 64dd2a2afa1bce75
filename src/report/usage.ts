/**
 * Resource figures as text: sizes, CPU times, and a process's exit accounting in one line
 * (`watch`, `history`, `top`). Unknown values print as "?": never as 0.
 */

import type { ProcessUsage } from '../events/types.js';

/** 1536 → "1.5KiB"; IEC units, three significant digits at most. */
export function formatBytes(n: number | null): string {
  if (n === null) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${v}B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}${units[u]}`;
}

/** CPU seconds: "412µs", "3.1ms", "2.50s", "1:02.3" (m:ss.s), "3h05m". */
export function formatCpu(seconds: number | null): string {
  if (seconds === null) return '?';
  if (seconds < 1e-3) return `${Math.round(seconds * 1e6)}µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(1)}ms`;
  if (seconds < 60) return `${seconds.toFixed(2)}s`;
  if (seconds < 3600) {
    const m = Math.floor(seconds / 60);
    return `${m}:${(seconds - m * 60).toFixed(1).padStart(4, '0')}`;
  }
  const h = Math.floor(seconds / 3600);
  return `${h}h${String(Math.floor((seconds - h * 3600) / 60)).padStart(2, '0')}m`;
}

const count = (n: number | null): string => (n === null ? '?' : String(n));

/** One line: "cpu 412µs (user 300µs, sys 112µs), max rss 1.20MiB, faults 80/0, switches 1/0, io r 0B w 4.00KiB". */
export function usageText(u: ProcessUsage): string {
  const cpu = u.cpuSeconds === null ? 'cpu ?'
    : `cpu ${formatCpu(u.cpuSeconds)} (user ${formatCpu(u.userSeconds)}, sys ${formatCpu(u.systemSeconds)}${u.cpuResolution === 'tick' ? ', in clock ticks' : ''})`;
  return `${cpu}, max rss ${formatBytes(u.maxRssBytes)}, faults ${count(u.minorFaults)}/${count(u.majorFaults)}, ` +
    `switches ${count(u.voluntarySwitches)}/${count(u.involuntarySwitches)}, io r ${formatBytes(u.readBytes)} w ${formatBytes(u.writeBytes)}`;
}
