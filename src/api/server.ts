/**
 * The daemon's HTTP+JSON API, served on a unix socket (and optionally on loopback TCP with a
 * bearer token). Every path and field is documented in the README ("API reference").
 * Bad requests get a 4xx with {"error": "..."}; the daemon keeps running whatever arrives.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { chmodSync, chownSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
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
  getProcess, latestByPid, latestEvents, queryEvents, queryHistory, queryLineage, querySessionTotals, queryStats, querySyscallProfile, HISTORY_SORTS,
  type EventQuery, type HistorySort,
} from '../store/index.js';
import type { ProcessRecord } from '../table/index.js';
import type { RulesService } from '../rules/service.js';
import { globToRegExp } from '../util/glob.js';
import { BadRequest, MAX_LIMIT, Params } from './params.js';
import { recordJson, type ProcessJson } from './views.js';

/** What mints the web console's one-time login links (POST /v1/web/login-links, unix socket only). */
export interface LoginLinks {
  loginLink(): { url: string; expiresAt: string };
}

export interface ApiOptions {
  /** A follower this far behind is disconnected rather than buffered without bound (default 8 MiB). */
  maxStreamBacklogBytes?: number;
}

/** Stored events a follower receives per query while it catches up. */
const FOLLOW_PAGE = 1000;
/** A disconnected slow follower gets this long to read its last lines before the socket is cut. */
const SLOW_CLIENT_GRACE_MS = 10_000;

type Handler = (url: URL, req: IncomingMessage, res: ServerResponse) => Promise<unknown> | unknown;

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

export class ApiServer {
  private readonly users = new UserDb();
  private readonly metrics = new MetricsRenderer();
  private readonly resources: ResourcesApi;
  private readonly resourceMetrics = new ResourceMetrics();
  private readonly servers: Server[] = [];
  private readonly eventsByKind: Record<string, number> = {};
  private readonly maxBacklog: number;
  private streamClients = 0;
  readonly requestErrors = { badRequests: 0, internal: 0 };
  /** The web console, when daemon.web is on (issue 13). */
  console: LoginLinks | null = null;

  constructor(private readonly daemon: Daemon, options: ApiOptions = {}) {
    this.maxBacklog = options.maxStreamBacklogBytes ?? 8 * 1024 * 1024;
    this.resources = new ResourcesApi(daemon, this.users);
    daemon.on((events) => { for (const e of events) this.eventsByKind[e.kind] = (this.eventsByKind[e.kind] ?? 0) + 1; });
  }

  private routes(): Array<[RegExp, Handler]> {
    return [
      [/^\/v1\/health$/, () => this.health()],
      [/^\/v1\/processes$/, (u, req, res) => this.processes(u, req, res)],
      [/^\/v1\/processes\/([^/]+)$/, (u) => this.process(u)],
      [/^\/v1\/tree$/, (u) => this.tree(u)],
      [/^\/v1\/events$/, (u, req, res) => this.events(u, req, res)],
      [/^\/v1\/history$/, (u) => this.history(u)],
      [/^\/v1\/lineage\/([^/]+)$/, (u) => this.lineage(u)],
      [/^\/v1\/syscalls\/([^/]+)$/, (u) => this.syscalls(u)],
      [/^\/v1\/stats$/, (u) => this.stats(u)],
      [/^\/v1\/alerts$/, (u, req, res) => this.alerts(u, req, res)],
      [/^\/v1\/rules$/, (u) => this.rulesInfo(u)],
      [/^\/v1\/checks$/, (u) => this.checksInfo(u)],
      [/^\/v1\/baseline$/, (u) => this.baselineInfo(u)],
      [/^\/v1\/resources$/, (u) => this.resources.resources(new Params(u.searchParams, RESOURCE_PARAMS))],
      [/^\/v1\/resources\/([^/]+)$/, (u) => this.resourceSeries(u)],
      [/^\/metrics$/, (u, _req, res) => this.prometheus(u, res)],
    ];
  }

