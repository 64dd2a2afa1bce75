/**
 * The eBPF source: BPF programs on the scheduler's exec/fork/exit tracepoints (and, when
 * asked, on connect/accept/openat) fill a ring buffer; the addon's reader thread packs
 * record.h batches; this module decodes them into ProcEvents.
 *
 * What it adds over netlink: an exec carries argv, filename, exe, cwd, credentials and
 * cgroup id read by the kernel at the exec itself, so even a process that lives
 * microseconds is named exactly; an exit carries the process's comm. uid, gid, sid, ptrace,
 * comm and coredump events are the proc connector's, with the same fields (from the set*id,
 * setsid and ptrace syscall tracepoints, task_rename and signal_deliver). Whatever the kernel
 * side could not send (ring buffer full, unreadable caller memory, too many calls in
 * flight) arrives as a `lost` event with an exact count and its reason (the table
 * resyncs). Threads are reported as netlink reports them (a fork with tid != pid, an exit
 * of a thread that does not end its process), so the table counts them; the leader leaving
 * before its other threads is not: its process's exit comes with the last thread.
 */

import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { otherPidNamespace } from './namespace.js';
import { basename } from 'node:path';
import type { ProcEvent } from '../events/types.js';
import { openBpf, loadBpfNative, type BpfCaptureOptions, type BpfDebugOptions, type BpfReader } from './bpf-native.js';
import { NativeIntake } from './intake.js';
import {
  DEFAULT_SHELL_BINARIES, DEFAULT_SHELL_REDACT, READLINE_SYMBOL, compileRedaction, fileId, findShellBinaries, functionOffset, redactLine, shellNames,
  type ShellBinary,
} from './shell.js';
import { ReaderWatch, SourceStartError, type Availability, type BatchSink, type EventSource, type ProblemSink, type SourceCounters } from './source.js';

export type { BpfCaptureOptions } from './bpf-native.js';

/** Capture options, plus test-only hooks (debug*: see BpfDebugOptions). */
export interface EbpfOptions extends BpfCaptureOptions, BpfDebugOptions {}

const BTF = '/sys/kernel/btf/vmlinux';
const TRACEFS = '/sys/kernel/tracing';

/** Capability bits (linux/capability.h). */
const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/**
 * Why this process lacks the capabilities to load and attach the programs, or null when it
 * has them: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (which covers both). Being uid 0 is
 * not enough: a container or `setpriv --bounding-set` can take them away from root, and the
 * kernel then answers EPERM, which libbpf blames on RLIMIT_MEMLOCK (a limit that no longer
 * applies to BPF since Linux 5.11).
 */
export function bpfCapabilityProblem(statusText?: string): string | null {
  let text = statusText;
  try {
    text ??= readFileSync('/proc/self/status', 'utf8');
  } catch {
    return null; // cannot tell: let the kernel say
  }
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1];
  if (hex === undefined) return null;
  const eff = BigInt(`0x${hex}`);
  const has = (cap: number): boolean => (eff & (1n << BigInt(cap))) !== 0n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return null;
  const missing = [has(CAP_BPF) ? null : 'CAP_BPF', has(CAP_PERFMON) ? null : 'CAP_PERFMON'].filter((c) => c !== null).join(' and ');
  return `eBPF needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); this process lacks ${missing} (effective capabilities ${hex})`;
}

/**
 * Whether the eBPF source can run here, and if not why: the addon, root, kernel BTF, and,
 * for network/file capture and uid/gid/sid/ptrace events, a tracefs (mounted by the source itself when missing).
 */
