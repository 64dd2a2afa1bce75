/**
 * The one decoder of native/record.h: batches of fixed-layout records written by the native
 * readers (the proc connector addon and the eBPF addon), turned into `ProcEvent`s. Every constant below mirrors record.h;
 * test/sources/record.test.ts compares them with the addon's own layout() so the two can
 * never drift. A batch is untrusted input: every read is bounds-checked, and a corrupt
 * batch or record is counted in `DecodeStats`, never thrown.
 */

import { constants as osConstants } from 'node:os';
import { constants as fsConstants } from 'node:fs';
import { decodeExitStatus } from '../events/types.js';
import type { ExecDetails, IdQuad, ProcEvent, ProcessUsage, SessionEvent, ShellEvent, SocketFields, SyscallsEvent } from '../events/types.js';
import { SYSCALL_OTHER, syscallName } from './syscall-names.js';

export const RECORD_VERSION = 4;
export const BATCH_MAGIC = 0x31425750; // 'PWB1'
export const RECORD_ALIGN = 8;

/** Offsets within each struct of record.h; SIZE is sizeof. */
export const BATCH = { magic: 0, version: 4, headerSize: 6, count: 8, bytes: 12, SIZE: 16 } as const;
export const REC = { size: 0, kind: 4, reserved: 6, seq: 8, timestampNs: 16, what: 24, cpu: 28, pid: 32, tid: 36, SIZE: 40 } as const;
export const FORK = { parentPid: 0, parentTid: 4, childStartTicks: 8, childStartNs: 16, SIZE: 24 } as const;
export const ID = { real: 0, effective: 4, SIZE: 8 } as const;
export const PTRACE = { tracerPid: 0, tracerTid: 4, SIZE: 8 } as const;
export const COMM = { comm: 0, SIZE: 16 } as const;
export const COREDUMP = { parentPid: 0, parentTid: 4, flags: 8, SIZE: 16 } as const;
export const EXIT = { exitCode: 0, exitSignal: 4, parentPid: 8, parentTid: 12, flags: 16, comm: 24, SIZE: 40 } as const;
export const LOST = { count: 0, reason: 4, err: 8, SIZE: 16 } as const;
export const STR = { off: 0, len: 4, SIZE: 8 } as const;
export const EXEC = {
  flags: 0, ppid: 4, startTicks: 8, readNs: 16, uid: 24, gid: 40, state: 56, err: 60,
  comm: 64, cmdline: 72, exe: 80, cwd: 88, cgroupId: 96, filename: 104, startNs: 112, SIZE: 120,
} as const;
export const SOCK = {
  family: 0, protocol: 2, localPort: 4, remotePort: 6, result: 8, flags: 12, localAddr: 16, remoteAddr: 32,
  uid: 48, fd: 52, cgroupId: 56, SIZE: 64,
} as const;
export const OPEN = { result: 0, openFlags: 4, mode: 8, flags: 12, dirFd: 16, uid: 20, cgroupId: 24, path: 32, SIZE: 40 } as const;
export const ACCT = {
  flags: 0, startTicks: 8, cpuNs: 16, userNs: 24, systemNs: 32, minFlt: 40, majFlt: 48, nvcsw: 56, nivcsw: 64,
  maxRssKib: 72, rchar: 80, wchar: 88, readBytes: 96, writeBytes: 104, SIZE: 112,
} as const;
export const ACCT_FLAG = { cpu: 1 << 0, cpuTicks: 1 << 1, faults: 1 << 2, switches: 1 << 3, maxRss: 1 << 4, io: 1 << 5 } as const;