  private async handle(req: IncomingMessage, res: ServerResponse, token: Buffer | null): Promise<void> {
    try {
      // Hashes have one length, so the comparison takes the same time whatever was sent.
      if (token !== null && !timingSafeEqual(sha256(req.headers.authorization ?? ''), token)) throw new BadRequest('missing or wrong bearer token', 401);
      if (req.method !== 'GET') throw new BadRequest(`method ${req.method ?? '?'} not allowed: the API is read-only and answers GET only`, 405);
      const target = req.url ?? '';
      if (!target.startsWith('/')) throw new BadRequest(`the request target must be a path such as /v1/health, got '${target.slice(0, 100)}'`);
      // Parsed as a path, never as a URL: '//v1/x' would otherwise be host 'v1', path '/x'.
      const url = new URL(`http://procwatch${target}`);
      const route = this.routes().find(([re]) => re.test(url.pathname));
      if (route === undefined) throw new BadRequest(`no such path ${url.pathname} (see the README's API reference)`, 404);
      const body = await route[1](url, req, res);
      if (body instanceof TextAnswer) sendText(res, body.text);
      else if (body !== undefined) send(res, 200, body);
    } catch (err) {
      const bad = err instanceof BadRequest ? err
        : err instanceof InputError ? new BadRequest(err.message)
          : err instanceof URIError ? new BadRequest(`malformed percent-encoding in ${(req.url ?? '').slice(0, 100)}`)
            : null;
      if (bad !== null) this.requestErrors.badRequests++;
      else this.requestErrors.internal++;
      if (res.headersSent) res.end();
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

  private health(): unknown {
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
    const p = new Params(url.searchParams, ['user', 'name', 'exe', 'pid', 'ppid', 'limit', 'format', 'fields', 'tz_offset', 'follow']);
    if (p.boolean('follow')) return this.followProcesses(p, req, res);
    const text = textFormat(p);
    const fields = p.string('fields');
    if (fields !== undefined && text === null) throw new BadRequest("parameter 'fields' chooses the columns of format=text");
    const uid = this.uidParam(p);
    const nameRe = this.glob(p, 'name');
    const exeRe = this.glob(p, 'exe');
    const pid = p.pid('pid');
    const ppid = p.pid('ppid', 0);
    const limit = p.limit(MAX_LIMIT * 10, MAX_LIMIT * 10);
    const out: ProcessRecord[] = [];
    for (const r of this.daemon.tracker.table.live.values()) {
      if (uid !== undefined && r.uids?.[1] !== uid) continue;
      if (nameRe !== null && !(r.comm !== null && nameRe.test(r.comm))) continue;
      if (exeRe !== null && !(r.exe !== null && exeRe.test(r.exe))) continue;
      if (pid !== undefined && r.pid !== pid) continue;
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
    for (const other of ['user', 'name', 'exe', 'pid', 'ppid', 'limit', 'fields', 'tz_offset']) {
      if (p.string(other) !== undefined) throw new BadRequest(`parameter '${other}' cannot be used with parameter 'follow': the stream is the whole table`);
    }
    const stream = this.openStream(res, format);
    this.streamClients++;
    try {
      await new ProcessFollower(this.daemon, this.users, stream.write, res).run();
    } finally {
      this.streamClients--;
    }
    return undefined;
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
    if (/^\d+:(\d+|\?\d+)$/.test(ref)) return ref;
    if (!/^\d+$/.test(ref)) throw new BadRequest(`'${ref.slice(0, 100)}' is neither a pid nor a process key (pid:starttime)`);
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
    const p = new Params(url.searchParams, ['since', 'until', 'kind', 'pid', 'key', 'user', 'limit', 'follow', 'format']);
    const kinds = p.list('kind', EVENT_KINDS);
    const pid = p.pid('pid', 0);
    const euid = this.uidParam(p);
    const key = p.string('key');
    const follow = p.boolean('follow');
    const format = p.string('format') ?? (req.headers.accept === 'text/event-stream' ? 'sse' : follow ? 'ndjson' : 'json');
    if (!['json', 'ndjson', 'sse'].includes(format)) throw new BadRequest(`parameter 'format' must be json, ndjson or sse, got '${format}'`);
    if (format === 'json' && follow) throw new BadRequest("parameter 'follow' streams: use format=ndjson or format=sse");
    const query: EventQuery = { sinceMs: p.time('since'), untilMs: p.time('until'), kinds, pid, key, euid, limit: p.limit(1000) };
    if (query.sinceMs !== undefined && query.untilMs !== undefined && query.sinceMs > query.untilMs) throw new BadRequest("parameter 'since' is after parameter 'until'");
    if (follow && query.untilMs !== undefined) throw new BadRequest("parameter 'until' cannot be used with parameter 'follow': a follower has no end");
    const db = this.daemon.store.db;
    this.flushStore(); // answer with everything received so far
    if (!follow) {
      // The newest `limit` events, oldest first: `events --since 1h` shows what just happened.
      const page = latestEvents(db, query);
      if (format === 'json') return page;
      const stream = this.openStream(res, format);
      for (const e of page.events) stream.write(e);
      if (page.truncated) stream.write({ kind: 'truncated', limit: query.limit, reason: 'older events matched too: narrow the range or raise limit' });
      res.end();
      return undefined;
    }
    return this.follow(url, res, format, query);
  }

  private openStream(res: ServerResponse, format: string): { write(obj: unknown): boolean } {
    res.writeHead(200, { 'content-type': format === 'sse' ? 'text/event-stream' : 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders(); // a follower with nothing to read yet still learns that the stream is open
    return { write: (obj) => res.write(format === 'sse' ? `data: ${JSON.stringify(obj)}\n\n` : `${JSON.stringify(obj)}\n`) };
  }

  /**
   * Stored events first, a page at a time, waiting for the client to read each (memory stays
   * bounded however long the range); then, in the same tick as the last page, the live
   * stream: nothing is skipped or sent twice. With `limit`, only the newest `limit` stored
   * events come first (like `tail -n N -f`).
   */
  private async follow(url: URL, res: ServerResponse, format: string, query: EventQuery): Promise<undefined> {
    const db = this.daemon.store.db;
    const stream = this.openStream(res, format);
    let closed = false;
    res.on('close', () => { closed = true; });
    this.streamClients++;
    try {
      let afterId = 0;
      let full = false; // a write returned false: wait for 'drain' before the next page
      if (url.searchParams.has('limit')) {
        const newest = latestEvents(db, query).events;
        for (const e of newest) full = !stream.write(e) || full;
        afterId = newest.at(-1)?.id ?? (db.prepare('SELECT max(id) AS id FROM events').get() as { id: number | null }).id ?? 0;
      }
      for (;;) {
        if (full) await drained(res);
        if (closed) return undefined;
        full = false;
        this.flushStore();
        const page = queryEvents(db, { ...query, afterId, limit: FOLLOW_PAGE });
        for (const e of page) full = !stream.write(e) || full;
        afterId = page.at(-1)?.id ?? afterId;
        if (page.length < FOLLOW_PAGE) break; // caught up: no await from here to the subscription
      }
      const stop = this.daemon.on((events) => this.sendLive(events, query, stream, res, stop));
      await new Promise<void>((resolve) => (closed ? resolve() : res.on('close', () => resolve())));
      stop();
    } finally {
      this.streamClients--;
    }
    return undefined;
  }

  private sendLive(events: readonly ProcEvent[], q: EventQuery, stream: { write(obj: unknown): boolean }, res: ServerResponse, stop: () => void): void {
    if (res.writableEnded) return;
    const { tracker, status, store } = this.daemon;
    const kinds = q.kinds === undefined ? null : new Set<string>(q.kinds);
    for (const e of events) {
      // `lost` always passes the filters: the gap may hold the very events filtered for.
      if (e.kind !== 'lost') {
        if (kinds !== null && !kinds.has(e.kind)) continue;
        if (q.pid !== undefined && e.pid !== q.pid) continue;
        if (q.key !== undefined && e.key !== q.key) continue;
      }
      const record = tracker.table.recordAt(e); // as of this event, as `watch` shows it
      if (e.kind !== 'lost' && q.euid !== undefined && record?.uids?.[1] !== q.euid) continue;
      stream.write({ bootId: status.bootId, run: store.run, ...eventJson({ event: e, record, wallMs: tracker.clock.wallMs(e.ktimeNs) }, this.users) });
    }
    if (res.writableLength > this.maxBacklog) {
      // The last line says why; ending (not destroying) lets a slow client still read it.
      stop();
      stream.write({ kind: 'stream_closed', reason: `client too slow: over ${Math.round(this.maxBacklog / 1024)} KiB behind` });
      res.end();
      setTimeout(() => res.destroy(), SLOW_CLIENT_GRACE_MS).unref();
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
    const p = new Params(url.searchParams, ['since', 'until', 'exe', 'name', 'user', 'pid', 'limit', 'sort', 'min_cpu', 'min_rss', 'min_read', 'min_write']);
    const exe = p.string('exe');
    const name = p.string('name');
    this.glob(p, 'exe'); // the store matches with SQLite GLOB; a malformed glob is refused the same way
    this.glob(p, 'name');
    const query = {
      sinceMs: p.time('since'), untilMs: p.time('until'), exe, name, euid: this.uidParam(p), pid: p.pid('pid'), limit: p.limit(1000),
      sort: this.historySort(p),
      minCpuSeconds: p.seconds('min_cpu'), minRssBytes: p.size('min_rss'), minReadBytes: p.size('min_read'), minWriteBytes: p.size('min_write'),
    };
    if (query.sinceMs !== undefined && query.untilMs !== undefined && query.sinceMs > query.untilMs) throw new BadRequest("parameter 'since' is after parameter 'until'");
    this.flushStore();
    return { processes: queryHistory(this.daemon.store.db, query).map((p) => this.named(p)) };
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
      store: { ...store, ...(counts ? queryStats(this.daemon.store.db) : {}), retentionRuns: this.daemon.retentionRuns, retentionDeletedEvents: this.daemon.retentionDeleted },
      api: { streamClients: this.streamClients, ...this.requestErrors },
      ...(this.daemon.rules === null ? {} : { rules: { ...this.daemon.rules.engine.counters, reload: this.daemon.rules.reloadStatus, alertStoreFailures: this.daemon.rules.alertStore.failures } }),
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
    });
    res.writeHead(200, { 'content-type': this.metrics.contentType });
    res.end(text + await this.resourceMetrics.render(this.daemon.resources));
    return undefined;
  }

  private newServer(token: string | null): Server {
    const expected = token === null ? null : sha256(`Bearer ${token}`);
    const server = createServer((req, res) => {
      // The one request that is not a GET: a login link for the web console, on the unix socket only (whoever may open it is trusted).
      if (token === null && req.method === 'POST' && req.url === '/v1/web/login-links') return this.loginLink(res);
      void this.handle(req, res, expected);
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    return server;
  }

  /** Requests of a browser the web console has logged in: the same handler as the unix socket's. */
  serveAuthenticated(req: IncomingMessage, res: ServerResponse): void {
    void this.handle(req, res, null);
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
    const server = this.newServer(null);
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => resolve()); });
    this.servers.push(server); // before anything else can fail: close() must find it
    chmodSync(path, group === null ? 0o600 : 0o660);
    if (group !== null) chownSync(path, -1, group);
  }

  async listenTcp(listen: string, token: string): Promise<void> {
    const colon = listen.lastIndexOf(':');
    const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
    const server = this.newServer(token);
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(Number(listen.slice(colon + 1)), host, () => resolve()); });
    this.servers.push(server);
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

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** Resolves when the response's buffer has been written out, or the client went away. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
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

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
