/**
 * Baseline rules (README: "Baseline rules"): what a group of processes (a unit, a container,
 * a parent program) has done is learnt from the stored events; during its learning window
 * (from the group's first sight) new items are only remembered; after it, an item never seen
 * for that group fires the rule (once: it is known from then on). The state is derived from
 * the store (rebuilt at start and at each reload) plus what the daemon saw since, so deleting
 * it is never needed and it cannot drift from the history.
 */

import type Database from 'better-sqlite3';
import { cgroupName } from '../procfs/cgroup.js';
import { UserDb } from '../procfs/users.js';
import type { BaselineJudge } from './engine.js';
import type { Rule, RuleSet } from './ruleset.js';

/** Items remembered per rule (all groups together); beyond it, history is not loaded further and a line says so. */
const MAX_ITEMS_PER_RULE = 200_000;

interface Group {
  firstMs: number;
  items: Set<string>;
}

export interface BaselineView {
  rule: string;
  learn: string;
  groupField: string;
  group: string;
  firstSeen: string;
  learningUntil: string;
  learning: boolean;
  items: string[];
  itemCount: number;
}

/** One stored observation: the columns the group and item fields are computed from. */
interface Row {
  time: number;
  exe: string | null; comm: string | null; unit: string | null; container: string | null; cgroup: string | null; euid: number | null;
  pexe: string | null; pcomm: string | null; punit: string | null; pcontainer: string | null; pcgroup: string | null; peuid: number | null;
  remotePort: number | null; localPort: number | null;
}

const text = (v: string | number | null): string => (v === null || v === '' ? '?' : String(v));
const stripDeleted = (exe: string | null): string | null => (exe !== null && exe.endsWith(' (deleted)') ? exe.slice(0, -10) : exe);

/** A field path → its text from a stored row, as the live scope would show it (fieldText); null: not derivable from the store. */
function rowField(path: string, users: UserDb): ((r: Row) => string) | null {
  const [root, field] = path.split('.') as [string, string];
  const parent = root === 'parent';
  if (root !== 'process' && !parent && root !== 'event') return null;
  const pick = <K extends keyof Row>(own: K, par: K): ((r: Row) => Row[K]) => (parent ? (r) => r[par] : (r) => r[own]);
  switch (`${root === 'event' ? 'event' : 'process'}.${field}`) {
    case 'process.exe': { const f = pick('exe', 'pexe'); return (r) => text(stripDeleted(f(r))); }
    case 'process.name': { const f = pick('comm', 'pcomm'); return (r) => text(f(r)); }
    case 'process.cgroup': { const f = pick('cgroup', 'pcgroup'); return (r) => text(f(r)); }
    case 'process.unit': {
      const u = pick('unit', 'punit'); const c = pick('cgroup', 'pcgroup');
      return (r) => text(u(r) ?? cgroupName(c(r)).unit);
    }
    case 'process.container': {
      const k = pick('container', 'pcontainer'); const c = pick('cgroup', 'pcgroup');
      return (r) => text(k(r) ?? cgroupName(c(r)).containerId);
    }
    case 'process.euid': { const f = pick('euid', 'peuid'); return (r) => text(f(r)); }
    case 'process.user': { const f = pick('euid', 'peuid'); return (r) => { const id = f(r); return id === null ? '?' : users.userName(id); }; }
    case 'event.remotePort': return (r) => text(r.remotePort);
    case 'event.localPort': return (r) => text(r.localPort);
    default: return null;
  }
}

export class StoreBaseline implements BaselineJudge {
  /** rule name → group → what is known. */
  private state = new Map<string, Map<string, Group>>();
  private readonly users = new UserDb();
  private windows = new Map<string, { ms: number; learn: string; group: string }>();

  constructor(private readonly db: Database.Database | null, private readonly log: (line: string) => void) {}

  /** (Re)derives every baseline rule's knowledge from the store. */
  learn(set: RuleSet, nowMs: number): void {
    const next = new Map<string, Map<string, Group>>();
    this.windows = new Map();
    for (const rule of set.rules) {
      if (rule.baseline === null) continue;
      this.windows.set(rule.name, { ms: rule.baseline.windowMs, learn: rule.baseline.learn, group: rule.baseline.group });
      const groups = new Map<string, Group>();
      next.set(rule.name, groups);
      if (this.db === null || !rule.enabled) continue;
      this.load(rule, groups, nowMs);
    }
    // Live observations of rules that stay are kept (they may not be stored yet).
    for (const [name, groups] of this.state) {
      const fresh = next.get(name);
      if (fresh === undefined) continue;
      for (const [g, known] of groups) {
        const f = fresh.get(g);
        if (f === undefined) fresh.set(g, known);
        else { f.firstMs = Math.min(f.firstMs, known.firstMs); for (const i of known.items) f.items.add(i); }
      }
    }
    this.state = next;
  }