export const KIND = {
  fork: 1, exec: 2, uid: 3, gid: 4, sid: 5, ptrace: 6, comm: 7, coredump: 8, exit: 9, lost: 10,
  connect: 11, accept: 12, open: 13, acct: 14,
  syscalls: 20, session: 21, shell: 22,
} as const;
// Behaviour capture (record.h: pw_rec_syscalls, pw_rec_session, pw_rec_shell).
export const SYSCALL_COUNT = { nr: 0, count: 8, SIZE: 16 } as const;
export const SYSCALLS = { startTicks: 0, total: 8, flags: 16, counts: 24, SIZE: 32 } as const;
export const SESSION = {
  startTicks: 0, establishedNs: 8, bytesSent: 16, bytesReceived: 24, bytesRetrans: 32, cgroupId: 40, flags: 48, uid: 52,
  retransmits: 56, family: 60, localPort: 62, remotePort: 64, closeState: 66, localAddr: 72, remoteAddr: 88, SIZE: 104,
} as const;
export const SHELL = { startTicks: 0, flags: 8, uid: 12, euid: 16, loginUid: 20, sessionId: 24, line: 32, tty: 40, cwd: 48, SIZE: 56 } as const;
export const SYSCALLS_FINAL = 0x1;
export const SYSCALL_OTHER_NR = 0xffffffff;
export const SESSION_ACCEPTED = 0x1;
export const SESSION_OWNER = 0x2;
export const SESSION_EARLIER = 0x4;
export const SHELL_TRUNCATED = 0x1;
export const SHELL_TTY = 0x2;
export const SHELL_CWD = 0x4;
export const SHELL_LINE_MAX = 4095;
export const ID_UNSET = 0xffffffff;
export const EXEC_FLAG = {
  comm: 1 << 0, stat: 1 << 1, uids: 1 << 2, gids: 1 << 3, argv: 1 << 4, argvTruncated: 1 << 5,
  exe: 1 << 6, cwd: 1 << 7, zombie: 1 << 8, gone: 1 << 9, changed: 1 << 10, raced: 1 << 11,
  filename: 1 << 12, cgroup: 1 << 13,
} as const;
export const PARENT_KNOWN = 0x1;
export const EXIT_COMM = 0x2;
export const LOST_COUNT_UNKNOWN = 0xffffffff;
export const LOST_REASON = { enobufs: 1, ringbuf: 2, unreadable: 3, inflight: 4, syscallTable: 20, sessionTable: 21, shellUnreadable: 22, ptraceUnresolved: 30 } as const;
export const CPU_UNKNOWN = 0xffffffff;
export const COMM_EVENT_LEN = 16;
export const CMDLINE_MAX = 4096;
/** Bytes of argv the eBPF reader keeps (the netlink reader keeps CMDLINE_MAX). */
export const BPF_ARGV_MAX = 16384;
export const COMM_MAX = 64;
export const PATH_MAX = 4096;
export const SOCK_LOCAL = 0x1;
export const OPEN_PATH_TRUNCATED = 0x1;
const AT_FDCWD = -100;
const AF_INET = 2;
const AF_INET6 = 10;

/** The layout as flat keys, named as the addon's layout() names them. */
export function recordLayout(): Record<string, number> {
  const out: Record<string, number> = {
    version: RECORD_VERSION, batchMagic: BATCH_MAGIC, recordAlign: RECORD_ALIGN,
    batchHeaderSize: BATCH.SIZE, recordHeaderSize: REC.SIZE, forkSize: FORK.SIZE, idSize: ID.SIZE,
    ptraceSize: PTRACE.SIZE, commSize: COMM.SIZE, coredumpSize: COREDUMP.SIZE, exitSize: EXIT.SIZE,
    lostSize: LOST.SIZE, strSize: STR.SIZE, execSize: EXEC.SIZE, sockSize: SOCK.SIZE, openSize: OPEN.SIZE, acctSize: ACCT.SIZE,
    parentKnown: PARENT_KNOWN, exitComm: EXIT_COMM, lostCountUnknown: LOST_COUNT_UNKNOWN, cpuUnknown: CPU_UNKNOWN,
    commEventLen: COMM_EVENT_LEN, cmdlineMax: CMDLINE_MAX, bpfArgvMax: BPF_ARGV_MAX, commMax: COMM_MAX, pathMax: PATH_MAX,
    sockLocal: SOCK_LOCAL, openPathTruncated: OPEN_PATH_TRUNCATED,
    syscallCountSize: SYSCALL_COUNT.SIZE, syscallsSize: SYSCALLS.SIZE, sessionSize: SESSION.SIZE, shellSize: SHELL.SIZE,
    syscallsFinal: SYSCALLS_FINAL, syscallOther: SYSCALL_OTHER_NR, sessionAccepted: SESSION_ACCEPTED, sessionOwner: SESSION_OWNER, sessionEarlier: SESSION_EARLIER,
    shellTruncated: SHELL_TRUNCATED, shellTty: SHELL_TTY, shellCwd: SHELL_CWD, shellLineMax: SHELL_LINE_MAX, idUnset: ID_UNSET,
  };
  const groups: Record<string, Record<string, number>> = {
    batch: BATCH, rec: REC, fork: FORK, id: ID, ptrace: PTRACE, comm: COMM, coredump: COREDUMP, exit: EXIT,
    lost: LOST, str: STR, exec: EXEC, sock: SOCK, open: OPEN, kind: KIND, execFlag: EXEC_FLAG, lostReason: LOST_REASON,
    syscallCount: SYSCALL_COUNT, syscalls: SYSCALLS, session: SESSION, shell: SHELL,
    acct: ACCT, acctFlag: ACCT_FLAG,
  };
  for (const [group, fields] of Object.entries(groups)) {
    for (const [field, value] of Object.entries(fields)) if (field !== 'SIZE') out[`${group}.${field}`] = value;
  }
  return out;
}

