/**
 * The live process tree as the page keeps it: rows by key (kept up to date from the
 * /v1/processes?follow=1 stream), the children of each, what is collapsed, and the flat list
 * of visible rows the view draws a window of. Structure is rebuilt only after it changed;
 * a 10,000-process tree flattens in a few milliseconds.
 */

import type { ProcessRow } from './types.js';

export interface VisibleRow {
  row: ProcessRow;
  depth: number;
  children: number;
  /** The search matched this row (rather than one below it). */
  match: boolean;
}

const ROOT = '';

export class TreeModel {
  readonly rows = new Map<string, ProcessRow>();
  private readonly searchText = new Map<string, string>();
  private children = new Map<string, string[]>();
  private structureDirty = true;
  readonly collapsed = new Set<string>();
  /** Bumped on every change: the view redraws when it moved. */
  version = 0;

  reset(): void {
    this.rows.clear();
    this.searchText.clear();
    this.structureDirty = true;
    this.version++;
  }

  upsert(rows: readonly ProcessRow[]): void {
    for (const r of rows) {
      const old = this.rows.get(r.key);
      if (old === undefined || old.parentKey !== r.parentKey) this.structureDirty = true;
      this.rows.set(r.key, r);
      this.searchText.delete(r.key);
    }
    this.version++;
  }

  remove(keys: readonly string[]): void {
    for (const k of keys) {
      this.rows.delete(k);
      this.searchText.delete(k);
      this.collapsed.delete(k);
    }
    this.structureDirty = true;
    this.version++;
  }

  toggle(key: string): void {
    if (!this.collapsed.delete(key)) this.collapsed.add(key);
    this.version++;
  }

  private parentOf(r: ProcessRow): string {
    return r.parentKey !== null && r.parentKey !== r.key && this.rows.has(r.parentKey) ? r.parentKey : ROOT;
  }

  private structure(): Map<string, string[]> {
    if (!this.structureDirty) return this.children;
    const children = new Map<string, string[]>();
    for (const r of this.rows.values()) {
      const p = this.parentOf(r);
      const list = children.get(p);
      if (list === undefined) children.set(p, [r.key]);
      else list.push(r.key);
    }
    const pid = (k: string): number => this.rows.get(k)!.pid;
    for (const list of children.values()) list.sort((a, b) => pid(a) - pid(b));
    this.children = children;
    this.structureDirty = false;
    return children;
  }

  private text(r: ProcessRow): string {
    let t = this.searchText.get(r.key);
    if (t === undefined) {
      t = `${r.comm ?? ''}\u0000${r.exe ?? ''}\u0000${r.user ?? ''}\u0000${r.argv?.join(' ') ?? ''}\u0000${r.pid}`.toLowerCase();
      this.searchText.set(r.key, t);
    }
    return t;
  }

  /**
   * The rows to draw, in tree order. With a search, the matching rows and their ancestors
   * (so each match is seen where it lives), whatever is collapsed.
   */
  visible(search: string): VisibleRow[] {
    const children = this.structure();
    const out: VisibleRow[] = [];
    const q = search.trim().toLowerCase();
    let keep: Set<string> | null = null;
    if (q !== '') {
      keep = new Set();
      for (const r of this.rows.values()) {
        if (!this.text(r).includes(q)) continue;
        // The match and its ancestors (stop at one already kept: its ancestors are too).
        let k: string = r.key;
        for (let guard = 0; k !== ROOT && !keep.has(k) && guard < 10_000; guard++) {
          keep.add(k);
          k = this.parentOf(this.rows.get(k)!);
        }
      }
    }
    // Iterative depth-first walk (no recursion limit on a deep chain); a cycle cannot loop: each key once.
    const seen = new Set<string>();
    const stack: Array<[string, number]> = [];
    const roots = children.get(ROOT) ?? [];
    for (let i = roots.length - 1; i >= 0; i--) stack.push([roots[i]!, 0]);
    while (stack.length > 0) {
      const [key, depth] = stack.pop()!;
      if (seen.has(key)) continue;
      seen.add(key);
      if (keep !== null && !keep.has(key)) continue;
      const row = this.rows.get(key)!;
      const kids = children.get(key) ?? [];
      out.push({ row, depth, children: kids.length, match: keep !== null && this.text(row).includes(q) });
      if (keep === null && this.collapsed.has(key)) continue;
      for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i]!, depth + 1]);
    }
    return out;
  }
}