  private load(rule: Rule, groups: Map<string, Group>, _nowMs: number): void {
    const b = rule.baseline!;
    const groupOf = rowField(b.group, this.users);
    const itemOf = rowField(b.item, this.users);
    if (groupOf === null || itemOf === null) {
      this.log(`procwatch daemon: baseline rule ${rule.name}: group ${b.group} cannot be derived from stored events; it learns from live events only`);
      return;
    }
    const kinds = b.learn === 'connect' ? ['connect'] : b.learn === 'listen' ? ['accept'] : ['exec', 'inferred_start'];
    const sql = `SELECT e.time, p.exe, p.comm, p.unit, p.container_id, p.cgroup, p.euid, pp.exe, pp.comm, pp.unit, pp.container_id, pp.cgroup, pp.euid,
        json_extract(e.data, '$.remotePort'), json_extract(e.data, '$.localPort')
      FROM events e JOIN processes p ON p.key = e.key AND p.boot = e.boot
      LEFT JOIN processes pp ON pp.key = p.parent_key AND pp.boot = p.boot
      WHERE e.kind IN (${kinds.map(() => '?').join(',')}) AND e.key IS NOT NULL ORDER BY e.id`;
    let items = 0;
    try {
      for (const raw of this.db!.prepare(sql).raw().iterate(...kinds) as IterableIterator<unknown[]>) {
        const r: Row = {
          time: raw[0] as number, exe: raw[1] as string | null, comm: raw[2] as string | null, unit: raw[3] as string | null, container: raw[4] as string | null,
          cgroup: raw[5] as string | null, euid: raw[6] as number | null, pexe: raw[7] as string | null, pcomm: raw[8] as string | null, punit: raw[9] as string | null,
          pcontainer: raw[10] as string | null, pcgroup: raw[11] as string | null, peuid: raw[12] as number | null,
          remotePort: raw[13] as number | null, localPort: raw[14] as number | null,
        };
        const group = groupOf(r);
        if (group === '?') continue; // no group (not in a unit, not in a container): nothing to learn for
        let g = groups.get(group);
        if (g === undefined) groups.set(group, (g = { firstMs: r.time, items: new Set() }));
        const item = itemOf(r);
        if (!g.items.has(item)) {
          g.items.add(item);
          if (++items >= MAX_ITEMS_PER_RULE) {
            this.log(`procwatch daemon: baseline rule ${rule.name}: history holds over ${MAX_ITEMS_PER_RULE} items; the rest is learnt live`);
            break;
          }
        }
      }
    } catch (err) {
      this.log(`procwatch daemon: baseline rule ${rule.name}: cannot read the history: ${(err as Error).message}`);
    }
  }

  observe(rule: Rule, group: string, item: string, nowMs: number): 'new' | 'known' | 'learning' {
    if (group === '?') return 'known'; // no group: a baseline needs one
    let groups = this.state.get(rule.name);
    if (groups === undefined) this.state.set(rule.name, (groups = new Map()));
    let g = groups.get(group);
    if (g === undefined) groups.set(group, (g = { firstMs: nowMs, items: new Set() }));
    if (g.items.has(item)) return 'known';
    g.items.add(item);
    return nowMs - g.firstMs < rule.baseline!.windowMs ? 'learning' : 'new';
  }

  /** What is known, for `procwatch baseline show` (all groups when `group` is undefined; items cut at `maxItems`). */
  show(nowMs: number, group?: string, ruleName?: string, maxItems = 1000): BaselineView[] {
    const out: BaselineView[] = [];
    for (const [name, groups] of this.state) {
      if (ruleName !== undefined && name !== ruleName) continue;
      const w = this.windows.get(name);
      if (w === undefined) continue;
      for (const [g, known] of groups) {
        if (group !== undefined && g !== group) continue;
        const until = known.firstMs + w.ms;
        const items = [...known.items].sort();
        out.push({
          rule: name, learn: w.learn, groupField: w.group, group: g, firstSeen: new Date(known.firstMs).toISOString(), learningUntil: new Date(until).toISOString(),
          learning: nowMs < until, items: items.slice(0, maxItems), itemCount: items.length,
        });
      }
    }
    return out.sort((a, b) => a.rule.localeCompare(b.rule) || a.group.localeCompare(b.group));
  }
}
