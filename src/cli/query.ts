/** `procwatch events`, `history`, `lineage`, `stats`: questions answered from the daemon's store. */

import { Command } from './commander.js';
import { apiGet, apiStream } from '../api/client.js';
import { InputError } from '../errors.js';
import { eventObjectLine, renderHistory, renderLineage, type LineageLike, type ProcessLike } from '../report/processes.js';
import { renderSyscallProfile, type ProfileLike } from '../report/profile.js';
import { print, printJson, withSocket } from './common.js';

/** API parameters by the option that sets them: the daemon's errors then name the option. */
const OPTION_NAMES: Record<string, string> = {
  since: '--since', until: '--until', kind: '--kind', pid: '--pid', limit: '--limit', follow: '--follow', exe: '--exe', name: '--name',
  user: '--user', boot: '--boot', sort: '--sort', min_cpu: '--min-cpu', min_rss: '--min-rss', min_read: '--min-read', min_write: '--min-write',
};
const names = { optionNames: OPTION_NAMES };

interface QueryOptions {
  socket: string;
  json?: boolean;
  since?: string;
  until?: string;
  kind?: string;
  pid?: string;
  follow?: boolean;
  limit?: string;
  exe?: string;
  name?: string;
  user?: string;
  boot?: string;
  syscalls?: string;
  sort?: string;
  minCpu?: string;
  minRss?: string;
  minRead?: string;
  minWrite?: string;
}

export function eventsCommand(): Command {
  return withSocket(new Command('events'))
    .description('event history from the store; --follow keeps streaming new events')
    .option('--since <time>', 'from: 10m, 2h, 1d (ago), an ISO date, or epoch ms (default 10m)', '10m')
    .option('--until <time>', 'to (same forms)')
    .option('-k, --kind <kinds>', 'only these kinds, comma-separated')
    .option('-p, --pid <pid>', 'only events of this pid')
    .option('-u, --user <user>', 'only events of processes running as this effective user, name or uid')
    .option('-f, --follow', 'keep streaming new events until interrupted')
    .option('--limit <n>', 'the newest this many stored events (default 1000, max 10000; with -f: all stored events in range unless given)')
    .option('--json', 'one JSON object per line')
    .action(async (options: QueryOptions) => {
      const query = { since: options.since, until: options.until, kind: options.kind, pid: options.pid, user: options.user, limit: options.limit };
      const show = (e: Record<string, unknown>): void => {
        // The stream's own last line is not an event: it goes to stderr.
        if (e.kind === 'stream_closed') process.stderr.write(`procwatch: the daemon ended the stream: ${String(e.reason)}\n`);
        else print(`${options.json ? JSON.stringify(e) : eventObjectLine(e)}\n`);
      };
      if (!options.follow) {
        const { events, truncated } = await apiGet<{ events: Record<string, unknown>[]; truncated: boolean }>(options.socket, '/v1/events', query, names);
        events.forEach(show);
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
  return withSocket(new Command('history'))
    .description('what ran, when, as whom: process instances from the store, newest first')
    .option('-e, --exe <path>', 'executable path (glob allowed)')
    .option('-n, --name <comm>', 'command name (glob allowed)')
    .option('-u, --user <user>', 'effective user, name or uid')
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
        const flags: Record<string, string | undefined> = { exe: options.exe, name: options.name, user: options.user, since: options.since, until: options.until,
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
        exe: options.exe, name: options.name, user: options.user, since: options.since, until: options.until, limit: options.limit,
        sort: options.sort, min_cpu: options.minCpu, min_rss: options.minRss, min_read: options.minRead, min_write: options.minWrite,
      }, names);
      const usage = [options.sort, options.minCpu, options.minRss, options.minRead, options.minWrite].some((o) => o !== undefined && o !== 'start');
      if (options.json) printJson({ processes });
      else print(renderHistory(processes, { usage }));
    });
}

export function lineageCommand(): Command {
  return withSocket(new Command('lineage'))
    .description('ancestors and descendants of a process, also one that exited long ago')
    .argument('<pid-or-key>', 'a pid (the live one, else the latest recorded) or a key pid:starttime')
    .option('--limit <n>', 'at most this many descendants (default 1000)')
    .option('--boot <id>', 'a process of an earlier boot (its boot id, as history --json shows it)')
    .option('--json', 'print JSON')
    .action(async (ref: string, options: QueryOptions) => {
      if (!/^\d+(:\??\d+)?$/.test(ref)) throw new InputError(`'${ref}' is neither a pid nor a process key (pid:starttime)`);
      const lineage = await apiGet<LineageLike>(options.socket, `/v1/lineage/${encodeURIComponent(ref)}`, { limit: options.limit, boot: options.boot }, names);
      if (options.json) printJson(lineage);
      else print(renderLineage(lineage));
    });
}

export function statsCommand(): Command {
  return withSocket(new Command('stats'))
    .description('events by kind, lost events, store lag and size')
    .option('--json', 'print JSON')
    .action(async (options: QueryOptions) => {
      const stats = await apiGet<Record<string, unknown>>(options.socket, '/v1/stats');
      if (options.json) return printJson(stats);
      const s = stats as { source: string; uptimeSeconds: number; eventsByKind: Record<string, number>; sourceCounters: Record<string, number>; reorder: Record<string, number>; table: Record<string, number>; store: Record<string, number | string | null> & { byKindLastMinute: Record<string, number> } };
      // The current rate: events stored in the last minute, not totals over the whole uptime.
      const window = Math.max(1, Math.min(60, s.uptimeSeconds));
      const lines = [
        `source          ${s.source}, up ${Math.round(s.uptimeSeconds)}s`,
        `events          ${Object.entries(s.eventsByKind).map(([k, n]) => `${k} ${n}`).join(', ') || 'none yet'}`,
        `per second      ${Object.entries(s.store.byKindLastMinute).map(([k, n]) => `${k} ${(n / window).toFixed(1)}`).join(', ') || '-'} (last minute)`,
        `lost            ${s.sourceCounters.lost ?? 0} (source), ${s.store.dropped} (store queue overflow); resyncs ${s.table.resyncs}`,
        `late/malformed  ${s.reorder.late} late, ${s.sourceCounters.malformed ?? 0} malformed`,
        `table           ${s.table.live} live, ${s.table.exited} exited kept`,
        `store           ${s.store.events} events, ${s.store.processes} processes, ${((s.store.dbBytes as number) / 1048576).toFixed(1)} MiB; queue ${s.store.queued}, lag ${s.store.lagMs} ms; oldest ${s.store.oldestEvent ?? '-'}`,
      ];
      print(`${lines.join('\n')}\n`);
    });
}
