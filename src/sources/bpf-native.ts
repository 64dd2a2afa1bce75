/**
 * The one loader of the eBPF addon (native/bpf/build/Release/procbpf.node), with its API
 * typed; the eBPF twin of ./native.ts. Importing this module never throws: a missing or
 * broken build is reported by `loadBpfNative()` as unavailable with a reason. Batches the
 * addon hands over are record.h batches, decoded by ./record.ts like the netlink ones.
 */

import { existsSync, readFileSync, statSync } from 'node:fs';
import { InputError } from '../errors.js';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { packageRoot, type AcctTestFields } from './native.js';
import { compileRedaction } from './shell.js';

/** Counters the addon keeps (see native/bpf/procbpf.c, enum pw_counter). */
export const BPF_COUNTER_NAMES = [
  'received', // ring-buffer events read
  'events', // records produced, LOST included
  'batches', // batches handed to JavaScript
  'malformed', // ring-buffer events too short or of an unknown type
  'ringbufLost', // events the kernel could not queue (ring buffer full); each increase is a LOST record
  'unreadableLost', // connect/open events whose address or path could not be read; LOST records too
  'inflightLost', // connect/open events not tracked: too many calls in progress; LOST records too
  'readerDropped', // records the reader could not pass on (stopping and out of memory): no LOST record
  'threadForks', // new threads: counted in the kernel, not reported one by one
  'threadExits', // threads that ended without ending their process
  'exitDuplicates', // pre-6.16 kernels: a second "last thread" of one process, not reported twice
  'filtered', // network/file events dropped in the kernel by the uid, cgroup or path filters
  'exeUnknown', // exec: the exe path could not be walked to the root (too long, or a detached mount): unknown
  'cwdUnknown', // exec: the same for the cwd
  'slotWaits', // the reader waited for JavaScript to take a batch
  'droppedBatches', // batches that could not be queued (runtime shutting down)
  // behaviour capture
  'syscallTableLost', // syscalls not counted: the kernel's table of processes was full; LOST records (scope syscalls)
  'sessionTableLost', // TCP connections not followed: the table of sessions was full; LOST records (scope session)
  'shellUnreadableLost', // shell lines that could not be read from the shell's memory; LOST records (scope shell)
  'syscallSnapshots', // syscall records of running processes, read at the interval
  'shellAttached', // bash binaries with a uprobe on readline
  // process changes
  'ptraceUnresolvedLost', // ptrace attaches/detaches whose tracee ended before it could be named; LOST records
] as const;
export type BpfCounterName = (typeof BPF_COUNTER_NAMES)[number];
export type BpfCounters = Record<BpfCounterName, number>;

/** What the kernel side captures besides process events, and its in-kernel filters. */
export interface BpfCaptureOptions {
  /** Outbound connect(2) and accept(2)/accept4(2) of IPv4/IPv6 sockets. */
  network?: boolean;
  /** openat(2) calls. */
  files?: boolean;
  /** Network/file events only from this real uid. */
  uid?: number;
  /** Network/file events only from tasks in this cgroup v2 directory or below it. */
  cgroupPath?: string;
  /** File events only for paths (as passed to openat) starting with this (< 256 bytes). */
  pathPrefix?: string;
  /** Ring buffer size in bytes: a power of 2, at least 4096 (default 2 MiB, as DAEMON_RING_BYTES). */
  ringBytes?: number;
  /** Per-process syscall counts, kept in a kernel map: `syscalls` events at each exit. */
  syscalls?: boolean;
  /** With syscalls: also read running processes' counts this often (ms; 0 or absent: only at exits). */
  syscallsIntervalMs?: number;
  /** TCP sessions: one `session` event per connection when it closes, with its byte counts. */
  sessions?: boolean;
  /** Lines entered in interactive bash shells (a uprobe on readline's return): `shell` events. */
  shell?: boolean;
  /** Bash binaries to watch besides the running ones (default /bin/bash). */
  shellBinaries?: string[];
  /** Redaction patterns for shell lines (see sources/shell.ts; default DEFAULT_SHELL_REDACT). */
  shellRedact?: string[];
  /**
   * uid, gid, sid and ptrace events (default true): programs on the set*id, setsid and ptrace
   * syscall tracepoints, which make every syscall of every task take the kernel's syscall-tracing
   * path (a few tens of ns each: BENCHMARKS.md). comm and coredump events are always on.
   */
  idEvents?: boolean;
}

