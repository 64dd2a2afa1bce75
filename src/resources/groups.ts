/**
 * Process groups for Prometheus (issue 12), process-exporter's idea with what it cannot see:
 * groups defined by `check` selectors (or, when none are defined, one per process name), their
 * processes' figures summed at each snapshot, and counters that only grow: CPU, faults,
 * switches and I/O grow by each member's own deltas between snapshots, plus, when a member
 * ends, what it used since it was last seen — for a process that lived and died between two
 * snapshots, all it used (from its exit accounting). A configured group exists from the start,
 * at 0 when nothing matches. The number of groups is capped; what does not fit is counted.
 */

import type { ProcEvent, ProcessUsage } from '../events/types.js';
import { labelDomain } from '../procfs/index.js';
import type { UserDb } from '../procfs/index.js';
import { PS_MONITOR_INTERPRETERS, baseName } from '../checks/naming.js';
import { parseSelectors, type Selector } from '../checks/spec.js';
import { InputError } from '../errors.js';
import { globToRegExp, hasGlob } from '../util/glob.js';
import type { GroupConfig } from '../config/resources.js';
import type { ResourceProcess, ResourceView } from './sampler.js';

/** The automatic group of every kernel thread: their names change with the work they do (kworker/0:1-events). */
export const KERNEL_THREADS_GROUP = '[kernel threads]';

/** What a group selector may look at: the table's record of the instance and the snapshot's figures. */
export interface GroupSubject {
  key: string;
  /** True for a kernel thread; null when not known (an instance the snapshot has not seen). */
  kernelThread?: boolean | null;
  comm: string | null;
  argv: string[] | null;
  exe: string | null;
  uids: readonly number[] | null;
  gids: readonly number[] | null;
  label: string | null;
  cgroup: string | null;
  ppid: number | null;
  /** The parent's name (as `name`), null when unknown. */
  parentName: string | null;
  state: string | null;
  startTicks: number | null;
}

type Test = (s: GroupSubject) => boolean | null;

/** The name ps.monitor gives (the `name` selector): comm after its last '/', cut at a space; an interpreter's script. */
export function subjectName(s: Pick<GroupSubject, 'comm' | 'argv'>): string | null {
  if (s.comm === null) return null;
  let name = baseName(s.comm);
  const space = name.indexOf(' ');
  if (space >= 0) name = name.slice(0, space);
  if (!PS_MONITOR_INTERPRETERS.includes(name)) return name;
  if (s.argv === null) return null;
  const script = s.argv.join(' ').split(' ')[1];
  return script === undefined ? '' : baseName(script);
}

function stringTest(sel: Selector): (v: string) => boolean {
  if (sel.op === '~' || sel.op === '!~') {
    const re = new RegExp(sel.value);
    return (v) => re.test(v);
  }
  if (hasGlob(sel.value)) {
    const re = globToRegExp(sel.value);
    return (v) => re.test(v);
  }
  return (v) => v === sel.value;
}

function idTest(sel: Selector, names: { byName: Map<string, number>; byId: Map<number, string> }, what: string): (id: number) => boolean {
  if (sel.op === '~' || sel.op === '!~') {
    const t = stringTest(sel);
    return (id) => t(names.byId.get(id) ?? String(id));
  }
  const wanted = /^\d+$/.test(sel.value) ? Number(sel.value) : names.byName.get(sel.value);
  if (wanted === undefined) throw new InputError(`unknown ${what} '${sel.value}'`);
  return (id) => id === wanted;
}

function positive(sel: Selector, users: UserDb): Test {
  const str = (get: (s: GroupSubject) => string | null): Test => {
    const t = stringTest(sel);
    return (s) => { const v = get(s); return v === null ? null : t(v); };
  };
  switch (sel.key) {
    case 'name': return str(subjectName);
    case 'comm': return str((s) => s.comm);
    case 'exe': return str((s) => s.exe);
    case 'args': return str((s) => (s.argv === null ? null : s.argv.join(' ')));
    case 'label': return str((s) => s.label);
    case 'domain': return str((s) => (s.label === null ? null : labelDomain(s.label)));
    case 'state': return str((s) => s.state);
    case 'parent': return str((s) => s.parentName);
    case 'ppid': {
      const wanted = Number(sel.value);
      return (s) => (s.ppid === null ? null : s.ppid === wanted);
    }
    case 'user': case 'ruser': case 'anyuid': {
      const t = idTest(sel, users.passwd, 'user');
      return (s) => (s.uids === null ? null : sel.key === 'anyuid' ? s.uids.some(t) : t(s.uids[sel.key === 'user' ? 1 : 0]!));
    }
    case 'group': case 'rgroup': case 'anygid': {
      const t = idTest(sel, users.group, 'group');
      return (s) => (s.gids === null ? null : sel.key === 'anygid' ? s.gids.some(t) : t(s.gids[sel.key === 'group' ? 1 : 0]!));
    }
  }
}

