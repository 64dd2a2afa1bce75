/**
 * What a rule condition sees: `event`, `process`, `parent` and `ancestors`, plus the named
 * lists and macros of the rule set. Built lazily: a condition that reads only `event.kind`
 * never pays for the process, and `ancestors` is walked only when a rule asks for it. Every
 * field has one CEL type (README: "Rule language"): ids and numbers are `int`, ages and times
 * `double`; unknown strings are "", unknown numbers -1, an unknown command line [], so a
 * condition never fails on a process that vanished before it could be read.
 */

import type { IdQuad, ProcEvent } from '../events/types.js';
import type { ProcessRecord } from '../table/index.js';
import { cgroupName } from '../procfs/cgroup.js';
import { labelDomain } from '../procfs/index.js';

/** CEL ints are BigInts; ids and small numbers are made once. */
const SMALL = Array.from({ length: 65_536 }, (_, i) => BigInt(i));
export function int(n: number): bigint {
  return n >= 0 && n < 65_536 && Number.isInteger(n) ? SMALL[n]! : BigInt(Math.trunc(n));
}
const intOr = (n: number | null | undefined): bigint => (n === null || n === undefined ? -1n : int(n));

/** Field name → CEL type of a process (README: "Rule language"). */
export const PROCESS_FIELDS = {
  known: 'bool', key: 'string', pid: 'int', ppid: 'int', name: 'string', exe: 'string', exeDeleted: 'bool',
  argv: 'list<string>', args: 'string', cwd: 'string', uid: 'int', euid: 'int', suid: 'int', fsuid: 'int',
  gid: 'int', egid: 'int', sgid: 'int', fsgid: 'int', user: 'string', label: 'string', cgroup: 'string',
  unit: 'string', container: 'string', runtime: 'string', age: 'double', execAge: 'double', inherited: 'bool',
  tracerPid: 'int', origin: 'string',
  // Read when a condition asks (from /proc, or a scan of the table):
  stdin: 'string', stdout: 'string', domain: 'string', domainPeers: 'int',
} as const;

/** One process as conditions see it: an instance of one class, so CEL type-checks its fields at load. */
export class ProcessValue {
  known = false; key = ''; pid = -1n; ppid = -1n; name = ''; exe = ''; exeDeleted = false;
  argv: readonly string[] = []; args = ''; cwd = ''; uid = -1n; euid = -1n; suid = -1n; fsuid = -1n;
  gid = -1n; egid = -1n; sgid = -1n; fsgid = -1n; user = ''; label = ''; cgroup = '';
  unit = ''; container = ''; runtime = ''; age = -1; execAge = -1; inherited = false; tracerPid = -1n; origin = '';
  /** Where the lazy fields come from; null for an unknown process. */
  lazy: { record: ProcessRecord; ctx: ScopeContext } | null = null;
  private stdinText: string | undefined;
  private stdoutText: string | undefined;
  private peers: bigint | undefined;

  /** What fd 0 is (`tcp:REMOTE:PORT`, `udp:...`, `socket:[INODE]` for other sockets, `pipe:[INODE]`, `/dev/pts/0`), read from /proc when asked; "" when gone or unknown. */
  get stdin(): string {
    return (this.stdinText ??= this.lazy === null ? '' : this.lazy.ctx.fdTarget?.(this.lazy.record, 0) ?? '');
  }
  get stdout(): string {
    return (this.stdoutText ??= this.lazy === null ? '' : this.lazy.ctx.fdTarget?.(this.lazy.record, 1) ?? '');
  }
  /** The type of the security label (`init_t` in `system_u:system_r:init_t:s0`), or the label itself. */
  get domain(): string {
    return this.label === '' ? '' : labelDomain(this.label);
  }
  /** Other live processes with the same security domain (a scan of the table, when asked). */
  get domainPeers(): bigint {
    if (this.peers !== undefined) return this.peers;
    const n = this.lazy === null || this.label === '' ? -1 : this.lazy.ctx.domainPeers?.(this.lazy.record, this.domain) ?? -1;
    return (this.peers = BigInt(n));
  }
}

const UNKNOWN_PROCESS = new ProcessValue();

const DELETED = ' (deleted)';

export interface UserNames {
  userName(uid: number): string;
}

