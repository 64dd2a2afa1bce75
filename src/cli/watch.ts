/** `procwatch watch`: stream process events as they happen, like forkstat with more in each line. */

import { Command, Option } from './commander.js';
import { InputError } from '../errors.js';
import { parseSize } from '../config/units.js';
import { EVENT_KINDS, type EventKind, type ProcEvent } from '../events/types.js';
import { ProcReader, UserDb } from '../procfs/index.js';
import { globOption } from '../util/glob.js';
import { eventJson, eventLine, eventLineHeader, fitLine, type EventLineOptions } from '../report/index.js';
import { DEFAULT_READER_PRIORITY, checkCaptureOptions, chooseSource, describeChoice, parseSourceChoice, type BpfCaptureOptions, type SourceProblem } from '../sources/index.js';
import { MAX_RCVBUF_BYTES } from '../sources/native.js';
import { ProcessTracker, type ProcessRecord } from '../table/index.js';
import { checkFilters, display, withDisplay, withFilters, type DisplayOptions, type FilterOptions } from './common.js';
import { EXIT } from './exit-codes.js';

const KINDS: readonly EventKind[] = EVENT_KINDS;

interface WatchOptions extends FilterOptions, DisplayOptions {
  json?: boolean;
  kind?: string;
  threads?: boolean;
  source: string;
  rcvbuf?: string;
  readerPriority?: string;
  network?: boolean;
  files?: boolean;
  pathPrefix?: string;
  captureUser?: string;
  cgroup?: string;
  ringBuffer?: string;
  sessions?: boolean;
  syscalls?: boolean;
  syscallsInterval?: string;
  shell?: boolean;
  /** false with --no-id-events. */
  idEvents?: boolean;
  shellBinary?: string[];
  shellRedact?: string[];
  hold: string;
  procRoot: string;
  etcRoot: string;
  duration?: string;
}

function positive(text: string | undefined, option: string, integer: boolean): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !(n > 0) || (integer && !Number.isInteger(n))) throw new InputError(`${option} expects a positive ${integer ? 'integer' : 'number'}, got '${text}'`);
  return n;
}

/** A byte size as users write it (`16MiB`, `1048576`), from 1 to max. */
function byteSize(text: string | undefined, option: string, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = parseSize(text);
  if (n === null || !(n >= 1 && n <= max)) throw new InputError(`${option} expects a size from 1 to ${max} bytes (e.g. 16MiB), got '${text}'`);
  return n;
}

function readerPriorityOption(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n > 99) throw new InputError(`--reader-priority expects an integer from 0 to 99, got '${text}'`);
  return n;
}

/** setTimeout takes at most 2^31 - 1 ms (~24.8 days); a longer --duration is waited in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
function after(ms: number, done: () => void): void {
  const end = Date.now() + ms;
  const step = (): void => {
    const left = end - Date.now();
    if (left <= 0) done();
    else setTimeout(step, Math.min(left, MAX_TIMER_MS)).unref();
  };
  step();
}

interface Filter {
  kinds: Set<string> | null;
  uid: number | null;
  name: RegExp | null;
  exe: RegExp | null;
  args: RegExp | null;
  rootPid: number | undefined;
}

/** Checks every filter option before anything starts: bad input costs nothing. */
function parseFilter(options: WatchOptions, users: UserDb): Filter {
  checkFilters(options);
  const kinds = options.kind === undefined ? null : new Set(options.kind.split(','));
  for (const k of kinds ?? []) if (!KINDS.includes(k as EventKind)) throw new InputError(`unknown event kind '${k}' (known: ${KINDS.join(', ')})`);
  let uid: number | null = null;
  if (options.user !== undefined) {
    const found = /^\d+$/.test(options.user) ? Number(options.user) : users.passwd.byName.get(options.user);
    if (found === undefined) throw new InputError(`unknown user '${options.user}'`);
    uid = found;
  }
  const rootPid = positive(options.pid, '--pid', true);
  // Known before anything starts: a pid that is not there costs no subscription.
  if (rootPid !== undefined && new ProcReader(options.procRoot).stat(rootPid) === null) throw new InputError(`no process with pid ${rootPid}`);
  return { kinds, uid, name: globOption(options.name, '--name'), exe: globOption(options.exe, '--exe'), args: options.args === undefined ? null : new RegExp(options.args), rootPid };
}

/** The event test; `lost` always passes: a loss is never filtered away. */
function eventFilter(f: Filter, rootKey: string | null, options: WatchOptions, tracker: ProcessTracker): (e: ProcEvent, r: ProcessRecord | undefined) => boolean {
  return (e, r) => {
    if (e.kind === 'lost') return true;
    if (f.kinds !== null && !f.kinds.has(e.kind)) return false;
    if (!options.threads && ((e.kind === 'fork' && e.thread) || (e.kind === 'exit' && e.tid !== e.pid))) return false;
    if (f.uid !== null && r?.uids?.[1] !== f.uid) return false;
    if (f.name !== null && !(r?.comm != null && f.name.test(r.comm)) && !(r?.exe != null && f.name.test(r.exe.slice(r.exe.lastIndexOf('/') + 1)))) return false;
    if (f.exe !== null && !(r?.exe != null && f.exe.test(r.exe))) return false;
    if (f.args !== null) {
      const argv = e.kind === 'exec' ? e.details.argv : r?.argv ?? null;
      if (argv === null || !f.args.test(argv.join(' '))) return false;
    }
    if (rootKey !== null && r?.key !== rootKey && !tracker.table.ancestors(r?.key ?? '').some((a) => a.key === rootKey)) return false;
    return true;
  };
}

