/**
 * `procwatch fleet events|history|alerts|hosts`: the whole fleet's records, read from the NATS
 * JetStream stream the daemons export to (README "Fleet queries"). The local commands' filters
 * and output, with a HOST column; no daemon needed.
 */

import { Command, Option } from './commander.js';
import { existsSync } from 'node:fs';
import { InputError } from '../errors.js';
import { parseTimePoint } from '../config/units.js';
import { globOption } from '../util/glob.js';
import type { FleetRecord } from '../export/records.js';
import { checkHostGlob, FleetReader, loadFleetConfig, serverOnlyConfig, type ReadOptions } from '../export/reader.js';
import { fleetAlertLine, fleetEventLine, renderFleetHistory, renderFleetHosts, type FleetHost, type FleetProcess } from '../report/fleet.js';
import { print, printJson } from './common.js';

const DEFAULT_CONFIG = '/etc/procwatch/procwatch.yaml';
/** Records whose event time is a little before `--since` may be stored after it (clock skew between a host and the servers). */
const SKEW_MS = 5 * 60_000;
const MAX_LIMIT = 100_000;

interface Common {
  config?: string;
  server?: string[];
  stream?: string;
  prefix?: string;
  host?: string;
  json?: boolean;
}

function time(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const t = parseTimePoint(text);
  if (t === null) throw new InputError(`${option} must be a time such as 10m, 2h, 1d (ago), an ISO date or epoch ms, got '${text}'`);
  if (t === 'out of range') throw new InputError(`${option} is out of range (1970 to the year 275760): '${text}'`);
  return t;
}

function limit(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new InputError(`--limit must be a whole number from 1 to ${MAX_LIMIT}, got '${text}'`);
  return n;
}

async function openReader(o: Common): Promise<FleetReader> {
  checkHostGlob(o.host);
  const file = o.config ?? process.env.PROCWATCH_CONFIG ?? (o.server === undefined && existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  let config;
  if (file !== undefined) config = await loadFleetConfig(file);
  else if (o.server !== undefined) config = serverOnlyConfig(o.server);
  else throw new InputError(`where is the stream? give --config FILE (fleet.nats or daemon.export.nats; default ${DEFAULT_CONFIG}) or --server URL`);
  if (o.server !== undefined) config = { ...config, servers: serverOnlyConfig(o.server).servers };
  if (o.stream !== undefined) {
    if (!/^[A-Za-z0-9_-]+$/.test(o.stream)) throw new InputError(`--stream: expected a stream name, got '${o.stream}'`);
    config = { ...config, stream: o.stream };
  }
  if (o.prefix !== undefined) {
    if (!o.prefix.split('.').every((t) => /^[A-Za-z0-9_-]+$/.test(t))) throw new InputError(`--prefix: expected dot-separated tokens, got '${o.prefix}'`);
    config = { ...config, subjectPrefix: o.prefix };
  }
  return FleetReader.open(config);
}

function withConnection(c: Command): Command {
  return c
    .option('-c, --config <file>', `YAML with fleet.nats (or daemon.export.nats): servers, credentials, TLS, stream (default $PROCWATCH_CONFIG, else ${DEFAULT_CONFIG} unless --server)`)
    .option('--server <url...>', 'NATS server URL(s), overriding the file\'s')
    .option('--stream <name>', 'stream name (default: the file\'s, else PROCWATCH)')
    .option('--prefix <subject>', 'subject prefix (default: the file\'s, else procwatch)')
    .option('--host <glob>', 'only hosts matching this name or glob')
    .option('--json', 'one JSON record per line');
}

/** Reads until the end (or, following, until interrupted); SIGINT/SIGTERM end a follow cleanly. */
async function readAll(reader: FleetReader, o: ReadOptions, each: (r: FleetRecord, storedMs: number, caughtUp: boolean) => void): Promise<void> {
  const abort = new AbortController();
  const end = (): void => abort.abort();
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
  try {
    await reader.read(o, each, abort.signal);
  } finally {
    process.off('SIGINT', end);
    process.off('SIGTERM', end);
  }
}

/** Keeps the newest `n` items. */
class Newest<T> {
  items: T[] = [];
  dropped = 0;
  constructor(private readonly n: number) {}
  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.n * 2) this.trim();
  }
  trim(): T[] {
    if (this.items.length > this.n) {
      this.dropped += this.items.length - this.n;
      this.items = this.items.slice(-this.n);
    }
    return this.items;
  }
}

