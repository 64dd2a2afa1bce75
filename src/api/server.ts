/**
 * The daemon's HTTP+JSON API, served on a unix socket (and optionally on loopback TCP with a
 * bearer token). Every path and field is documented in the README ("API reference").
 * Bad requests get a 400 with {"error": "..."}; the daemon keeps running whatever arrives.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { socketAnswers } from '../daemon/instance.js';
import { dirname } from 'node:path';
import type { Daemon } from '../daemon/daemon.js';
import { EVENT_KINDS, type EventKind, type ProcEvent } from '../events/types.js';
import { UserDb } from '../procfs/index.js';
import { eventJson } from '../report/index.js';
import { MetricsRenderer } from '../report/prometheus.js';
import { getProcess, latestByPid, queryEvents, queryHistory, queryLineage, queryStats } from '../store/index.js';
import type { ProcessRecord } from '../table/index.js';
import { globToRegExp } from '../util/glob.js';
import { BadRequest, MAX_LIMIT, Params } from './params.js';
import { recordJson, type ProcessJson } from './views.js';

/** A follower this far behind is disconnected rather than buffered without bound. */
const MAX_STREAM_BACKLOG = 8 * 1024 * 1024;

type Handler = (url: URL, req: IncomingMessage, res: ServerResponse) => Promise<unknown> | unknown;

export class ApiServer {
  private readonly users = new UserDb();
  private readonly metrics = new MetricsRenderer();
  private readonly servers: Server[] = [];
  private readonly eventsByKind: Record<string, number> = {};
  private streamClients = 0;
  readonly requestErrors = { badRequests: 0, internal: 0 };

  constructor(private readonly daemon: Daemon) {
    daemon.on((events) => { for (const e of events) this.eventsByKind[e.kind] = (this.eventsByKind[e.kind] ?? 0) + 1; });
  }

  private routes(): Array<[RegExp, Handler]> {
    return [
      [/^\/v1\/health$/, () => this.health()],
      [/^\/v1\/processes$/, (u) => this.processes(u)],
      [/^\/v1\/processes\/([^/]+)$/, (u) => this.process(u)],
      [/^\/v1\/tree$/, (u) => this.tree(u)],
      [/^\/v1\/events$/, (u, req, res) => this.events(u, req, res)],
      [/^\/v1\/history$/, (u) => this.history(u)],
      [/^\/v1\/lineage\/([^/]+)$/, (u) => this.lineage(u)],
      [/^\/v1\/stats$/, (u) => this.stats(u)],
      [/^\/metrics$/, (u, _req, res) => this.prometheus(u, res)],
    ];
  }

  private async handle(req: IncomingMessage, res: ServerResponse, token: string | null): Promise<void> {
    try {
      if (token !== null && req.headers.authorization !== `Bearer ${token}`) throw new BadRequest('missing or wrong bearer token', 401);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new BadRequest(`method ${req.method} not allowed: the API is read-only`, 405);
      const url = new URL(req.url ?? '/', 'http://procwatch');
      const route = this.routes().find(([re]) => re.test(url.pathname));
      if (route === undefined) throw new BadRequest(`no such path ${url.pathname} (see the README's API reference)`, 404);
      const body = await route[1](url, req, res);
      if (body !== undefined) send(res, 200, body);
    } catch (err) {
      if (err instanceof BadRequest) {
        this.requestErrors.badRequests++;
        if (!res.headersSent) send(res, err.status, { error: err.message });
        else res.end();
      } else {
        this.requestErrors.internal++;
        if (!res.headersSent) send(res, 500, { error: `internal error: ${(err as Error).message}` });
        else res.end();
      }
    }
  }

  private view(r: ProcessRecord): ProcessJson {
    return recordJson(r, this.daemon.tracker.clock, this.users);
  }

  private health(): unknown {
    const { status } = this.daemon;
    return { ok: true, source: status.source, sourceWhy: status.sourceWhy, bootId: status.bootId, startedAt: new Date(status.startedMs).toISOString(), pid: process.pid };
  }

