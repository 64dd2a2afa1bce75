/**
 * `procwatch top` (issue 12): every process's CPU, memory and threads, refreshed, as top shows
 * them; from the daemon (one request per refresh, no /proc scan here), or from /proc when no
 * daemon answers (it says so). Interactive on a terminal, or batch (`-b -n N -d S`) for
 * scripts; `--at`, `--since`/`--until` show the daemon's history instead.
 */

import { Command } from './commander.js';
import { emitKeypressEvents } from 'node:readline';
import { apiGet, apiGetText, DaemonUnavailable } from '../api/client.js';
import { RESOURCE_SORTS, liveAnswer, resourceFilter, type LiveAnswer, type ResourceJson, type ResourceSort } from '../api/resources.js';
import { InputError } from '../errors.js';
import { ProcReader, UserDb } from '../procfs/index.js';
import { parseTimePoint } from '../config/units.js';
import { ProcSnapshotSource } from '../resources/proc.js';
import { ResourceSampler } from '../resources/sampler.js';
import { ANSI, PLAIN, TOP_COLUMNS, renderTop, timePlus, type TopRender } from '../report/top.js';
import { escapeText } from '../report/text.js';
import { formatBytes } from '../report/usage.js';
import { Clock } from '../table/index.js';
import { globToRegExp } from '../util/glob.js';
import { print, printJson, withSocket } from './common.js';

interface TopOptions {
  socket: string;
  batch?: boolean;
  iterations?: string;
  delay?: string;
  sort?: string;
  user?: string;
  name?: string;
  filter?: string;
  tree?: boolean;
  width?: string;
  json?: boolean;
  daemon: boolean;
  at?: string;
  since?: string;
  until?: string;
}

/** API parameters by the option that sets them: the daemon's errors then name the option. */
const OPTION_NAMES: Record<string, string> = { sort: '--sort', user: '--user', name: '--name', filter: '--filter', at: '--at', since: '--since', until: '--until' };

interface Settings {
  delayMs: number;
  iterations: number | null;
  sort: ResourceSort;
  tree: boolean;
  filter: string | null;
  user: string | undefined;
  name: string | undefined;
  width: number | null;
}

function settingsOf(o: TopOptions): Settings {
  const delay = o.delay === undefined ? 2 : Number(o.delay);
  if (!Number.isFinite(delay) || delay < 0.1 || delay > 86_400) throw new InputError(`--delay must be seconds from 0.1 to 86400, got '${o.delay}'`);
  const iterations = o.iterations === undefined ? null : Number(o.iterations);
  if (iterations !== null && (!Number.isInteger(iterations) || iterations < 1 || iterations > 1e9)) throw new InputError(`--iterations must be a whole number ≥ 1, got '${o.iterations}'`);
  const sort = o.sort ?? 'cpu';
  if (!(RESOURCE_SORTS as readonly string[]).includes(sort)) throw new InputError(`--sort must be one of ${RESOURCE_SORTS.join(', ')}, got '${sort}'`);
  const width = o.width === undefined ? null : Number(o.width);
  if (width !== null && (!Number.isInteger(width) || width < 40 || width > 100_000)) throw new InputError(`--width must be a whole number of columns from 40, got '${o.width}'`);
  if (o.name !== undefined) {
    try {
      globToRegExp(o.name);
    } catch (err) {
      throw new InputError(`--name is not a valid glob: ${(err as Error).message}`);
    }
  }
  return { delayMs: delay * 1000, iterations, sort: sort as ResourceSort, tree: o.tree === true, filter: o.filter ?? null, user: o.user, name: o.name, width };
}

/** Where refreshes come from. */
interface Feed {
  /** "daemon", or the notice of a /proc fallback. */
  readonly origin: string;
  next(s: Settings, limit: number): Promise<LiveAnswer>;
  close(): void;
}

/** One request per refresh to the daemon's /v1/resources. */
class DaemonFeed implements Feed {
  readonly origin = 'daemon';
  private cursor: number | undefined;
  private lastInterval: number | null = null;

  constructor(private readonly socket: string) {}

  /** One refresh as the daemon renders it for batch mode (format=text): no JSON of every process. */
  nextText(s: Settings, width: number, again: boolean): Promise<string> {
    return apiGetText(this.socket, '/v1/resources', {
      // A refresh sooner than the daemon's own (2 s by default): a snapshot now.
      fresh: again && s.delayMs < 2000 ? 1 : undefined,
      format: 'text', width: width > 0 ? width : undefined, tz_offset: -new Date().getTimezoneOffset(), sort: s.sort, user: s.user, name: s.name,
      filter: s.filter ?? undefined, tree: s.tree ? 1 : undefined,
    }, { optionNames: OPTION_NAMES });
  }

