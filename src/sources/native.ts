/**
 * The one loader of the proc connector addon (native/build/Release/procconn.node), with its
 * API typed. Importing this module never throws: a missing or broken build, or a non-Linux
 * host, is reported by `loadNative()` as unavailable with a reason, and callers fall back to
 * the /proc poll source. Records the addon hands over are decoded by ./record.ts.
 */

import { existsSync } from 'node:fs';
import { otherPidNamespace } from './namespace.js';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Counters the reader thread keeps (see native/procconn.c, enum pw_counter). */
export const NATIVE_COUNTER_NAMES = [
  'received', // frames accepted from the kernel
  'events', // records produced, LOST included
  'batches', // batches handed to JavaScript
  'malformed', // short, truncated or inconsistent frames, skipped
  'ignored', // acks, frames not from the kernel, other connectors, unknown kinds
  'enobufs', // recv said the receive buffer overflowed
  'recvErrors', // other recv errors (reported through onError, at most once a second)
  'procReadFailures', // exec records with at least one field unknown
  'execGone', // exec: process gone before anything was read
  'execZombie', // exec: process already a zombie (comm and stat only)
  'execChanged', // exec: stat differed before/after the reads, fields dropped
  'execRaced', // exec: fields dropped because they may belong to a later exec/rename/id change
  'verifyLate', // such a doubt arose after the exec record had already been delivered
  'verifyEvicted', // an exec record lost its race check to a pid-hash collision
  'slotWaits', // the reader waited for JavaScript to take a batch
  'droppedBatches', // batches that could not be queued (runtime shutting down)
  'execReused', // exec: /proc showed a process started after the event (pid reused): nothing kept
  'kernelDrops', // events the kernel dropped for this socket (each reported in a LOST record's count)
  'acct', // ACCT records: a process's totals read from its zombie's /proc files after its exit (not a kernel frame)
] as const;
export type NativeCounterName = (typeof NATIVE_COUNTER_NAMES)[number];
export type NativeCounters = Record<NativeCounterName, number>;

export interface NativeOpenOptions {
  /** Netlink receive buffer in bytes (default 16 MiB; the kernel reports it doubled). */
  rcvbufBytes?: number;
  /** SCHED_FIFO priority for the reader thread, 1-99; 0 or absent: normal scheduling. */
  readerPriority?: number;
  /** One call per batch: a buffer in the record.h format, decode with record.ts. */
  onBatch: (batch: Buffer) => void;
  /** Reader-thread problems (recv errors); the reader goes on unless the socket is dead. */
  onError: (message: string) => void;
  /** Once the reader has ended (after stop(), or on its own after a fatal error) and the last batch was delivered. */
  onClose?: () => void;
  /** Test only: the reader sleeps this long after its first frame, to provoke ENOBUFS. */
  debugStallMs?: number;
  /** Test only: after this long the reader fails as on a fatal recv error, and ends. */
  debugFailMs?: number;
}

/** The addon's handle, as returned by open(). */
export interface NativeHandle {
  /** The receive buffer the kernel granted (SO_RCVBUF as read back: twice what was asked). */
  readonly rcvbufBytes: number;
  /** The SCHED_FIFO priority the reader thread got (0: normal scheduling). */
  readonly readerPriority: number;
  /** Why the asked-for priority was refused (an errno name such as EPERM), else null. */
  readonly readerPriorityError: string | null;
  /** Unsubscribes (PROC_CN_MCAST_IGNORE), wakes and joins the reader, closes. Idempotent. */
  stop(): void;
  counters(): NativeCounters;
  /** Whether a running reader keeps the Node event loop alive (it does by default). */
  ref(): void;
  unref(): void;
}

/** Fields for encodeTestRecords(): `kind` is a record.h kind number; the rest per kind. */
/** The fields of an ACCT test record (record.h pw_rec_acct), named as record.ts's ACCT names them. */
export interface AcctTestFields {
  cpuNs?: number;
  userNs?: number;
  systemNs?: number;
  minFlt?: number;
  majFlt?: number;
  nvcsw?: number;
  nivcsw?: number;
  maxRssKib?: number;
  rchar?: number;
  wchar?: number;
  readBytes?: number;
  writeBytes?: number;
}