  private processes(url: URL): unknown {
    const p = new Params(url.searchParams, ['user', 'name', 'exe', 'pid', 'ppid', 'limit']);
    const uid = this.uidParam(p);
    const name = p.string('name');
    const exe = p.string('exe');
    const pid = p.integer('pid', 1, 2 ** 31);
    const ppid = p.integer('ppid', 0, 2 ** 31);
    const limit = p.limit(MAX_LIMIT * 10, MAX_LIMIT * 10);
    const nameRe = name === undefined ? null : globToRegExp(name);
    const exeRe = exe === undefined ? null : globToRegExp(exe);
    const out: ProcessJson[] = [];
    for (const r of this.daemon.tracker.table.live.values()) {
      if (uid !== undefined && r.uids?.[1] !== uid) continue;
      if (nameRe !== null && !(r.comm !== null && nameRe.test(r.comm))) continue;
      if (exeRe !== null && !(r.exe !== null && exeRe.test(r.exe))) continue;
      if (pid !== undefined && r.pid !== pid) continue;
      if (ppid !== undefined && r.ppid !== ppid) continue;
      out.push(this.view(r));
      if (out.length >= limit) break;
    }
    return { processes: out.sort((a, b) => a.pid - b.pid) };
  }

  private uidParam(p: Params): number | undefined {
    const user = p.string('user');
    if (user === undefined) return undefined;
    const uid = /^\d+$/.test(user) ? Number(user) : this.users.passwd.byName.get(user);
    if (uid === undefined) throw new BadRequest(`unknown user '${user}'`);
    return uid;
  }

  /** A process by key (`pid:start`) or by pid (the live one, else the latest stored). */
  private findKey(ref: string): string {
    const table = this.daemon.tracker.table;
    if (/^\d+:(\d+|\?\d+)$/.test(ref)) return ref;
    if (!/^\d+$/.test(ref)) throw new BadRequest(`'${ref}' is neither a pid nor a process key (pid:starttime)`);
    const live = table.live.get(Number(ref));
    if (live !== undefined) return live.key;
    this.daemon.store.flush();
    const stored = latestByPid(this.daemon.store.db, this.daemon.status.bootId, Number(ref));
    if (stored === null) throw new BadRequest(`no process with pid ${ref} is known`, 404);
    return stored.key;
  }

  private process(url: URL): unknown {
    new Params(url.searchParams, []);
    const key = this.findKey(decodeURIComponent(url.pathname.split('/')[3] ?? ''));
    const record = this.daemon.tracker.table.get(key);
    if (record !== undefined) return { process: this.view(record) };
    this.daemon.store.flush();
    const stored = getProcess(this.daemon.store.db, this.daemon.status.bootId, key);
    if (stored === null) throw new BadRequest(`no process with key ${key} is known`, 404);
    return { process: this.named(stored) };
  }