/** `atNs`: the event's kernel time; ages are measured from it (so a replay sees the same ages). */
export function processValue(r: ProcessRecord | undefined, atNs: number, ctx: ScopeContext): ProcessValue {
  if (r === undefined) return UNKNOWN_PROCESS;
  const p = new ProcessValue();
  p.lazy = { record: r, ctx };
  const uids = r.uids;
  const gids = r.gids;
  const exe = r.exe ?? '';
  p.known = true;
  p.key = r.key;
  p.pid = int(r.pid);
  p.ppid = intOr(r.ppid);
  p.name = r.comm ?? '';
  p.exeDeleted = exe.endsWith(DELETED);
  p.exe = p.exeDeleted ? exe.slice(0, -DELETED.length) : exe;
  p.argv = r.argv ?? [];
  p.args = r.argv === null ? '' : r.argv.join(' ');
  p.cwd = r.cwd ?? '';
  if (uids !== null) {
    p.uid = int(uids[0]); p.euid = int(uids[1]); p.suid = int(uids[2]); p.fsuid = int(uids[3]);
    p.user = ctx.userName(uids[1]);
  }
  if (gids !== null) { p.gid = int(gids[0]); p.egid = int(gids[1]); p.sgid = int(gids[2]); p.fsgid = int(gids[3]); }
  p.label = r.label ?? '';
  p.cgroup = r.cgroup ?? '';
  const names = cgroupName(r.cgroup);
  p.unit = names.unit ?? '';
  p.container = names.containerId ?? '';
  p.runtime = names.runtime ?? '';
  p.age = r.startNs === null ? -1 : Math.max(0, (atNs - r.startNs) / 1e9);
  p.execAge = r.execNs === null ? -1 : Math.max(0, (atNs - r.execNs) / 1e9);
  p.inherited = r.inheritedImage;
  p.tracerPid = r.tracerPid === null ? 0n : int(r.tracerPid);
  p.origin = r.origin;
  return p;
}

/** Field name → CEL type of an event: every field of every kind; those of other kinds read as unknown. */
export const EVENT_FIELDS = {
  kind: 'string', seq: 'int', time: 'double', pid: 'int', tid: 'int', key: 'string', provenance: 'string',
  filename: 'string', comm: 'string', argvTruncated: 'bool',
  exitCode: 'int', signal: 'int', coreDumped: 'bool',
  parentPid: 'int', thread: 'bool', ruid: 'int', euid: 'int', previousRuid: 'int', previousEuid: 'int', rgid: 'int', egid: 'int', tracerPid: 'int',
  count: 'int', reason: 'string',
  family: 'string', protocol: 'string', localAddress: 'string', localPort: 'int', remoteAddress: 'string', remotePort: 'int',
  fd: 'int', result: 'int', error: 'string', path: 'string', flags: 'list<string>', mode: 'int',
} as const;

export class EventValue {
  kind = ''; seq = 0n; time = 0; pid = 0n; tid = 0n; key = ''; provenance = '';
  filename = ''; comm = ''; argvTruncated = false;
  exitCode = -1n; signal = 0n; coreDumped = false;
  parentPid = -1n; thread = false; ruid = -1n; euid = -1n; previousRuid = -1n; previousEuid = -1n; rgid = -1n; egid = -1n; tracerPid = -1n;
  count = -1n; reason = '';
  family = ''; protocol = ''; localAddress = ''; localPort = -1n; remoteAddress = ''; remotePort = -1n;
  fd = -1n; result = 0n; error = ''; path = ''; flags: readonly string[] = []; mode = 0n;
}

/** `previous`: the process's uids before this event (uid events), when known. */
export function eventValue(e: ProcEvent, wallMs: number, previous: IdQuad | null = null): EventValue {
  const v = new EventValue();
  v.kind = e.kind; v.seq = int(e.seq); v.time = wallMs / 1000; v.pid = int(e.pid); v.tid = int(e.tid); v.key = e.key ?? ''; v.provenance = e.provenance;
  switch (e.kind) {
    case 'exec': case 'inferred_start':
      v.filename = e.details.filename ?? '';
      v.comm = e.details.comm ?? '';
      v.argvTruncated = e.details.argvTruncated;
      break;
    case 'exit':
      v.exitCode = intOr(e.status.code);
      v.signal = intOr(e.status.signal ?? 0);
      v.coreDumped = e.status.coreDumped;
      v.comm = e.comm ?? '';
      v.parentPid = intOr(e.parentPid);
      break;
    case 'fork':
      v.parentPid = int(e.parentPid);
      v.thread = e.thread;
      break;
    case 'uid':
      v.ruid = int(e.ruid); v.euid = int(e.euid);
      if (previous !== null) { v.previousRuid = int(previous[0]); v.previousEuid = int(previous[1]); }
      break;
    case 'gid':
      v.rgid = int(e.rgid); v.egid = int(e.egid);
      break;
    case 'ptrace':
      v.tracerPid = int(e.tracerPid);
      break;
    case 'comm':
      v.comm = e.comm;
      break;
    case 'lost':
      v.count = intOr(e.count);
      v.reason = e.reason;
      break;
    case 'connect': case 'accept':
      v.family = e.family; v.protocol = e.protocol ?? ''; v.localAddress = e.localAddress ?? ''; v.localPort = intOr(e.localPort);
      v.remoteAddress = e.remoteAddress; v.remotePort = int(e.remotePort); v.fd = int(e.fd); v.result = BigInt(e.result); v.error = e.error ?? '';
      break;
    case 'open':
      v.path = e.path; v.flags = e.flagNames; v.mode = int(e.mode); v.fd = BigInt(e.result); v.result = BigInt(e.result); v.error = e.error ?? '';
      break;
    default:
      break;
  }
  return v;
}