/** Fixed body size each kind needs at least. */
const BODY_SIZE: Readonly<Record<number, number>> = {
  [KIND.fork]: FORK.SIZE, [KIND.exec]: EXEC.SIZE, [KIND.uid]: ID.SIZE, [KIND.gid]: ID.SIZE, [KIND.sid]: 0,
  [KIND.ptrace]: PTRACE.SIZE, [KIND.comm]: COMM.SIZE, [KIND.coredump]: COREDUMP.SIZE, [KIND.exit]: EXIT.SIZE,
  [KIND.lost]: LOST.SIZE, [KIND.connect]: SOCK.SIZE, [KIND.accept]: SOCK.SIZE, [KIND.open]: OPEN.SIZE,
  [KIND.syscalls]: SYSCALLS.SIZE, [KIND.session]: SESSION.SIZE, [KIND.shell]: SHELL.SIZE,
  [KIND.acct]: ACCT.SIZE,
};

const LOST_REASON_TEXT: Readonly<Record<number, string>> = {
  [LOST_REASON.enobufs]: 'netlink receive buffer overflowed (ENOBUFS): the kernel dropped these events',
  [LOST_REASON.ringbuf]: 'eBPF ring buffer full: the kernel could not queue these events',
  [LOST_REASON.unreadable]: 'eBPF: the address or path of these connect/open calls could not be read from the caller\'s memory',
  [LOST_REASON.inflight]: 'eBPF: too many connect/open calls in progress at once; these were not tracked',
  [LOST_REASON.syscallTable]: 'eBPF: syscalls not counted: the kernel\'s table of processes was full (daemon.ebpf.syscalls)',
  [LOST_REASON.sessionTable]: 'eBPF: TCP connections not followed: the kernel\'s table of sessions was full',
  [LOST_REASON.shellUnreadable]: 'eBPF: shell lines that could not be read from the shell\'s memory',
  [LOST_REASON.ptraceUnresolved]: 'eBPF: ptrace attaches/detaches whose tracee could not be named (it ended during the call)',
};

/** Losses confined to one kind of capture: the process table is complete (LostEvent.scope). */
const LOST_SCOPE: Readonly<Record<number, 'syscalls' | 'session' | 'shell'>> = {
  [LOST_REASON.syscallTable]: 'syscalls', [LOST_REASON.sessionTable]: 'session', [LOST_REASON.shellUnreadable]: 'shell',
};

export interface DecodeStats {
  batches: number;
  records: number;
  /** Batches or records that could not be decoded (each counted once, then skipped). */
  malformed: number;
  lastError: string | null;
}

export function newDecodeStats(): DecodeStats {
  return { batches: 0, records: 0, malformed: 0, lastError: null };
}

/** Thrown inside the decoder only; caught per record or per batch and counted. */
class Corrupt extends Error {}

/** Bounds-checked little-endian reads over one record (offsets relative to the record). */
class RecordView {
  /** Strings may only lie after the fixed body (`stringsFrom` bytes from the record start). */
  constructor(private readonly buf: Buffer, private readonly start: number, readonly size: number, private readonly stringsFrom: number) {}

  private at(off: number, width: number): number {
    if (off < 0 || off + width > this.size) throw new Corrupt(`read of ${width} bytes at ${off} past a ${this.size}-byte record`);
    return this.start + off;
  }
  u8(off: number): number { return this.buf.readUInt8(this.at(off, 1)); }
  u16(off: number): number { return this.buf.readUInt16LE(this.at(off, 2)); }
  u32(off: number): number { return this.buf.readUInt32LE(this.at(off, 4)); }
  i32(off: number): number { return this.buf.readInt32LE(this.at(off, 4)); }
  /** u64 as a number: exact below 2^53 (ns since boot: 104 days; ticks, seq: forever). */
  u64(off: number): number {
    const p = this.at(off, 8);
    return this.buf.readUInt32LE(p) + this.buf.readUInt32LE(p + 4) * 0x1_0000_0000;
  }
  /** A pw_str at `off`, as its bytes; checked to lie in the record's string area. */
  bytes(off: number): Buffer {
    const from = this.stringStart(off);
    return this.buf.subarray(from, from + this.u32(off + STR.len));
  }
  /**
   * A pw_str at `off` decoded as UTF-8, straight from the batch: no Buffer object per string
   * (an exec has five, and in a storm those views were 3% of what the daemon allocated).
   */
  text(off: number): string {
    const from = this.stringStart(off);
    return this.buf.toString('utf8', from, from + this.u32(off + STR.len));
  }
  /** Where the pw_str at `off` begins in the batch, checked to lie in the record's string area. */
  private stringStart(off: number): number {
    const strOff = this.u32(off + STR.off);
    const len = this.u32(off + STR.len);
    if (len === 0) return 0;
    if (strOff < this.stringsFrom || strOff + len > this.size) throw new Corrupt(`string ${strOff}+${len} outside the record's string area`);
    return this.start + strOff;
  }
}