/** One group's test: every selector must hold (unknown is not a match), and the cgroup glob when given. */
export function compileGroup(config: GroupConfig, users: UserDb): Test {
  const selectors = config.match === undefined ? [] : parseSelectors(config.match, config.match);
  const tests = selectors.map((sel) => {
    const t = positive(sel, users);
    return sel.op === '!=' || sel.op === '!~' ? (s: GroupSubject) => { const v = t(s); return v === null ? null : !v; } : t;
  });
  const cgroup = config.cgroup === undefined ? null : globToRegExp(config.cgroup);
  return (s) => {
    let unknown = false;
    for (const t of tests) {
      const v = t(s);
      if (v === false) return false;
      if (v === null) unknown = true;
    }
    if (cgroup !== null) {
      if (s.cgroup === null) return null;
      if (!cgroup.test(s.cgroup)) return false;
    }
    return unknown ? null : true;
  };
}

/** Counters of a group: they only grow. */
export interface GroupCounters {
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  majorFaults: number;
  minorFaults: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
  readBytes: number;
  writeBytes: number;
  starts: number;
  exits: number;
  /** Of cpu*Seconds: what processes that ended between two snapshots added (short-lived ones included). */
  endedCpuSeconds: number;
}

/** Gauges of a group at the latest snapshot. */
export interface GroupGauges {
  processes: number;
  threads: number;
  residentBytes: number;
  virtualBytes: number;
  swappedBytes: number;
  openFds: number;
  /** The largest open fds / fd limit of its processes (0 when none is known). */
  worstFdRatio: number;
  /** By process-exporter's state names: Running, Sleeping, Waiting (D), Zombie, Other. */
  states: Record<'Running' | 'Sleeping' | 'Waiting' | 'Zombie' | 'Other', number>;
  /** Start time of its oldest process, epoch seconds; null when empty. */
  oldestStartSeconds: number | null;
}

export interface GroupFigures {
  name: string;
  configured: boolean;
  counters: GroupCounters;
  gauges: GroupGauges;
}

/** What a process had used (its figures at a snapshot, or its final accounting), in the counters' units. */
interface Figures {
  user: number;
  system: number;
  majflt: number;
  minflt: number;
  nvcsw: number;
  nivcsw: number;
  read: number;
  write: number;
}

/**
 * What the groups keep of a process instance the snapshots list, in one object: its group,
 * worked out once and kept until an event may change it, and its figures when last counted in
 * a group. (A map of memberships beside a map of figures: one map and 10,000 small objects more
 * at 10,000 processes, ~0.7 MiB.)
 */
interface Member extends Figures {
  /**
   * Its group as last worked out; undefined: to be worked out again. Its image, ids and name
   * change only with an exec, a uid/gid change or a rename (observe() forgets it then); not
   * kept when a selector reads what changes without an event (state; the parent, which
   * changes when it dies).
   */
  current: Group | 'overflow' | null | undefined;
  /** The snapshot that last listed it. */
  gen: number;
  /** The group its figures were counted in; null: none yet (they mean nothing then). */
  group: Group | null;
}

/** A member that left its group (ended, or in none now), kept until its exit accounting comes. */
type Departed = Figures & { group: Group };

class Group {
  readonly counters: GroupCounters = {
    cpuUserSeconds: 0, cpuSystemSeconds: 0, majorFaults: 0, minorFaults: 0, voluntarySwitches: 0, involuntarySwitches: 0,
    readBytes: 0, writeBytes: 0, starts: 0, exits: 0, endedCpuSeconds: 0,
  };
  gauges: GroupGauges = emptyGauges();
  lastMemberMs = 0;
  constructor(readonly name: string, readonly configured: boolean, readonly test: Test | null) {}
}

