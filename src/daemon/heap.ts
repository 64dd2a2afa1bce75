/**
 * The daemon's V8 heap, set up for a process that runs for months with little live data
 * (about 1 KiB per process): Node's defaults favour throughput of short programs and left
 * the daemon at ~60 MiB of heap for ~10 MiB of live objects (BENCHMARKS.md, "Daemon memory").
 *
 * - The young generation stays at its initial 1 MiB semi-space instead of growing to 2 x 16
 *   MiB and staying there, mostly garbage between scavenges (-35 MiB at 10,000 processes).
 * - Every full GC compacts: after a burst of process starts the old generation's pages are
 *   given back at the next full GC, not only by V8's memory reducer once the daemon has been
 *   idle for a while.
 * Not --heap-growing-percent=20 (tried): the old generation then sits just above its live
 * size, so answering a query (a few MiB of rows and JSON) set off a compacting full GC almost
 * every time: a 100-row history answer took 21 ms instead of 3 ms (BENCHMARKS.md).
 * Daemon CPU in an exec storm stayed the same within the noise (measured).
 *
 * V8 sizes the heap before any JavaScript runs, so these flags are set at run time, which the
 * GC heuristics read at each collection. The semi-space one can only be set so: on the
 * command line V8 raises --semi-space-growth-factor to 2 when it sizes the heap.
 */

import { setFlagsFromString } from 'node:v8';

const DAEMON_HEAP_FLAGS = ['--semi-space-growth-factor=1', '--compact-on-every-full-gc'];
/**
 * `procwatch watch`: the small young generation only. In a 10,000-exec storm it kept watch's
 * peak RSS at 89–91 MiB (with the 8 MiB ring buffer of then) instead of 118–127, at no CPU
 * cost (103–130 vs 114–131 ticks), where compacting at every full GC gave back nothing more
 * and cost CPU (112–151 ticks; BENCHMARKS.md, "watch: CPU per event and memory").
 */
const WATCH_HEAP_FLAGS = ['--semi-space-growth-factor=1'];

/** Node options that size the heap: when the user gave one, theirs stand and none of ours is set. */
const HEAP_OPTION = /^--(?:(?:max|min)[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor|heap[-_]growing[-_]percent|(?:no[-_])?compact[-_]on[-_]every[-_]full[-_]gc)(?:=|$)/;

/**
 * Applies DAEMON_HEAP_FLAGS unless the node command line or NODE_OPTIONS sized the heap.
 * Call it first thing, before the daemon allocates. Returns the flags it set.
 */
export function tuneHeapForDaemon(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  return tuneHeap(DAEMON_HEAP_FLAGS, execArgv, nodeOptions);
}

/** The same for `procwatch watch`, with WATCH_HEAP_FLAGS. */
export function tuneHeapForWatch(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  return tuneHeap(WATCH_HEAP_FLAGS, execArgv, nodeOptions);
}

function tuneHeap(flags: readonly string[], execArgv: readonly string[], nodeOptions: string): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((option) => HEAP_OPTION.test(option));
  if (given) return [];
  for (const flag of flags) setFlagsFromString(flag);
  return [...flags];
}
