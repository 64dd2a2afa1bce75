/** Public interface of sources/: pick the best event source this machine allows, and say why. */

import { InputError } from '../errors.js';
import { PollSource } from './poll.js';
import type { BpfCaptureOptions } from './bpf-native.js';
import { SourceStartError, type Availability, type EventSource } from './source.js';

export type { EventSource, SourceCounters, BatchSink, SourceName, Availability, SourceProblem, ProblemSink } from './source.js';
export { SourceStartError } from './source.js';
export type { BpfCaptureOptions } from './bpf-native.js';
export { checkCaptureOptions } from './bpf-native.js';
export { PollSource } from './poll.js';
export { DEFAULT_READER_PRIORITY } from './native.js';

export type SourceChoice = 'auto' | 'ebpf' | 'netlink' | 'poll';

export interface SourceOptions {
  procRoot?: string;
  /** Netlink receive buffer in bytes (default 16 MiB). */
  rcvbufBytes?: number;
  /** Netlink: SCHED_FIFO priority of the reader thread, 0 for normal scheduling (default DEFAULT_READER_PRIORITY). */
  readerPriority?: number;
  pollIntervalMs?: number;
  /** eBPF only: network/file capture, their in-kernel filters, the ring buffer size. */
  ebpf?: BpfCaptureOptions;
}

export interface ChosenSource {
  source: EventSource;
  /** One line for the user: which source, and why this one. */
  why: string;
  /** Why each better source was not taken, one line each (`eBPF: clang not found ...`). */
  notes?: string[];
}

/**
 * The start notice as lines: the source and why, then each unavailable source's reason and
 * what the chosen one cannot see, each on its own line (`watch` and the daemon print them).
 */
export function describeChoice(chosen: ChosenSource, limitations: string): string[] {
  if (chosen.notes === undefined || chosen.notes.length === 0) return [`${chosen.why}${limitations ? ` — ${limitations}` : ''}`];
  return [chosen.why, ...chosen.notes.map((n) => `  ${n}`), ...(limitations ? [`  what it cannot see: ${limitations}`] : [])];
}

interface Candidate {
  source: EventSource | null;
  availability: Availability;
}

async function netlink(options: SourceOptions): Promise<Candidate> {
  const { createNetlinkSource, netlinkAvailability } = await import('./netlink.js');
  const availability = netlinkAvailability();
  return { source: availability.available ? createNetlinkSource(options) : null, availability };
}

/** With `probe`, the programs are loaded once to be sure the verifier takes them. */
async function ebpf(options: SourceOptions, probe: boolean): Promise<Candidate> {
  const { createEbpfSource, ebpfAvailability, probeEbpf } = await import('./ebpf.js');
  const capture = options.ebpf ?? {};
  const availability = ebpfAvailability(capture);
  if (!availability.available) return { source: null, availability };
  const failed = probe ? probeEbpf(capture) : null;
  if (failed !== null) return { source: null, availability: { available: false, reason: failed } };
  return { source: createEbpfSource(capture), availability };
}

/**
 * `auto` prefers eBPF (argv, exe and cwd read by the kernel at the exec itself), then the
 * netlink proc connector, then polling /proc; the `why` line names the chosen one and why
 * each better one was not taken. Asking for one source by name never falls back.
 */
export async function chooseSource(choice: SourceChoice, options: SourceOptions = {}): Promise<ChosenSource> {
  const poll = (): EventSource => new PollSource({ procRoot: options.procRoot, intervalMs: options.pollIntervalMs });
  if (choice === 'poll') return { source: poll(), why: 'poll source, as asked' };
  const e0 = options.ebpf;
  const wantsCapture = e0?.network === true || e0?.files === true || e0?.sessions === true || e0?.syscalls === true || e0?.shell === true;
  const needs = e0?.network === true || e0?.files === true ? 'network/file capture needs' : 'session, syscall and shell capture need';
  if (choice === 'ebpf' || choice === 'auto') {
    const e = await ebpf(options, choice === 'auto');
    if (e.source !== null) return { source: e.source, why: choice === 'ebpf' ? 'eBPF, as asked' : 'eBPF (the best source available here)' };
    if (choice === 'ebpf') throw new SourceStartError(`eBPF source unavailable: ${e.availability.reason}`);
    if (wantsCapture) throw new SourceStartError(`${needs} the eBPF source, which is unavailable: ${e.availability.reason}`);
    const n = await netlink(options);
    if (n.source !== null) return { source: n.source, why: `netlink proc connector (eBPF unavailable: ${e.availability.reason})` };
    return {
      source: poll(),
      why: 'the /proc poller (neither kernel event source is available here)',
      notes: [`eBPF unavailable: ${e.availability.reason}`, `netlink unavailable: ${n.availability.reason}`],
    };
  }
  if (wantsCapture) throw new InputError(`${needs} the eBPF source (use --source ebpf or auto)`);
  const { source, availability } = await netlink(options);
  if (source !== null) return { source, why: 'netlink proc connector, as asked' };
  throw new SourceStartError(`netlink source unavailable: ${availability.reason}`);
}

export function parseSourceChoice(text: string): SourceChoice {
  if (text === 'auto' || text === 'ebpf' || text === 'netlink' || text === 'poll') return text;
  throw new InputError(`unknown source '${text}' (expected auto, ebpf, netlink or poll)`);
}