function emptyGauges(): GroupGauges {
  return {
    processes: 0, threads: 0, residentBytes: 0, virtualBytes: 0, swappedBytes: 0, openFds: 0, worstFdRatio: 0,
    states: { Running: 0, Sleeping: 0, Waiting: 0, Zombie: 0, Other: 0 }, oldestStartSeconds: null,
  };
}

const STATE_NAMES: Record<string, keyof GroupGauges['states']> = { R: 'Running', S: 'Sleeping', I: 'Sleeping', D: 'Waiting', Z: 'Zombie' };
/** Automatic groups without members for this long may give their place to a new name when the cap is reached. */
const AUTO_IDLE_MS = 3_600_000;
/** Members that left, kept until their exit accounting arrives (it comes when the parent reaps). */
const DEPARTED_MAX = 50_000;

export interface GroupOptions {
  groups: GroupConfig[];
  maxGroups: number;
  users: UserDb;
  /** The table's view of an instance (image, ids, parent); null when it does not know it. */
  subjectOf: (key: string) => GroupSubject | null;
  /** Start of an instance on the monotonic scale, to tell processes born since the last snapshot. */
  startNsOf: (startTicks: number) => number;
  /** Wall ms of a start tick count. */
  startWallMs: (startTicks: number) => number;
}

export class ProcessGroups {
  private readonly configured: Group[];
  private readonly auto = new Map<string, Group>();
  private readonly members = new Map<string, Member>();
  private readonly departed = new Map<string, Departed>();
  private previousMonoNs: number | null = null;
  /** Processes left out of the latest snapshot's groups because the cap was reached. */
  overflowProcesses = 0;
  /** Distinct names refused a group since start. */
  readonly refusedNames = new Set<string>();
  /** Whether the groups are the configured ones (else one per name). */
  readonly byName: boolean;
  private gen = 0;
  private readonly cacheable: boolean;

  constructor(private readonly options: GroupOptions) {
    this.configured = options.groups.map((g) => new Group(g.name, true, compileGroup(g, options.users)));
    this.byName = this.configured.length === 0;
    this.cacheable = !options.groups.some((g) => g.match !== undefined && /(^|,)\s*(state|parent|ppid)\s*(=|!=|~|!~)/.test(g.match));
  }

  /** The group an instance belongs to now (the first configured group that matches; by name otherwise). */
  private groupOf(s: GroupSubject, nowMs: number, create: boolean): Group | null {
    if (!this.byName) {
      for (const g of this.configured) if (g.test!(s) === true) return g;
      return null;
    }
    const name = s.kernelThread === true ? KERNEL_THREADS_GROUP : subjectName(s);
    if (name === null || name === '') return null;
    let g = this.auto.get(name);
    if (g !== undefined || !create) return g ?? null;
    if (this.auto.size >= this.options.maxGroups && !this.evictIdle(nowMs)) {
      this.refusedNames.add(name);
      if (this.refusedNames.size > 10_000) this.refusedNames.clear();
      return null;
    }
    g = new Group(name, false, null);
    g.lastMemberMs = nowMs;
    this.auto.set(name, g);
    return g;
  }

  /** Drops one automatic group idle for an hour (its series end); false when none is. */
  private evictIdle(nowMs: number): boolean {
    for (const [name, g] of this.auto) {
      if (g.gauges.processes === 0 && nowMs - g.lastMemberMs >= AUTO_IDLE_MS) {
        this.auto.delete(name);
        return true;
      }
    }
    return false;
  }

  private subject(p: ResourceProcess): GroupSubject {
    const t = this.options.subjectOf(p.key);
    return {
      key: p.key, kernelThread: p.kernelThread, comm: t?.comm ?? p.comm, argv: t?.argv ?? null, exe: t?.exe ?? null,
      uids: t?.uids ?? (p.uid === null || p.euid === null ? null : [p.uid, p.euid, p.euid, p.euid]), gids: t?.gids ?? null,
      label: t?.label ?? null, cgroup: t?.cgroup ?? null, ppid: p.ppid, parentName: t?.parentName ?? null, state: p.state, startTicks: p.startTicks,
    };
  }

