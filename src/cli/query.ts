/** `procwatch events`, `history`, `lineage`, `stats`: questions answered from the daemon's store. */

import { Command } from './commander.js';
import { apiGet, apiStream } from '../api/client.js';
import { InputError } from '../errors.js';
import { EVENT_KINDS } from '../events/types.js';
import { UserDb } from '../procfs/index.js';
import { apiEventLine, eventLineHeader, escapeText, fitLine, type EventLineOptions } from '../report/index.js';
import { renderStats, type StatsAnswer } from '../report/stats.js';
import { renderHistory, renderLineage, type LineageLike, type ProcessLike } from '../report/processes.js';
import { renderSyscallProfile, type ProfileLike } from '../report/profile.js';
import { checkFilters, display, print, printFitted, printJson, withDisplay, withFilters, withSocket, type DisplayOptions, type FilterOptions } from './common.js';

/** API parameters by the option that sets them: the daemon's errors then name the option. */
const OPTION_NAMES: Record<string, string> = {
  since: '--since', until: '--until', kind: '--kind', pid: '--pid', subtree: '--pid', limit: '--limit', follow: '--follow', exe: '--exe', name: '--name',
  user: '--user', args: '--args', boot: '--boot', sort: '--sort', min_cpu: '--min-cpu', min_rss: '--min-rss', min_read: '--min-read', min_write: '--min-write',
};
const names = { optionNames: OPTION_NAMES };

interface QueryOptions extends FilterOptions, DisplayOptions {
  socket: string;
  json?: boolean;
  since?: string;
  until?: string;
  kind?: string;
  follow?: boolean;
  limit?: string;
  boot?: string;
  syscalls?: string;
  sort?: string;
  minCpu?: string;
  minRss?: string;
  minRead?: string;
  minWrite?: string;
}

/** The filter options as API parameters: `-p` is the subtree everywhere. */
function filterQuery(options: QueryOptions): Record<string, string | undefined> {
  checkFilters(options);
  return { user: options.user, name: options.name, exe: options.exe, args: options.args, subtree: options.pid };
}

export function eventsCommand(): Command {
  const command = withSocket(new Command('events'))
    .description('stored events, oldest first (the newest --limit of the range), in watch\'s columns; --follow keeps streaming new ones')
    .option('--since <time>', 'from: 10m, 2h, 1d (ago), an ISO date, or epoch ms', '10m')
    .option('--until <time>', 'to (same forms)')
    .option('-k, --kind <kinds>', `only these kinds, comma-separated (${EVENT_KINDS.join(', ')})`);
  withFilters(command, true);
  return withDisplay(command)
    .option('-f, --follow', 'keep streaming new events until interrupted')
    .option('--limit <n>', 'the newest this many stored events (default 1000, max 10000; with -f: all stored events in range unless given)')
    .option('--json', 'one JSON object per line')
    .action(async (options: QueryOptions) => {
      // The text lines name each event's process (as watch does): ask for it; --json prints what the API gives by default.
      const query = { since: options.since, until: options.until, kind: options.kind, limit: options.limit, process: options.json ? undefined : true, ...filterQuery(options) };
      const d = display(options);
      const lineOptions: EventLineOptions = { time: d.time, style: d.style, dated: true };
      const users = new UserDb();
      let header = !options.json;
      const show = (e: Record<string, unknown>): void => {
        // The stream's own last line is not an event: it goes to stderr.
        if (e.kind === 'stream_closed') {
          process.stderr.write(`procwatch: the daemon ended the stream: ${escapeText(String(e.reason))}\n`);
          return;
        }
        if (header) {
          print(`${fitLine(eventLineHeader(lineOptions), d.style.width)}\n`);
          header = false;
        }
        print(`${options.json ? JSON.stringify(e) : fitLine(apiEventLine(e, users, lineOptions), d.style.width)}\n`);
      };
      if (!options.follow) {
        const { events, truncated } = await apiGet<{ events: Record<string, unknown>[]; truncated: boolean }>(options.socket, '/v1/events', query, names);
        events.forEach(show);
        if (events.length === 0 && !options.json) process.stderr.write(`procwatch: no events matched (since ${options.since ?? '10m'}${options.until ? `, until ${options.until}` : ''})\n`);
        if (truncated) process.stderr.write(`procwatch: showing the newest ${events.length} events; older ones matched too: narrow the range or raise --limit\n`);
        return;
      }
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      process.once('SIGTERM', () => abort.abort());
      await apiStream(options.socket, '/v1/events', { ...query, follow: true }, show, abort.signal, names);
    });
}

