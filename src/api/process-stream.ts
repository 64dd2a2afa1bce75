/**
 * GET /v1/processes?follow=1 (issue 13): the live process table as a stream of changes, for
 * pages that keep a tree up to date without fetching it again. It starts with the whole table
 * (`reset`, then `upsert` pages, then `synced`), then sends, at most every TICK_MS, the
 * processes that appeared or changed (`upsert`) and the keys that left (`remove`). Rows carry
 * the latest CPU % and resident memory when the resource room samples (README: "Process rows").
 * A tick costs two passes over key maps (~1 ms at 10,000 processes) plus the changed rows.
 */

import type { ServerResponse } from 'node:http';
import type { Daemon } from '../daemon/daemon.js';
import type { UserDb } from '../procfs/index.js';
import type { ResourceProcess, ResourceView } from '../resources/sampler.js';
import type { ProcessRecord } from '../table/index.js';
import { drained } from './drained.js';
import type { ProcessRow } from './process-row.js';

export type { ProcessRow } from './process-row.js';

/** How often changes are sent at most: enough to look live, few enough to coalesce a storm. */
export const TICK_MS = 250;
/** Rows per message of the initial table: each message stays ~100 KiB. */
const PAGE_ROWS = 250;

type Writer = (message: unknown) => boolean;

/** Each resource view indexed by key once, whoever follows. */
const byKeyCache = new WeakMap<ResourceView, Map<string, ResourceProcess>>();
function indexView(view: ResourceView | null): Map<string, ResourceProcess> | null {
  if (view === null) return null;
  let m = byKeyCache.get(view);
  if (m === undefined) {
    m = new Map(view.processes.map((p) => [p.key, p]));
    byKeyCache.set(view, m);
  }
  return m;
}

export class ProcessFollower {
  /** Key → the row last sent. */
  private readonly sent = new Map<string, ProcessRow>();
  /** Keys whose events arrived since the last tick (their rows may have changed: exec, comm, uid). */
  private readonly dirty = new Set<string>();
  private lastView: ResourceView | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly daemon: Daemon, private readonly users: UserDb, private readonly write: Writer, private readonly res: ServerResponse) {}

  /** Sends the whole table (waiting for the client between pages), then changes until the client goes. */
  async run(): Promise<void> {
    this.unsubscribe = this.daemon.on((events) => {
      for (const e of events) if (e.key !== undefined && e.key !== null) this.dirty.add(e.key);
    });
    try {
      this.write({ type: 'reset', time: new Date().toISOString() });
      const view = this.view();
      this.lastView = this.daemon.resources?.sampler.latest() ?? null;
      let page: ProcessRow[] = [];
      for (const r of this.daemon.tracker.table.live.values()) {
        const row = this.row(r, view);
        this.sent.set(r.key, row);
        page.push(row);
        if (page.length === PAGE_ROWS) {
          if (!this.write({ type: 'upsert', processes: page })) await drained(this.res);
          if (this.res.destroyed) return;
          page = [];
        }
      }
      // Rows are sent as they were read; what changed while the client read them comes next tick.
      this.write({ type: 'upsert', processes: page });
      this.write({ type: 'synced', processes: this.sent.size });
      this.timer = setInterval(() => this.tick(), TICK_MS);
      await new Promise<void>((resolve) => (this.res.destroyed ? resolve() : this.res.on('close', () => resolve())));
    } finally {
      this.stop();
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private view(): Map<string, ResourceProcess> | null {
    return indexView(this.daemon.resources?.sampler.latest() ?? null);
  }

  private tick(): void {
    // A client that does not read gets no more: what it missed is still in `sent`, and it
    // catches up when it reads (the next tick after its buffer drained).
    if (this.res.writableNeedDrain || this.res.destroyed) return;
    const live = this.daemon.tracker.table.live;
    const latest = this.daemon.resources?.sampler.latest() ?? null;
    const newFigures = latest !== this.lastView;
    this.lastView = latest;
    const view = indexView(latest);
    const upsert: ProcessRow[] = [];
    const remove: string[] = [];
    for (const [key, row] of this.sent) {
      const r = live.get(row.pid);
      if (r === undefined || r.key !== key) {
        this.sent.delete(key);
        remove.push(key);
      }
    }
    for (const r of live.values()) {
      const old = this.sent.get(r.key);
      if (old !== undefined && !this.dirty.has(r.key) && !(newFigures && figuresChanged(old, view?.get(r.key)))) continue;
      const row = this.row(r, view);
      if (old !== undefined && sameRow(old, row)) continue;
      this.sent.set(r.key, row);
      upsert.push(row);
    }
    this.dirty.clear();
    if (remove.length > 0) this.write({ type: 'remove', keys: remove });
    for (let i = 0; i < upsert.length; i += PAGE_ROWS) this.write({ type: 'upsert', processes: upsert.slice(i, i + PAGE_ROWS) });
  }

  private row(r: ProcessRecord, view: Map<string, ResourceProcess> | null): ProcessRow {
    const table = this.daemon.tracker.table;
    const parent = r.ppid === null ? undefined : table.live.get(r.ppid);
    const figures = view?.get(r.key);
    return {
      key: r.key, pid: r.pid, ppid: r.ppid, parentKey: parent !== undefined && parent.key === r.parentKey ? r.parentKey : null,
      comm: r.comm, exe: r.exe, argv: r.argv, user: r.uids === null ? null : this.users.userName(r.uids[1]), euid: r.uids?.[1] ?? null,
      startTime: r.startNs === null ? null : new Date(this.daemon.tracker.clock.wallMs(r.startNs)).toISOString(),
      origin: r.origin, threads: Math.max(0, r.threadsCreated - r.threadsExited) + 1,
      cpuPct: figures?.cpuPct == null ? null : Math.round(figures.cpuPct * 10) / 10,
      rssBytes: figures?.rssBytes ?? null,
      memPct: figures?.memPct == null ? null : Math.round(figures.memPct * 10) / 10,
    };
  }
}

function figuresChanged(row: ProcessRow, p: ResourceProcess | undefined): boolean {
  if (p === undefined) return row.cpuPct !== null || row.rssBytes !== null;
  return row.cpuPct !== (p.cpuPct == null ? null : Math.round(p.cpuPct * 10) / 10) || row.rssBytes !== (p.rssBytes ?? null);
}

function sameRow(a: ProcessRow, b: ProcessRow): boolean {
  return a.comm === b.comm && a.exe === b.exe && a.argv === b.argv && a.euid === b.euid && a.parentKey === b.parentKey && a.ppid === b.ppid &&
    a.threads === b.threads && a.cpuPct === b.cpuPct && a.rssBytes === b.rssBytes && a.memPct === b.memPct && a.startTime === b.startTime;
}