export function ebpfAvailability(capture: BpfCaptureOptions = {}): Availability {
  const load = loadBpfNative();
  if (!load.available) return { available: false, reason: load.reason };
  if (process.getuid?.() !== 0) return { available: false, reason: 'eBPF needs root (CAP_BPF and CAP_PERFMON)' };
  const caps = bpfCapabilityProblem();
  if (caps !== null) return { available: false, reason: caps };
  const ns = otherPidNamespace();
  // The programs read the host's pids (task->tgid), while the seed scan, --pid and the API use
  // this namespace's: every event would name the wrong process. Refused, as netlink is.
  if (ns !== null) return { available: false, reason: `eBPF reports the host's pids, and procwatch runs in another pid namespace (${ns}) whose pids differ: run it in the host's pid namespace (e.g. a container with --pid=host), or use the poll source` };
  if (!existsSync(BTF)) return { available: false, reason: `the kernel has no BTF (${BTF}): CO-RE programs cannot be loaded` };
  if (capture.network === true || capture.files === true || capture.sessions === true || capture.idEvents !== false) {
    const haveTracefs = existsSync(`${TRACEFS}/events`) || existsSync('/sys/kernel/debug/tracing/events');
    const mountable = existsSync(TRACEFS) && statSync(TRACEFS).isDirectory();
    if (!haveTracefs && !mountable) {
      return { available: false, reason: `network/file/session capture and uid/gid/sid/ptrace events (daemon.ebpf.id_events) need tracefs, and ${TRACEFS} does not exist to mount it on` };
    }
  }
  return { available: true, reason: `eBPF addon ${load.path}` };
}

/** Shell capture's state in the source: the binaries watched, the names that make a shell, the redaction. */
interface ShellWatch {
  names: Set<string>;
  redact: RegExp[];
  /** Files (dev:ino) with a uprobe, or known to have no readline: looked at once. */
  done: Set<string>;
  watched: ShellBinary[];
  onProblem: ProblemSink | undefined;
}

class EbpfSource implements EventSource {
  readonly name = 'ebpf' as const;
  private notices: string[] = [];
  get limitations(): string {
    const off = this.options.idEvents === false ? ['no uid, gid, sid or ptrace events (id_events off)'] : [];
    return [...off, ...this.notices].join('; ');
  }
  private reader: BpfReader | null = null;
  private watch: ReaderWatch | null = null;
  private readonly intake = new NativeIntake();
  private shell: ShellWatch | null = null;

  constructor(private readonly options: EbpfOptions) {}

  async start(sink: BatchSink, onProblem?: ProblemSink): Promise<void> {
    if (this.reader !== null) throw new Error('ebpf source already started');
    // Reader errors go to onProblem; a reader that ends before stop() is a `lost` event and fatal.
    const watch = new ReaderWatch('the eBPF reader', sink, onProblem, () => this.intake.lastSeq, () => this.intake.countFailure());
    // Shell lines are redacted here, before any consumer (table, store, API, rules) sees them.
    const deliver: BatchSink = this.options.shell === true ? (batch) => { this.shellBatch(batch); sink(batch); } : sink;
    if (this.options.shell === true) {
      const binaries = this.options.shellBinaries ?? [...DEFAULT_SHELL_BINARIES];
      this.shell = { names: shellNames(binaries), redact: compileRedaction(this.options.shellRedact ?? DEFAULT_SHELL_REDACT), done: new Set(), watched: [], onProblem };
    }
    try {
      this.reader = openBpf({
        ...this.options,
        onBatch: (buffer) => this.intake.take(buffer, deliver),
        onError: (message) => watch.error(message),
      });
    } catch (err) {
      if (!(err instanceof Error) || err instanceof RangeError || err.name === 'InputError') throw err;
      throw new SourceStartError(`cannot start the eBPF source: ${bpfStartMessage(err)}`);
    }
    this.watch = watch;
    watch.follow(this.reader.closed);
    // Optional programs the kernel would not run: said, never left out silently.
    this.notices = this.reader.notices();
    for (const notice of this.notices) {
      try {
        onProblem?.({ message: `eBPF: ${notice}`, fatal: false });
      } catch {
        // a problem handler that throws has nowhere left to report to
      }
    }
    if (this.shell !== null) {
      const found = findShellBinaries(this.options.shellBinaries ?? DEFAULT_SHELL_BINARIES);
      for (const problem of found.problems) this.shellProblem(problem);
      for (const binary of found.binaries) this.attachShell(binary);
      if (this.shell.watched.length === 0) this.shellProblem('shell capture is on, but no bash binary could be watched: no shell lines will be seen');
    }
  }