/** The eBPF capture options, checked here so that bad input is one line before anything loads. */
function captureOptions(options: WatchOptions, users: UserDb): BpfCaptureOptions {
  const capture: BpfCaptureOptions = {};
  if (options.network === true) capture.network = true;
  if (options.files === true) capture.files = true;
  if (options.pathPrefix !== undefined) {
    if (options.files !== true) throw new InputError('--path-prefix narrows file capture: add --files');
    capture.pathPrefix = options.pathPrefix;
  }
  if (options.captureUser !== undefined) {
    const uid = /^\d+$/.test(options.captureUser) ? Number(options.captureUser) : users.passwd.byName.get(options.captureUser);
    if (uid === undefined) throw new InputError(`unknown user '${options.captureUser}'`);
    capture.uid = uid;
  }
  if (options.cgroup !== undefined) capture.cgroupPath = options.cgroup;
  if (options.sessions === true) capture.sessions = true;
  if (options.syscalls === true) capture.syscalls = true;
  if (options.syscallsInterval !== undefined) {
    if (options.syscalls !== true) throw new InputError('--syscalls-interval goes with --syscalls');
    capture.syscallsIntervalMs = Math.round(positive(options.syscallsInterval, '--syscalls-interval', false)! * 1000);
  }
  if (options.shell === true) capture.shell = true;
  if (options.idEvents === false) capture.idEvents = false;
  if (options.shellBinary !== undefined || options.shellRedact !== undefined) {
    if (options.shell !== true) throw new InputError('--shell-binary and --shell-redact go with --shell');
    if (options.shellBinary !== undefined) capture.shellBinaries = options.shellBinary;
    if (options.shellRedact !== undefined) capture.shellRedact = options.shellRedact;
  }
  const captures = capture.network === true || capture.files === true || capture.sessions === true || capture.syscalls === true || capture.shell === true;
  if ((capture.uid !== undefined || capture.cgroupPath !== undefined) && !captures) {
    throw new InputError('--capture-user and --cgroup narrow network/file capture: add --network or --files (or --sessions, --syscalls, --shell)');
  }
  const ring = positive(options.ringBuffer, '--ring-buffer', true);
  if (ring !== undefined) capture.ringBytes = ring;
  checkCaptureOptions(capture);
  return capture;
}

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function watchCommand(): Command {
  const command = new Command('watch')
    .description('stream process events as they happen (fork, exec, exit, uid/gid/sid changes, ptrace, comm, coredump, lost)')
    .option('--json', 'one JSON object per line (fields: README "Event fields")')
    .option('-k, --kind <kinds>', `only these event kinds, comma-separated (${KINDS.join(', ')})`);
  withFilters(command, true);
  return withDisplay(command)
    .option('--threads', 'also show thread creation and thread exits (counted, hidden by default)')
    .addOption(new Option('-s, --source <source>', 'event source: auto (eBPF, else netlink, else polling), ebpf, netlink, poll').choices(['auto', 'ebpf', 'netlink', 'poll']).default('auto'))
    .option('--rcvbuf <bytes>', 'netlink receive buffer size, e.g. 16MiB (the default): the stall it survives without loss')
    .option('--reader-priority <n>', `netlink: SCHED_FIFO priority of the reader thread, 1-99, or 0 for normal scheduling (default ${DEFAULT_READER_PRIORITY})`)
    .option('--network', 'eBPF: also show outbound connect and inbound accept (kinds connect, accept)')
    .option('--files', 'eBPF: also show file opens (kind open); narrow them with --path-prefix')
    .option('--path-prefix <prefix>', 'eBPF: only opens of paths starting with this (filtered in the kernel)')
    .option('--capture-user <user>', 'eBPF: network/file events only from this real user (filtered in the kernel)')
    .option('--cgroup <dir>', 'eBPF: network/file events only from this cgroup v2 directory and below')
    .option('--sessions', 'eBPF: one event per TCP connection when it closes, with its bytes each way (kind session)')
    .option('--syscalls', 'eBPF: per-process syscall counts, counted in the kernel, shown at each exit (kind syscalls)')
    .option('--syscalls-interval <seconds>', 'with --syscalls: also show running processes\' counts this often, when they changed')
    .option('--shell', 'eBPF: lines typed in interactive bash shells (kind shell), redacted (--shell-redact)')
    .option('--shell-binary <path>', 'with --shell: also watch this bash binary (repeatable; default /bin/bash and the running shells)', collect)
    .option('--shell-redact <regex>', 'with --shell: redact what this matches, or its groups; /re/i for flags (repeatable; replaces the defaults)', collect)
    .option('--no-id-events', 'eBPF: no uid, gid, sid and ptrace events (their syscall tracepoints cost every syscall of every process a little)')
    .option('--ring-buffer <bytes>', 'eBPF ring buffer size, a power of 2 (default 2 MiB)')
    .option('--hold <ms>', 'how long events wait for out-of-order stragglers', '20')
    .option('--duration <seconds>', 'stop after this many seconds (default: until interrupted)')
    .option('--proc-root <dir>', 'the /proc tree to seed from and resync with', '/proc')
    .option('--etc-root <dir>', 'where passwd and group are read', '/etc')
    .action(async (options: WatchOptions) => {
      process.exitCode = await runWatch(options);
    });
}

