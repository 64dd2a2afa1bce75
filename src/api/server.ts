/**
 * The daemon's HTTP+JSON API, served on a unix socket (and optionally on loopback TCP with a
 * bearer token). Every path and field is documented in the README ("API reference").
 * Bad requests get a 4xx with {"error": "..."}; the daemon keeps running whatever arrives.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { chmodSync, chownSync, existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { queryAlerts, type AlertQuery } from '../alerts/store.js';
import type { Alert } from '../alerts/types.js';
import { AlreadyRunning, socketAnswers } from '../daemon/instance.js';
import { makeDirs, privateDirMode, socketSlotProblem } from '../daemon/paths.js';
import type { Daemon } from '../daemon/daemon.js';
import { InputError } from '../errors.js';
import { DAEMON_RING_BYTES } from '../config/daemon.js';
import { EVENT_KINDS, type ProcEvent } from '../events/types.js';
import { UserDb } from '../procfs/index.js';
import { eventJson } from '../report/index.js';
import { localClock, parsePsFields, PS_DEFAULT_FIELDS, renderPs, renderTree, type WallClock } from '../report/processes.js';
import { MetricsRenderer } from '../report/prometheus.js';
import { RESOURCE_PARAMS, ResourcesApi, resourceStats } from './resources.js';
import { ProcessFollower } from './process-stream.js';
import { TextAnswer } from './text-answer.js';
import { ResourceMetrics } from '../report/resource-metrics.js';
import {
  getProcess, latestByPid, latestEventBounds, latestEvents, queryEvents, queryHistory, queryLineage, querySessionTotals, queryStats, querySyscallProfile, HISTORY_SORTS,
  fixSubtree, SubtreeTooLarge, type EventQuery, type HistorySort, type ProcessFilter,
} from '../store/index.js';
import { PROCESS_KEY, type ProcessRecord } from '../table/index.js';
import type { RulesService } from '../rules/service.js';
import { globToRegExp } from '../util/glob.js';
import { compileRegExp } from '../util/regex.js';
import { BadRequest, MAX_LIMIT, Params } from './params.js';
import { ConnectionGuard, DEFAULT_API_LIMITS, fitToDescriptors, LimitLog, type ApiLimits } from './limits.js';
import { recordJson, type ProcessJson } from './views.js';
import { drained } from './drained.js';

/** What mints the web console's one-time login links (POST /v1/web/login-links, unix socket only). */
export interface LoginLinks {
  loginLink(): { url: string; expiresAt: string };
}

export interface ApiOptions {
  /** A follower this far behind is disconnected rather than buffered without bound (default: limits.streamBufferBytes, 1 MiB). */
  maxStreamBacklogBytes?: number;
  /** Bounds on connections, heavy answers and streams (daemon.api; limits.ts). */
  limits?: Partial<ApiLimits>;
  /** Where the API logs a limit being hit or cleared (the daemon's log). */
  log?: (line: string) => void;
  /** An SSE stream gets a comment line this often, so that idle proxies keep it open (default 15 s). */
  sseHeartbeatMs?: number;
}

/**
 * Stored events a follower receives per query while it catches up. 100, not 1,000: nine
 * followers that did not read, catching up on 20,000 events, took the daemon from 92 to 168 MB
 * with pages of 1,000 and to 101 MB with pages of 100 (bigger pages outlive the young generation).
 */
const FOLLOW_PAGE = 100;
/**
 * Events (or array items) per piece of a large answer. Building 10,000 events as one string
 * took ~90 MB for a moment (objects, the 5 MB text, its copy for the socket). Pieces of 100
 * (~50 KB of text) die young: V8 puts a string over 128 KiB straight into the old generation,
 * where it waits for a full GC (pieces of 500 still peaked 60 MB above idle; 100: ~25 MB).
 * Each piece waits for the client to take the last one (issue 14: memory whatever clients do).
 */
const ANSWER_PAGE = 100;
/** A disconnected slow follower gets this long to read its last lines before the socket is cut. */
const SLOW_CLIENT_GRACE_MS = 10_000;

type Handler = (url: URL, req: IncomingMessage, res: ServerResponse) => Promise<unknown> | unknown;

/** A limit was reached: 503 with Retry-After. */
class Busy extends BadRequest {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(message, 503);
  }
}

/** The bearer tokens a TCP listener takes: the whole API, and /metrics only (daemon.http). */
export interface TcpTokens {
  token?: string | null;
  scrapeToken?: string | null;
}

/** SHA-256 of `Bearer TOKEN` for each token a listener takes; null on the unix socket (no token). */
interface Access {
  full: Buffer | null;
  scrape: Buffer | null;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

export class ApiServer {
  private readonly users = new UserDb();
  private readonly metrics = new MetricsRenderer();
  private readonly resources: ResourcesApi;
  private readonly resourceMetrics = new ResourceMetrics();
  private readonly servers: Server[] = [];
  private readonly eventsByKind: Record<string, number> = {};
  private readonly maxBacklog: number;
  private readonly heartbeatMs: number;
  private streamClients = 0;
  readonly requestErrors = { badRequests: 0, internal: 0, busy: 0 };
  /** The web console, when daemon.web is on (issue 13). */
  console: LoginLinks | null = null;
  readonly limits: ApiLimits;
  private readonly log: (line: string) => void;
  private readonly guards = new Map<Server, ConnectionGuard>();
  /** Heavy answers being computed or sent now. */
  private heavyInFlight = 0;
  private readonly heavyLog: LimitLog;
  /** Each live event's NDJSON line, made once for every follower. */
  private readonly liveLines = new WeakMap<ProcEvent, string>();
  private readonly streamsLog: LimitLog;

  constructor(private readonly daemon: Daemon, options: ApiOptions = {}) {
    this.log = options.log ?? (() => undefined);
    const fitted = fitToDescriptors({ ...DEFAULT_API_LIMITS, ...options.limits }, 2);
    this.limits = fitted.limits;
    if (fitted.note !== null) this.log(`procwatch daemon: ${fitted.note}`);
    this.heavyLog = new LimitLog(`${this.limits.maxHeavy} large answers (events, history, lineage, processes, tree) at once`, this.log);
    this.streamsLog = new LimitLog(`${this.limits.maxStreams} event streams`, this.log);
    this.maxBacklog = options.maxStreamBacklogBytes ?? this.limits.streamBufferBytes;
    this.heartbeatMs = options.sseHeartbeatMs ?? 15_000;
    this.resources = new ResourcesApi(daemon, this.users);
    daemon.on((events) => { for (const e of events) this.eventsByKind[e.kind] = (this.eventsByKind[e.kind] ?? 0) + 1; });
  }