/** Test hooks: each makes a rare path happen on demand. Never set them in production. */
export interface BpfDebugOptions {
  /** The reader sleeps this long after its first event, so the ring buffer fills. */
  debugStallMs?: number;
  /** Load the pre-6.16 exit program (live count + per-process dedup) even on newer kernels. */
  debugExitFallback?: boolean;
  /** Size of the kernel's tables of connect/openat calls in progress (default 8192). */
  debugInflightMax?: number;
  /** Apply the path prefix at syscall exit only, as when the path was not readable at entry. */
  debugPrefixAtExit?: boolean;
  /** The reader fails at its first event as if the ring buffer had returned an error. */
  debugReaderFault?: boolean;
  /** Processes the kernel counts syscalls for at once (default 16384), to fill the table in a test. */
  debugSyscallTableMax?: number;
  /** TCP sockets the kernel follows at once (default 65536), to fill the table in a test. */
  debugSessionTableMax?: number;
  /** This group of process-change programs is made to fail its attach (a real refusal by the kernel). */
  debugRefuseChange?: 'uid' | 'gid' | 'sid' | 'ptrace' | 'comm' | 'coredump';
}

export interface BpfOpenOptions extends BpfCaptureOptions, BpfDebugOptions {
  onBatch: (batch: Buffer) => void;
  onError: (message: string) => void;
  onClose?: () => void;
}

export interface BpfHandle {
  readonly ringBytes: number;
  /** A uretprobe on the function at `offset` (file offset) of the ELF binary at `path` (shell capture). */
  attachShell(path: string, offset: number): void;
  /** Joins the reader, detaches every program and frees the maps. Idempotent. */
  stop(): void;
  counters(): BpfCounters;
  /** Kernel ids of the loaded programs (empty after stop). */
  programIds(): number[];
  /** Optional programs that do not run here, and why (one line each, set at open). */
  notices(): string[];
  ref(): void;
  unref(): void;
}

/** Fields for encodeTestRecords(): `kind` is a record.h kind number; the rest per kind. */
export interface BpfTestRecordSpec extends AcctTestFields {
  /** ACCT: instead of cpuNs/userNs/systemNs, the kernel's figures, split by the reader's own code. */
  runtimeNs?: number;
  utimeNs?: number;
  stimeNs?: number;
  kind: number;
  timestampNs?: number;
  what?: number;
  cpu?: number;
  pid?: number;
  tid?: number;
  // exec
  flags?: number;
  ppid?: number;
  startTicks?: number;
  /** exec: start_boottime in ns (0 or absent: unknown). */
  startNs?: number;
  readNs?: number;
  state?: number;
  err?: number;
  uids?: readonly number[];
  gids?: readonly number[];
  comm?: string | Buffer;
  cmdline?: string | Buffer;
  exe?: string | Buffer;
  cwd?: string | Buffer;
  filename?: string | Buffer;
  // exit (comm too, with the EXIT_COMM flag)
  exitCode?: number;
  exitSignal?: number;
  parentPid?: number;
  parentTid?: number;
  // lost
  count?: number;
  reason?: number;
  // connect, accept
  family?: number;
  protocol?: number;
  localPort?: number;
  remotePort?: number;
  localAddr?: Buffer;
  remoteAddr?: Buffer;
  fd?: number;
  // syscalls (flags, startTicks too)
  total?: number;
  counts?: ReadonlyArray<readonly [number, number]>;
  // session (flags, startTicks, family, ports, addresses, uid, cgroupId too)
  establishedNs?: number;
  bytesSent?: number;
  bytesReceived?: number;
  bytesRetrans?: number;
  retransmits?: number;
  closeState?: number;
  // shell (flags, startTicks, uid too)
  euid?: number;
  loginUid?: number;
  sessionId?: number;
  line?: string | Buffer;
  tty?: string | Buffer;
  // connect, accept, open (cgroupId: exec too)
  result?: number;
  uid?: number;
  cgroupId?: number;
  // open
  openFlags?: number;
  mode?: number;
  dirFd?: number;
  path?: string | Buffer;
}

/** The task iterator of the resource snapshot (native/bpf/tasksnap.c). */
export interface TaskIterHandle {
  /**
   * One walk of every task (record.h pw_task records, read by record.ts TaskReader) straight
   * into `buf` (not to be touched until it resolves): resolves with the bytes the walk gave;
   * when more than `buf` holds, `copyLast(bigger)` copies them all. One at a time.
   */
  readInto(buf: Buffer): Promise<number>;
  copyLast(buf: Buffer): number;
  /** Unloads the program (after the reads in flight). Idempotent. */
  close(): void;
}