interface EventsOptions extends Common { since: string; until?: string; kind?: string; pid?: string; limit?: string; follow?: boolean }

function eventsCommand(): Command {
  return withConnection(new Command('events'))
    .description('events of every host, from the stream: the newest N in the range, oldest first; -f goes on with new ones')
    .option('--since <time>', 'from: 10m, 2h, 1d (ago), an ISO date, or epoch ms', '10m')
    .option('--until <time>', 'to (same forms)')
    .option('-k, --kind <kinds>', 'only these kinds, comma-separated')
    .option('-p, --pid <pid>', 'only events of this pid')
    .option('-f, --follow', 'print every event in the range, then new ones until interrupted')
    .option('--limit <n>', `the newest this many (default 1000, at most ${MAX_LIMIT}; with -f: all unless given)`)
    .action(async (o: EventsOptions) => {
      const sinceMs = time(o.since, '--since')!;
      const untilMs = time(o.until, '--until');
      if (o.follow && untilMs !== undefined) throw new InputError('--until cannot go with --follow');
      const kinds = o.kind === undefined ? null : new Set(o.kind.split(',').map((k) => k.trim()).filter((k) => k !== ''));
      if (kinds !== null && [...kinds].some((k) => !/^[a-z_]+$/.test(k))) throw new InputError(`--kind: expected kinds such as exec,exit, got '${o.kind}'`);
      const pid = o.pid === undefined ? null : Number(o.pid);
      if (pid !== null && !(Number.isInteger(pid) && pid >= 0 && pid <= 2 ** 31 - 1)) throw new InputError(`--pid must be a process id, got '${o.pid}'`);
      const n = limit(o.limit, o.follow ? Infinity : 1000);
      const hostRe = globOption(o.host, '--host');
      const reader = await openReader(o);
      const show = (r: FleetRecord): void => print(`${o.json ? JSON.stringify(r) : fleetEventLine(r)}\n`);
      const newest = new Newest<FleetRecord>(Number.isFinite(n) ? n : MAX_LIMIT);
      // Stored records are kept back until the read has caught up (the newest N of them), then shown; new ones as they come.
      let live = false;
      const catchUp = (): void => {
        if (live) return;
        live = true;
        const shown = newest.trim();
        shown.forEach(show);
        if (newest.dropped > 0) process.stderr.write(`procwatch: showing the newest ${shown.length} events; older ones matched too: narrow the range or raise --limit\n`);
      };
      try {
        await readAll(reader, { what: 'events', host: o.host, kind: kinds?.size === 1 ? [...kinds][0] : undefined, sinceMs: sinceMs - SKEW_MS, follow: o.follow, onCaughtUp: catchUp }, (r, _stored, caughtUp) => {
          const pass = (hostRe === null || hostRe.test(r.host)) && Date.parse(r.time) >= sinceMs && (untilMs === undefined || Date.parse(r.time) <= untilMs)
            // `lost` records always pass the kind and pid filters: they say something is missing.
            && (r.type === 'lost' || ((kinds === null || kinds.has(String(r.kind))) && (pid === null || r.pid === pid)));
          if (pass && live) show(r);
          else if (pass) newest.push(r);
          if (caughtUp && o.follow) catchUp();
        });
      } finally {
        await reader.close();
      }
      catchUp();
    });
}

interface HistoryOptions extends Common { exe?: string; name?: string; user?: string; since: string; until?: string; limit?: string }