function nulTerminated(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

/** cmdline is argv joined by NULs with a trailing NUL (unless cut or rewritten). */
function splitArgv(cmdline: string): string[] {
  const parts = cmdline.split('\0');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function quad(v: RecordView, off: number): IdQuad {
  return [v.u32(off), v.u32(off + 4), v.u32(off + 8), v.u32(off + 12)];
}

function execDetails(v: RecordView): ExecDetails {
  const b = REC.SIZE;
  const flags = v.u32(b + EXEC.flags);
  const has = (f: number): boolean => (flags & f) !== 0;
  return {
    comm: has(EXEC_FLAG.comm) ? v.text(b + EXEC.comm) : null,
    exe: has(EXEC_FLAG.exe) ? v.text(b + EXEC.exe) : null,
    argv: has(EXEC_FLAG.argv) ? splitArgv(v.text(b + EXEC.cmdline)) : null,
    argvTruncated: has(EXEC_FLAG.argv) && has(EXEC_FLAG.argvTruncated),
    cwd: has(EXEC_FLAG.cwd) ? v.text(b + EXEC.cwd) : null,
    ppid: has(EXEC_FLAG.stat) ? v.i32(b + EXEC.ppid) : null,
    uids: has(EXEC_FLAG.uids) ? quad(v, b + EXEC.uid) : null,
    gids: has(EXEC_FLAG.gids) ? quad(v, b + EXEC.gid) : null,
    startTicks: has(EXEC_FLAG.stat) ? v.u64(b + EXEC.startTicks) : null,
    label: null, // read by neither native reader
    cgroup: null, // the path: known from /proc scans; the readers give cgroupId
    cgroupId: has(EXEC_FLAG.cgroup) ? v.u64(b + EXEC.cgroupId) : null,
    filename: has(EXEC_FLAG.filename) ? v.text(b + EXEC.filename) : null,
    startBootNs: nonZero(v.u64(b + EXEC.startNs)),
  };
}

/** A start time in ns, null when the reader did not know it (0). */
function nonZero(ns: number): number | null {
  return ns === 0 ? null : ns;
}

/** One record at `start` of `size` bytes (already checked to lie within the batch). */
function decodeRecord(buf: Buffer, start: number, size: number): ProcEvent {
  const kind = buf.readUInt16LE(start + REC.kind);
  const need = BODY_SIZE[kind];
  if (need === undefined) throw new Corrupt(`unknown record kind ${kind}`);
  const v = new RecordView(buf, start, size, REC.SIZE + need);
  if (size < REC.SIZE + need) throw new Corrupt(`record of kind ${kind} is ${size} bytes, needs ${REC.SIZE + need}`);
  const rawCpu = v.u32(REC.cpu);
  const seq = v.u64(REC.seq);
  const ktimeNs = v.u64(REC.timestampNs);
  const pid = v.i32(REC.pid);
  const tid = v.i32(REC.tid);
  const cpu = rawCpu === CPU_UNKNOWN ? -1 : rawCpu;
  const provenance = 'observed' as const;
  const b = REC.SIZE;
  // The common fields are written out in each literal (the same order everywhere), not spread
  // from a shared object: a storm decodes thousands of records a second, and the spread was
  // one more object per event for the collector.
  switch (kind) {
    case KIND.fork: {
      // The kernel names task->real_parent. For a new thread (CLONE_THREAD) that is the
      // process's own parent, not the process that created the thread.
      const parentPid = v.i32(b + FORK.parentPid);
      // All ones (PW_TICKS_UNKNOWN): a thread, or a child gone before the reader could look.
      const unknown = v.u32(b + FORK.childStartTicks) === 0xffff_ffff && v.u32(b + FORK.childStartTicks + 4) === 0xffff_ffff;
      const thread = pid !== tid;
      const startTicks = unknown || thread ? null : v.u64(b + FORK.childStartTicks);
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'fork', parentPid, parentTid: v.i32(b + FORK.parentTid), thread, startTicks, startBootNs: unknown || thread ? null : nonZero(v.u64(b + FORK.childStartNs)) };
    }
    case KIND.exec:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'exec', details: execDetails(v) };
    case KIND.uid:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'uid', ruid: v.u32(b + ID.real), euid: v.u32(b + ID.effective) };
    case KIND.gid:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'gid', rgid: v.u32(b + ID.real), egid: v.u32(b + ID.effective) };
    case KIND.sid:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'sid' };
    case KIND.ptrace:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'ptrace', tracerPid: v.i32(b + PTRACE.tracerPid), tracerTid: v.i32(b + PTRACE.tracerTid) };
    case KIND.comm: {
      v.u8(b + COMM.comm + COMM_EVENT_LEN - 1); // bounds
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'comm', comm: nulTerminated(buf.subarray(start + b + COMM.comm, start + b + COMM.comm + COMM_EVENT_LEN)) };
    }
    case KIND.coredump: {
      const known = (v.u32(b + COREDUMP.flags) & PARENT_KNOWN) !== 0;
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'coredump', parentPid: known ? v.i32(b + COREDUMP.parentPid) : null };
    }
    case KIND.exit: {
      const rawCode = v.u32(b + EXIT.exitCode);
      const flags = v.u32(b + EXIT.flags);
      v.u8(b + EXIT.comm + COMM_EVENT_LEN - 1); // bounds
      const comm = (flags & EXIT_COMM) !== 0
        ? nulTerminated(buf.subarray(start + b + EXIT.comm, start + b + EXIT.comm + COMM_EVENT_LEN))
        : null;
      const parentPid = (flags & PARENT_KNOWN) !== 0 ? v.i32(b + EXIT.parentPid) : null;
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'exit', status: decodeExitStatus(rawCode), rawCode, parentPid, comm };
    }
    case KIND.connect:
    case KIND.accept:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: kind === KIND.connect ? 'connect' : 'accept', ...socketFields(v, buf, start) };
    case KIND.acct:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'acct', startTicks: v.u64(b + ACCT.startTicks), usage: usageFields(v) };
    case KIND.open: {
      const result = v.i32(b + OPEN.result);
      const openFlags = v.u32(b + OPEN.openFlags);
      const dirFd = v.i32(b + OPEN.dirFd);
      return {
        seq, ktimeNs, pid, tid, cpu, provenance,
        kind: 'open',
        path: v.text(b + OPEN.path),
        pathTruncated: (v.u32(b + OPEN.flags) & OPEN_PATH_TRUNCATED) !== 0,
        dirFd: dirFd === AT_FDCWD ? null : dirFd,
        flags: openFlags,
        flagNames: openFlagNames(openFlags),
        mode: v.u32(b + OPEN.mode),
        result,
        error: errnoName(result),
        uid: v.u32(b + OPEN.uid),
        cgroupId: v.u64(b + OPEN.cgroupId),
      };
    }
    case KIND.syscalls:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'syscalls', ...syscallsFields(v) };
    case KIND.session:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'session', ...sessionFields(v, buf, start, ktimeNs) };
    case KIND.shell:
      return { seq, ktimeNs, pid, tid, cpu, provenance, kind: 'shell', ...shellFields(v) };
    default: { // KIND.lost (BODY_SIZE admitted nothing else)
      const count = v.u32(b + LOST.count);
      const reason = v.u32(b + LOST.reason);
      const scope = LOST_SCOPE[reason];
      return {
        seq, ktimeNs, pid, tid, cpu, provenance,
        kind: 'lost',
        count: count === LOST_COUNT_UNKNOWN ? null : count,
        reason: LOST_REASON_TEXT[reason] ?? `lost (reason ${reason})`,
        ...(scope === undefined ? {} : { scope }),
      };
    }
  }
}