  async next(s: Settings, limit: number): Promise<LiveAnswer> {
    const a = await apiGet<LiveAnswer>(this.socket, '/v1/resources', {
      sort: s.sort, limit, user: s.user, name: s.name, filter: s.filter ?? undefined, tree: s.tree ? 1 : undefined, churn_after: this.cursor,
      // Refreshing faster than the daemon samples: ask for a snapshot now.
      fresh: this.lastInterval !== null && s.delayMs < this.lastInterval * 900 ? 1 : undefined,
    }, { optionNames: OPTION_NAMES });
    this.cursor = a.churn?.cursor;
    this.lastInterval = a.intervalSeconds;
    return a;
  }

  close(): void {}
}

/** Without a daemon: /proc read here, at each refresh. */
class ProcFeed implements Feed {
  // stat and status only: what top shows (I/O, fds and limits are not read here).
  private readonly sampler = new ResourceSampler({ source: new ProcSnapshotSource('/proc', { lean: true }), intervalMs: 0, clock: new Clock() });
  private readonly users = new UserDb();
  private readonly reader = new ProcReader();
  private readonly clock = new Clock();
  private primed = false;

  constructor(readonly origin: string) {}

  async next(s: Settings, limit: number): Promise<LiveAnswer> {
    if (!this.primed) {
      // CPU % needs two snapshots: the first refresh compares with one taken a moment before.
      await this.sampler.refresh();
      await new Promise((r) => setTimeout(r, Math.min(500, s.delayMs)));
      this.primed = true;
    }
    const view = await this.sampler.refresh();
    let uid: number | undefined;
    if (s.user !== undefined) {
      uid = /^\d+$/.test(s.user) ? Number(s.user) : this.users.passwd.byName.get(s.user);
      if (uid === undefined) throw new InputError(`--user: unknown user '${s.user}'`);
    }
    const filter = resourceFilter(uid, s.name === undefined ? null : globToRegExp(s.name), s.filter ?? undefined);
    return liveAnswer(view, {
      userName: (id) => this.users.userName(id), argsOf: (_key, pid) => this.reader.argv(pid),
      wallOfTicks: (t) => this.clock.wallMs(this.clock.startTicksToNs(t)), events: null, churn: null,
    }, { sort: s.sort, limit, filter, filterReadsArgs: s.filter !== null, tree: s.tree });
  }

  close(): void {
    this.sampler.stop();
  }
}

/** The daemon's feed, or /proc's with a notice when no daemon answers (or --no-daemon). */
async function openFeed(o: TopOptions): Promise<{ feed: Feed; notice: string | null }> {
  if (o.daemon) {
    const feed = new DaemonFeed(o.socket);
    try {
      // A health check first: one small request says whether a daemon answers at all.
      await apiGet(o.socket, '/v1/health', {}, { optionNames: OPTION_NAMES });
      return { feed, notice: null };
    } catch (err) {
      if (!(err instanceof DaemonUnavailable)) throw err;
      const notice = `${err.message}; sampling /proc itself (CPU in clock ticks; processes that start and end between refreshes are not seen)`;
      return { feed: new ProcFeed('no daemon: /proc'), notice };
    }
  }
  return { feed: new ProcFeed('--no-daemon: /proc'), notice: null };
}