export function historyCommand(): Command {
  const command = withSocket(new Command('history'))
    .description('what ran, when, as whom, for how long: process instances from the store, newest first');
  withFilters(command, true);
  return withDisplay(command)
    .option('--since <time>', 'alive at or after: 10m, 2h, 1d (ago), ISO date, epoch ms')
    .option('--until <time>', 'started at or before (same forms)')
    .option('--limit <n>', 'at most this many (default 1000, max 10000)')
    .option('--sort <order>', 'start (newest first, the default), or largest first by what the process used over its life: ' +
      'cpu, user, sys, rss (peak), majflt, minflt, nvcsw, nivcsw, read, write (storage bytes); processes without the figure (running, unknown) come last')
    .option('--min-cpu <duration>', 'only processes that used at least this much CPU (500ms, 2s, 1m)')
    .option('--min-rss <size>', 'only processes whose peak resident memory reached this (100MiB)')
    .option('--min-read <size>', 'only processes that read at least this much from storage')
    .option('--min-write <size>', 'only processes that wrote at least this much to storage')
    .option('--syscalls <pid-or-key>', 'instead: one process\'s syscall profile (counts by name) and its TCP sessions')
    .option('--boot <id>', 'with --syscalls: a process of an earlier boot')
    .option('--json', 'print JSON')
    .action(async (options: QueryOptions) => {
      if (options.syscalls !== undefined) {
        const ref = options.syscalls;
        if (!/^\d+(:\??\d+)?$/.test(ref)) throw new InputError(`'${ref}' is neither a pid nor a process key (pid:starttime)`);
        const flags: Record<string, string | undefined> = { exe: options.exe, name: options.name, user: options.user, args: options.args, pid: options.pid, since: options.since, until: options.until,
          limit: options.limit, sort: options.sort, 'min-cpu': options.minCpu, 'min-rss': options.minRss, 'min-read': options.minRead, 'min-write': options.minWrite };
        const others = Object.keys(flags).filter((o) => flags[o] !== undefined);
        if (others.length > 0) throw new InputError(`--syscalls shows one process: it takes no ${others.map((o) => `--${o}`).join(', ')}`);
        const profile = await apiGet<ProfileLike>(options.socket, `/v1/syscalls/${encodeURIComponent(ref)}`, { boot: options.boot }, names);
        if (options.json) printJson(profile);
        else print(renderSyscallProfile(profile));
        return;
      }
      if (options.boot !== undefined) throw new InputError('--boot goes with --syscalls (history already spans every boot)');
      const { processes } = await apiGet<{ processes: ProcessLike[] }>(options.socket, '/v1/history', {
        ...filterQuery(options), since: options.since, until: options.until, limit: options.limit,
        sort: options.sort, min_cpu: options.minCpu, min_rss: options.minRss, min_read: options.minRead, min_write: options.minWrite,
      }, names);
      if (options.json) return printJson({ processes });
      const usage = [options.sort, options.minCpu, options.minRss, options.minRead, options.minWrite].some((o) => o !== undefined && o !== 'start');
      const d = display(options);
      printFitted(renderHistory(processes, { ...d, nowMs: Date.now(), usage }), d);
    });
}

export function lineageCommand(): Command {
  return withDisplay(withSocket(new Command('lineage')))
    .description('who started this process, and what it started: ancestors and descendants, also of a process that exited long ago')
    .argument('<pid-or-key>', 'a pid (the live one, else the latest recorded) or a key pid:starttime')
    .option('--limit <n>', 'at most this many descendants (default 1000)')
    .option('--boot <id>', 'a process of an earlier boot (its boot id, as history --json shows it)')
    .option('--json', 'print JSON')
    .action(async (ref: string, options: QueryOptions) => {
      if (!/^\d+(:\??\d+)?$/.test(ref)) throw new InputError(`'${ref}' is neither a pid nor a process key (pid:starttime)`);
      const lineage = await apiGet<LineageLike>(options.socket, `/v1/lineage/${encodeURIComponent(ref)}`, { limit: options.limit, boot: options.boot }, names);
      if (options.json) return printJson(lineage);
      const d = display(options);
      printFitted(renderLineage(lineage, { ...d, nowMs: Date.now() }), d);
    });
}

export function statsCommand(): Command {
  return withSocket(new Command('stats'))
    .description('events by kind, lost events, store lag and size')
    .option('--utc', 'times in UTC (marked Z) instead of local time')
    .option('--json', 'print JSON')
    .action(async (options: QueryOptions) => {
      const stats = await apiGet<StatsAnswer>(options.socket, '/v1/stats');
      if (options.json) return printJson(stats);
      print(renderStats(stats, { utc: options.utc === true }));
    });
}
