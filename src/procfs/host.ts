/** The machine-wide figures `top` shows in its header: /proc/loadavg, /proc/meminfo, /proc/uptime, CPU count. */

import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';

export interface HostFigures {
  /** 1, 5 and 15 minute load averages. */
  load: [number, number, number] | null;
  /** Runnable / total tasks, as /proc/loadavg counts them. */
  runnable: number | null;
  cpus: number;
  memTotalBytes: number | null;
  memAvailableBytes: number | null;
  memFreeBytes: number | null;
  swapTotalBytes: number | null;
  swapFreeBytes: number | null;
  uptimeSeconds: number | null;
}

export function parseLoadavg(text: string): { load: [number, number, number]; runnable: number } | null {
  const m = /^(\d+\.\d+) (\d+\.\d+) (\d+\.\d+) (\d+)\/(\d+)/.exec(text);
  return m === null ? null : { load: [Number(m[1]), Number(m[2]), Number(m[3])], runnable: Number(m[4]) };
}

/** /proc/meminfo's "Key:   N kB" lines, in bytes. */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(\w+(?:\(\w+\))?):\s+(\d+)(?: kB)?$/gm)) out.set(m[1]!, Number(m[2]) * (m[0].endsWith('kB') ? 1024 : 1));
  return out;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return null;
  }
}

export function readHost(root = '/proc'): HostFigures {
  const load = parseLoadavg(read(`${root}/loadavg`) ?? '');
  const mem = parseMeminfo(read(`${root}/meminfo`) ?? '');
  const uptime = Number((read(`${root}/uptime`) ?? '').split(' ')[0]);
  return {
    load: load?.load ?? null, runnable: load?.runnable ?? null, cpus: availableParallelism(),
    memTotalBytes: mem.get('MemTotal') ?? null, memAvailableBytes: mem.get('MemAvailable') ?? null, memFreeBytes: mem.get('MemFree') ?? null,
    swapTotalBytes: mem.get('SwapTotal') ?? null, swapFreeBytes: mem.get('SwapFree') ?? null,
    uptimeSeconds: Number.isFinite(uptime) && uptime > 0 ? uptime : null,
  };
}