function exitStatus(r: FleetRecord): string {
  if (r.kind === 'inferred_exit') return 'gone (inferred)';
  const s = r.status as { code: number | null; signal: number | null } | undefined;
  if (s?.signal != null) return `signal ${s.signal}`;
  return s?.code == null ? 'exited' : `exit ${s.code}`;
}

function historyCommand(): Command {
  return withConnection(new Command('history'))
    .description('what ran where, when, as whom: every host\'s execs in the range, newest first (END and STATUS when the exit is in the range too)')
    .option('-e, --exe <path>', 'executable path (glob allowed)')
    .option('-n, --name <comm>', 'command name (glob allowed)')
    .option('-u, --user <user>', 'effective user, name (as on that host) or uid')
    .option('--since <time>', 'from: 10m, 2h, 1d (ago), ISO date, epoch ms', '1d')
    .option('--until <time>', 'to (same forms)')
    .option('--limit <n>', `at most this many (default 1000, at most ${MAX_LIMIT})`)
    .action(async (o: HistoryOptions) => {
      const sinceMs = time(o.since, '--since')!;
      const untilMs = time(o.until, '--until');
      const n = limit(o.limit, 1000);
      const exeRe = globOption(o.exe, '--exe');
      const nameRe = globOption(o.name, '--name');
      const hostRe = globOption(o.host, '--host');
      const reader = await openReader(o);
      const started = new Map<string, FleetProcess>();
      const ends = new Map<string, { time: string; status: string }>();
      try {
        await readAll(reader, { what: 'events', host: o.host, sinceMs: sinceMs - SKEW_MS }, (r) => {
          if (r.type !== 'event' || (hostRe !== null && !hostRe.test(r.host))) return;
          const id = `${r.host}\u0000${String(r.bootId)}\u0000${String(r.key)}`;
          if (r.kind === 'exit' || r.kind === 'inferred_exit') {
            ends.set(id, { time: r.time, status: exitStatus(r) });
            return;
          }
          if (r.kind !== 'exec' && r.kind !== 'inferred_start') return;
          const t = Date.parse(r.time);
          if (t < sinceMs || (untilMs !== undefined && t > untilMs)) return;
          const d = (r.details ?? {}) as { comm?: string | null; exe?: string | null; argv?: string[] | null; ppid?: number | null; uids?: number[] | null };
          if (exeRe !== null && (d.exe == null || !exeRe.test(d.exe))) return;
          if (nameRe !== null && (d.comm == null || !nameRe.test(d.comm))) return;
          const user = typeof r.user === 'string' ? r.user : null;
          if (o.user !== undefined && user !== o.user && String(d.uids?.[1] ?? '') !== o.user) return;
          const process = {
            key: String(r.key), pid: Number(r.pid), ppid: d.ppid ?? null, comm: d.comm ?? null, exe: d.exe ?? null, argv: d.argv ?? null, euid: d.uids?.[1] ?? null,
          } as unknown as FleetProcess['process'];
          // A later exec of the same process (a new image) is a new row, as in the local history.
          started.set(`${id}\u0000${r.time}`, { host: r.host, bootId: String(r.bootId), time: r.time, user, process, end: null });
        });
      } finally {
        await reader.close();
      }
      const rows = [...started.entries()].map(([k, p]) => ({ ...p, end: ends.get(k.slice(0, k.lastIndexOf('\u0000'))) ?? null }))
        .sort((a, b) => Date.parse(b.time) - Date.parse(a.time)).slice(0, n);
      if (o.json) printJson({ processes: rows.map((p) => ({ host: p.host, bootId: p.bootId, execTime: p.time, user: p.user, ...p.process, exitTime: p.end?.time ?? null, status: p.end?.status ?? null })) });
      else print(renderFleetHistory(rows));
    });
}

interface AlertsOptions extends Common { since: string; until?: string; name?: string; source?: string; limit?: string; follow?: boolean }