/** "ECONNREFUSED" for -111; null for a result that is not an error. */
const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
function errnoName(result: number): string | null {
  return result >= 0 ? null : ERRNO_NAMES.get(-result) ?? `errno ${-result}`;
}

/** O_* names of an open(2) flags word, with this platform's values; unknown bits as hex. */
const O_FLAGS: ReadonlyArray<[string, number]> = [
  // O_SYNC before O_DSYNC: O_SYNC's value includes O_DSYNC's bit.
  ...(['O_CREAT', 'O_EXCL', 'O_NOCTTY', 'O_TRUNC', 'O_APPEND', 'O_NONBLOCK', 'O_SYNC', 'O_DSYNC', 'O_DIRECT',
    'O_DIRECTORY', 'O_NOFOLLOW', 'O_NOATIME'] as const)
    .map((name): [string, number] => [name, fsConstants[name] ?? 0]),
  ['O_CLOEXEC', 0o2000000] as [string, number],
  ['O_PATH', 0o10000000] as [string, number],
  ['O_TMPFILE', 0o20000000] as [string, number],
].filter(([, bit]) => bit !== 0);
export function openFlagNames(flags: number): string[] {
  const access = flags & 3;
  const names = [access === 0 ? 'O_RDONLY' : access === 1 ? 'O_WRONLY' : access === 2 ? 'O_RDWR' : 'O_ACCMODE'];
  let rest = (flags & ~3) >>> 0; // >>> 0: JavaScript's bit operators are signed 32-bit
  for (const [name, bit] of O_FLAGS) {
    if ((rest & bit) === bit) {
      names.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names;
}

/** An address as `net` shows it: dotted IPv4, or compressed IPv6 (RFC 5952). */
export function formatAddress(family: number, bytes: Buffer): string {
  if (family === AF_INET) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestAt = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 136: 'udplite', 262: 'mptcp' };

function socketFields(v: RecordView, buf: Buffer, start: number): SocketFields {
  const b = REC.SIZE;
  const family = v.u16(b + SOCK.family);
  if (family !== AF_INET && family !== AF_INET6) throw new Corrupt(`socket record of family ${family}`);
  v.u8(b + SOCK.remoteAddr + 15); // bounds of both addresses
  const addr = (off: number): Buffer => buf.subarray(start + b + off, start + b + off + 16);
  const local = (v.u32(b + SOCK.flags) & SOCK_LOCAL) !== 0;
  const protocol = v.u16(b + SOCK.protocol);
  const result = v.i32(b + SOCK.result);
  return {
    family: family === AF_INET ? 'ipv4' : 'ipv6',
    protocol: protocol === 0 ? null : PROTOCOLS[protocol] ?? `ip-${protocol}`,
    localAddress: local ? formatAddress(family, addr(SOCK.localAddr)) : null,
    localPort: local ? v.u16(b + SOCK.localPort) : null,
    remoteAddress: formatAddress(family, addr(SOCK.remoteAddr)),
    remotePort: v.u16(b + SOCK.remotePort),
    fd: v.i32(b + SOCK.fd),
    result,
    error: errnoName(result),
    uid: v.u32(b + SOCK.uid),
    cgroupId: v.u64(b + SOCK.cgroupId),
  };
}

// ---- behaviour capture ----------------------------------------------------------------------

type Fields<E> = Omit<E, 'kind' | 'seq' | 'ktimeNs' | 'pid' | 'tid' | 'cpu' | 'provenance' | 'key'>;

function syscallsFields(v: RecordView): Fields<SyscallsEvent> {
  const b = REC.SIZE;
  const pairs = v.bytes(b + SYSCALLS.counts);
  if (pairs.length % SYSCALL_COUNT.SIZE !== 0) throw new Corrupt(`syscall counts of ${pairs.length} bytes, not whole entries`);
  const counts: Record<string, number> = {};
  let total = 0;
  for (let off = 0; off < pairs.length; off += SYSCALL_COUNT.SIZE) {
    const nr = pairs.readUInt32LE(off + SYSCALL_COUNT.nr);
    const n = pairs.readUInt32LE(off + SYSCALL_COUNT.count) + pairs.readUInt32LE(off + SYSCALL_COUNT.count + 4) * 0x1_0000_0000;
    const name = nr === SYSCALL_OTHER_NR ? SYSCALL_OTHER : syscallName(nr);
    counts[name] = (counts[name] ?? 0) + n;
    total += n;
  }
  return { startTicks: v.u64(b + SYSCALLS.startTicks), final: (v.u32(b + SYSCALLS.flags) & SYSCALLS_FINAL) !== 0, total, counts };
}

/** include/net/tcp_states.h */
const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT',
  'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV', 'BOUND_INACTIVE'];

function sessionFields(v: RecordView, buf: Buffer, start: number, closedNs: number): Fields<SessionEvent> {
  const b = REC.SIZE;
  const family = v.u16(b + SESSION.family);
  if (family !== AF_INET && family !== AF_INET6) throw new Corrupt(`session record of family ${family}`);
  v.u8(b + SESSION.remoteAddr + 15); // bounds of both addresses
  const addr = (off: number): Buffer => buf.subarray(start + b + off, start + b + off + 16);
  const flags = v.u32(b + SESSION.flags);
  const owned = (flags & SESSION_OWNER) !== 0;
  const earlier = (flags & SESSION_EARLIER) !== 0;
  const establishedNs = earlier ? null : v.u64(b + SESSION.establishedNs);
  const state = v.u16(b + SESSION.closeState);
  return {
    direction: earlier ? null : (flags & SESSION_ACCEPTED) !== 0 ? 'accept' : 'connect',
    startTicks: owned ? v.u64(b + SESSION.startTicks) : null,
    family: family === AF_INET ? 'ipv4' : 'ipv6',
    protocol: 'tcp',
    localAddress: formatAddress(family, addr(SESSION.localAddr)),
    localPort: v.u16(b + SESSION.localPort),
    remoteAddress: formatAddress(family, addr(SESSION.remoteAddr)),
    remotePort: v.u16(b + SESSION.remotePort),
    establishedNs,
    durationNs: establishedNs === null ? null : Math.max(0, closedNs - establishedNs),
    bytesSent: v.u64(b + SESSION.bytesSent),
    bytesReceived: v.u64(b + SESSION.bytesReceived),
    bytesRetransmitted: v.u64(b + SESSION.bytesRetrans),
    retransmits: v.u32(b + SESSION.retransmits),
    closedFrom: TCP_STATES[state] || `state ${state}`,
    uid: owned ? v.u32(b + SESSION.uid) : null,
    cgroupId: owned ? v.u64(b + SESSION.cgroupId) : null,
  };
}

function shellFields(v: RecordView): Fields<ShellEvent> {
  const b = REC.SIZE;
  const flags = v.u32(b + SHELL.flags);
  const id = (off: number): number | null => {
    const n = v.u32(b + off);
    return n === ID_UNSET ? null : n;
  };
  return {
    line: v.text(b + SHELL.line),
    lineTruncated: (flags & SHELL_TRUNCATED) !== 0,
    redacted: false, // set by the source, which applies the redaction patterns
    startTicks: v.u64(b + SHELL.startTicks),
    uid: v.u32(b + SHELL.uid),
    euid: v.u32(b + SHELL.euid),
    loginUid: id(SHELL.loginUid),
    sessionId: id(SHELL.sessionId),
    // The kernel names a pty "pts3"; ps and who say "pts/3".
    tty: (flags & SHELL_TTY) !== 0 ? v.text(b + SHELL.tty).replace(/^pts(\d+)$/, 'pts/$1') : null,
    cwd: (flags & SHELL_CWD) !== 0 ? v.text(b + SHELL.cwd) : null,
  };
}

/** An ACCT body: each field group only with its flag, else null (unknown). */
function usageFields(v: RecordView): ProcessUsage {
  const b = REC.SIZE;
  const flags = v.u32(b + ACCT.flags);
  const has = (f: number): boolean => (flags & f) !== 0;
  const cpu = has(ACCT_FLAG.cpu);
  const count = (f: number, off: number): number | null => (has(f) ? v.u64(b + off) : null);
  const maxRssKib = count(ACCT_FLAG.maxRss, ACCT.maxRssKib);
  return {
    cpuSeconds: cpu ? v.u64(b + ACCT.cpuNs) / 1e9 : null,
    userSeconds: cpu ? v.u64(b + ACCT.userNs) / 1e9 : null,
    systemSeconds: cpu ? v.u64(b + ACCT.systemNs) / 1e9 : null,
    cpuResolution: cpu ? (has(ACCT_FLAG.cpuTicks) ? 'tick' : 'ns') : null,
    maxRssBytes: maxRssKib === null ? null : maxRssKib * 1024,
    minorFaults: count(ACCT_FLAG.faults, ACCT.minFlt),
    majorFaults: count(ACCT_FLAG.faults, ACCT.majFlt),
    voluntarySwitches: count(ACCT_FLAG.switches, ACCT.nvcsw),
    involuntarySwitches: count(ACCT_FLAG.switches, ACCT.nivcsw),
    readBytes: count(ACCT_FLAG.io, ACCT.readBytes),
    writeBytes: count(ACCT_FLAG.io, ACCT.writeBytes),
    readChars: count(ACCT_FLAG.io, ACCT.rchar),
    writeChars: count(ACCT_FLAG.io, ACCT.wchar),
  };
}

function fail(stats: DecodeStats, why: string): void {
  stats.malformed++;
  stats.lastError = why;
}

/**
 * Decodes one batch. Never throws on bad input: what cannot be decoded is counted in
 * `stats.malformed` (with `stats.lastError`), and the good records before it are returned.
 * A record with a sane size but bad contents is skipped alone; a bad size ends the batch.
 */
export function decodeBatch(buf: Buffer, stats: DecodeStats = newDecodeStats()): ProcEvent[] {
  const events: ProcEvent[] = [];
  stats.batches++;
  if (buf.length < BATCH.SIZE) {
    fail(stats, `batch of ${buf.length} bytes is shorter than its ${BATCH.SIZE}-byte header`);
    return events;
  }
  const magic = buf.readUInt32LE(BATCH.magic);
  const version = buf.readUInt16LE(BATCH.version);
  const headerSize = buf.readUInt16LE(BATCH.headerSize);
  const count = buf.readUInt32LE(BATCH.count);
  const bytes = buf.readUInt32LE(BATCH.bytes);
  if (magic !== BATCH_MAGIC) {
    fail(stats, `bad batch magic 0x${magic.toString(16)}`);
    return events;
  }
  if (version !== RECORD_VERSION) {
    fail(stats, `batch version ${version}, this decoder reads ${RECORD_VERSION} (rebuild the addon)`);
    return events;
  }
  if (headerSize < BATCH.SIZE || headerSize > buf.length || bytes < headerSize) {
    fail(stats, `bad batch header (header ${headerSize}, bytes ${bytes}, have ${buf.length})`);
    return events;
  }
  let end = bytes;
  if (bytes > buf.length) {
    fail(stats, `truncated batch: header says ${bytes} bytes, have ${buf.length}`);
    end = buf.length;
  }
  let off = headerSize;
  let seen = 0;
  let broken = false;
  while (off < end && seen < count) {
    if (end - off < REC.SIZE) {
      fail(stats, `truncated record header at ${off}`);
      broken = true;
      break;
    }
    const size = buf.readUInt32LE(off + REC.size);
    if (size < REC.SIZE || size % RECORD_ALIGN !== 0 || size > end - off) {
      fail(stats, `bad record size ${size} at ${off}`);
      broken = true;
      break;
    }
    seen++;
    try {
      events.push(decodeRecord(buf, off, size));
      stats.records++;
    } catch (err) {
      if (!(err instanceof Corrupt) && !(err instanceof RangeError)) throw err;
      fail(stats, `record at ${off}: ${err.message}`);
    }
    off += size;
  }
  // Only when the walk itself went well can the header's own totals be held against it.
  if (!broken && end === bytes && (seen !== count || off !== end)) {
    fail(stats, `batch header says ${count} records in ${bytes} bytes, found ${seen} in ${off}`);
  }
  return events;
}

/** A decoder that keeps its counters across batches (one per source). */
export class RecordDecoder {
  readonly stats: DecodeStats = newDecodeStats();

  decode(buf: Buffer): ProcEvent[] {
    return decodeBatch(buf, this.stats);
  }
}

// ---- task snapshot records (record.h pw_task; issue 12) -------------------------------------

/** Offsets within record.h's struct pw_task; SIZE is sizeof. Checked against the eBPF addon's taskLayout(). */
export const TASK = {
  flags: 0, tgid: 4, tid: 8, ppid: 12, startNs: 16, runtimeNs: 24, utimeNs: 32, stimeNs: 40, minFlt: 48, majFlt: 56, nvcsw: 64,
  nivcsw: 72, rchar: 80, wchar: 88, readBytes: 96, writeBytes: 104, vmPages: 112, rssFile: 120, rssAnon: 128, rssShmem: 136,
  swapEnts: 144, fds: 152, fdLimit: 160, uid: 168, euid: 172, threads: 176, state: 180, comm: 184, SIZE: 200,
} as const;
export const TASK_FLAG = { leader: 1 << 0, mm: 1 << 1, files: 1 << 2, kthread: 1 << 3, fdsCut: 1 << 4 } as const;

/** The `taskLayout()` keys record.ts mirrors (flag.* are TASK_FLAG). */
export function taskLayout(): Record<string, number> {
  const out: Record<string, number> = { size: TASK.SIZE };
  for (const [k, v] of Object.entries(TASK)) if (k !== 'SIZE') out[k] = v;
  for (const [k, v] of Object.entries(TASK_FLAG)) out[`flag.${k}`] = v;
  return out;
}

const STATE_LETTERS: ReadonlyMap<number, string> = new Map([...'RSDTtXZPI'].map((c) => [c.charCodeAt(0), c]));

/**
 * Reads a task iterator's records in place, without an object per task: the snapshot sums a
 * process's tasks as it goes (20,000 tasks per read). Whole records only (`count`); a trailing
 * partial one is never read. Fields by record.h's names, offsets from TASK.
 */
export class TaskReader {
  readonly count: number;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;

  constructor(private readonly buf: Buffer) {
    this.count = Math.floor(buf.length / TASK.SIZE);
    // Records are 8-aligned; a buffer not on a 4-byte boundary is copied first.
    const b = buf.byteOffset % 4 === 0 ? buf : Buffer.from(buf);
    this.buf = b;
    this.u32 = new Uint32Array(b.buffer, b.byteOffset, (this.count * TASK.SIZE) / 4);
    this.i32 = new Int32Array(b.buffer, b.byteOffset, (this.count * TASK.SIZE) / 4);
  }

  /** A u32 field of task i (offset from TASK). */
  u32At(i: number, off: number): number {
    return this.u32[(i * TASK.SIZE + off) >> 2]!;
  }

  i32At(i: number, off: number): number {
    return this.i32[(i * TASK.SIZE + off) >> 2]!;
  }

  /** A u64 field as a number (exact below 2^53). */
  u64At(i: number, off: number): number {
    const w = (i * TASK.SIZE + off) >> 2;
    return this.u32[w]! + this.u32[w + 1]! * 0x1_0000_0000;
  }

  /** '?' when the byte is not a state letter. */
  state(i: number): string {
    return STATE_LETTERS.get(this.buf[i * TASK.SIZE + TASK.state]!) ?? '?';
  }

  /** Whether task i's comm is `name` (ASCII names compared in place: no string made for an unchanged name). */
  commIs(i: number, name: string): boolean {
    const start = i * TASK.SIZE + TASK.comm;
    if (name.length > 15) return false;
    for (let k = 0; k < name.length; k++) {
      const c = name.charCodeAt(k);
      if (c > 127 || this.buf[start + k] !== c) return false;
    }
    return name.length === 16 || this.buf[start + name.length] === 0;
  }

  comm(i: number): string {
    const start = i * TASK.SIZE + TASK.comm;
    let end = start;
    while (end < start + 16 && this.buf[end] !== 0) end++;
    return this.buf.toString('utf8', start, end);
  }
}