export interface TestRecordSpec extends AcctTestFields {
  kind: number;
  timestampNs?: number;
  what?: number;
  cpu?: number;
  pid?: number;
  tid?: number;
  parentPid?: number;
  parentTid?: number;
  /** fork: the child's start ticks (omitted: unknown) */
  childStartTicks?: number;
  /** fork: the child's start in ns since boot (0 or absent: unknown). */
  childStartNs?: number;
  real?: number;
  effective?: number;
  tracerPid?: number;
  tracerTid?: number;
  comm?: string | Buffer;
  flags?: number;
  exitCode?: number;
  exitSignal?: number;
  count?: number;
  reason?: number;
  err?: number;
  ppid?: number;
  startTicks?: number;
  readNs?: number;
  state?: number;
  uids?: readonly number[];
  gids?: readonly number[];
  cmdline?: string | Buffer;
  exe?: string | Buffer;
  cwd?: string | Buffer;
}

export interface ProcConnAddon {
  open(options: NativeOpenOptions): NativeHandle;
  /** sizeof/offsetof of every record.h field and its constants, by record.ts's key names. */
  layout(): Record<string, number>;
  /** Test only: packs records with the reader's own writers into one batch. */
  encodeTestRecords(specs: readonly TestRecordSpec[]): Buffer;
  /**
   * Test only: runs one datagram (at most 8192 bytes) through the reader's own frame parser as
   * if recv had returned it from port `fromPid` (0: the kernel; `truncated`: MSG_TRUNC), and
   * returns the batch it packed and the counters. Exec events read the real /proc.
   */
  decodeTestFrames?(datagram: Buffer, options?: { fromPid?: number; truncated?: boolean }): { batch: Buffer; counters: NativeCounters };
}

export type NativeLoad =
  | { available: true; addon: ProcConnAddon; path: string }
  | { available: false; reason: string; path: string };

