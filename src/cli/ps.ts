/** `procwatch ps` and `procwatch tree`: the live table from the daemon, or /proc when none runs. */

import { Command, Option } from './commander.js';
import { apiGet, apiGetText, DaemonUnavailable } from '../api/client.js';
import { InputError } from '../errors.js';
import { CLOCK_TICKS_PER_SECOND, ProcReader, UserDb, readDetails } from '../procfs/index.js';
import { PS_DEFAULT_FIELDS, PS_FIELDS, localClock, parsePsFields, renderPs, renderTree, type ProcessLike, type TreeNode, type WallClock } from '../report/processes.js';
import { globOption } from '../util/glob.js';
import { cgroupFields } from '../procfs/cgroup.js';
import { boldHeader, checkFilters, display, printFitted, printJson, withDisplay, withFilters, withSocket, type DisplayOptions, type FilterOptions } from './common.js';

interface PsOptions extends FilterOptions, DisplayOptions {
  output?: string;
  json?: boolean;
  socket: string;
  daemon: boolean;
}

/** The caller's clock, or UTC with --utc (the daemon renders start times in it). */
function psClock(options: PsOptions): WallClock {
  const clock = localClock();
  return options.utc ? { nowMs: clock.nowMs, offsetMinutes: 0 } : clock;
}

/**
 * The same fields from /proc directly, for when no daemon runs: the daemon's process objects,
 * with origin `scanned` (read from /proc by this command) and no exec time (never observed).
 */
function fromProc(): ProcessLike[] {
  const reader = new ProcReader();
  const users = new UserDb();
  const boot = reader.bootTimeMs();
  const out: ProcessLike[] = [];
  for (const pid of reader.listPids()) {
    const d = readDetails(reader, pid);
    if (d === null || d.startTicks === null) continue;
    const nlwp = reader.stat(pid)?.numThreads ?? 1;
    const startTime = boot === null ? null : new Date(boot + (d.startTicks * 1000) / CLOCK_TICKS_PER_SECOND).toISOString();
    out.push({
      key: `${pid}:${d.startTicks}`, pid, ppid: d.ppid, parentKey: null, startTicks: d.startTicks, startTime, execTime: null, exitTime: null,
      comm: d.comm, exe: d.exe, filename: null, argv: d.argv, cwd: d.cwd,
      uid: d.uids?.[0] ?? null, euid: d.uids?.[1] ?? null, suid: d.uids?.[2] ?? null, fsuid: d.uids?.[3] ?? null,
      user: d.uids ? users.userName(d.uids[1]) : null,
      gid: d.gids?.[0] ?? null, egid: d.gids?.[1] ?? null, sgid: d.gids?.[2] ?? null, fsgid: d.gids?.[3] ?? null,
      label: d.label, cgroup: d.cgroup, ...cgroupFields(d.cgroup), exitCode: null, exitSignal: null, coreDumped: null, origin: 'scanned', exitOrigin: null, usage: null,
      threads: Math.max(0, nlwp - 1), live: true,
    });
  }
  // The parent instance, as the daemon links it: the live process with that pid.
  const keys = new Map(out.map((p) => [p.pid, p.key]));
  for (const p of out) p.parentKey = p.ppid === null || p.ppid === p.pid ? null : keys.get(p.ppid) ?? null;
  return out;
}

/** The API parameters these commands send, by the option that sets them. */
const OPTION_NAMES = { user: '--user', name: '--name', exe: '--exe', args: '--args', subtree: '--pid', pid: 'PID' };

/**
 * The daemon's own rendering (`format=text`, in this terminal's time zone), or null when no
 * daemon answers: a listing of thousands of processes is then one copy, not a parse and a render.
 */
async function daemonText(options: PsOptions, path: string, query: Record<string, string | undefined>): Promise<string | null> {
  if (!options.daemon) return null;
  try {
    return await apiGetText(options.socket, path, { ...query, format: 'text', tz_offset: psClock(options).offsetMinutes }, { optionNames: OPTION_NAMES });
  } catch (err) {
    if (!(err instanceof DaemonUnavailable)) throw err;
    process.stderr.write(`procwatch: ${err.message}; reading /proc directly\n`);
    options.daemon = false; // said once; the caller reads /proc
    return null;
  }
}