export interface ProcBpfAddon {
  open(options: BpfOpenOptions): BpfHandle;
  layout(): Record<string, number>;
  encodeTestRecords(specs: readonly BpfTestRecordSpec[]): Buffer;
  /** Loads and attaches the iter/task program; throws an Error naming the step and the kernel's reason. */
  openTasks(): TaskIterHandle;
  /** pw_task's sizes, offsets and flags (record.ts TASK), and the page size the page counts use. */
  taskLayout(): Record<string, number>;
}

export type BpfNativeLoad =
  | { available: true; addon: ProcBpfAddon; path: string }
  | { available: false; reason: string; path: string };

/** $PROCWATCH_BPF_ADDON, else native/bpf/build/Release/procbpf.node under the package. */
export function bpfAddonPath(): string {
  const override = process.env.PROCWATCH_BPF_ADDON;
  if (override !== undefined && override !== '') return resolve(override);
  return join(packageRoot() ?? process.cwd(), 'native', 'bpf', 'build', 'Release', 'procbpf.node');
}

function isAddon(value: unknown): value is ProcBpfAddon {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.open === 'function' && typeof v.layout === 'function' && typeof v.encodeTestRecords === 'function' &&
    typeof v.openTasks === 'function' && typeof v.taskLayout === 'function';
}

let cached: BpfNativeLoad | null = null;

/**
 * Why the build left no addon, as scripts/build-native.mjs recorded it in build/UNAVAILABLE
 * beside build/Release/ (e.g. "eBPF addon not built: clang not found (install clang)").
 */
export function bpfBuildFailure(addonPath: string): string | null {
  try {
    const line = readFileSync(join(dirname(addonPath), '..', 'UNAVAILABLE'), 'utf8').split('\n')[0]!.trim();
    return line === '' ? null : line;
  } catch {
    return null;
  }
}

/** Loads the addon once; never throws. */
export function loadBpfNative(): BpfNativeLoad {
  if (cached !== null) return cached;
  const path = bpfAddonPath();
  if (process.platform !== 'linux') {
    cached = { available: false, reason: `eBPF is Linux-only (this is ${process.platform})`, path };
  } else if (!existsSync(path)) {
    const failure = bpfBuildFailure(path);
    cached = {
      available: false,
      reason: failure !== null
        ? `${failure} (no ${path}; then: node scripts/build-native.mjs)`
        : `eBPF addon not built (no ${path}; it needs clang, bpftool and libbpf-dev, then: node scripts/build-native.mjs)`,
      path,
    };
  } else {
    try {
      const loaded: unknown = createRequire(import.meta.url)(path);
      cached = isAddon(loaded)
        ? { available: true, addon: loaded, path }
        : { available: false, reason: `${path} is not the procbpf addon (missing open/layout)`, path };
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      cached = { available: false, reason: `eBPF addon failed to load: ${message}`, path };
    }
  }
  return cached;
}

/** A running set of programs, with a promise for "stopped and every batch delivered". */
export interface BpfReader {
  readonly ringBytes: number;
  attachShell(path: string, offset: number): void;
  readonly closed: Promise<void>;
  stop(): void;
  counters(): BpfCounters;
  programIds(): number[];
  /** Optional programs that do not run here, and why (one line each). */
  notices(): string[];
  ref(): void;
  unref(): void;
}

export interface BpfReaderOptions extends BpfCaptureOptions, BpfDebugOptions {
  onBatch: (batch: Buffer) => void;
  onError: (message: string) => void;
}

/**
 * Checks capture options the way a user gave them (CLI flags, config keys): one InputError
 * line naming what is wrong. The kernel would refuse some of these less clearly, or later.
 */