  /** A snapshot: members' deltas into the counters, gauges recomputed. */
  update(view: ResourceView): void {
    const nowMs = view.snapshot.wallMs;
    const monoNs = view.snapshot.monoNs;
    const previous = this.previousMonoNs;
    const gen = ++this.gen;
    const gauges = new Map<Group, GroupGauges>();
    this.overflowProcesses = 0;
    for (const p of view.processes) {
      let m = this.members.get(p.key);
      if (m === undefined) {
        m = { current: undefined, gen, group: null, user: 0, system: 0, majflt: 0, minflt: 0, nvcsw: 0, nivcsw: 0, read: 0, write: 0 };
        this.members.set(p.key, m);
      }
      m.gen = gen;
      if (m.current === undefined || !this.cacheable) {
        const s = this.subject(p);
        const found = this.groupOf(s, nowMs, true);
        const name = found === null && this.byName ? subjectName(s) : null;
        m.current = found ?? (name !== null && this.refusedNames.has(name) ? 'overflow' : null);
      }
      const g = m.current;
      if (g === 'overflow') this.overflowProcesses++;
      if (g === null || g === 'overflow') {
        // In a group before, in none now: its exit accounting may still come for the old one.
        if (m.group !== null) this.depart(p.key, { ...figuresOf(m), group: m.group });
        m.group = null;
        continue;
      }
      if (m.group === g) addSample(g.counters, m, p);
      else if (m.group === null && previous !== null && this.options.startNsOf(p.startTicks) >= previous) {
        // Born since the last snapshot: all it used is the group's.
        addSample(g.counters, ZERO, p);
      }
      // Otherwise a baseline: it ran before the daemon saw it, or it moved here from another group.
      setSeen(m, p);
      m.group = g;
      let gg = gauges.get(g);
      if (gg === undefined) gauges.set(g, (gg = emptyGauges()));
      addGauges(gg, p);
      g.lastMemberMs = nowMs;
    }
    for (const [key, m] of this.members) {
      if (m.gen === gen) continue;
      this.members.delete(key);
      // Gone: its exit accounting may still come.
      if (m.group !== null) this.depart(key, m as Departed);
    }
    for (const g of this.allGroups()) {
      const gg = gauges.get(g) ?? emptyGauges();
      // Summed as start ticks (the oldest is the smallest); one conversion per group.
      if (gg.oldestStartSeconds !== null) gg.oldestStartSeconds = this.options.startWallMs(gg.oldestStartSeconds) / 1000;
      g.gauges = gg;
    }
    this.previousMonoNs = monoNs;
  }

  private depart(key: string, seen: Departed): void {
    if (this.departed.size >= DEPARTED_MAX) this.departed.delete(this.departed.keys().next().value as string);
    this.departed.set(key, seen);
  }

  /** The figures last counted for an instance, and their group: listed now, or departed. */
  private counted(key: string): Departed | undefined {
    const m = this.members.get(key);
    return m !== undefined && m.group !== null ? (m as Departed) : this.departed.get(key);
  }

  /** Released events: starts and exits by group, and the accounting of ended members. */
  observe(events: readonly ProcEvent[]): void {
    for (const e of events) {
      if (e.key == null) continue;
      if (e.kind === 'exec' || e.kind === 'comm' || e.kind === 'uid' || e.kind === 'gid' || e.kind === 'inferred_start') {
        const m = this.members.get(e.key);
        if (m !== undefined) m.current = undefined;
      }
      if (e.kind === 'exec' || e.kind === 'inferred_start') {
        const s = this.options.subjectOf(e.key);
        const g = s === null ? null : this.groupOf(s, Date.now(), true);
        if (g !== null) g.counters.starts++;
      } else if (e.kind === 'exit' || e.kind === 'inferred_exit') {
        const seen = this.counted(e.key);
        const s = seen === undefined ? this.options.subjectOf(e.key) : null;
        const g = seen?.group ?? (s === null ? null : this.groupOf(s, Date.now(), true));
        if (g !== null) g.counters.exits++;
      } else if (e.kind === 'acct') {
        this.accounted(e.key, e.usage);
      }
    }
  }

