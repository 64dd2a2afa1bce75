/**
 * Replay (`procwatch rules test`): the rules run over stored events, as the daemon would have
 * run them, and say what would have fired; no action runs (seed 004's replay). Each event sees
 * its process as the store has it (its last image; an exec event shows the image it brought
 * and a uid event the ids it set), and its ancestors by the stored parent keys. Noise control
 * applies on the events' own clock, so rate limits and deduplication are tuned here too.
 */

import type Database from 'better-sqlite3';
import type { ExecDetails, IdQuad, ProcEvent } from '../events/types.js';
import { getProcess, queryEvents, type StoredEvent, type StoredProcess } from '../store/index.js';
import { newRecord, type ProcessRecord } from '../table/record.js';
import type { Alert } from '../alerts/types.js';
import { RuleEngine, type BaselineJudge } from './engine.js';
import type { RuleSet } from './ruleset.js';
import type { ScopeContext } from './scope.js';

export interface ReplayOptions {
  sinceMs: number;
  untilMs: number;
  /** Told every 10,000 events (progress on long replays). */
  onProgress?: (events: number) => void;
  baseline?: BaselineJudge;
  profile?: boolean;
  userName(uid: number): string;
}

export interface ReplayResult {
  events: number;
  alerts: Alert[];
  engine: RuleEngine;
}

const PAGE = 5000;

function quad(a: number | null, b: number | null, c: number | null, d: number | null): IdQuad | null {
  return a === null || b === null ? null : [a, b, c ?? b, d ?? b];
}

function recordOf(p: StoredProcess): ProcessRecord {
  const r = newRecord(p.pid, p.startTicks, p.key, p.origin === 'observed' || p.origin === 'inferred' ? p.origin : 'seeded');
  Object.assign(r, {
    ppid: p.ppid, parentKey: p.parentKey, comm: p.comm, exe: p.exe, argv: p.argv, cwd: p.cwd, label: p.label, cgroup: p.cgroup,
    uids: quad(p.uid, p.euid, p.suid, p.fsuid), gids: quad(p.gid, p.egid, p.sgid, p.fsgid),
    // Replay's clock is wall time in ns (see eventOf).
    startNs: p.startTime === null ? null : Date.parse(p.startTime) * 1e6,
    execNs: p.execTime === null ? null : Date.parse(p.execTime) * 1e6,
  });
  return r;
}

/** A stored row back into the event it was (its data column is the event's own fields), on the wall-clock scale. */
function eventOf(s: StoredEvent): ProcEvent {
  const { id: _id, bootId: _b, run: _r, time, ...rest } = s;
  return { ...(rest as unknown as ProcEvent), ktimeNs: Date.parse(time) * 1e6, cpu: -1 };
}

export function replay(db: Database.Database, set: RuleSet, options: ReplayOptions): ReplayResult {
  const alerts: Alert[] = [];
  let nowMs = options.sinceMs;
  let boot = '';
  const cache = new Map<string, ProcessRecord | null>();
  const lookup = (key: string): ProcessRecord | undefined => {
    const id = `${boot}\0${key}`;
    let r = cache.get(id);
    if (r === undefined) {
      const stored = getProcess(db, boot, key);
      r = stored === null ? null : recordOf(stored);
      if (cache.size > 50_000) cache.clear();
      cache.set(id, r);
    }
    return r ?? undefined;
  };
  const ctx: ScopeContext = {
    get: lookup,
    ancestors: (key) => {
      const chain: ProcessRecord[] = [];
      const seen = new Set([key]);
      let parent = lookup(key)?.parentKey ?? null;
      while (parent !== null && !seen.has(parent) && chain.length < 256) {
        const r = lookup(parent);
        if (r === undefined) break;
        chain.push(r);
        seen.add(parent);
        parent = r.parentKey;
      }
      return chain;
    },
    userName: options.userName,
    wallMs: (ns) => ns / 1e6,
    // Past processes: their fds and peers are not known.
    fdTarget: () => null,
    domainPeers: () => -1,
  };
  const engine = new RuleEngine({ ctx, bootId: '', maxQueue: 1, onAlert: (a) => alerts.push(a), now: () => nowMs, ...(options.baseline ? { baseline: options.baseline } : {}), ...(options.profile ? { profile: true } : {}) });
  engine.setRuleSet(set);
  let afterId = 0;
  let events = 0;
  for (;;) {
    const page = queryEvents(db, { sinceMs: options.sinceMs, untilMs: options.untilMs, afterId, limit: PAGE });
    if (page.length === 0) break;
    for (const stored of page) {
      afterId = stored.id;
      boot = stored.bootId;
      const event = eventOf(stored);
      nowMs = Date.parse(stored.time);
      let record = event.key ? lookup(event.key) : undefined;
      let previous: IdQuad | null = null;
      if (record !== undefined && (event.kind === 'exec' || event.kind === 'inferred_start')) {
        record = withImage(record, event.details);
      } else if (record !== undefined && event.kind === 'uid') {
        previous = record.uids;
        record = { ...record, uids: [event.ruid, event.euid, record.uids?.[2] ?? event.euid, record.uids?.[3] ?? event.euid] };
      }
      const before = alerts.length;
      engine.evaluate(event, record, previous);
      for (let i = before; i < alerts.length; i++) alerts[i]!.bootId = boot;
      if (++events % 10_000 === 0) options.onProgress?.(events);
    }
  }
  engine.finish();
  return { events, alerts, engine };
}

function withImage(r: ProcessRecord, d: ExecDetails): ProcessRecord {
  return {
    ...r, comm: d.comm ?? r.comm, exe: d.exe ?? r.exe, argv: d.argv ?? r.argv, cwd: d.cwd ?? r.cwd, uids: d.uids ?? r.uids,
    gids: d.gids ?? r.gids, label: d.label ?? r.label, cgroup: d.cgroup ?? r.cgroup, inheritedImage: false,
  };
}