  /** The bash binaries whose readline has a uprobe (shell capture). */
  shellBinaries(): ShellBinary[] {
    return [...(this.shell?.watched ?? [])];
  }

  private shellProblem(message: string): void {
    try {
      this.shell?.onProblem?.({ message: `shell capture: ${message}`, fatal: false });
    } catch {
      // a problem handler that throws has nowhere left to report to
    }
  }

  /** One uprobe per file: the offset of readline in that very file, or a problem said once. */
  private attachShell(binary: ShellBinary): void {
    const shell = this.shell;
    if (shell === null || this.reader === null || shell.done.has(binary.id)) return;
    shell.done.add(binary.id);
    const found = functionOffset(binary.open, READLINE_SYMBOL);
    if ('problem' in found) {
      this.shellProblem(found.problem.replace(binary.open, binary.path));
      return;
    }
    try {
      this.reader.attachShell(binary.open, found.offset);
      shell.watched.push(binary);
    } catch (err) {
      this.shellProblem(`${binary.path}: ${(err as Error).message}`);
    }
  }

  /** Redacts shell lines; a bash binary not seen before, exec'd now, gets its uprobe. */
  private shellBatch(batch: ProcEvent[]): void {
    const shell = this.shell!;
    for (const event of batch) {
      if (event.kind === 'shell') {
        const { line, redacted } = redactLine(event.line, shell.redact);
        event.line = line;
        event.redacted = redacted;
      } else if (event.kind === 'exec' && event.details.exe !== null) {
        const exe = event.details.exe.replace(/ \(deleted\)$/, '');
        if (!shell.names.has(basename(exe))) continue;
        // A deleted file (replaced by an upgrade) is still reachable through the process, if it
        // still runs that image.
        let open = exe;
        if (exe !== event.details.exe) {
          open = `/proc/${event.pid}/exe`;
          try {
            if (readlinkSync(open) !== event.details.exe) continue;
          } catch {
            continue;
          }
        }
        const id = fileId(open);
        if (id !== null && !shell.done.has(id)) this.attachShell({ path: event.details.exe, open, id });
      }
    }
  }

  async stop(): Promise<void> {
    const reader = this.reader;
    if (reader === null) return;
    this.watch?.stopRequested();
    reader.stop();
    await reader.closed; // every event read before the stop has been delivered
  }

  counters(): SourceCounters {
    const native = this.reader?.counters();
    return {
      ...(native ?? {}),
      events: this.intake.events,
      batches: this.intake.decode.batches,
      // LOST records, plus what the reader itself had to drop (no record can say so).
      lost: this.intake.lost + (native?.readerDropped ?? 0),
      malformed: this.intake.decode.malformed + (native?.malformed ?? 0),
      ringBytes: this.reader?.ringBytes ?? 0,
    };
  }

  /** Kernel ids of the loaded programs (empty once stopped). */
  programIds(): number[] {
    return this.reader?.programIds() ?? [];
  }
}

export type { EbpfSource };

/**
 * The kernel's refusal in one line. libbpf's advice to raise RLIMIT_MEMLOCK is dropped: BPF
 * memory is charged to the cgroup since Linux 5.11, so on EPERM the cause is a capability.
 */
function bpfStartMessage(err: Error): string {
  let message = err.message.replace(/^procbpf: /, '').replace(/\s*\n\s*/g, ' ');
  if ((err as NodeJS.ErrnoException).code === 'EPERM') {
    message = message.replace(/ \(libbpf: [^)]*RLIMIT_MEMLOCK[^)]*\)?/, '');
    const caps = bpfCapabilityProblem();
    if (caps !== null) message += `: ${caps}`;
  }
  return message;
}

export function createEbpfSource(options: EbpfOptions = {}): EbpfSource {
  return new EbpfSource(options);
}

/**
 * Loads and unloads the programs once, without delivering anything: the check `auto` uses
 * before it commits to eBPF (the verifier can refuse what every static check allowed).
 * Returns null when they load, else the reason.
 */
export function probeEbpf(capture: BpfCaptureOptions = {}): string | null {
  try {
    const reader = openBpf({ ...capture, onBatch: () => undefined, onError: () => undefined });
    reader.stop();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