  /** Path, handler, and whether the answer can be large (bounded by limits.maxHeavy). */
  private routes(): Array<[RegExp, Handler, boolean]> {
    return [
      [/^\/v1\/health$/, (u) => this.health(u), false],
      [/^\/v1\/processes$/, (u, req, res) => this.processes(u, req, res), true],
      [/^\/v1\/processes\/([^/]+)$/, (u) => this.process(u), false],
      [/^\/v1\/tree$/, (u) => this.tree(u), true],
      [/^\/v1\/events$/, (u, req, res) => this.events(u, req, res), true],
      [/^\/v1\/history$/, (u) => this.history(u), true],
      [/^\/v1\/lineage\/([^/]+)$/, (u) => this.lineage(u), true],
      [/^\/v1\/syscalls\/([^/]+)$/, (u) => this.syscalls(u), false],
      [/^\/v1\/stats$/, (u) => this.stats(u), false],
      // The rules room's answers are small or streams of their own (issue 11).
      [/^\/v1\/alerts$/, (u, req, res) => this.alerts(u, req, res), false],
      [/^\/v1\/rules$/, (u) => this.rulesInfo(u), false],
      [/^\/v1\/checks$/, (u) => this.checksInfo(u), false],
      [/^\/v1\/baseline$/, (u) => this.baselineInfo(u), false],
      [/^\/v1\/resources$/, (u) => this.resources.resources(new Params(u.searchParams, RESOURCE_PARAMS)), true],
      [/^\/v1\/resources\/([^/]+)$/, (u) => this.resourceSeries(u), false],
      [/^\/metrics$/, (u, _req, res) => this.prometheus(u, res), false],
    ];
  }