export function topCommand(): Command {
  return withSocket(new Command('top'))
    .description('every process\'s CPU, memory and threads, refreshed (from the daemon; from /proc when no daemon runs)')
    .option('-b, --batch', 'batch mode: print refreshes one after the other (for scripts and pipes)')
    .option('-n, --iterations <n>', 'stop after n refreshes (default: until q, or forever in batch mode)')
    .option('-d, --delay <seconds>', 'seconds between refreshes (default 2; fractions allowed)')
    .option('-o, --sort <key>', `order: ${RESOURCE_SORTS.join(', ')} (default cpu)`)
    .option('-u, --user <user>', 'only processes of this effective user (name or uid)')
    .option('--name <glob>', 'only processes whose comm matches')
    .option('--filter <text>', 'only processes whose command line, name or user contains the text (the / key)')
    .option('-t, --tree', 'tree view: children under their parents')
    .option('-w, --width <columns>', 'batch mode: cut lines at this width (default: the terminal\'s, or no limit in a pipe)')
    .option('--json', 'batch mode: one JSON object per refresh (the API\'s /v1/resources answer)')
    .option('--no-daemon', 'read /proc here even if a daemon runs')
    .option('--at <time>', 'the processes and what they used at that time, from the daemon\'s history (10m, 2h, an ISO date, epoch ms)')
    .option('--since <time>', 'what each process used from then (to --until, default now), from the daemon\'s history')
    .option('--until <time>', 'end of the --since range')
    .addHelpText('after', `
Keys (interactive): q quit, p pause/resume, t tree, / filter (Enter applies, empty clears, Esc cancels),
P M T N sort by CPU, memory, time, pid; < > previous/next column; space refresh now.
The header counts the events the daemon saw and what started and ended since the last refresh, with
the CPU of those that ended: processes too short-lived for any sampling top.`)
    .action(async (o: TopOptions) => {
      const s = settingsOf(o);
      if (o.at !== undefined || o.since !== undefined || o.until !== undefined) return history(o, s);
      const interactive = o.batch !== true && o.json !== true;
      if (interactive && !(process.stdout.isTTY && process.stdin.isTTY)) {
        throw new InputError('top needs a terminal for its interactive screen: use -b (batch mode) in scripts and pipes');
      }
      const { feed, notice } = await openFeed(o);
      try {
        if (interactive) await interactiveLoop(feed, s, notice);
        else await batchLoop(feed, s, o, notice);
      } finally {
        feed.close();
      }
    });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function batchLoop(feed: Feed, s: Settings, o: TopOptions, notice: string | null): Promise<void> {
  if (notice !== null) process.stderr.write(`procwatch: ${notice}\n`);
  const width = s.width ?? (process.stdout.isTTY ? process.stdout.columns : 0);
  for (let i = 0; s.iterations === null || i < s.iterations; i++) {
    if (i > 0) await sleep(s.delayMs);
    if (!o.json && feed instanceof DaemonFeed) {
      print(`${i > 0 ? '\n' : ''}${await feed.nextText(s, width, i > 0)}`);
      continue;
    }
    const answer = await feed.next(s, 100_000);
    if (o.json) {
      process.stdout.write(`${JSON.stringify(answer)}\n`);
      continue;
    }
    const lines = renderTop(answer, { width, rows: null, sort: s.sort, tree: s.tree, style: PLAIN, origin: feed.origin, message: null, paused: false, filter: s.filter });
    print(`${i > 0 ? '\n' : ''}${lines.join('\n')}\n`);
  }
}

/** History: one table, from the daemon's store. */
async function history(o: TopOptions, s: Settings): Promise<void> {
  if (!o.daemon) throw new InputError('--at, --since and --until read the daemon\'s history: they cannot go with --no-daemon');
  if (o.at !== undefined && (o.since !== undefined || o.until !== undefined)) throw new InputError('--at cannot go with --since or --until');
  for (const [opt, v] of [['--at', o.at], ['--since', o.since], ['--until', o.until]] as const) {
    if (v !== undefined && typeof parseTimePoint(v) !== 'number') throw new InputError(`${opt} must be a time: 10m, 2h, 1d (ago), an ISO date, or epoch ms; got '${v}'`);
  }
  const answer = await apiGet<{ time?: string; since?: string; until?: string; matched: number; unsampled?: number; processes: ResourceJson[] }>(o.socket, '/v1/resources', {
    at: o.at, since: o.since, until: o.until, sort: s.sort, limit: 100_000, user: s.user, name: s.name, filter: s.filter ?? undefined,
  }, { optionNames: OPTION_NAMES });
  if (o.json) return printJson(answer);
  const range = answer.time !== undefined;
  const title = range ? `procwatch top at ${answer.time} (history): ${answer.matched} processes alive then` +
    `${answer.unsampled ? `, ${answer.unsampled} without samples near that time (figures unknown)` : ''}`
    : `procwatch top from ${answer.since} to ${answer.until} (history): ${answer.matched} processes ran; CPU is what each used in the range`;
  const width = s.width ?? (process.stdout.isTTY ? process.stdout.columns : 0);
  const head = `${'PID'.padStart(7)} ${'USER'.padEnd(9)} ${'%CPU'.padStart(5)} ${'RES'.padStart(8)} ${(range ? 'TIME+' : 'CPU').padStart(9)} COMMAND`;
  const lines = [title, head];
  for (const p of answer.processes) {
    const command = escapeText(p.args !== null && p.args.length > 0 ? p.args.join(' ') : `[${p.comm ?? '?'}]`);
    const line = `${String(p.pid).padStart(7)} ${escapeText(p.user ?? '?').slice(0, 9).padEnd(9)} ${(p.cpuPct === null ? '-' : p.cpuPct.toFixed(1)).padStart(5)} ` +
      `${(p.rssBytes === null ? '-' : formatBytes(p.rssBytes)).padStart(8)} ${timePlus(p.cpuSeconds).padStart(9)} ${command}`;
    lines.push(width > 0 ? Array.from(line).slice(0, width).join('') : line);
  }
  print(`${lines.join('\n')}\n`);
}

/** The full-screen view: alternate screen, raw keys, a refresh every delay, redrawn on resize. */
async function interactiveLoop(feed: Feed, s: Settings, notice: string | null): Promise<void> {
  const out = process.stdout;
  const style = out.hasColors?.() === true ? ANSI : PLAIN;
  const sorts = TOP_COLUMNS.map((c) => c.sort).filter((x): x is ResourceSort => x !== null);
  let answer: LiveAnswer | null = null;
  let paused = false;
  let prompt: string | null = null; // the filter being typed
  let message: string | null = notice;
  let messageUntil = notice === null ? 0 : Date.now() + 10_000;
  let timer: NodeJS.Timeout | null = null;
  let fetching = false;
  /** A key changed what to ask for while a refresh was under way: refresh again at once after it. */
  let again = false;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => { done = r; });

  const rowsForTable = (): number => Math.max(1, (out.rows || 24) - 6);
  const draw = (): void => {
    if (answer === null) return;
    const line = prompt !== null ? `filter: ${escapeText(prompt)}_` : Date.now() < messageUntil ? message : null;
    const r: TopRender = { width: out.columns || 80, rows: rowsForTable(), sort: s.sort, tree: s.tree, style, origin: feed.origin, message: line, paused, filter: s.filter };
    const lines = renderTop(answer, r).slice(0, out.rows || 24);
    out.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\r\n')}\x1b[J`);
  };
  const schedule = (ms: number): void => {
    if (timer !== null) clearTimeout(timer);
    timer = paused ? null : setTimeout(() => void refresh(), ms);
  };
  const refresh = async (): Promise<void> => {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    again = false;
    try {
      answer = await feed.next(s, rowsForTable());
    } catch (err) {
      if (err instanceof InputError) {
        message = err.message;
        s.filter = null;
      } else message = `${(err as Error).message}; retrying`;
      messageUntil = Date.now() + 5000;
    } finally {
      fetching = false;
    }
    if (again) return void refresh();
    draw();
    schedule(s.delayMs);
  };
  const quit = (): void => {
    if (timer !== null) clearTimeout(timer);
    done();
  };
  const setSort = (next: ResourceSort): void => {
    s.sort = next;
    void refresh();
  };
  const onKey = (str: string | undefined, key: { name?: string; ctrl?: boolean; sequence?: string } | undefined): void => {
    if (key?.ctrl === true && key.name === 'c') return quit();
    if (prompt !== null) {
      if (key?.name === 'return' || key?.name === 'enter') {
        s.filter = prompt === '' ? null : prompt;
        prompt = null;
        void refresh();
      } else if (key?.name === 'escape') {
        prompt = null;
        draw();
      } else if (key?.name === 'backspace') {
        prompt = Array.from(prompt).slice(0, -1).join('');
        draw();
      } else if (str !== undefined && str.length > 0 && !/[\x00-\x1f\x7f]/.test(str)) {
        prompt += str;
        draw();
      }
      return;
    }
    switch (str) {
      case 'q': return quit();
      case 'p':
        paused = !paused;
        if (paused) { if (timer !== null) clearTimeout(timer); timer = null; draw(); } else void refresh();
        return;
      case 't': s.tree = !s.tree; void refresh(); return;
      case '/': prompt = ''; draw(); return;
      case 'P': return setSort('cpu');
      case 'M': return setSort('mem');
      case 'T': return setSort('time');
      case 'N': return setSort('pid');
      case '<': case '>': {
        const i = sorts.indexOf(s.sort);
        return setSort(sorts[(Math.max(0, i) + (str === '<' ? sorts.length - 1 : 1)) % sorts.length]!);
      }
      case ' ': void refresh(); return;
      case 'h': case '?':
        message = 'q quit  p pause  t tree  / filter  P M T N sort cpu mem time pid  < > sort column  space refresh';
        messageUntil = Date.now() + 8000;
        draw();
        return;
      default:
    }
  };

  const stdin = process.stdin;
  emitKeypressEvents(stdin);
  stdin.setRawMode(true);
  stdin.on('keypress', onKey);
  const onResize = (): void => draw();
  out.on('resize', onResize);
  const restore = (): void => { out.write('\x1b[?25h\x1b[?1049l'); };
  process.once('exit', restore);
  const onSignal = (): void => quit();
  process.once('SIGTERM', onSignal);
  out.write('\x1b[?1049h\x1b[?25l\x1b[H\x1b[J');
  try {
    await refresh();
    await finished;
  } finally {
    stdin.off('keypress', onKey);
    stdin.setRawMode(false);
    stdin.pause();
    out.off('resize', onResize);
    process.off('SIGTERM', onSignal);
    process.off('exit', restore);
    restore();
  }
}
