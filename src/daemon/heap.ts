/**
 * The heap of `procwatch daemon` and `procwatch watch`, set up for processes that run for months
 * (or hours) with little live data (about 1 KiB per process): Node's defaults favour throughput
 * of short programs and left the daemon at ~60 MiB of heap for ~10 MiB of live objects
 * (BENCHMARKS.md, "Daemon memory").
 *
 * The young generation stays at its initial 1 MiB semi-space instead of growing to 2 x 16 MiB
 * and staying there, mostly garbage between scavenges (-35 MiB at 10,000 processes; for
 * `watch`, a storm's peak RSS 89–91 MiB instead of 118–127, at no CPU cost).
 *
 * Not --compact-on-every-full-gc, which the daemon had until issue 16: a full GC that evacuates
 * every page needs new pages for all live objects before it frees the old ones, so each full GC
 * was a spike of tens of MiB. When 10,000 processes exited at once the daemon peaked at 152–162
 * MiB with it and 134–139 without (BENCHMARKS.md, "Daemon memory: no compaction at every full
 * GC, and glibc's arenas"); V8's memory reducer still gives the pages back after the burst.
 *
 * Not --heap-growing-percent=20 (tried): the old generation then sits just above its live size,
 * so answering a query (a few MiB of rows and JSON) set off a full GC almost every time: a
 * 100-row history answer took 21 ms instead of 3 ms.
 *
 * V8 sizes the heap before any JavaScript runs, so the flag is set at run time, which the GC
 * heuristics read at each collection. It can only be set so: on the command line V8 raises
 * --semi-space-growth-factor to 2 when it sizes the heap.
 */

import { setFlagsFromString } from 'node:v8';

const LONG_RUN_HEAP_FLAGS = ['--semi-space-growth-factor=1'];

/** Node options that size the heap: when the user gave one, theirs stand and none of ours is set. */
const HEAP_OPTION = /^--(?:(?:max|min)[-_]semi[-_]space[-_]size|semi[-_]space[-_]growth[-_]factor|heap[-_]growing[-_]percent|(?:no[-_])?compact[-_]on[-_]every[-_]full[-_]gc)(?:=|$)/;

/**
 * Applies LONG_RUN_HEAP_FLAGS unless the node command line or NODE_OPTIONS sized the heap.
 * Call it first thing, before the daemon (or `watch`) allocates. Returns the flags it set.
 */
export function tuneHeapForLongRun(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].some((option) => HEAP_OPTION.test(option));
  if (given) return [];
  for (const flag of LONG_RUN_HEAP_FLAGS) setFlagsFromString(flag);
  return [...LONG_RUN_HEAP_FLAGS];
}
