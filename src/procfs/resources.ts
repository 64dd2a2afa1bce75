/**
 * What /proc says of a process's resources (issue 12), for the snapshot's fallback source
 * (src/resources/proc.ts): parsers named after the files they read, and one reader that reads
 * only the files the snapshot's fields need: stat (CPU, faults, threads, state), status
 * (memory by kind, swap, ids, context switches), io, limits (the fd limit) and the fd
 * directory (open fds); and each thread's status for the switches of a multi-threaded process.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { parseStat, type ProcStat } from './stat.js';

/** The resource lines of /proc/PID/status, in bytes (the file says kB) and counts. */
export interface StatusResources {
  uid: number | null;
  euid: number | null;
  vsizeBytes: number | null;
  rssAnonBytes: number | null;
  rssFileBytes: number | null;
  rssShmemBytes: number | null;
  swapBytes: number | null;
  voluntarySwitches: number | null;
  involuntarySwitches: number | null;
}

/** The value part of one `Key:\tvalue` line; null when the line is absent (a kernel thread has no Vm lines). */
function statusValue(text: string, key: string): string | null {
  let at: number;
  if (text.startsWith(`${key}:`)) at = 0;
  else {
    const line = text.indexOf(`\n${key}:`);
    if (line < 0) return null;
    at = line + 1;
  }
  const end = text.indexOf('\n', at);
  return text.slice(at + key.length + 1, end < 0 ? undefined : end);
}

function statusNumber(text: string, key: string): number | null {
  const m = /^\s*(\d+)/.exec(statusValue(text, key) ?? '');
  return m === null ? null : Number(m[1]);
}

/** The first two ids of a Uid:/Gid: line (real, effective). */
function statusIds(text: string, key: string): [number, number] | [null, null] {
  const m = /^\s*(\d+)\s+(\d+)/.exec(statusValue(text, key) ?? '');
  return m === null ? [null, null] : [Number(m[1]), Number(m[2])];
}

export function parseStatusResources(text: string): StatusResources {
  const kib = (key: string): number | null => {
    const v = statusNumber(text, key);
    return v === null ? null : v * 1024;
  };
  const [uid, euid] = statusIds(text, 'Uid');
  return {
    uid, euid,
    vsizeBytes: kib('VmSize'), rssAnonBytes: kib('RssAnon'), rssFileBytes: kib('RssFile'), rssShmemBytes: kib('RssShmem'), swapBytes: kib('VmSwap'),
    voluntarySwitches: statusNumber(text, 'voluntary_ctxt_switches'), involuntarySwitches: statusNumber(text, 'nonvoluntary_ctxt_switches'),
  };
}

export interface ProcIo {
  readChars: number;
  writeChars: number;
  readBytes: number;
  writeBytes: number;
}

/** /proc/PID/io: "rchar: N" lines. Null when a line is missing. */
export function parseIo(text: string): ProcIo | null {
  const get = (key: string): number | null => {
    const m = new RegExp(`^${key}: (\\d+)$`, 'm').exec(text);
    return m === null ? null : Number(m[1]);
  };
  const readChars = get('rchar');
  const writeChars = get('wchar');
  const readBytes = get('read_bytes');
  const writeBytes = get('write_bytes');
  if (readChars === null || writeChars === null || readBytes === null || writeBytes === null) return null;
  return { readChars, writeChars, readBytes, writeBytes };
}

/**
 * The soft limit of "Max open files" in /proc/PID/limits; null when absent. The kernel refuses
 * an unlimited fd limit (it is capped by fs.nr_open), so "unlimited" does not occur.
 */
export function parseNofileLimit(text: string): number | null {
  const m = /^Max open files\s+(\d+)\s/m.exec(text);
  return m === null ? null : Number(m[1]);
}

/** Everything the snapshot reads of one process; null when it vanished (or stat is unreadable). */
export interface ProcResources {
  stat: ProcStat;
  status: StatusResources | null;
  io: ProcIo | null;
  fds: number | null;
  fdLimit: number | null;
}

// UTF-8, as the process reader and the eBPF snapshot decode a name: the same process has the
// same comm whichever source read it.
function text(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Reads one process's resource files under `root` (default /proc). The context switches of a
 * multi-threaded process are the sum over its live threads' status files: /proc shows no
 * process-wide count, and none for the threads that ended. `lean`: stat and status only;
 * `threadSwitches` false: no thread's status is read (a multi-threaded process's switches unknown).
 */
export function readResources(pid: number, root = '/proc', lean = false, threadSwitches = true): ProcResources | null {
  const dir = `${root}/${pid}`;
  const statText = text(`${dir}/stat`);
  const stat = statText === null ? null : parseStat(statText);
  if (stat === null) return null;
  const statusText = text(`${dir}/status`);
  const status = statusText === null ? null : parseStatusResources(statusText);
  if (lean) {
    // stat and status only. A multi-threaded process's switches would need every thread's status.
    if (status !== null && stat.numThreads > 1) status.voluntarySwitches = status.involuntarySwitches = null;
    return { stat, status, io: null, fds: null, fdLimit: null };
  }
  if (status !== null && stat.numThreads > 1 && !threadSwitches) status.voluntarySwitches = status.involuntarySwitches = null;
  else if (status !== null && stat.numThreads > 1) {
    let voluntary = 0;
    let involuntary = 0;
    let complete = true;
    let tids: string[] = [];
    try {
      tids = readdirSync(`${dir}/task`);
    } catch {
      complete = false;
    }
    for (const tid of tids) {
      const t = text(`${dir}/task/${tid}/status`);
      const r = t === null ? null : parseStatusResources(t);
      if (r === null || r.voluntarySwitches === null || r.involuntarySwitches === null) continue; // a thread that just ended
      voluntary += r.voluntarySwitches;
      involuntary += r.involuntarySwitches;
    }
    status.voluntarySwitches = complete ? voluntary : null;
    status.involuntarySwitches = complete ? involuntary : null;
  }
  const ioText = text(`${dir}/io`);
  let fds: number | null;
  try {
    fds = readdirSync(`${dir}/fd`).length;
  } catch {
    fds = null; // another user's process (not root), or a kernel thread's empty table is still readable
  }
  const limits = text(`${dir}/limits`);
  return { stat, status, io: ioText === null ? null : parseIo(ioText), fds, fdLimit: limits === null ? null : parseNofileLimit(limits) };
}
