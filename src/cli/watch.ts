/** `procwatch watch`: stream process events as they happen, like forkstat with more in each line. */

import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import { EVENT_KINDS, type EventKind, type ProcEvent } from '../events/types.js';
import { UserDb } from '../procfs/index.js';
import { globToRegExp } from '../util/glob.js';
import { eventJson, eventLine, EVENT_LINE_HEADER } from '../report/index.js';
import { checkCaptureOptions, chooseSource, parseSourceChoice, type BpfCaptureOptions } from '../sources/index.js';
import { ProcessTracker, type ProcessRecord } from '../table/index.js';

const KINDS: readonly EventKind[] = EVENT_KINDS;

interface WatchOptions {
  json?: boolean;
  kind?: string;
  user?: string;
  name?: string;
  exe?: string;
  pid?: string;
  threads?: boolean;
  source: string;
  rcvbuf?: string;
  network?: boolean;
  files?: boolean;
  pathPrefix?: string;
  captureUser?: string;
  cgroup?: string;
  ringBuffer?: string;
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

interface Filter {
  kinds: Set<string> | null;
  uid: number | null;
  name: RegExp | null;
  exe: RegExp | null;
  rootPid: number | undefined;
}

/** Checks every filter option before anything starts: bad input costs nothing. */
function parseFilter(options: WatchOptions, users: UserDb): Filter {
  const kinds = options.kind === undefined ? null : new Set(options.kind.split(','));
  for (const k of kinds ?? []) if (!KINDS.includes(k as EventKind)) throw new InputError(`unknown event kind '${k}' (known: ${KINDS.join(', ')})`);
  let uid: number | null = null;
  if (options.user !== undefined) {
    const found = /^\d+$/.test(options.user) ? Number(options.user) : users.passwd.byName.get(options.user);
    if (found === undefined) throw new InputError(`unknown user '${options.user}'`);
    uid = found;
  }
  return {
    kinds,
    uid,
    name: options.name === undefined ? null : globToRegExp(options.name),
    exe: options.exe === undefined ? null : globToRegExp(options.exe),
    rootPid: positive(options.pid, '--pid', true),
  };
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
  if ((capture.uid !== undefined || capture.cgroupPath !== undefined) && options.network !== true && options.files !== true) {
    throw new InputError('--capture-user and --cgroup narrow network/file capture: add --network or --files');
  }
  const ring = positive(options.ringBuffer, '--ring-buffer', true);
  if (ring !== undefined) capture.ringBytes = ring;
  checkCaptureOptions(capture);
  return capture;
}

export function watchCommand(): Command {
  return new Command('watch')
    .description('stream process events as they happen (fork, exec, exit, uid/gid/sid changes, ptrace, comm, coredump, lost)')
    .option('--json', 'one JSON object per line (fields: README "Event fields")')
    .option('-k, --kind <kinds>', `only these event kinds, comma-separated (${KINDS.join(', ')})`)
    .option('-u, --user <user>', 'only processes running as this user (effective uid, name or number)')
    .option('-n, --name <glob>', 'only processes whose comm or executable basename matches')
    .option('-e, --exe <glob>', 'only processes whose executable path matches')
    .option('-p, --pid <pid>', 'only this process and its descendants')
    .option('--threads', 'also show thread creation and thread exits (counted, hidden by default)')
    .addOption(new Option('-s, --source <source>', 'event source: auto (eBPF, else netlink, else polling), ebpf, netlink, poll').default('auto'))
    .option('--rcvbuf <bytes>', 'netlink receive buffer size (default 16 MiB): the stall it survives without loss')
    .option('--network', 'eBPF: also show outbound connect and inbound accept (kinds connect, accept)')
    .option('--files', 'eBPF: also show file opens (kind open); narrow them with --path-prefix')
    .option('--path-prefix <prefix>', 'eBPF: only opens of paths starting with this (filtered in the kernel)')
    .option('--capture-user <user>', 'eBPF: network/file events only from this real user (filtered in the kernel)')
    .option('--cgroup <dir>', 'eBPF: network/file events only from this cgroup v2 directory and below')
    .option('--ring-buffer <bytes>', 'eBPF ring buffer size, a power of 2 (default 8 MiB)')
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
  const { source, why } = await chooseSource(parseSourceChoice(options.source), {
    procRoot: options.procRoot,
    rcvbufBytes: positive(options.rcvbuf, '--rcvbuf', true),
    ebpf: captureOptions(options, users),
  });
  process.stderr.write(`procwatch: watching with ${why}${source.limitations ? ` — ${source.limitations}` : ''}\n`);
  let filter: ((e: ProcEvent, r: ProcessRecord | undefined) => boolean) | null = null;
  const out: string[] = [];
  const tracker = new ProcessTracker({
    source,
    procRoot: options.procRoot,
    holdMs: hold,
    onEvents: (events) => {
      for (const event of events) {
        const record = event.key ? tracker.table.get(event.key) : undefined;
        if (filter !== null && !filter(event, record)) continue;
        const view = { event, record, wallMs: tracker.clock.wallMs(event.ktimeNs) };
        out.push(options.json ? JSON.stringify(eventJson(view, users)) : eventLine(view, users));
      }
      if (out.length > 0) process.stdout.write(`${out.join('\n')}\n`);
      out.length = 0;
    },
  });
  await tracker.start();
  let rootKey: string | null = null;
  if (filterOptions.rootPid !== undefined) {
    rootKey = tracker.table.live.get(filterOptions.rootPid)?.key ?? null;
    if (rootKey === null) {
      await tracker.stop();
      throw new InputError(`no process with pid ${filterOptions.rootPid}`);
    }
  }
  filter = eventFilter(filterOptions, rootKey, options, tracker);
  if (!options.json) process.stdout.write(`${EVENT_LINE_HEADER}\n`);
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    process.stdout.on('error', done); // a closed pipe (| head) ends the watch quietly
    if (duration !== undefined) setTimeout(done, duration * 1000);
  });
  await tracker.stop();
  const c = tracker.counters();
  process.stderr.write(`procwatch: ${c.released} events, ${c.source.lost} lost, ${c.source.malformed} malformed, ${c.reorder.late} late, ${c.table.threadEvents} thread events, ${c.table.resyncs} resyncs\n`);
  return 0;
}