async function liveProcesses(options: PsOptions, query: Record<string, string | undefined>): Promise<ProcessLike[]> {
  if (options.daemon) {
    try {
      return (await apiGet<{ processes: ProcessLike[] }>(options.socket, '/v1/processes', query, { optionNames: OPTION_NAMES })).processes;
    } catch (err) {
      if (!(err instanceof DaemonUnavailable)) throw err;
      process.stderr.write(`procwatch: ${err.message}; reading /proc directly\n`);
    }
  }
  const users = new UserDb();
  const uid = query.user === undefined ? undefined : /^\d+$/.test(query.user) ? Number(query.user) : users.passwd.byName.get(query.user);
  if (query.user !== undefined && uid === undefined) throw new InputError(`unknown user '${query.user}'`);
  const name = globOption(query.name, '--name');
  const exe = globOption(query.exe, '--exe');
  const args = query.args === undefined ? null : new RegExp(query.args);
  const all = fromProc();
  const subtree = query.subtree === undefined ? null : subtreeKeys(all, Number(query.subtree));
  const base = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
  return all.filter((p) => (uid === undefined || p.euid === uid)
    && (name === null || (p.comm !== null && name.test(p.comm)) || (p.exe !== null && name.test(base(p.exe))))
    && (exe === null || (p.exe !== null && exe.test(p.exe)))
    && (args === null || (p.argv !== null && args.test(p.argv.join(' '))))
    && (subtree === null || subtree.has(p.key)));
}

/** The keys of a pid's process and its descendants, by parent links. */
function subtreeKeys(processes: ProcessLike[], pid: number): Set<string> {
  const children = new Map<string, ProcessLike[]>();
  for (const p of processes) if (p.parentKey !== null) children.set(p.parentKey, [...(children.get(p.parentKey) ?? []), p]);
  const keys = new Set<string>();
  const todo = processes.filter((p) => p.pid === pid);
  while (todo.length > 0) {
    const p = todo.pop()!;
    if (keys.has(p.key)) continue;
    keys.add(p.key);
    todo.push(...(children.get(p.key) ?? []));
  }
  return keys;
}

export const PS_HELP = `
procps forms are understood: ps -ef, ps -e -o pid,comm, ps -eo pid,comm, ps aux (every process, in
procwatch's columns), ps -C NAME. Every process is listed by default.

Examples:
  procwatch ps -o pid,user,etime,args -u www-data
  procwatch ps -n 'php-fpm*' -o pid,threads,exe
  procwatch ps -a 'python.* -m http\\.server'
`;

export function psCommand(): Command {
  const command = withSocket(new Command('ps'))
    .description('list live processes, like ps -ef (from the daemon; from /proc when no daemon runs)')
    .option('-o, --output <fields>', `columns, comma-separated: ${PS_FIELDS.join(', ')} (default ${PS_DEFAULT_FIELDS.join(',')})`);
  withFilters(command, true);
  return withDisplay(command)
    .option('--json', 'print JSON (the API\'s process objects)')
    .option('--no-daemon', 'read /proc directly even if a daemon runs')
    .addHelpText('after', PS_HELP)
    .action(async (options: PsOptions) => {
      const fields = options.output === undefined ? PS_DEFAULT_FIELDS : parsePsFields(options.output);
      checkFilters(options);
      const query = { user: options.user, name: options.name, exe: options.exe, args: options.args, subtree: options.pid };
      const d = display(options);
      if (!options.json) {
        const text = await daemonText(options, '/v1/processes', { ...query, fields: fields.join(',') });
        if (text !== null) return printFitted(boldHeader(text, d), d);
      }
      const processes = await liveProcesses(options, query);
      if (options.json) printJson({ processes });
      else printFitted(boldHeader(renderPs(processes, fields, psClock(options)), d), d);
    });
}

export function treeCommand(): Command {
  return withSocket(new Command('tree'))
    .description('show the live process tree, like pstree -p (from the daemon; from /proc when no daemon runs)')
    .argument('[pid]', 'show only this process and its descendants')
    .addOption(new Option('-w, --wide', 'whole lines: do not cut them to the terminal width'))
    .option('--json', 'print JSON')
    .option('--no-daemon', 'read /proc directly even if a daemon runs')
    .action(async (pidText: string | undefined, options: PsOptions) => {
      if (pidText !== undefined && !/^\d+$/.test(pidText)) throw new InputError(`'${pidText}' is not a pid`);
      if (!options.json) {
        const text = await daemonText(options, '/v1/tree', { pid: pidText });
        if (text !== null) return printFitted(text, display(options));
      }
      let roots: TreeNode[] | null = null;
      if (options.daemon) {
        try {
          roots = (await apiGet<{ roots: TreeNode[] }>(options.socket, '/v1/tree', { pid: pidText }, { optionNames: OPTION_NAMES })).roots;
        } catch (err) {
          if (!(err instanceof DaemonUnavailable)) throw err;
          process.stderr.write(`procwatch: ${err.message}; reading /proc directly\n`);
        }
      }
      roots ??= buildTree(fromProc(), pidText === undefined ? null : Number(pidText));
      if (options.json) printJson({ roots });
      else printFitted(renderTree(roots), display(options));
    });
}

function buildTree(processes: ProcessLike[], rootPid: number | null): TreeNode[] {
  const nodes = new Map(processes.map((p) => [p.pid, { ...p, children: [] as TreeNode[] }]));
  const roots: TreeNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.ppid === null ? undefined : nodes.get(node.ppid);
    if (parent !== undefined && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  if (rootPid === null) return roots;
  const root = nodes.get(rootPid);
  if (root === undefined) throw new InputError(`no process with pid ${rootPid}`);
  return [root];
}