  private tree(url: URL): unknown {
    const p = new Params(url.searchParams, ['pid']);
    const table = this.daemon.tracker.table;
    const rootPid = p.integer('pid', 1, 2 ** 31);
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
      return { roots: [build(root, 0)] };
    }
    return { roots: (children.get(null) ?? []).sort((a, b) => a.pid - b.pid).map((r) => build(r, 0)) };
  }

  private async events(url: URL, req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const p = new Params(url.searchParams, ['since', 'until', 'kind', 'pid', 'key', 'limit', 'follow', 'format']);
    const kinds = p.list('kind', EVENT_KINDS);
    const pid = p.integer('pid', 0, 2 ** 31);
    const key = p.string('key');
    const follow = p.boolean('follow');
    const format = p.string('format') ?? (req.headers.accept === 'text/event-stream' ? 'sse' : follow ? 'ndjson' : 'json');
    if (!['json', 'ndjson', 'sse'].includes(format)) throw new BadRequest(`parameter 'format' must be json, ndjson or sse, got '${format}'`);
    if (format === 'json' && follow) throw new BadRequest("follow=1 streams: use format=ndjson or format=sse");
    const query = { sinceMs: p.time('since'), untilMs: p.time('until'), kinds, pid, key, limit: p.limit(1000) };
    if (query.sinceMs !== undefined && query.untilMs !== undefined && query.sinceMs > query.untilMs) throw new BadRequest("'since' is after 'until'");
    this.daemon.store.flush(); // answer with everything received so far
    const stored = queryEvents(this.daemon.store.db, query);
    if (format === 'json') return { events: stored, truncated: stored.length === query.limit };
    res.writeHead(200, { 'content-type': format === 'sse' ? 'text/event-stream' : 'application/x-ndjson', 'cache-control': 'no-store' });
    const write = (obj: unknown): void => { res.write(format === 'sse' ? `data: ${JSON.stringify(obj)}\n\n` : `${JSON.stringify(obj)}\n`); };
    for (const e of stored) write(e);
    if (!follow) { res.end(); return undefined; }
    const kindSet = kinds === undefined ? null : new Set(kinds);
    const { tracker, status } = this.daemon;
    this.streamClients++;
    const stop = this.daemon.on((events: readonly ProcEvent[]) => {
      for (const e of events) {
        if (e.kind !== 'lost' && kindSet !== null && !kindSet.has(e.kind)) continue;
        if (pid !== undefined && e.pid !== pid) continue;
        if (key !== undefined && e.key !== key) continue;
        const record = e.key ? tracker.table.get(e.key) : undefined;
        write({ bootId: status.bootId, ...eventJson({ event: e, record, wallMs: tracker.clock.wallMs(e.ktimeNs) }, this.users) });
      }
      if (res.writableLength > MAX_STREAM_BACKLOG) {
        write({ kind: 'stream_closed', reason: 'client too slow: over 8 MiB behind' });
        res.destroy();
      }
    });
    await new Promise<void>((resolve) => res.on('close', () => resolve()));
    stop();
    this.streamClients--;
    return undefined;
  }

  private history(url: URL): unknown {
    const p = new Params(url.searchParams, ['since', 'until', 'exe', 'name', 'user', 'pid', 'limit']);
    this.daemon.store.flush();
    const processes = queryHistory(this.daemon.store.db, {
      sinceMs: p.time('since'), untilMs: p.time('until'), exe: p.string('exe'), name: p.string('name'), euid: this.uidParam(p),
      pid: p.integer('pid', 0, 2 ** 31), limit: p.limit(1000),
    });
    return { processes: processes.map((p) => this.named(p)) };
  }

  /** Stored rows carry ids; users read names. */
  private named<T extends { euid: number | null }>(p: T): T & { user: string | null } {
    return { ...p, user: p.euid === null ? null : this.users.userName(p.euid) };
  }

  private lineage(url: URL): unknown {
    const p = new Params(url.searchParams, ['limit']);
    const key = this.findKey(decodeURIComponent(url.pathname.split('/')[3] ?? ''));
    this.daemon.store.flush();
    const lineage = queryLineage(this.daemon.store.db, this.daemon.status.bootId, key, p.limit(1000));
    if (lineage === null) throw new BadRequest(`no process with key ${key} is known`, 404);
    return { ...lineage, process: this.named(lineage.process), ancestors: lineage.ancestors.map((p) => this.named(p)), descendants: lineage.descendants.map((p) => this.named(p)) };
  }

  private stats(url: URL): unknown {
    new Params(url.searchParams, []);
    const c = this.daemon.tracker.counters();
    const store = this.daemon.store.counters();
    return {
      source: this.daemon.status.source,
      uptimeSeconds: (Date.now() - this.daemon.status.startedMs) / 1000,
      eventsByKind: this.eventsByKind,
      sourceCounters: c.source,
      reorder: c.reorder,
      table: c.table,
      store: { ...store, ...queryStats(this.daemon.store.db), retentionRuns: this.daemon.retentionRuns, retentionDeletedEvents: this.daemon.retentionDeleted },
      api: { streamClients: this.streamClients, ...this.requestErrors },
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
      uptimeSeconds: (Date.now() - this.daemon.status.startedMs) / 1000,
    });
    res.writeHead(200, { 'content-type': this.metrics.contentType });
    res.end(text);
    return undefined;
  }

  /** Listens on the unix socket; refuses if another daemon answers there. */
  async listenUnix(path: string, group: number | null): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (existsSync(path)) {
      if (await socketAnswers(path)) throw new Error(`another procwatch daemon is already running (it answers on ${path})`);
      unlinkSync(path); // stale socket from a crashed run
    }
    const server = createServer((req, res) => void this.handle(req, res, null));
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => resolve()); });
    chmodSync(path, group === null ? 0o600 : 0o660);
    if (group !== null) chownSync(path, 0, group);
    this.servers.push(server);
  }

  async listenTcp(listen: string, token: string): Promise<void> {
    const colon = listen.lastIndexOf(':');
    const host = listen.slice(0, colon).replace(/^\[|\]$/g, '');
    const server = createServer((req, res) => void this.handle(req, res, token));
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(Number(listen.slice(colon + 1)), host, () => resolve()); });
    this.servers.push(server);
  }

  async close(): Promise<void> {
    for (const server of this.servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