function alertsCommand(): Command {
  return withConnection(new Command('alerts'))
    .description('alerts of every host (new alerts and resolutions), oldest first; -f goes on with new ones')
    .option('--since <time>', 'from: 10m, 2h, 1d (ago), an ISO date, or epoch ms', '1d')
    .option('--until <time>', 'to (same forms)')
    .option('--name <name>', 'only this rule or check')
    .addOption(new Option('--source <source>', 'only rule or check alerts').choices(['rule', 'check']))
    .option('--limit <n>', `the newest this many (default 1000, at most ${MAX_LIMIT})`)
    .option('-f, --follow', 'keep streaming until interrupted')
    .action(async (o: AlertsOptions) => {
      const sinceMs = time(o.since, '--since')!;
      const untilMs = time(o.until, '--until');
      if (o.follow && untilMs !== undefined) throw new InputError('--until cannot go with --follow');
      const n = limit(o.limit, o.follow ? Infinity : 1000);
      const hostRe = globOption(o.host, '--host');
      const reader = await openReader(o);
      const show = (r: FleetRecord): void => print(`${o.json ? JSON.stringify(r) : fleetAlertLine(r)}\n`);
      const newest = new Newest<FleetRecord>(Number.isFinite(n) ? n : MAX_LIMIT);
      let live = false;
      const catchUp = (): void => {
        if (live) return;
        live = true;
        newest.trim().forEach(show);
      };
      try {
        await readAll(reader, { what: 'alerts', host: o.host, sinceMs: sinceMs - SKEW_MS, follow: o.follow, onCaughtUp: catchUp }, (r, _stored, caughtUp) => {
          const t = Date.parse(r.change === 'resolved' && typeof r.resolvedTime === 'string' ? r.resolvedTime : r.time);
          const pass = (hostRe === null || hostRe.test(r.host)) && t >= sinceMs && (untilMs === undefined || t <= untilMs)
            && (r.type !== 'alert' || ((o.name === undefined || r.name === o.name) && (o.source === undefined || r.source === o.source)));
          if (pass && live) show(r);
          else if (pass) newest.push(r);
          if (caughtUp && o.follow) catchUp();
        });
      } finally {
        await reader.close();
      }
      catchUp();
    });
}

function hostsCommand(): Command {
  return withConnection(new Command('hosts'))
    .description('hosts that exported to the stream: records stored, their last event, when the stream stored it, and the export lag then')
    .action(async (o: Common) => {
      const hostRe = globOption(o.host, '--host');
      const reader = await openReader(o);
      const hosts: FleetHost[] = [];
      try {
        const prefix = reader.config.subjectPrefix;
        const counts = new Map<string, { events: number; alerts: number }>();
        for (const [subject, count] of Object.entries(await reader.subjects(`${prefix}.*.>`))) {
          const rest = subject.slice(prefix.length + 1).split('.');
          const c = counts.get(rest[0]!) ?? { events: 0, alerts: 0 };
          if (rest[1] === 'alerts') c.alerts += count;
          else c.events += count;
          counts.set(rest[0]!, c);
        }
        for (const [token, c] of [...counts.entries()].sort(([a], [b]) => a.localeCompare(b))) {
          const last = await reader.last(`${prefix}.${token}.events.>`);
          const host = last?.record?.host ?? token;
          if (hostRe !== null && !hostRe.test(host)) continue;
          const eventMs = last?.record ? Date.parse(last.record.time) : NaN;
          hosts.push({
            host, events: c.events, alerts: c.alerts, lastEvent: last?.record?.time ?? null, lastStored: last ? new Date(last.storedMs).toISOString() : null,
            lagSeconds: last && Number.isFinite(eventMs) ? Math.max(0, (last.storedMs - eventMs) / 1000) : null,
          });
        }
      } finally {
        await reader.close();
      }
      if (o.json) printJson({ hosts });
      else print(renderFleetHosts(hosts));
    });
}

export function fleetCommand(): Command {
  return new Command('fleet')
    .description('the whole fleet\'s events, history and alerts, read from the NATS JetStream stream the daemons export to')
    .addCommand(eventsCommand())
    .addCommand(historyCommand())
    .addCommand(alertsCommand())
    .addCommand(hostsCommand());
}
