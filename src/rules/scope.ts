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

/**
 * CEL ints are BigInts; ids and small numbers are made once, when first needed: made all at
 * start, the 65,536 of them were 1.5 MiB of the daemon's heap for the few hundred ever used.
 */
const SMALL: Array<bigint | undefined> = new Array<bigint | undefined>(65_536);
export function int(n: number): bigint {
  if (n >= 0 && n < 65_536 && Number.isInteger(n)) return (SMALL[n] ??= BigInt(n));
  return BigInt(Math.trunc(n));
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

/**
 * One process as conditions see it: an instance of one class, so CEL type-checks its fields at
 * load. Every field is a getter over the table's record: an object of three references per
 * process, and only the fields a condition reads are ever computed (the command line joined,
 * the user name, the cgroup's unit and container once each, when asked).
 */
export class ProcessValue {
  private argsText: string | undefined;
  private userText: string | undefined;
  private stdinText: string | undefined;
  private stdoutText: string | undefined;
  private peers: bigint | undefined;

  /** `at`: the event's kernel time (ages are measured from it, so a replay sees the same ages). */
  constructor(private readonly r: ProcessRecord | null, private readonly at: number, private readonly ctx: ScopeContext | null) {}

  get known(): boolean { return this.r !== null; }
  get key(): string { return this.r?.key ?? ''; }
  get pid(): bigint { return this.r === null ? -1n : int(this.r.pid); }
  get ppid(): bigint { return intOr(this.r?.ppid); }
  get name(): string { return this.r?.comm ?? ''; }
  get exeDeleted(): boolean { return this.r?.exe?.endsWith(DELETED) ?? false; }
  /** The executable's path; a deleted file's path without the kernel's " (deleted)" (see exeDeleted). */
  get exe(): string {
    const exe = this.r?.exe ?? '';
    return exe.endsWith(DELETED) ? exe.slice(0, -DELETED.length) : exe;
  }
  get argv(): readonly string[] { return this.r?.argv ?? NO_ARGV; }
  get args(): string { return (this.argsText ??= this.r?.argv?.join(' ') ?? ''); }
  get cwd(): string { return this.r?.cwd ?? ''; }
  get uid(): bigint { return intOr(this.r?.uids?.[0]); }
  get euid(): bigint { return intOr(this.r?.uids?.[1]); }
  get suid(): bigint { return intOr(this.r?.uids?.[2]); }
  get fsuid(): bigint { return intOr(this.r?.uids?.[3]); }
  get gid(): bigint { return intOr(this.r?.gids?.[0]); }
  get egid(): bigint { return intOr(this.r?.gids?.[1]); }
  get sgid(): bigint { return intOr(this.r?.gids?.[2]); }
  get fsgid(): bigint { return intOr(this.r?.gids?.[3]); }
  get user(): string {
    const uids = this.r?.uids;
    return (this.userText ??= uids == null || this.ctx === null ? '' : this.ctx.userName(uids[1]));
  }
  get label(): string { return this.r?.label ?? ''; }
  get cgroup(): string { return this.r?.cgroup ?? ''; }
  get unit(): string { return cgroupName(this.r?.cgroup ?? null).unit ?? ''; }
  get container(): string { return cgroupName(this.r?.cgroup ?? null).containerId ?? ''; }
  get runtime(): string { return cgroupName(this.r?.cgroup ?? null).runtime ?? ''; }
  get age(): number { return this.r?.startNs == null ? -1 : Math.max(0, (this.at - this.r.startNs) / 1e9); }
  get execAge(): number { return this.r?.execNs == null ? -1 : Math.max(0, (this.at - this.r.execNs) / 1e9); }
  get inherited(): boolean { return this.r?.inheritedImage ?? false; }
  get tracerPid(): bigint { return this.r === null ? -1n : this.r.tracerPid === null ? 0n : int(this.r.tracerPid); }
  get origin(): string { return this.r?.origin ?? ''; }

  /** What fd 0 is (`tcp:REMOTE:PORT`, `udp:...`, `socket:[INODE]` for other sockets, `pipe:[INODE]`, `/dev/pts/0`), read from /proc when asked; "" when gone or unknown. */
  get stdin(): string {
    return (this.stdinText ??= this.r === null ? '' : this.ctx?.fdTarget?.(this.r, 0) ?? '');
  }
  get stdout(): string {
    return (this.stdoutText ??= this.r === null ? '' : this.ctx?.fdTarget?.(this.r, 1) ?? '');
  }
  /** The type of the security label (`init_t` in `system_u:system_r:init_t:s0`), or the label itself. */
  get domain(): string {
    return this.label === '' ? '' : labelDomain(this.label);
  }
  /** Other live processes with the same security domain (a scan of the table, when asked). */
  get domainPeers(): bigint {
    if (this.peers !== undefined) return this.peers;
    const n = this.r === null || this.label === '' ? -1 : this.ctx?.domainPeers?.(this.r, this.domain) ?? -1;
    return (this.peers = BigInt(n));
  }
}

const NO_ARGV: readonly string[] = Object.freeze([]);
const UNKNOWN_PROCESS = new ProcessValue(null, 0, null);

const DELETED = ' (deleted)';

export interface UserNames {
  userName(uid: number): string;
}

/** The process as conditions see it (UNKNOWN_PROCESS when the event was not matched). */
export function processValue(r: ProcessRecord | undefined, atNs: number, ctx: ScopeContext): ProcessValue {
  return r === undefined ? UNKNOWN_PROCESS : new ProcessValue(r, atNs, ctx);
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
  // behaviour capture (issue 18): shell lines, TCP sessions, syscall counts
  line: 'string', redacted: 'bool', tty: 'string', cwd: 'string',
  direction: 'string', bytesSent: 'int', bytesReceived: 'int', duration: 'double',
  syscalls: 'list<string>', syscallTotal: 'int', final: 'bool',
} as const;

/** The event as conditions see it: getters over the event (fields of other kinds read as unknown). */
export class EventValue {
  constructor(private readonly e: ProcEvent, private readonly wallMs: number, private readonly previous: IdQuad | null) {}
  get kind(): string { return this.e.kind; }
  get seq(): bigint { return int(this.e.seq); }
  get time(): number { return this.wallMs / 1000; }
  get pid(): bigint { return int(this.e.pid); }
  get tid(): bigint { return int(this.e.tid); }
  get key(): string { return this.e.key ?? ''; }
  get provenance(): string { return this.e.provenance; }
  get filename(): string { const e = this.e; return e.kind === 'exec' || e.kind === 'inferred_start' ? e.details.filename ?? '' : ''; }
  get comm(): string {
    const e = this.e;
    return e.kind === 'exec' || e.kind === 'inferred_start' ? e.details.comm ?? '' : e.kind === 'exit' ? e.comm ?? '' : e.kind === 'comm' ? e.comm : '';
  }
  get argvTruncated(): boolean { const e = this.e; return (e.kind === 'exec' || e.kind === 'inferred_start') && e.details.argvTruncated; }
  get exitCode(): bigint { return this.e.kind === 'exit' ? intOr(this.e.status.code) : -1n; }
  get signal(): bigint { return this.e.kind === 'exit' ? intOr(this.e.status.signal ?? 0) : 0n; }
  get coreDumped(): boolean { return this.e.kind === 'exit' && this.e.status.coreDumped; }
  get parentPid(): bigint { const e = this.e; return e.kind === 'exit' || e.kind === 'fork' ? intOr(e.parentPid) : -1n; }
  get thread(): boolean { return this.e.kind === 'fork' && this.e.thread; }
  get ruid(): bigint { return this.e.kind === 'uid' ? int(this.e.ruid) : -1n; }
  get euid(): bigint { return this.e.kind === 'uid' ? int(this.e.euid) : -1n; }
  get previousRuid(): bigint { return this.e.kind === 'uid' && this.previous !== null ? int(this.previous[0]) : -1n; }
  get previousEuid(): bigint { return this.e.kind === 'uid' && this.previous !== null ? int(this.previous[1]) : -1n; }
  get rgid(): bigint { return this.e.kind === 'gid' ? int(this.e.rgid) : -1n; }
  get egid(): bigint { return this.e.kind === 'gid' ? int(this.e.egid) : -1n; }
  get tracerPid(): bigint { return this.e.kind === 'ptrace' ? int(this.e.tracerPid) : -1n; }
  get count(): bigint { return this.e.kind === 'lost' ? intOr(this.e.count) : -1n; }
  get reason(): string { return this.e.kind === 'lost' ? this.e.reason : ''; }
  get family(): string { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'session' ? e.family : ''; }
  get protocol(): string { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'session' ? e.protocol ?? '' : ''; }
  get localAddress(): string { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'session' ? e.localAddress ?? '' : ''; }
  get localPort(): bigint { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'session' ? intOr(e.localPort) : -1n; }
  get remoteAddress(): string { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'session' ? e.remoteAddress : ''; }
  get remotePort(): bigint { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'session' ? int(e.remotePort) : -1n; }
  get fd(): bigint { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' ? int(e.fd) : e.kind === 'open' ? BigInt(e.result) : -1n; }
  get result(): bigint { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'open' ? BigInt(e.result) : 0n; }
  get error(): string { const e = this.e; return e.kind === 'connect' || e.kind === 'accept' || e.kind === 'open' ? e.error ?? '' : ''; }
  get path(): string { return this.e.kind === 'open' ? this.e.path : ''; }
  get flags(): readonly string[] { return this.e.kind === 'open' ? this.e.flagNames : NO_ARGV; }
  get mode(): bigint { return this.e.kind === 'open' ? int(this.e.mode) : 0n; }
  get line(): string { return this.e.kind === 'shell' ? this.e.line : ''; }
  get redacted(): boolean { return this.e.kind === 'shell' && this.e.redacted; }
  get tty(): string { return this.e.kind === 'shell' ? this.e.tty ?? '' : ''; }
  get cwd(): string { return this.e.kind === 'shell' ? this.e.cwd ?? '' : ''; }
  get direction(): string { return this.e.kind === 'session' ? this.e.direction ?? '' : ''; }
  get bytesSent(): bigint { return this.e.kind === 'session' ? int(this.e.bytesSent) : -1n; }
  get bytesReceived(): bigint { return this.e.kind === 'session' ? int(this.e.bytesReceived) : -1n; }
  get duration(): number { return this.e.kind === 'session' && this.e.durationNs !== null ? this.e.durationNs / 1e9 : -1; }
  /** The syscalls a profile counted (names with a non-zero count). */
  get syscalls(): readonly string[] { return this.e.kind === 'syscalls' ? Object.keys(this.e.counts) : NO_ARGV; }
  get syscallTotal(): bigint { return this.e.kind === 'syscalls' ? int(this.e.total) : -1n; }
  get final(): boolean { return this.e.kind === 'syscalls' && this.e.final; }
}

/** `previous`: the process's uids before this event (uid events), when known. */
export function eventValue(e: ProcEvent, wallMs: number, previous: IdQuad | null = null): EventValue {
  return new EventValue(e, wallMs, previous);
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