/** The repository (package) root: the nearest directory upwards holding package.json. */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | null {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** Where the addon is expected: $PROCWATCH_NATIVE_ADDON, else native/build/Release under the package. */
export function nativeAddonPath(): string {
  const override = process.env.PROCWATCH_NATIVE_ADDON;
  if (override !== undefined && override !== '') return resolve(override);
  return join(packageRoot() ?? process.cwd(), 'native', 'build', 'Release', 'procconn.node');
}

function isAddon(value: unknown): value is ProcConnAddon {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.open === 'function' && typeof v.layout === 'function' && typeof v.encodeTestRecords === 'function';
}

let cached: NativeLoad | null = null;

/** Loads the addon once; never throws. */
export function loadNative(): NativeLoad {
  if (cached !== null) return cached;
  const path = nativeAddonPath();
  if (process.platform !== 'linux') {
    cached = { available: false, reason: `the proc connector is Linux-only (this is ${process.platform})`, path };
  } else if (!existsSync(path)) {
    cached = { available: false, reason: `native addon not built (no ${path}; run: node scripts/build-native.mjs)`, path };
  } else {
    try {
      const loaded: unknown = createRequire(import.meta.url)(path);
      cached = isAddon(loaded)
        ? { available: true, addon: loaded, path }
        : { available: false, reason: `${path} is not the procconn addon (missing open/layout)`, path };
    } catch (err) {
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      cached = { available: false, reason: `native addon failed to load: ${message}`, path };
    }
  }
  return cached;
}

/** Whether the proc connector can be opened here, and if not why (addon, then privilege). */
export function procConnectorAvailability(): { available: boolean; reason: string } {
  const load = loadNative();
  if (!load.available) return { available: false, reason: load.reason };
  if (process.getuid?.() !== 0) return { available: false, reason: 'the proc connector needs root (CAP_NET_ADMIN in the initial namespaces)' };
  const ns = otherPidNamespace();
  if (ns !== null) return { available: false, reason: `the kernel serves the proc connector only in the initial pid namespace, and procwatch runs in ${ns}` };
  return { available: true, reason: `native addon ${load.path}` };
}

/** The largest receive buffer the socket takes (SO_RCVBUF is an int). */
export const MAX_RCVBUF_BYTES = 0x7fffffff;

/**
 * The reader thread's SCHED_FIFO priority unless told otherwise. A storm's `/bin/true` lives
 * ~1 ms: at normal priority the reader lost that race for 2.4% of them (named 97.6%), under
 * SCHED_FIFO 10 for 0.1% (BENCHMARKS.md). The thread sleeps in poll() between events and does
 * a bounded amount of work per event; the kernel's RT throttling still caps it. Low enough to
 * stay below the kernel's own RT threads (e.g. watchdogs at 99). forkstat's `-r` is the same idea.
 */
export const DEFAULT_READER_PRIORITY = 10;

/** A running subscription, with a promise for "stopped and every batch delivered". */
export interface ProcConnector {
  readonly rcvbufBytes: number;
  /** The SCHED_FIFO priority the reader thread runs at (0: normal scheduling). */
  readonly readerPriority: number;
  /** Why the asked-for priority was refused (e.g. EPERM), else null. */
  readonly readerPriorityError: string | null;
  /**
   * Resolves once the reader has ended and the last batch has been handed to onBatch: after
   * stop(), or earlier when the reader died (its reason was the last onError message).
   */
  readonly closed: Promise<void>;
  stop(): void;
  counters(): NativeCounters;
  ref(): void;
  unref(): void;
}

export interface ProcConnectorOptions {
  rcvbufBytes?: number;
  readerPriority?: number;
  onBatch: (batch: Buffer) => void;
  onError: (message: string) => void;
  debugStallMs?: number;
  debugFailMs?: number;
}

/**
 * Opens the proc connector. Throws a one-line Error (with `code`, e.g. EPERM) when the addon
 * is unavailable or the kernel refuses; options are checked here, not in C. An exception
 * thrown by onBatch goes to onError instead of escaping into N-API.
 */
export function openProcConnector(options: ProcConnectorOptions): ProcConnector {
  const load = loadNative();
  if (!load.available) throw Object.assign(new Error(`proc connector unavailable: ${load.reason}`), { code: 'ENOADDON' });
  const { rcvbufBytes, readerPriority, debugStallMs, debugFailMs } = options;
  if (rcvbufBytes !== undefined && !(Number.isInteger(rcvbufBytes) && rcvbufBytes >= 1 && rcvbufBytes <= MAX_RCVBUF_BYTES)) {
    throw new RangeError(`rcvbufBytes must be an integer from 1 to ${MAX_RCVBUF_BYTES}, got ${rcvbufBytes}`);
  }
  if (readerPriority !== undefined && !(Number.isInteger(readerPriority) && readerPriority >= 0 && readerPriority <= 99)) {
    throw new RangeError(`the reader priority must be an integer from 0 to 99, got ${readerPriority}`);
  }
  for (const [name, value] of [['debugStallMs', debugStallMs], ['debugFailMs', debugFailMs]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= 60000)) {
      throw new RangeError(`${name} must be an integer from 0 to 60000, got ${value}`);
    }
  }
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
  const handle = load.addon.open({
    ...(rcvbufBytes !== undefined ? { rcvbufBytes } : {}),
    ...(readerPriority !== undefined ? { readerPriority } : {}),
    ...(debugStallMs !== undefined ? { debugStallMs } : {}),
    ...(debugFailMs !== undefined ? { debugFailMs } : {}),
    onBatch: (batch) => {
      try {
        options.onBatch(batch);
      } catch (err) {
        report(`onBatch threw: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    onError: report,
    onClose: () => resolveClosed(),
  });
  return {
    rcvbufBytes: handle.rcvbufBytes,
    readerPriority: handle.readerPriority,
    readerPriorityError: handle.readerPriorityError,
    closed,
    stop: () => handle.stop(),
    counters: () => handle.counters(),
    ref: () => handle.ref(),
    unref: () => handle.unref(),
  };
}
