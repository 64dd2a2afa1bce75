/** `procwatch ps` and `procwatch tree`: the live table from the daemon, or /proc when none runs. */

import { Command } from './commander.js';
import { apiGet, apiGetText, DaemonUnavailable } from '../api/client.js';
import { InputError } from '../errors.js';
import { CLOCK_TICKS_PER_SECOND, ProcReader, UserDb, readDetails } from '../procfs/index.js';
import { PS_DEFAULT_FIELDS, PS_FIELDS, localClock, parsePsFields, renderPs, renderTree, type ProcessLike, type TreeNode } from '../report/processes.js';
import { globOption } from '../util/glob.js';
import { cgroupFields } from '../procfs/cgroup.js';
import { print, printJson, withSocket } from './common.js';

interface PsOptions {
  output?: string;
  user?: string;
  name?: string;
  exe?: string;
  json?: boolean;
  socket: string;
  daemon: boolean;
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
const OPTION_NAMES = { user: '--user', name: '--name', exe: '--exe', pid: 'PID' };

/**
 * The daemon's own rendering (`format=text`, in this terminal's time zone), or null when no
 * daemon answers: a listing of thousands of processes is then one copy, not a parse and a render.
 */
async function daemonText(options: PsOptions, path: string, query: Record<string, string | undefined>): Promise<string | null> {
  if (!options.daemon) return null;
  try {
    return await apiGetText(options.socket, path, { ...query, format: 'text', tz_offset: localClock().offsetMinutes }, { optionNames: OPTION_NAMES });
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
  return fromProc().filter((p) => (uid === undefined || p.euid === uid) && (name === null || (p.comm !== null && name.test(p.comm))) && (exe === null || (p.exe !== null && exe.test(p.exe))));
}

export function psCommand(): Command {
  return withSocket(new Command('ps'))
    .description('list live processes (from the daemon; from /proc when no daemon runs)')
    .option('-o, --output <fields>', `columns, comma-separated: ${PS_FIELDS.join(', ')} (default ${PS_DEFAULT_FIELDS.join(',')})`)
    .option('-u, --user <user>', 'only processes of this effective user (name or uid)')
    .option('-n, --name <glob>', 'only processes whose comm matches')
    .option('-e, --exe <glob>', 'only processes whose executable path matches')
    .option('--json', 'print JSON (the API\'s process objects)')
    .option('--no-daemon', 'read /proc directly even if a daemon runs')
    .action(async (options: PsOptions) => {
      const fields = options.output === undefined ? PS_DEFAULT_FIELDS : parsePsFields(options.output);
      const query = { user: options.user, name: options.name, exe: options.exe };
      if (!options.json) {
        const text = await daemonText(options, '/v1/processes', { ...query, fields: fields.join(',') });
        if (text !== null) return print(text);
      }
      const processes = await liveProcesses(options, query);
      if (options.json) printJson({ processes });
      else print(renderPs(processes, fields));
    });
}

export function treeCommand(): Command {
  return withSocket(new Command('tree'))
    .description('show the live process tree (from the daemon; from /proc when no daemon runs)')
    .argument('[pid]', 'show only this process and its descendants')
    .option('--json', 'print JSON')
    .option('--no-daemon', 'read /proc directly even if a daemon runs')
    .action(async (pidText: string | undefined, options: PsOptions) => {
      if (pidText !== undefined && !/^\d+$/.test(pidText)) throw new InputError(`'${pidText}' is not a pid`);
      if (!options.json) {
        const text = await daemonText(options, '/v1/tree', { pid: pidText });
        if (text !== null) return print(text);
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
      else print(renderTree(roots));
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