  /** A member's final totals: what it used since last seen (everything, if never seen). */
  private accounted(key: string, u: ProcessUsage): void {
    const found = this.counted(key);
    this.members.delete(key);
    this.departed.delete(key);
    const seen: Figures = found ?? ZERO;
    let g: Group | null = found?.group ?? null;
    if (found === undefined) {
      const s = this.options.subjectOf(key);
      g = s === null ? null : this.groupOf(s, Date.now(), true);
    }
    if (g === null) return;
    const before = g.counters.cpuUserSeconds + g.counters.cpuSystemSeconds;
    addDelta(g.counters, seen, {
      user: u.userSeconds ?? seen.user, system: u.systemSeconds ?? seen.system, majflt: u.majorFaults ?? seen.majflt,
      minflt: u.minorFaults ?? seen.minflt, nvcsw: u.voluntarySwitches ?? seen.nvcsw, nivcsw: u.involuntarySwitches ?? seen.nivcsw,
      read: u.readBytes ?? seen.read, write: u.writeBytes ?? seen.write,
    });
    g.counters.endedCpuSeconds += g.counters.cpuUserSeconds + g.counters.cpuSystemSeconds - before;
  }

  private allGroups(): Group[] {
    return this.byName ? [...this.auto.values()] : this.configured;
  }

  figures(): GroupFigures[] {
    return this.allGroups().map((g) => ({ name: g.name, configured: g.configured, counters: { ...g.counters }, gauges: g.gauges }));
  }
}

/** Nothing used: where a process born since the last snapshot, or never seen, starts from. */
const ZERO: Readonly<Figures> = { user: 0, system: 0, majflt: 0, minflt: 0, nvcsw: 0, nivcsw: 0, read: 0, write: 0 };

function figuresOf(f: Figures): Figures {
  return { user: f.user, system: f.system, majflt: f.majflt, minflt: f.minflt, nvcsw: f.nvcsw, nivcsw: f.nivcsw, read: f.read, write: f.write };
}

/** addDelta from a member's last figures to a sample's, without making an object. */
function addSample(c: GroupCounters, was: Figures, p: ResourceProcess): void {
  const d = (a: number, b: number): number => Math.max(0, b - a);
  c.cpuUserSeconds += d(was.user, p.userNs / 1e9);
  c.cpuSystemSeconds += d(was.system, p.systemNs / 1e9);
  c.majorFaults += d(was.majflt, p.majorFaults ?? 0);
  c.minorFaults += d(was.minflt, p.minorFaults ?? 0);
  c.voluntarySwitches += d(was.nvcsw, p.voluntarySwitches ?? 0);
  c.involuntarySwitches += d(was.nivcsw, p.involuntarySwitches ?? 0);
  c.readBytes += d(was.read, p.readBytes ?? 0);
  c.writeBytes += d(was.write, p.writeBytes ?? 0);
}

function setSeen(s: Figures, p: ResourceProcess): void {
  s.user = p.userNs / 1e9;
  s.system = p.systemNs / 1e9;
  s.majflt = p.majorFaults ?? 0;
  s.minflt = p.minorFaults ?? 0;
  s.nvcsw = p.voluntarySwitches ?? 0;
  s.nivcsw = p.involuntarySwitches ?? 0;
  s.read = p.readBytes ?? 0;
  s.write = p.writeBytes ?? 0;
}

/** Counters grow by what grew; a figure that went down (a new split, /proc's rounding) adds nothing. */
function addDelta(c: GroupCounters, was: Figures, now: Figures): void {
  const d = (a: number, b: number): number => Math.max(0, b - a);
  c.cpuUserSeconds += d(was.user, now.user);
  c.cpuSystemSeconds += d(was.system, now.system);
  c.majorFaults += d(was.majflt, now.majflt);
  c.minorFaults += d(was.minflt, now.minflt);
  c.voluntarySwitches += d(was.nvcsw, now.nvcsw);
  c.involuntarySwitches += d(was.nivcsw, now.nivcsw);
  c.readBytes += d(was.read, now.read);
  c.writeBytes += d(was.write, now.write);
}

/** One process into its group's gauges; oldestStartSeconds holds start ticks until update() converts it. */
function addGauges(g: GroupGauges, p: ResourceProcess): void {
  g.processes++;
  g.threads += p.threads ?? 1;
  g.residentBytes += p.rssBytes ?? 0;
  g.virtualBytes += p.vsizeBytes ?? 0;
  g.swappedBytes += p.swapBytes ?? 0;
  g.openFds += p.fds ?? 0;
  if (p.fds !== null && p.fdLimit !== null && p.fdLimit > 0) g.worstFdRatio = Math.max(g.worstFdRatio, p.fds / p.fdLimit);
  g.states[STATE_NAMES[p.state ?? ''] ?? 'Other']++;
  if (g.oldestStartSeconds === null || p.startTicks < g.oldestStartSeconds) g.oldestStartSeconds = p.startTicks;
}
