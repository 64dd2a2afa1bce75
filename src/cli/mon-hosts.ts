/**
 * mon appends the host names of a service's hostgroup to its monitor's arguments, unless the
 * monitor line ends in `;;` (mon's own rule; ps.monitor then fails with "Can't parse").
 * `procwatch check` run by mon (MON_GROUP and MON_SERVICE are set) takes those trailing
 * arguments for what they are and leaves them out of the specs. The hosts are the group's
 * as mon's config file lists them (`hostgroup NAME host...`, the file found from mon's own
 * command line); when that file cannot be read, the group's name, `localhost` and this
 * machine's host name are taken as hosts, and a failing bare word at the end says what it
 * may be. README: "mon".
 */

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';

export interface MonContext {
  group: string;
  service: string;
  /** The group's hosts from mon's config; null when it could not be read. */
  hosts: string[] | null;
}

/** What a host name in a mon hostgroup looks like (mon splits the line on white space). */
const HOST = /^[A-Za-z0-9_.:-]+$/;

/** The hosts of `group` in the text of a mon config file, or null when it has no such group. */
export function hostgroupHosts(text: string, group: string): string[] | null {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.replace(/#.*$/, '').trim());
  for (let i = 0; i < lines.length; i++) {
    const m = /^hostgroup\s+(\S+)\s*(.*)$/.exec(lines[i]!);
    if (m === null || m[1] !== group) continue;
    const hosts = m[2]!.split(/\s+/).filter(Boolean);
    // The record goes on until a blank line, each line adding hosts (mon's read_cf).
    for (let j = i + 1; j < lines.length && lines[j] !== '' && !/^(watch|hostgroup|service|alias|view)\b/.test(lines[j]!); j++) hosts.push(...lines[j]!.split(/\s+/));
    return hosts;
  }
  // `watch NAME` without a hostgroup: the group is that one host.
  return lines.some((l) => new RegExp(`^watch\\s+${group.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`).test(l)) ? [group] : null;
}

/** mon's config file, from the command line of the mon process that ran us (-c, -B), or null. */
function monConfigPath(env: NodeJS.ProcessEnv, procRoot: string): string | null {
  let pid = process.ppid;
  for (let depth = 0; depth < 5 && pid > 1; depth++) {
    let argv: string[];
    let ppid: number;
    try {
      argv = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      ppid = Number(readFileSync(`${procRoot}/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    } catch {
      return null;
    }
    const at = argv.findIndex((a, i) => i < 2 && /(^|\/)mon$/.test(a));
    if (at >= 0) {
      const args = argv.slice(at + 1);
      const value = (flag: string): string | undefined => {
        const i = args.indexOf(flag);
        return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(flag) && a.length > 2)?.slice(2);
      };
      if (args.includes('-M')) return null; // m4-processed: not the text mon reads
      const base = value('-B') ?? env.MON_CFBASEDIR ?? '/etc/mon';
      const file = value('-c') ?? 'mon.cf';
      return isAbsolute(file) ? file : join(base, file);
    }
    pid = ppid;
  }
  return null;
}

/** The mon context when mon runs us (MON_GROUP and MON_SERVICE set), else null. */
export function monContext(env: NodeJS.ProcessEnv = process.env, procRoot = '/proc'): MonContext | null {
  const group = env.MON_GROUP;
  const service = env.MON_SERVICE;
  if (group === undefined || service === undefined || group === '') return null;
  let hosts: string[] | null = null;
  const path = monConfigPath(env, procRoot);
  if (path !== null) {
    try {
      hosts = hostgroupHosts(readFileSync(path, 'utf8'), group);
    } catch {
      hosts = null;
    }
  }
  return { group, service, hosts };
}

/**
 * Splits the arguments mon gave into specs and the host names it appended: the trailing
 * arguments that are hosts of the group (or, when the group's hosts are unknown, the group's
 * name, `localhost` or this machine's name).
 */
export function splitMonHosts(args: readonly string[], ctx: MonContext): { specs: string[]; hosts: string[] } {
  const name = hostname();
  const hosts = new Set(ctx.hosts ?? [ctx.group, 'localhost', name, name.split('.')[0]!]);
  let end = args.length;
  while (end > 0 && HOST.test(args[end - 1]!) && hosts.has(args[end - 1]!)) end--;
  return { specs: args.slice(0, end), hosts: args.slice(end) };
}

/**
 * The hint for a failing trailing bare word when mon runs us and the group's hosts are
 * unknown (mon's config unreadable): it may be a host mon appended. Null when they are known.
 */
export function monHostHint(arg: string, ctx: MonContext): string | null {
  if (ctx.hosts !== null) return null;
  return `${arg}: run by mon (group ${ctx.group}) whose config procwatch could not read: if '${arg}' is a host name mon appended, end the monitor line with ';;'`;
}
