/**
 * The eBPF source: BPF programs on the scheduler's exec/fork/exit tracepoints (and, when
 * asked, on connect/accept/openat) fill a ring buffer; the addon's reader thread packs
 * record.h batches; this module decodes them into ProcEvents.
 *
 * What it adds over netlink: an exec carries argv, filename, exe, cwd, credentials and
 * cgroup id read by the kernel at the exec itself, so even a process that lives
 * microseconds is named exactly; an exit carries the process's comm. Whatever the kernel
 * side could not send (ring buffer full, unreadable caller memory, too many calls in
 * flight) arrives as a `lost` event with an exact count and its reason (the table
 * resyncs). Threads are counted in the kernel (counters threadForks/threadExits), not
 * reported.
 */

import { existsSync, statSync } from 'node:fs';
import { openBpf, loadBpfNative, type BpfCaptureOptions, type BpfDebugOptions, type BpfReader } from './bpf-native.js';
import { NativeIntake } from './intake.js';
import { ReaderWatch, type Availability, type BatchSink, type EventSource, type ProblemSink, type SourceCounters } from './source.js';

export type { BpfCaptureOptions } from './bpf-native.js';

/** Capture options, plus test-only hooks (debug*: see BpfDebugOptions). */
export interface EbpfOptions extends BpfCaptureOptions, BpfDebugOptions {}

const BTF = '/sys/kernel/btf/vmlinux';
const TRACEFS = '/sys/kernel/tracing';

/**
 * Whether the eBPF source can run here, and if not why: the addon, root, kernel BTF, and,
 * for network/file capture, a tracefs (mounted by the source itself when missing).
 */
export function ebpfAvailability(capture: BpfCaptureOptions = {}): Availability {
  const load = loadBpfNative();
  if (!load.available) return { available: false, reason: load.reason };
  if (process.getuid?.() !== 0) return { available: false, reason: 'eBPF needs root (CAP_BPF and CAP_PERFMON)' };
  if (!existsSync(BTF)) return { available: false, reason: `the kernel has no BTF (${BTF}): CO-RE programs cannot be loaded` };
  if (capture.network === true || capture.files === true || capture.sessions === true) {
    const haveTracefs = existsSync(`${TRACEFS}/events`) || existsSync('/sys/kernel/debug/tracing/events');
    const mountable = existsSync(TRACEFS) && statSync(TRACEFS).isDirectory();
    if (!haveTracefs && !mountable) return { available: false, reason: `network/file/session capture needs tracefs, and ${TRACEFS} does not exist to mount it on` };
  }
  return { available: true, reason: `eBPF addon ${load.path}` };
}

class EbpfSource implements EventSource {
  readonly name = 'ebpf' as const;
  readonly limitations = 'threads are counted, not reported one by one';
  private reader: BpfReader | null = null;
  private watch: ReaderWatch | null = null;
  private readonly intake = new NativeIntake();

  constructor(private readonly options: EbpfOptions) {}

  async start(sink: BatchSink, onProblem?: ProblemSink): Promise<void> {
    if (this.reader !== null) throw new Error('ebpf source already started');
    // Reader errors go to onProblem; a reader that ends before stop() is a `lost` event and fatal.
    const watch = new ReaderWatch('the eBPF reader', sink, onProblem, () => this.intake.lastSeq, () => this.intake.countFailure());
    this.reader = openBpf({
      ...this.options,
      onBatch: (buffer) => this.intake.take(buffer, sink),
      onError: (message) => watch.error(message),
    });
    this.watch = watch;
    watch.follow(this.reader.closed);
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