export function checkCaptureOptions(o: BpfCaptureOptions): void {
  const { ringBytes, uid, pathPrefix, cgroupPath, syscallsIntervalMs, shellBinaries, shellRedact } = o;
  if ((shellBinaries !== undefined || shellRedact !== undefined) && o.shell !== true) throw new InputError('shell binaries and redaction patterns apply to shell capture: turn it on');
  for (const path of shellBinaries ?? []) {
    if (!path.startsWith('/') || path.includes('\0')) throw new InputError(`a shell binary must be an absolute path, got '${path}'`);
  }
  if (shellRedact !== undefined) compileRedaction(shellRedact);
  if (syscallsIntervalMs !== undefined && !(Number.isInteger(syscallsIntervalMs) && syscallsIntervalMs >= 0 && syscallsIntervalMs <= 86_400_000)) {
    throw new InputError(`the syscall count interval must be from 0 to 86400000 ms (a day), got ${syscallsIntervalMs}`);
  }
  if (ringBytes !== undefined && !(Number.isInteger(ringBytes) && ringBytes >= 4096 && ringBytes <= 2 ** 30 && (ringBytes & (ringBytes - 1)) === 0)) {
    throw new InputError(`the eBPF ring buffer size must be a power of 2 from 4096 to ${2 ** 30} bytes, got ${ringBytes}`);
  }
  if (uid !== undefined && !(Number.isInteger(uid) && uid >= 0 && uid < 0xffffffff)) throw new InputError(`the capture uid must be an integer from 0 to ${0xffffffff - 1}, got ${uid}`);
  if (pathPrefix !== undefined && (pathPrefix === '' || Buffer.byteLength(pathPrefix) >= 256 || pathPrefix.includes('\0'))) {
    throw new InputError('the path prefix must be 1 to 255 bytes without NUL');
  }
  if (cgroupPath !== undefined) {
    if (cgroupPath === '' || cgroupPath.includes('\0')) throw new InputError('the cgroup must be a non-empty path');
    let isDir = false;
    try {
      isDir = statSync(cgroupPath).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new InputError(`the cgroup '${cgroupPath}' is not a directory (expected one under /sys/fs/cgroup)`);
  }
}

function checkOptions(o: BpfReaderOptions): void {
  checkCaptureOptions(o);
  const { debugStallMs, debugInflightMax, debugSyscallTableMax, debugSessionTableMax } = o;
  if (debugSessionTableMax !== undefined && !(Number.isInteger(debugSessionTableMax) && debugSessionTableMax >= 1 && debugSessionTableMax <= 1e7)) {
    throw new RangeError(`debugSessionTableMax must be an integer from 1 to 10000000, got ${debugSessionTableMax}`);
  }
  if (debugSyscallTableMax !== undefined && !(Number.isInteger(debugSyscallTableMax) && debugSyscallTableMax >= 1 && debugSyscallTableMax <= 1e6)) {
    throw new RangeError(`debugSyscallTableMax must be an integer from 1 to 1000000, got ${debugSyscallTableMax}`);
  }
  if (debugStallMs !== undefined && !(Number.isInteger(debugStallMs) && debugStallMs >= 0 && debugStallMs <= 60000)) {
    throw new RangeError(`debugStallMs must be an integer from 0 to 60000, got ${debugStallMs}`);
  }
  if (debugInflightMax !== undefined && !(Number.isInteger(debugInflightMax) && debugInflightMax >= 1 && debugInflightMax <= 1e6)) {
    throw new RangeError(`debugInflightMax must be an integer from 1 to 1000000, got ${debugInflightMax}`);
  }
}

/**
 * Loads and attaches the BPF programs. Throws a one-line Error (with `code`, e.g. EPERM)
 * when the addon is unavailable or the kernel refuses; options are checked here, not in C.
 * An exception thrown by onBatch goes to onError instead of escaping into N-API.
 */
export function openBpf(options: BpfReaderOptions): BpfReader {
  const load = loadBpfNative();
  if (!load.available) throw Object.assign(new Error(`eBPF unavailable: ${load.reason}`), { code: 'ENOADDON' });
  checkOptions(options);
  const report = (message: string): void => {
    try {
      options.onError(message);
    } catch {
      // an error handler that throws has nowhere left to report to
    }
  };
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const { onBatch, onError: _onError, ...rest } = options;
  const handle = load.addon.open({
    ...rest,
    onBatch: (batch) => {
      try {
        onBatch(batch);
      } catch (err) {
        report(`onBatch threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    onError: report,
    onClose: () => resolveClosed(),
  });
  return {
    ringBytes: handle.ringBytes,
    attachShell: (path, offset) => handle.attachShell(path, offset),
    closed,
    stop: () => handle.stop(),
    counters: () => handle.counters(),
    programIds: () => handle.programIds(),
    notices: () => handle.notices(),
    ref: () => handle.ref(),
    unref: () => handle.unref(),
  };
}
