/**
 * A row of GET /v1/processes?follow=1 (api/process-stream.ts). In a file of its own, importing
 * nothing, so that the web console (web/src/types.ts) uses this very type instead of a copy.
 */

/** One process of the stream: what a tree row shows and searches. */
export interface ProcessRow {
  key: string;
  pid: number;
  ppid: number | null;
  /** The parent's key when the parent is live (the tree's edge); null for a root. */
  parentKey: string | null;
  comm: string | null;
  exe: string | null;
  argv: string[] | null;
  user: string | null;
  euid: number | null;
  startTime: string | null;
  origin: string;
  threads: number;
  /** From the latest resource snapshot; null when not sampled (yet, or the room is off). */
  cpuPct: number | null;
  rssBytes: number | null;
  memPct: number | null;
}