async function runWatch(options: WatchOptions): Promise<number> {
  const users = new UserDb(options.etcRoot);
  const hold = positive(options.hold, '--hold', false)!;
  const duration = positive(options.duration, '--duration', false);
  const filterOptions = parseFilter(options, users);
  const choice = parseSourceChoice(options.source);
  const rcvbufBytes = byteSize(options.rcvbuf, '--rcvbuf', MAX_RCVBUF_BYTES);
  const readerPriority = readerPriorityOption(options.readerPriority);
  // Options of the netlink reader: with another source they would be silently ignored.
  const netlinkOnly: Array<[option: string, value: number | undefined, what: string]> = [
    ['--rcvbuf', rcvbufBytes, 'the netlink receive buffer'], ['--reader-priority', readerPriority, 'the netlink reader thread']];
  const refuseNetlinkOnly = (sourceName: string): void => {
    for (const [option, value, what] of netlinkOnly) {
      if (value !== undefined) throw new InputError(`${option} sets ${what}, but the source is ${sourceName}: use --source netlink, or drop ${option}`);
    }
  };
  if (choice === 'ebpf' || choice === 'poll') refuseNetlinkOnly(choice);
  const chosen = await chooseSource(choice, { procRoot: options.procRoot, rcvbufBytes, readerPriority, ebpf: captureOptions(options, users) });
  const { source, why } = chosen;
  if (source.name !== 'netlink') refuseNetlinkOnly(`${source.name} (${why})`);

  let filter: ((e: ProcEvent, r: ProcessRecord | undefined) => boolean) | null = null;
  let failed: SourceProblem | null = null;
  let finish: () => void = () => undefined;
  const out: string[] = [];
  const d = display(options);
  const lineOptions: EventLineOptions = { time: d.time, style: d.style, dated: false };
  const tracker = new ProcessTracker({
    source,
    procRoot: options.procRoot,
    holdMs: hold,
    onEvents: (events) => {
      if (filter === null) return; // not watching yet (or never: the --pid process vanished)
      for (const event of events) {
        const record = tracker.table.recordAt(event); // as of this event, not of its whole batch
        if (!filter(event, record)) continue;
        const view = { event, record, wallMs: tracker.clock.wallMs(event.ktimeNs) };
        out.push(options.json ? JSON.stringify(eventJson(view, users)) : fitLine(eventLine(view, users, lineOptions), d.style.width));
      }
      if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
      out.length = 0;
    },
    onProblem: (problem) => {
      if (!problem.fatal) {
        process.stderr.write(`procwatch: ${problem.message}\n`);
        return;
      }
      failed = problem;
      finish();
    },
  });
  try {
    await tracker.start();
  } catch (err) {
    if (err instanceof Error && err.name === 'SourceStartError') {
      process.stderr.write(`procwatch: ${err.message}\n`);
      return EXIT.FAILURE;
    }
    throw err;
  }
  let rootKey: string | null = null;
  if (filterOptions.rootPid !== undefined) {
    rootKey = tracker.table.live.get(filterOptions.rootPid)?.key ?? null;
    if (rootKey === null) {
      await tracker.stop();
      throw new InputError(`no process with pid ${filterOptions.rootPid}`);
    }
  }
  filter = eventFilter(filterOptions, rootKey, options, tracker);
  if (!options.json) process.stdout.write(`${fitLine(eventLineHeader(lineOptions), d.style.width)}\n`);
  // Said once everything is in place: from this line on, every event is shown (scripts and tests wait for it).
  process.stderr.write(describeChoice(chosen, source.limitations).map((line, i) => `procwatch: ${i === 0 ? 'watching with ' : ''}${line}\n`).join(''));
  await new Promise<void>((resolve) => {
    finish = resolve;
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.stdout.on('error', resolve); // a closed pipe (| head) ends the watch quietly
    if (duration !== undefined) after(duration * 1000, resolve);
    if (failed !== null) resolve();
  });
  await tracker.stop();
  const c = tracker.counters();
  process.stderr.write(`procwatch: ${c.released} events, ${c.source.lost} lost, ${c.source.malformed} malformed, ${c.reorder.late} late, ${c.table.threadEvents} thread events, ${c.table.resyncs} resyncs\n`);
  const failure = failed as SourceProblem | null; // set by onProblem, which TypeScript cannot follow
  if (failure !== null) {
    process.stderr.write(`procwatch: ${failure.message}\n`);
    return EXIT.FAILURE;
  }
  return EXIT.OK;
}
