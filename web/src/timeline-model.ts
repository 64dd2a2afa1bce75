/**
 * The timeline's events as the page holds them, and the filters the page applies itself when
 * the daemon's API cannot (older daemons filter /v1/events by kind, pid and time only). Every
 * event that arrives is kept (up to MAX_KEPT, the oldest trimmed and counted beyond); drawing
 * is a separate matter (timeline.tsx): a frame may be skipped, an event never.
 */

import type { ApiEvent } from './types.js';

/** Events kept in the page: over 3 minutes of a 1,000/s storm (~1 KiB each); past MAX_KEPT + 10,000 the oldest are trimmed back to MAX_KEPT, counted, and still in the store. */
export const MAX_KEPT = 200_000;
/** Identities remembered for spotting repeats: a resumed stream repeats at most its last moment. */
const RECENT_MAX = 20_000;

export interface Filters {
  kinds: string[];
  user: string;
  name: string;
  exe: string;
  /** A regular expression searched in the command line (argv joined by spaces). */
  args: string;
  subtree: string;
  since: string;
  until: string;
}

export const NO_FILTERS: Filters = { kinds: [], user: '', name: '', exe: '', args: '', subtree: '', since: '', until: '' };

export class TimelineModel {
  events: ApiEvent[] = [];
  /** Events received in all (kept or trimmed); lost events among them, and the count they report. */
  received = 0;
  lostMarkers = 0;
  lostCount = 0;
  trimmed = 0;
  /** Identities of recent events: a resumed stream repeats the last moment; nothing is shown twice. */
  private readonly recent = new Set<string>();
  /** The same identities in arrival order, a ring of RECENT_MAX (no shifting of a long array per event). */
  private readonly recentRing: string[] = [];
  private recentNext = 0;
  version = 0;

  clear(): void {
    this.events = [];
    this.received = 0;
    this.lostMarkers = 0;
    this.lostCount = 0;
    this.trimmed = 0;
    this.recent.clear();
    this.recentRing.length = 0;
    this.recentNext = 0;
    this.version++;
  }

  /** Adds an event; false when it was already there (a resumed stream). */
  add(e: ApiEvent): boolean {
    if (e.run !== undefined) {
      const id = `${e.bootId ?? ''}:${e.run}:${e.seq}`;
      if (this.recent.has(id)) return false;
      this.recent.add(id);
      const old = this.recentRing[this.recentNext];
      if (old !== undefined) this.recent.delete(old);
      this.recentRing[this.recentNext] = id;
      this.recentNext = (this.recentNext + 1) % RECENT_MAX;
    }
    this.received++;
    if (e.kind === 'lost') {
      this.lostMarkers++;
      this.lostCount += typeof e.count === 'number' ? e.count : 0;
    }
    this.events.push(e);
    // Trimmed in chunks: one splice per 10,000 events, not a shift of 200,000 per event.
    if (this.events.length > MAX_KEPT + 10_000) {
      const cut = this.events.length - MAX_KEPT;
      this.events.splice(0, cut);
      this.trimmed += cut;
    }
    this.version++;
    return true;
  }

  /** A marker of the page's own (a disconnection), drawn like an event. */
  mark(kind: 'gap', reason: string): void {
    // Failed reconnections one after another are one gap.
    const last = this.events.at(-1);
    if (last?.kind === kind && last.reason === reason) return;
    this.events.push({ seq: -1, time: new Date().toISOString(), kind, pid: 0, tid: 0, key: null, reason });
    this.version++;
  }
}

export function globRegExp(glob: string): RegExp {
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') src += '.*';
    else if (c === '?') src += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) src += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        src += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${src}$`, 's');
}

/**
 * The filters the server could not apply, as a test on each event; null when none is left.
 * Lost events always pass: the gap may hold the very events filtered for.
 */
export function pageFilter(f: Filters, serverSide: ReadonlySet<string>): ((e: ApiEvent) => boolean) | null {
  const tests: Array<(e: ApiEvent) => boolean> = [];
  const proc = (e: ApiEvent) => e.process;
  if (f.user !== '' && !serverSide.has('user')) tests.push((e) => proc(e)?.user === f.user || String(proc(e)?.uid ?? '') === f.user);
  if (f.name !== '' && !serverSide.has('name')) {
    const re = globRegExp(f.name);
    tests.push((e) => {
      const p = proc(e);
      const comm = p?.comm ?? e.details?.comm ?? null;
      const exe = p?.exe ?? e.details?.exe ?? null;
      return (comm !== null && re.test(comm)) || (exe !== null && re.test(exe.slice(exe.lastIndexOf('/') + 1)));
    });
  }
  if (f.exe !== '' && !serverSide.has('exe')) {
    const re = globRegExp(f.exe);
    tests.push((e) => {
      const exe = proc(e)?.exe ?? e.details?.exe ?? null;
      return exe !== null && re.test(exe);
    });
  }
  if (f.args !== '' && !serverSide.has('args')) {
    const re = new RegExp(f.args);
    tests.push((e) => {
      // An exec is searched by the command line it ran.
      const argv = e.details?.argv ?? proc(e)?.argv ?? null;
      return argv !== null && re.test(argv.join(' '));
    });
  }
  if (f.subtree !== '' && !serverSide.has('subtree')) {
    // Keys of the subtree so far; a process whose parent is in it joins it.
    const keys = new Set<string>();
    const root = Number(f.subtree);
    tests.push((e) => {
      const p = proc(e);
      const key = e.key ?? p?.key ?? null;
      if (key === null) return false;
      if (keys.has(key)) return true;
      if (e.pid === root || (p?.parentKey != null && keys.has(p.parentKey))) {
        keys.add(key);
        return true;
      }
      return false;
    });
  }
  if (tests.length === 0) return null;
  return (e) => e.kind === 'lost' || tests.every((t) => t(e));
}