/** What the scope needs besides the event: the table's lookups, user names and the clock. */
export interface ScopeContext extends UserNames {
  /** Ancestors of a key, nearest first. */
  ancestors(key: string): readonly ProcessRecord[];
  /** The record of a key now (for the parent). */
  get(key: string): ProcessRecord | undefined;
  /** Monotonic ns → wall ms. */
  wallMs(ns: number): number;
  /** What fd N of the process is (`socket:[INODE]`), if it still runs as this instance; null when unknown. */
  fdTarget?(record: ProcessRecord, fd: number): string | null;
  /** Live processes other than `record` whose label has this domain. */
  domainPeers?(record: ProcessRecord, domain: string): number;
}

export interface ScopeInput {
  event: ProcEvent;
  /** The process as it was right after the event (the table's snapshot), if it was matched. */
  record: ProcessRecord | undefined;
  ctx: ScopeContext;
  /** Its uids before the event (for uid events: what it gained), when known. */
  previousUids?: IdQuad | null;
}

/** The activation of one event: what CEL reads variables from. */
export interface RuleScope {
  readonly input: ScopeInput;
  readonly event: EventValue;
  readonly process: ProcessValue;
  readonly parent: ProcessValue;
  readonly ancestors: readonly ProcessValue[];
}

/** Computes a macro's value for one event (its compiled condition over the same scope). */
export type MacroGetter = (scope: RuleScope) => boolean;

export type RuleScopeClass = new (input: ScopeInput) => RuleScope;

/**
 * A class whose instances are the activations of one rule set: `event`, `process`, `parent`
 * and `ancestors` are getters that build their value on first use and keep it; the lists are
 * values on the prototype (shared, frozen); each macro is a getter computed at most once per
 * event, whatever number of rules refer to it. One small object per event, nothing else
 * until a condition asks.
 */
export function buildScopeClass(lists: Readonly<Record<string, readonly string[]>>, macros: ReadonlyMap<string, MacroGetter>): RuleScopeClass {
  class Scope implements RuleScope {
    private ev: EventValue | undefined;
    private proc: ProcessValue | undefined;
    private par: ProcessValue | undefined;
    private anc: ProcessValue[] | undefined;
    /** Macro values of this event, by macro index. */
    readonly memo: Array<boolean | undefined> = [];
    constructor(readonly input: ScopeInput) {}
    get event(): EventValue {
      return (this.ev ??= eventValue(this.input.event, this.input.ctx.wallMs(this.input.event.ktimeNs), this.input.previousUids ?? null));
    }
    get process(): ProcessValue {
      return (this.proc ??= processValue(this.input.record, this.input.event.ktimeNs, this.input.ctx));
    }
    get parent(): ProcessValue {
      if (this.par !== undefined) return this.par;
      const { record, ctx, event } = this.input;
      return (this.par = record?.parentKey == null ? UNKNOWN_PROCESS : processValue(ctx.get(record.parentKey), event.ktimeNs, ctx));
    }
    get ancestors(): readonly ProcessValue[] {
      if (this.anc !== undefined) return this.anc;
      const { record, ctx, event } = this.input;
      return (this.anc = record === undefined ? [] : ctx.ancestors(record.key).map((a) => processValue(a, event.ktimeNs, ctx)));
    }
  }
  for (const [name, values] of Object.entries(lists)) {
    Object.defineProperty(Scope.prototype, name, { value: Object.freeze([...values]), enumerable: true });
  }
  let index = 0;
  for (const [name, getter] of macros) {
    const i = index++;
    Object.defineProperty(Scope.prototype, name, {
      enumerable: true,
      get(this: Scope) {
        return (this.memo[i] ??= getter(this));
      },
    });
  }
  return Scope;
}