  /**
   * Takes one of the limits.maxHeavy slots until the answer has been sent (or the client went
   * away): 3,000 clients that asked for 10,000 events each and never read once held 4 GB.
   */
  private takeHeavySlot(res: ServerResponse): void {
    if (this.heavyInFlight >= this.limits.maxHeavy) {
      this.heavyLog.refuse('503 with Retry-After');
      throw new Busy(`busy: ${this.heavyInFlight} large answers are being sent; retry in ${this.limits.retryAfterSeconds} s`, this.limits.retryAfterSeconds);
    }
    this.heavyInFlight++;
    res.once('close', () => {
      this.heavyInFlight--;
      if (this.heavyInFlight < this.limits.maxHeavy) this.heavyLog.clear();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, access: Access | null, guard: ConnectionGuard | null): Promise<void> {
    try {
      // Hashes have one length, so the comparison takes the same time whatever was sent.
      let scrapeOnly = false;
      if (access !== null) {
        const sent = sha256(req.headers.authorization ?? '');
        const full = access.full !== null && timingSafeEqual(sent, access.full);
        scrapeOnly = !full && access.scrape !== null && timingSafeEqual(sent, access.scrape);
        if (!full && !scrapeOnly) throw new BadRequest('missing or wrong bearer token', 401);
      }
      guard?.accepted(req.socket); // a valid request: no longer bound by the first-request limits
      if (req.method !== 'GET') throw new BadRequest(`method ${req.method ?? '?'} not allowed: the API is read-only and answers GET only`, 405);
      const target = req.url ?? '';
      if (!target.startsWith('/')) throw new BadRequest(`the request target must be a path such as /v1/health, got '${target.slice(0, 100)}'`);
      // Parsed as a path, never as a URL: '//v1/x' would otherwise be host 'v1', path '/x'.
      const url = new URL(`http://procwatch${target}`);
      // The scrape token is Prometheus's: the metrics, never the command lines under /v1.
      if (scrapeOnly && url.pathname !== '/metrics') throw new BadRequest('this token opens /metrics only', 403);
      const route = this.routes().find(([re]) => re.test(url.pathname));
      if (route === undefined) throw new BadRequest(`no such path ${url.pathname} (see the README's API reference)`, 404);
      // A stream (follow=1 of /v1/events or /v1/processes) pages with back-pressure and has its
      // own bound (limits.maxStreams): it would otherwise hold a heavy slot for its whole life.
      if (route[2] && !isStream(url)) this.takeHeavySlot(res);
      const body = await route[1](url, req, res);
      if (body instanceof TextAnswer) sendText(res, body.text);
      else if (body !== undefined && route[2]) await sendJsonPaged(res, body as Record<string, unknown>);
      else if (body !== undefined) send(res, 200, body);
    } catch (err) {
      const bad = err instanceof BadRequest ? err
        : err instanceof InputError ? new BadRequest(err.message)
          : err instanceof URIError ? new BadRequest(`malformed percent-encoding in ${(req.url ?? '').slice(0, 100)}`)
            : null;
      if (bad instanceof Busy) this.requestErrors.busy++;
      else if (bad !== null) this.requestErrors.badRequests++;
      else this.requestErrors.internal++;
      if (res.headersSent) res.end();
      else if (bad instanceof Busy) send(res, 503, { error: bad.message }, { 'retry-after': String(bad.retryAfterSeconds) });
      else if (bad !== null) send(res, bad.status, { error: bad.message });
      else send(res, 500, { error: `internal error: ${oneLine((err as Error).message)}` });
    }
  }

  /** Requests Node's parser refuses (headers over 16 KiB, garbage) get JSON too, not an empty reply. */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const [status, reason, message] = err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers too large: at most 16 KiB']
      : [400, 'Bad Request', `malformed HTTP request (${err.code ?? err.message})`];
    this.requestErrors.badRequests++;
    const body = JSON.stringify({ error: message });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  }

  private view(r: ProcessRecord): ProcessJson {
    return recordJson(r, this.daemon.tracker.clock, this.users);
  }

  /** Writes what is queued so an answer includes every event received so far. */
  private flushStore(): void {
    try {
      this.daemon.store.flush();
    } catch {
      // The flush timer reports write failures; an answer from what is stored is still an answer.
    }
  }

  private health(url: URL): unknown {
    new Params(url.searchParams, []);
    const { status } = this.daemon;
    return { ok: true, source: status.source, sourceWhy: status.sourceWhy, bootId: status.bootId, startedAt: new Date(status.startedMs).toISOString(), pid: process.pid };
  }

  /** A glob parameter as a regular expression; a malformed glob is the client's mistake. */
  private glob(p: Params, key: string): RegExp | null {
    const v = p.string(key);
    if (v === undefined) return null;
    try {
      return globToRegExp(v);
    } catch (err) {
      throw new BadRequest(`parameter '${key}' is not a valid glob: ${oneLine((err as Error).message)}`);
    }
  }

  private processes(url: URL, req: IncomingMessage, res: ServerResponse): unknown {
    const p = new Params(url.searchParams, ['user', 'name', 'exe', 'args', 'pid', 'ppid', 'subtree', 'limit', 'format', 'fields', 'tz_offset', 'follow']);
    if (p.boolean('follow')) return this.followProcesses(p, req, res);
    const text = textFormat(p);
    const fields = p.string('fields');
    if (fields !== undefined && text === null) throw new BadRequest("parameter 'fields' chooses the columns of format=text");
    const matches = this.recordMatcher(this.processFilter(p, false));
    const pid = p.pid('pid');
    const ppid = p.pid('ppid', 0);
    const subtree = p.pid('subtree');
    const limit = p.limit(MAX_LIMIT * 10, MAX_LIMIT * 10);
    const table = this.daemon.tracker.table;
    const out: ProcessRecord[] = [];
    for (const r of table.live.values()) {
      if (!matches(r, r.argv)) continue;
      if (pid !== undefined && r.pid !== pid) continue;
      if (subtree !== undefined && r.pid !== subtree && !table.ancestors(r.key).some((a) => a.pid === subtree && a.exitNs === null)) continue;
      if (ppid !== undefined && r.ppid !== ppid) continue;
      out.push(r);
    }
    // Sorted first, then cut: `limit=N` means the N lowest pids, not N in table order.
    const processes = out.sort((a, b) => a.pid - b.pid).slice(0, limit).map((r) => this.view(r));
    // As `procwatch ps` prints it: the client then only copies it out (a 5,000-process JSON
    // answer is ~2.6 MB to send, parse and render; the text is a tenth of that).
    if (text !== null) return new TextAnswer(renderPs(processes, fields === undefined ? PS_DEFAULT_FIELDS : parsePsFields(fields), text));
    return { processes };
  }

  /** GET /v1/processes?follow=1: the live table, then its changes (process-stream.ts). */
  private async followProcesses(p: Params, req: IncomingMessage, res: ServerResponse): Promise<undefined> {
    const format = p.string('format') ?? (req.headers.accept === 'text/event-stream' ? 'sse' : 'ndjson');
    if (format !== 'ndjson' && format !== 'sse') throw new BadRequest("parameter 'follow' streams: use format=ndjson or format=sse");
    for (const other of ['user', 'name', 'exe', 'args', 'pid', 'ppid', 'subtree', 'limit', 'fields', 'tz_offset']) {
      if (p.string(other) !== undefined) throw new BadRequest(`parameter '${other}' cannot be used with parameter 'follow': the stream is the whole table`);
    }
    if (this.streamClients >= this.limits.maxStreams) {
      this.streamsLog.refuse('503 with Retry-After');
      throw new Busy(`busy: ${this.streamClients} event streams are open (the most allowed); retry in ${this.limits.retryAfterSeconds} s`, this.limits.retryAfterSeconds);
    }
    const stream = this.openStream(res, format);
    this.streamClients++;
    try {
      await new ProcessFollower(this.daemon, this.users, stream.write, res).run();
    } finally {
      this.streamClients--;
      if (this.streamClients < this.limits.maxStreams) this.streamsLog.clear();
    }
    return undefined;
  }

  /**
   * The process filter of `user`, `name`, `exe`, `args` and (with `subtree`) `subtree`, checked:
   * what the store queries take (README "Filters").
   */
  private processFilter(p: Params, subtree: boolean): ProcessFilter {
    this.glob(p, 'name');
    this.glob(p, 'exe');
    this.regex(p, 'args');
    return { euid: this.uidParam(p), name: p.string('name'), exe: p.string('exe'), args: p.string('args'), subtreePid: subtree ? p.pid('subtree') : undefined };
  }

  /**
   * The same filter on a live record (with the command line to search: an exec's own argv);
   * the subtree is checked by the caller, which keeps its set of keys.
   */
  private recordMatcher(f: ProcessFilter): LiveMatcher {
    const name = f.name === undefined ? null : globToRegExp(f.name);
    const exe = f.exe === undefined ? null : globToRegExp(f.exe);
    const args = f.args === undefined ? null : new RegExp(f.args);
    if (f.euid === undefined && name === null && exe === null && args === null) return () => true;
    return (r, argv) => {
      if (r === undefined) return false;
      if (f.euid !== undefined && r.uids?.[1] !== f.euid) return false;
      if (name !== null && !(r.comm !== null && name.test(r.comm)) && !(r.exe !== null && name.test(r.exe.slice(r.exe.lastIndexOf('/') + 1)))) return false;
      if (exe !== null && !(r.exe !== null && exe.test(r.exe))) return false;
      if (args !== null && !(argv !== null && args.test(argv.join(' ')))) return false;
      return true;
    };
  }

  /**
   * A regular expression parameter, compiled once here so a bad one is the client's 400. The
   * daemon runs it on every row of a query, on its one thread: a quantified group holding a
   * quantifier (`(a+)+`), which can take exponential time, is refused.
   */
  private regex(p: Params, key: string): RegExp | null {
    const v = p.string(key);
    if (v === undefined) return null;
    if (NESTED_QUANTIFIER.test(v)) throw new BadRequest(`parameter '${key}': a quantified group that holds a quantifier, such as (a+)+, is refused (it can take exponential time)`);
    try {
      return compileRegExp(v);
    } catch (err) {
      throw new BadRequest(`parameter '${key}' is not a valid regular expression: ${oneLine((err as Error).message)}`);
    }
  }

  private uidParam(p: Params): number | undefined {
    const user = p.string('user');
    if (user === undefined) return undefined;
    const uid = /^\d+$/.test(user) ? Number(user) : this.users.passwd.byName.get(user);
    if (uid === undefined) throw new BadRequest(`unknown user '${user}'`);
    return uid;
  }

  /** The `{pid|key}` part of the path, decoded. */
  private pathRef(url: URL): string {
    return decodeURIComponent(url.pathname.split('/')[3] ?? '');
  }

  /**
   * A process by key (`pid:start`) or by pid (the live one, else the latest stored) in `boot`
   * (default: the current boot; another boot is looked up in the store only).
   */
  private findKey(ref: string, boot: string): string {
    if (PROCESS_KEY.test(ref)) return ref;
    if (!/^\d+$/.test(ref)) throw new BadRequest(`'${ref.slice(0, 100)}' is neither a pid nor a process key (pid:starttime, or pid:starttime.N)`);
    if (boot === this.daemon.status.bootId) {
      const live = this.daemon.tracker.table.live.get(Number(ref));
      if (live !== undefined) return live.key;
    }
    this.flushStore();
    const stored = latestByPid(this.daemon.store.db, boot, Number(ref));
    if (stored === null) throw new BadRequest(`no process with pid ${ref} is known${this.bootNote(boot)}`, 404);
    return stored.key;
  }

  private bootNote(boot: string): string {
    return boot === this.daemon.status.bootId ? '' : ` in boot ${boot}`;
  }

  private process(url: URL): unknown {
    const p = new Params(url.searchParams, ['boot']);
    const boot = p.boot() ?? this.daemon.status.bootId;
    const key = this.findKey(this.pathRef(url), boot);
    const record = boot === this.daemon.status.bootId ? this.daemon.tracker.table.get(key) : undefined;
    if (record !== undefined) return { process: this.view(record) };
    this.flushStore();
    const stored = getProcess(this.daemon.store.db, boot, key);
    if (stored === null) throw new BadRequest(`no process with key ${key} is known${this.bootNote(boot)}`, 404);
    return { process: this.named(stored) };
  }

  private tree(url: URL): unknown {
    const p = new Params(url.searchParams, ['pid', 'format', 'tz_offset']);
    const text = textFormat(p);
    const table = this.daemon.tracker.table;
    const rootPid = p.pid('pid');
    const live = [...table.live.values()];
    const children = new Map<string | null, ProcessRecord[]>();
    for (const r of live) {
      const parent = r.parentKey !== null && table.live.get(r.ppid ?? -1)?.key === r.parentKey ? r.parentKey : null;
      const list = children.get(parent) ?? [];
      list.push(r);
      children.set(parent, list);
    }
    type Node = ProcessJson & { children: Node[] };
    const build = (r: ProcessRecord, depth: number): Node => ({
      ...this.view(r),
      children: depth > 500 ? [] : (children.get(r.key) ?? []).sort((a, b) => a.pid - b.pid).map((c) => build(c, depth + 1)),
    });
    if (rootPid !== undefined) {
      const root = table.live.get(rootPid);
      if (root === undefined) throw new BadRequest(`no live process with pid ${rootPid}`, 404);
      return text === null ? { roots: [build(root, 0)] } : new TextAnswer(renderTree([build(root, 0)]));
    }
    const roots = (children.get(null) ?? []).sort((a, b) => a.pid - b.pid).map((r) => build(r, 0));
    return text === null ? { roots } : new TextAnswer(renderTree(roots));
  }

  private async events(url: URL, req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const p = new Params(url.searchParams, ['since', 'until', 'kind', 'pid', 'key', 'limit', 'follow', 'format', 'user', 'name', 'exe', 'args', 'subtree', 'process']);
    const kinds = p.list('kind', EVENT_KINDS);
    const processFilter = this.processFilter(p, true);
    const pid = p.pid('pid', 0);
    const key = p.string('key');
    const follow = p.boolean('follow');
    const format = p.string('format') ?? (req.headers.accept === 'text/event-stream' ? 'sse' : follow ? 'ndjson' : 'json');
    if (!['json', 'ndjson', 'sse'].includes(format)) throw new BadRequest(`parameter 'format' must be json, ndjson or sse, got '${format}'`);
    if (format === 'json' && follow) throw new BadRequest("parameter 'follow' streams: use format=ndjson or format=sse");
    const query: EventQuery = { sinceMs: p.time('since'), untilMs: p.time('until'), kinds, pid, key, limit: p.limit(1000), withProcess: p.boolean('process'), ...processFilter };
    if (query.sinceMs !== undefined && query.untilMs !== undefined && query.sinceMs > query.untilMs) throw new BadRequest("parameter 'since' is after parameter 'until'");
    if (follow && query.untilMs !== undefined) throw new BadRequest("parameter 'until' cannot be used with parameter 'follow': a follower has no end");
    if (follow && this.streamClients >= this.limits.maxStreams) {
      this.streamsLog.refuse('503 with Retry-After');
      throw new Busy(`busy: ${this.streamClients} event streams are open (the most allowed); retry in ${this.limits.retryAfterSeconds} s`, this.limits.retryAfterSeconds);
    }
    const db = this.daemon.store.db;
    this.flushStore(); // answer with everything received so far
    if (!follow) {
      // The newest `limit` events, oldest first: `events --since 1h` shows what just happened.
      // Written a page at a time, each read from the store when the client has taken the last.
      const fixed = this.subtreeGuard(() => fixSubtree(db, query)); // one subtree for every page
      const bounds = latestEventBounds(db, fixed);
      const pages = async function* (server: ApiServer): AsyncGenerator<unknown[]> {
        let afterId = bounds.afterId;
        for (;;) {
          const page = queryEvents(db, { ...fixed, afterId, maxId: bounds.maxId, limit: ANSWER_PAGE });
          page.forEach((e) => server.nameProcess(e));
          if (page.length > 0) yield page;
          if (page.length < ANSWER_PAGE) return;
          afterId = page.at(-1)!.id;
        }
      };
      if (format === 'json') {
        await writeJsonPaged(res, 'events', pages(this), `"truncated":${bounds.truncated}`);
        return undefined;
      }
      const stream = this.openStream(res, format, true);
      for await (const page of pages(this)) {
        let full = false;
        for (const e of page) full = !stream.write(e) || full;
        if (full) await drained(res);
        if (res.destroyed) return undefined;
      }
      if (bounds.truncated) stream.write({ kind: 'truncated', limit: query.limit, reason: 'older events matched too: narrow the range or raise limit' });
      res.end();
      return undefined;
    }
    return this.follow(url, req, res, format, query, this.recordMatcher(processFilter));
  }

  /** A subtree too large to list is the client's query to narrow, not a daemon failure. */
  private subtreeGuard<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      if (err instanceof SubtreeTooLarge) throw new BadRequest(err.message);
      throw err;
    }
  }

  /** A stored event's process gets its user's name, as a live one has it. */
  private nameProcess(e: Record<string, unknown>): void {
    const p = e.process as { uid: number | null; user?: string | null } | undefined;
    if (p !== undefined) p.user = p.uid === null ? null : this.users.userName(p.uid);
  }

  /** `eventFields`: SSE frames of stored events carry `id:` and `event:` (the alerts stream's do not). */
  private openStream(res: ServerResponse, format: string, eventFields = false): { write(obj: unknown): boolean } {
    res.writeHead(200, { 'content-type': format === 'sse' ? 'text/event-stream' : 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders(); // a follower with nothing to read yet still learns that the stream is open
    return { write: (obj) => res.write(format !== 'sse' ? `${JSON.stringify(obj)}\n` : eventFields ? sseMessage(obj) : `data: ${JSON.stringify(obj)}\n\n`) };
  }

  /**
   * Stored events first, a page at a time, waiting for the client to read each (memory stays
   * bounded however long the range); then, in the same tick as the last page, the live
   * stream: nothing is skipped or sent twice. With `limit`, only the newest `limit` stored
   * events come first (like `tail -n N -f`).
   *
   * An SSE stream stays on the store instead: after the stored events it reads on after each
   * flush (every daemon.flush_interval_ms, 200 ms by default), so every event it sends has its
   * store id (`id:`), and a client that reconnects with `Last-Event-ID` resumes exactly after
   * it. Its memory is one page whatever the client does: a client that does not read only
   * falls behind in the store. A comment line every 15 s keeps idle proxies from closing it.
   */
  private async follow(url: URL, req: IncomingMessage, res: ServerResponse, format: string, query: EventQuery, matches: LiveMatcher): Promise<undefined> {
    const db = this.daemon.store.db;
    const sse = format === 'sse';
    const resumeAfter = sse ? lastEventId(req) : undefined;
    const stream = this.openStream(res, format, true);
    let closed = false;
    res.on('close', () => { closed = true; });
    this.streamClients++;
    const heartbeat = sse ? setInterval(() => {
      if (res.writableLength > this.maxBacklog) res.destroy(); // it has not read for that long: let it reconnect with Last-Event-ID
      else res.write(': heartbeat\n\n');
    }, this.heartbeatMs) : null;
    try {
      let afterId = 0;
      let full = false; // a write returned false: wait for 'drain' before the next page
      // The subtree as stored now; processes born into it later join as their events arrive.
      const subtreeKeys = query.subtreePid === undefined ? null : new Set<string>();
      // Resuming: the id is the position; `since` and `limit` were for the first connection.
      // `lost` passes the filters in the stored part too: a gap written while the stream opens must not slip between.
      const q: EventQuery = resumeAfter !== undefined ? { ...query, sinceMs: undefined, lostAlways: true } : { ...query, lostAlways: true };
      if (resumeAfter !== undefined) afterId = resumeAfter;
      else if (url.searchParams.has('limit')) {
        const newest = this.subtreeGuard(() => latestEvents(db, q)).events;
        for (const e of newest) {
          this.nameProcess(e);
          full = !stream.write(e) || full;
        }
        afterId = newest.at(-1)?.id ?? (db.prepare('SELECT max(id) AS id FROM events').get() as { id: number | null }).id ?? 0;
      }
      let readAt = -1; // SSE: the store's flush count when it was last read to its end
      for (;;) {
        if (full) await drained(res);
        if (closed) return undefined;
        full = false;
        if (!sse) this.flushStore();
        else if (readAt === this.daemon.store.flushCount) {
          await this.nextFlush(res); // nothing new stored since: wait for the next write
          if (closed) return undefined;
        }
        const flushes = this.daemon.store.flushCount;
        const page = this.subtreeGuard(() => queryEvents(db, { ...q, afterId, limit: FOLLOW_PAGE }));
        for (const e of page) {
          this.nameProcess(e);
          full = !stream.write(e) || full;
        }
        afterId = page.at(-1)?.id ?? afterId;
        if (page.length < FOLLOW_PAGE) {
          if (!sse) break; // caught up: no await from here to the subscription
          readAt = flushes;
        }
      }
      if (subtreeKeys !== null) for (const r of this.daemon.tracker.table.live.values()) if (r.pid === query.subtreePid) subtreeKeys.add(r.key);
      const live = { matches, subtreeKeys };
      const stop = this.daemon.on((events) => this.sendLive(events, query, live, stream, res, stop));
      await new Promise<void>((resolve) => (closed ? resolve() : res.on('close', () => resolve())));
      stop();
    } finally {
      if (heartbeat !== null) clearInterval(heartbeat);
      this.streamClients--;
      if (this.streamClients < this.limits.maxStreams) this.streamsLog.clear();
    }
    return undefined;
  }

  /** Resolves after the store's next flush that wrote events, or when the client goes away. */
  private nextFlush(res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        stop();
        res.off('close', done);
        resolve();
      };
      const stop = this.daemon.store.onFlush(done);
      res.on('close', done);
    });
  }

  /**
   * A live event as followers get it, serialized once for all of them (each follower costs a
   * write, not a JSON.stringify of the event and its process).
   */
  private liveLine(e: ProcEvent): string {
    let line = this.liveLines.get(e);
    if (line === undefined) {
      const { tracker, status, store } = this.daemon;
      const record = tracker.table.recordAt(e); // as of this event, as `watch` shows it
      line = `${JSON.stringify({ bootId: status.bootId, run: store.run, ...eventJson({ event: e, record, wallMs: tracker.clock.wallMs(e.ktimeNs) }, this.users) })}\n`;
      this.liveLines.set(e, line);
    }
    return line;
  }

  private sendLive(events: readonly ProcEvent[], q: EventQuery, live: LiveFilter, stream: { write(obj: unknown): boolean }, res: ServerResponse, stop: () => void): void {
    if (res.writableEnded) return;
    const table = this.daemon.tracker.table;
    const kinds = q.kinds === undefined ? null : new Set<string>(q.kinds);
    for (const e of events) {
      // `lost` always passes the filters: the gap may hold the very events filtered for.
      if (e.kind !== 'lost') {
        if (kinds !== null && !kinds.has(e.kind)) continue;
        if (q.pid !== undefined && e.pid !== q.pid) continue;
        if (q.key !== undefined && e.key !== q.key) continue;
        const record = table.recordAt(e); // as of this event, as `watch` shows it
        if (!live.matches(record, e.kind === 'exec' ? e.details.argv : record?.argv ?? null)) continue;
        if (live.subtreeKeys !== null && !inSubtree(live.subtreeKeys, record, q.subtreePid!, table)) continue;
      }
      res.write(this.liveLine(e)); // live events go to NDJSON followers only: SSE ones read the store
      // Checked per event: one batch of a storm can hold thousands.
      if (res.writableLength > this.maxBacklog) {
        // The last line says why; ending (not destroying) lets a slow client still read it.
        stop();
        stream.write({ kind: 'stream_closed', reason: `client too slow: over ${Math.round(this.maxBacklog / 1024)} KiB behind` });
        res.end();
        setTimeout(() => res.destroy(), SLOW_CLIENT_GRACE_MS).unref();
        return;
      }
    }
  }

  private rulesRoom(): RulesService {
    if (this.daemon.rules === null) throw new BadRequest('the rules room is not running', 404);
    return this.daemon.rules;
  }

  /** Stored alerts (newest `limit`, oldest first), or with follow=1 a stream: the stored ones, then each new alert and resolution. */
  private async alerts(url: URL, req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const rules = this.rulesRoom();
    const p = new Params(url.searchParams, ['since', 'until', 'name', 'source', 'limit', 'follow', 'format']);
    const follow = p.boolean('follow');
    const format = p.string('format') ?? (req.headers.accept === 'text/event-stream' ? 'sse' : follow ? 'ndjson' : 'json');
    if (!['json', 'ndjson', 'sse'].includes(format)) throw new BadRequest(`parameter 'format' must be json, ndjson or sse, got '${format}'`);
    if (format === 'json' && follow) throw new BadRequest("parameter 'follow' streams: use format=ndjson or format=sse");
    const source = p.list('source', ['rule', 'check']);
    if (source !== undefined && source.length > 1) throw new BadRequest("parameter 'source' takes one of rule, check");
    const query: AlertQuery = { sinceMs: p.time('since'), untilMs: p.time('until'), name: p.string('name'), source: source?.[0] as 'rule' | 'check' | undefined, limit: p.limit(1000) };
    if (query.sinceMs !== undefined && query.untilMs !== undefined && query.sinceMs > query.untilMs) throw new BadRequest("parameter 'since' is after parameter 'until'");
    if (follow && query.untilMs !== undefined) throw new BadRequest("parameter 'until' cannot be used with parameter 'follow': a follower has no end");
    const db = this.daemon.store.db;
    if (!follow) {
      const alerts = queryAlerts(db, query);
      if (format === 'json') return { alerts };
      const stream = this.openStream(res, format);
      for (const a of alerts) stream.write(a);
      res.end();
      return undefined;
    }
    // Subscribe first, then read the stored ones: an alert raised in between is sent once, after them.
    const stream = this.openStream(res, format);
    const pending: Alert[] = [];
    let live = false;
    let lastId = 0;
    const matches = (a: Alert): boolean => (query.name === undefined || a.name === query.name) && (query.source === undefined || a.source === query.source);
    const send = (a: Alert): void => {
      if (!matches(a) || res.writableEnded) return;
      stream.write(a);
      if (res.writableLength > this.maxBacklog) {
        stop();
        stream.write({ kind: 'stream_closed', reason: `client too slow: over ${Math.round(this.maxBacklog / 1024)} KiB behind` });
        res.end();
      }
    };
    const stop = rules.center.on((a) => (live ? send(a) : pending.push(a)));
    this.streamClients++;
    try {
      for (const a of queryAlerts(db, query)) { stream.write(a); lastId = Math.max(lastId, a.id); }
      live = true;
      // Raised while the stored ones were read: new ones only (a resolution of an older one is new news).
      for (const a of pending.splice(0)) if (a.id > lastId || a.state === 'resolved') send(a);
      await new Promise<void>((resolve) => (res.destroyed ? resolve() : res.on('close', () => resolve())));
    } finally {
      stop();
      this.streamClients--;
    }
    return undefined;
  }

  private rulesInfo(url: URL): unknown {
    new Params(url.searchParams, []);
    const rules = this.rulesRoom();
    const { ruleSet } = rules.current;
    return {
      reload: rules.reloadStatus,
      sources: ruleSet.sources,
      engine: rules.engine.counters,
      rules: ruleSet.rules.map((r) => ({
        name: r.name, description: r.description, severity: r.severity, enabled: r.enabled, mode: r.mode, actions: r.actions, tags: r.tags,
        origin: `${r.file}:${r.line}`, condition: r.conditionText, kinds: r.kinds === null ? null : [...r.kinds], baseline: r.baseline === null ? null : { learn: r.baseline.learn, group: r.baseline.group, windowMs: r.baseline.windowMs },
        exceptions: r.exceptionNames, rateLimit: r.rateLimit, ...rules.engine.perRule.get(r.name),
      })),
      lists: ruleSet.lists,
      macros: ruleSet.macroNames,
    };
  }

  private checksInfo(url: URL): unknown {
    new Params(url.searchParams, []);
    return { checks: this.rulesRoom().checks.states() };
  }

  private baselineInfo(url: URL): unknown {
    const p = new Params(url.searchParams, ['group', 'rule', 'limit']);
    const rules = this.rulesRoom();
    const rule = p.string('rule');
    if (rule !== undefined && !rules.current.ruleSet.rules.some((r) => r.name === rule && r.baseline !== null)) throw new BadRequest(`no baseline rule named '${rule}'`, 404);
    return { baselines: rules.baseline.show(Date.now(), p.string('group'), rule, p.limit(1000, 100_000)) };
  }

  private history(url: URL): unknown {
    const p = new Params(url.searchParams, ['since', 'until', 'exe', 'name', 'user', 'args', 'pid', 'subtree', 'limit', 'sort', 'min_cpu', 'min_rss', 'min_read', 'min_write']);
    const query = {
      sinceMs: p.time('since'), untilMs: p.time('until'), ...this.processFilter(p, true), pid: p.pid('pid'), limit: p.limit(1000),
      sort: this.historySort(p),
      minCpuSeconds: p.seconds('min_cpu'), minRssBytes: p.size('min_rss'), minReadBytes: p.size('min_read'), minWriteBytes: p.size('min_write'),
    };
    if (query.sinceMs !== undefined && query.untilMs !== undefined && query.sinceMs > query.untilMs) throw new BadRequest("parameter 'since' is after parameter 'until'");
    this.flushStore();
    return { processes: this.subtreeGuard(() => queryHistory(this.daemon.store.db, query)).map((p) => this.named(p)) };
  }

  private historySort(p: Params): HistorySort | undefined {
    const sort = p.string('sort');
    const known = ['start', ...Object.keys(HISTORY_SORTS)];
    if (sort !== undefined && !known.includes(sort)) throw new BadRequest(`parameter 'sort' must be one of ${known.join(', ')}, got '${sort.slice(0, 40)}'`);
    return sort as HistorySort | undefined;
  }

  /** Stored rows carry ids; users read names. */
  private named<T extends { euid: number | null }>(p: T): T & { user: string | null } {
    return { ...p, user: p.euid === null ? null : this.users.userName(p.euid) };
  }

  private lineage(url: URL): unknown {
    const p = new Params(url.searchParams, ['limit', 'boot']);
    const boot = p.boot() ?? this.daemon.status.bootId;
    const key = this.findKey(this.pathRef(url), boot);
    const limit = p.limit(1000);
    this.flushStore();
    const lineage = queryLineage(this.daemon.store.db, boot, key, limit);
    if (lineage === null) throw new BadRequest(`no process with key ${key} is known${this.bootNote(boot)}`, 404);
    return { ...lineage, process: this.named(lineage.process), ancestors: lineage.ancestors.map((p) => this.named(p)), descendants: lineage.descendants.map((p) => this.named(p)) };
  }

  /** A process's syscall profile (schema 6) and its stored TCP sessions, summed. */
  private syscalls(url: URL): unknown {
    const p = new Params(url.searchParams, ['boot']);
    const boot = p.boot() ?? this.daemon.status.bootId;
    const key = this.findKey(this.pathRef(url), boot);
    this.flushStore();
    const db = this.daemon.store.db;
    const known = (boot === this.daemon.status.bootId && this.daemon.tracker.table.get(key) !== undefined) || getProcess(db, boot, key) !== null;
    if (!known) throw new BadRequest(`no process with key ${key} is known${this.bootNote(boot)}`, 404);
    return { key, bootId: boot, syscalls: querySyscallProfile(db, boot, key), sessions: querySessionTotals(db, boot, key) };
  }

  /** GET /v1/resources/{pid|key}: a live pid, else the latest stored instance of this boot. */
  private resourceSeries(url: URL): unknown {
    const p = new Params(url.searchParams, ['since', 'until', 'limit']);
    return this.resources.series(this.findKey(this.pathRef(url), this.daemon.status.bootId), p);
  }

  private stats(url: URL): unknown {
    const p = new Params(url.searchParams, ['counts']);
    // counts=0 skips counting the stored rows (a scan of the events table): for pages that poll every second.
    const counts = url.searchParams.has('counts') ? p.boolean('counts') : true;
    const c = this.daemon.tracker.counters();
    const store = this.daemon.store.counters();
    const cfg = this.daemon.config;
    return {
      limits: {
        ringBufferBytes: this.daemon.status.source === 'ebpf' ? cfg.ebpf.ringBytes ?? DAEMON_RING_BYTES : null,
        rcvbufBytes: this.daemon.status.source === 'netlink' ? cfg.rcvbufBytes : null,
        pollIntervalMs: this.daemon.status.source === 'poll' ? cfg.pollIntervalMs : null,
        holdMs: cfg.holdMs, maxQueue: cfg.maxQueue, maxExited: cfg.maxExited,
        retentionMaxAgeSeconds: cfg.retentionMaxAgeMs === null ? null : cfg.retentionMaxAgeMs / 1000, retentionMaxBytes: cfg.retentionMaxBytes,
      },
      resources: resourceStats(this.daemon.resources),
      source: this.daemon.status.source,
      uptimeSeconds: (Date.now() - this.daemon.status.startedMs) / 1000,
      eventsByKind: this.eventsByKind,
      sourceCounters: c.source,
      reorder: c.reorder,
      table: c.table,
      store: {
        ...store, ...(counts ? queryStats(this.daemon.store.db) : {}), retentionRuns: this.daemon.retentionRuns, retentionDeletedEvents: this.daemon.retentionDeleted,
        retentionDeletedUnexported: this.daemon.retentionDeletedUnexported,
      },
      api: {
        streamClients: this.streamClients, ...this.requestErrors, heavyInFlight: this.heavyInFlight,
        refusedConnections: [...this.guards.values()].reduce((n, g) => n + g.counters().refusedConnections, 0),
        listeners: this.listenerCounters(),
      },
      ...(this.daemon.rules === null ? {} : { rules: { ...this.daemon.rules.engine.counters, reload: this.daemon.rules.reloadStatus, alertStoreFailures: this.daemon.rules.alertStore.failures } }),
      ...(this.daemon.exporter === null ? {} : { export: this.daemon.exporter.stats() }),
    };
  }

  private async prometheus(url: URL, res: ServerResponse): Promise<undefined> {
    new Params(url.searchParams, []);
    const c = this.daemon.tracker.counters();
    const s = this.daemon.store.counters();
    const text = await this.metrics.render({
      eventsByKind: this.eventsByKind, lost: c.source.lost, malformed: c.source.malformed, late: c.reorder.late, resyncs: c.table.resyncs,
      live: c.table.live, exitedCached: c.table.exited, threadEvents: c.table.threadEvents, storeQueued: s.queued, storeWritten: s.written,
      storeDropped: s.dropped, storeLagSeconds: s.lagMs / 1000, storeBytes: s.dbBytes, streamClients: this.streamClients,
      uptimeSeconds: (Date.now() - this.daemon.status.startedMs) / 1000, ...(this.daemon.rules === null ? {} : { rules: this.daemon.rules.metrics() }),
      ...(this.daemon.exporter === null ? {} : { export: { ...this.daemon.exporter.stats(), retentionDeletedUnexported: this.daemon.retentionDeletedUnexported } }),
    });
    res.writeHead(200, { 'content-type': this.metrics.contentType });
    res.end(text + await this.resourceMetrics.render(this.daemon.resources));
    return undefined;
  }

  private newServer(name: string, tokens: TcpTokens | null, tls: { cert: Buffer; key: Buffer } | null = null): Server {
    const hash = (t: string | null | undefined): Buffer | null => (t === null || t === undefined ? null : sha256(`Bearer ${t}`));
    const access = tokens === null ? null : { full: hash(tokens.token), scrape: hash(tokens.scrapeToken) };
    let guard: ConnectionGuard | null = null;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      // The one request that is not a GET: a login link for the web console, on the unix socket only (whoever may open it is trusted).
      if (tokens === null && req.method === 'POST' && req.url === '/v1/web/login-links') {
        guard?.accepted(req.socket);
        return this.loginLink(res);
      }
      void this.handle(req, res, access, guard);
    };
    const server: Server = tls === null ? createServer(handler)
      : createHttpsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: this.limits.firstRequestMs }, handler);
    // The unix socket (root, or the socket group) is not held to the tighter bound of TCP clients without a token.
    guard = new ConnectionGuard(server, name, this.limits, tokens === null ? this.limits.maxConnections : this.limits.maxUnauthenticated, this.log);
    this.guards.set(server, guard);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    // A failed TLS handshake (a scanner, a client without our CA) is the client's problem.
    server.on('tlsClientError', (_err: Error, socket: Socket) => { this.requestErrors.badRequests++; socket.destroy(); });
    return server;
  }

  /** Requests of a browser the web console has logged in: the same handler as the unix socket's. */
  serveAuthenticated(req: IncomingMessage, res: ServerResponse): void {
    void this.handle(req, res, null, null);
  }

  private loginLink(res: ServerResponse): void {
    if (this.console === null) {
      this.requestErrors.badRequests++;
      return send(res, 404, { error: 'the web console is off: set daemon.web.listen in the config (README: "Web console")' });
    }
    send(res, 200, this.console.loginLink());
  }

  /**
   * Listens on the unix socket. A stale socket from a crashed run is replaced; anything else at
   * that path (a file, the database itself) is refused, never deleted; a live daemon there too.
   */
  async listenUnix(path: string, group: number | null): Promise<void> {
    makeDirs(dirname(path), privateDirMode(group), group);
    const slot = socketSlotProblem(path);
    if (slot !== null) throw new InputError(slot);
    if (existsSync(path)) {
      if (await socketAnswers(path)) throw new AlreadyRunning(`another procwatch daemon is already running (it answers on ${path})`);
      if (lstatSync(path).isSocket()) unlinkSync(path); // stale socket from a crashed run (checked again: time passed)
    }
    const server = this.newServer(path, null);
    // bind() creates the socket file with 0777 less the umask: under a restrictive umask it is
    // born 0600, so nobody can connect between its creation and the chmod (with umask 000 a
    // user who connected in that window kept the connection). The bind happens synchronously
    // inside listen(), and no other JavaScript runs in between. The group is given access
    // only after the group owner is set.
    const listening = new Promise<void>((resolve, reject) => { server.once('error', reject); server.once('listening', () => resolve()); });
    const umask = process.umask(0o177);
    try {
      server.listen(path);
    } finally {
      process.umask(umask);
    }
    await listening;
    this.servers.push(server); // before anything else can fail: close() must find it
    if (group !== null) chownSync(path, -1, group);
    chmodSync(path, group === null ? 0o600 : 0o660);
  }

  /**
   * The API on TCP, with bearer tokens, and HTTPS when `tls` names a certificate and key
   * (PEM files, read now: a file that cannot be read is a one-line InputError).
   */
  async listenTcp(listen: string, tokens: string | TcpTokens, tls: { cert: string; key: string } | null = null): Promise<void> {
    const colon = listen.lastIndexOf(':');
    const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
    const read = (path: string, key: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new InputError(`daemon.http.tls.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    const pem = tls === null ? null : { cert: read(tls.cert, 'cert'), key: read(tls.key, 'key') };
    let server: Server;
    try {
      server = this.newServer(listen, typeof tokens === 'string' ? { token: tokens } : tokens, pem);
    } catch (err) {
      throw new InputError(`daemon.http.tls: the certificate and key cannot be used: ${oneLine((err as Error).message)}`);
    }
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(Number(listen.slice(colon + 1)), host, () => resolve()); });
    this.servers.push(server);
  }

  /** Each listener's connection counters, in the order they began listening (the unix socket first). */
  listenerCounters(): Array<{ listener: string } & ReturnType<ConnectionGuard['counters']>> {
    return [...this.guards.values()].map((g) => ({ listener: g.name, ...g.counters() }));
  }

  /** The TCP port actually bound (for a listen address with port 0, as in tests); null without TCP. */
  tcpPort(): number | null {
    for (const server of this.servers) {
      const address = server.address();
      if (address !== null && typeof address === 'object') return address.port;
    }
    return null;
  }

  async close(): Promise<void> {
    for (const server of this.servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

type LiveMatcher = (r: ProcessRecord | undefined, argv: readonly string[] | null) => boolean;

/** A group (no nested group inside) with a quantifier in it, itself quantified: `(a+)+`, `(x*y)*`, `(\d+){2,}`. */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*(?:[+*]|\{\d+,?\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d+,?\d*\})/;

interface LiveFilter {
  matches: LiveMatcher;
  /** The subtree's keys so far, or null without `subtree`. */
  subtreeKeys: Set<string> | null;
}

/** A live event's process is in the subtree when it is one of the pid's, or descends from a member (it then joins). */
function inSubtree(keys: Set<string>, r: ProcessRecord | undefined, pid: number, table: Daemon['tracker']['table']): boolean {
  if (r === undefined) return false;
  if (keys.has(r.key)) return true;
  if (r.pid === pid || table.ancestors(r.key).some((a) => keys.has(a.key))) {
    keys.add(r.key);
    return true;
  }
  return false;
}

/** One line, and short: a message may quote a client's whole parameter. */
function oneLine(text: string): string {
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length <= 300 ? line : `${line.slice(0, 300)}...`;
}

/**
 * One server-sent event: a stored event's id as `id:` (what `Last-Event-ID` gives back) and
 * its kind as `event:`; lines that are not events (truncated, stream_closed) have no id, so a
 * reconnecting client resumes after the last real event.
 */
function sseMessage(obj: unknown): string {
  const o = obj as { id?: unknown; kind?: unknown };
  const id = typeof o.id === 'number' ? `id: ${o.id}\n` : '';
  const kind = typeof o.kind === 'string' ? `event: ${o.kind}\n` : '';
  return `${id}${kind}data: ${JSON.stringify(obj)}\n\n`;
}

/** The `Last-Event-ID` header of a reconnecting SSE client: an event id, or a 400. */
function lastEventId(req: IncomingMessage): number | undefined {
  const v = req.headers['last-event-id'];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v) || !Number.isSafeInteger(n)) throw new BadRequest(`header Last-Event-ID must be an event id (a whole number), got '${String(v).slice(0, 40)}'`);
  return n;
}

/**
 * `{"KEY":[...pages...],TAIL}`, each page written when the client has read the one before, so
 * a client that does not read holds one page, not the answer.
 */
async function writeJsonPaged(res: ServerResponse, key: string, pages: AsyncIterable<unknown[]> | Iterable<unknown[]>, tail: string): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write(`{${JSON.stringify(key)}:[`);
  let first = true;
  for await (const page of pages) {
    const text = page.map((item) => JSON.stringify(item)).join(',');
    const ok = res.write(first ? text : `,${text}`);
    first = false;
    if (!ok) await drained(res);
    if (res.destroyed) return;
  }
  res.end(`]${tail === '' ? '' : `,${tail}`}}`);
}

/**
 * A JSON answer whose first array-valued key is large: written as writeJsonPaged does, the
 * other keys as they are. Same text as JSON.stringify(body).
 */
async function sendJsonPaged(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
  const keys = Object.keys(body);
  const arrayKey = keys.find((k) => Array.isArray(body[k]));
  if (arrayKey === undefined || keys[0] !== arrayKey) {
    send(res, 200, body);
    return;
  }
  const items = body[arrayKey] as unknown[];
  const pages = function* (): Generator<unknown[]> {
    for (let i = 0; i < items.length; i += ANSWER_PAGE) yield items.slice(i, i + ANSWER_PAGE);
  };
  const tail = keys.slice(1).map((k) => `${JSON.stringify(k)}:${JSON.stringify(body[k])}`).join(',');
  await writeJsonPaged(res, arrayKey, pages(), tail);
}

/** `format=json` (null) or `format=text` with the caller's clock (`tz_offset`: minutes east of UTC). */
function textFormat(p: Params): WallClock | null {
  const format = p.string('format') ?? 'json';
  if (format !== 'json' && format !== 'text') throw new BadRequest(`parameter 'format' must be json or text, got '${format}'`);
  const offset = p.string('tz_offset');
  if (format === 'json') {
    if (offset !== undefined) throw new BadRequest("parameter 'tz_offset' goes with format=text");
    return null;
  }
  const clock = localClock();
  if (offset === undefined) return clock;
  const minutes = Number(offset);
  if (!/^-?\d+$/.test(offset) || Math.abs(minutes) > 14 * 60) throw new BadRequest(`parameter 'tz_offset' must be minutes east of UTC, from -840 to 840, got '${offset}'`);
  return { nowMs: clock.nowMs, offsetMinutes: minutes };
}

function sendText(res: ServerResponse, text: string): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A long-lived stream (follow=1 of /v1/events or /v1/processes): counted in limits.maxStreams, not in the heavy slots. */
function isStream(url: URL): boolean {
  const follow = url.searchParams.get('follow');
  return (url.pathname === '/v1/events' || url.pathname === '/v1/processes') && follow !== null && follow !== '0' && follow !== 'false';
}
