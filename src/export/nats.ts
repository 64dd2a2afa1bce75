/**
 * The NATS JetStream exporter: publishes what the outbox (the store) holds after the last
 * acknowledged id, in order, and moves the cursor only on the server's acknowledgements.
 *
 * Order and exactly-once, the way it is kept:
 * - Windows: up to WINDOW messages are published at once, then every acknowledgement is
 *   awaited before the next window is read. Nothing new is sent while an earlier message is
 *   unresolved, so a later message can never be stored ahead of an earlier one's retry.
 * - No client-side reconnect (`reconnect: false`): the client would otherwise replay its
 *   buffer on a new connection while messages on the dead one are in doubt. On any failure the
 *   connection is closed, a new one made after a backoff, and the window retried from its
 *   first unacknowledged message with the same `Nats-Msg-Id`s: the stream's duplicate window
 *   drops the ones it had stored.
 * - After every (re)connect, before retrying, the stream's last message on each subject of
 *   the window says how far the previous attempt got (its message id names the record); so an
 *   outage longer than the duplicate window, or a kill -9 of the daemon, still yields no
 *   duplicate. What one connection delivered is a prefix (a TCP stream, one stream leader).
 */

import type Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { UserDb } from '../procfs/index.js';
import type { NatsExportConfig } from './config.js';
import { Outbox, type OutboxMessage, type OutboxStream } from './outbox.js';
import { alertSubject, eventSubject, parseMsgId } from './records.js';

export interface ExporterOptions {
  /** How often an idle exporter looks for new rows (the store flushes every ~200 ms). */
  pollMs?: number;
  /** Messages published before their acknowledgements are awaited. */
  window?: number;
  /** Bytes of bodies per window, at most about this. */
  windowBytes?: number;
  ackTimeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

export interface ExportStats {
  target: 'nats';
  host: string;
  stream: string;
  storeId: string;
  connected: boolean;
  server: string | null;
  /** Last ids the server acknowledged (events; alert records). */
  cursor: { events: number; alerts: number };
  /** Events stored but not yet acknowledged, and the age of the oldest of them. */
  lagEvents: number;
  lagSeconds: number;
  alertsBehind: number;
  published: { events: number; alerts: number; lost: number };
  /** Acknowledged as duplicates (a retry of a message the stream had already stored). */
  duplicates: number;
  /** Records found already stored after a reconnect or restart, and skipped. */
  skippedStored: number;
  /** Events reported in exported `lost` records (deleted before they could be sent). */
  lostEvents: number;
  connects: number;
  failures: number;
  lastError: string | null;
  lastErrorTime: string | null;
}

/** An error whose message is already the one line to log. */
class ExportProblem extends Error {}

interface Window {
  stream: OutboxStream;
  messages: OutboxMessage[];
}

interface Session {
  nc: NatsConnection;
  jsm: JetStreamManager;
  info: StreamInfo;
  /** Replies to this session's publishes arrive under `ackPrefix.WINDOW.INDEX` (one subscription). */
  ackPrefix: string;
  onAck: ((msg: Msg) => void) | null;
  readAck: (msg: Msg) => PubAck | Error;
  /** One header set for every publish of the session (see `PreparedHeaders`). */
  headers: PreparedHeaders;
  /** The last error the server reported on the connection (a permissions violation on publish). */
  serverError: string | null;
  /** Called once when the connection closes: ends the wait of the window in flight. */
  onClosed: (() => void) | null;
  windows: number;
}

/**
 * Headers whose wire form the exporter writes itself, next to the body in the window's buffer:
 * the client asks a message's headers for their bytes (`encode()`) inside `publish` and keeps
 * nothing else of them, so one object serves every publish of a session, its bytes set before
 * each call. (Otherwise every message costs a header object, its map, a string and an array.)
 */
type PreparedHeaders = MsgHdrs & { bytes: Uint8Array };

/** `NATS/1.0` headers with the message id alone, as the client would encode them. */
const headerText = (msgId: string): string => `NATS/1.0\r\nNats-Msg-Id: ${msgId}\r\n\r\n`;

/** What JetStream answers a publish: which stream stored it (again, for a duplicate), or why not. */
interface PubAck {
  stream: string;
  duplicate: boolean;
}

function parseAck(msg: Msg): PubAck | Error {
  if (msg.headers?.code === 503) return new Error('no responders: no stream leader takes this subject (an election, or JetStream unavailable)');
  try {
    const a = JSON.parse(utf8.decode(msg.data)) as Partial<PubAck> & { seq?: unknown; error?: { description?: string; err_code?: number } };
    if (a.error !== undefined) return new Error(`JetStream refused a record: ${a.error.description ?? 'unknown error'} (${a.error.err_code ?? '?'})`);
    if (typeof a.stream !== 'string' || typeof a.seq !== 'number') return new Error('JetStream sent an acknowledgement procwatch cannot read');
    return { stream: a.stream, duplicate: a.duplicate === true };
  } catch {
    return new Error('JetStream sent an acknowledgement procwatch cannot read');
  }
}

const utf8 = new TextDecoder();

/**
 * Reads the acknowledgements of a session's publishes to `stream`. The usual ones,
 * `{"stream":"STREAM","seq":N}` and `{"stream":"STREAM","seq":N,"duplicate":true}`, are
 * recognised from their bytes (one per exported record: decoding and parsing each cost more
 * than the rest of reading it); anything else is parsed and judged by `parseAck`.
 */
function ackReader(stream: string): (msg: Msg) => PubAck | Error {
  const head = Buffer.from(`{"stream":"${stream}","seq":`);
  const tail = Buffer.from(',"duplicate":true}');
  const stored: PubAck = { stream, duplicate: false };
  const again: PubAck = { stream, duplicate: true };
  return (msg) => {
    const d = msg.data;
    if (d.length > head.length + 1 && d[d.length - 1] === 0x7d && head.compare(d, 0, head.length) === 0) {
      let i = head.length;
      while (i < d.length && d[i]! >= 0x30 && d[i]! <= 0x39) i++;
      if (i > head.length) {
        if (i === d.length - 1) return stored;
        if (d.length - i === tail.length && tail.compare(d, i) === 0) return again;
      }
    }
    return parseAck(msg);
  };
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal.aborted) return resolve();
  const t = setTimeout(done, ms);
  function done(): void {
    clearTimeout(t);
    signal.removeEventListener('abort', done);
    resolve();
  }
  signal.addEventListener('abort', done);
});

/** NATS subject matching: `*` one token, `>` the rest. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

export class NatsExporter {
  private readonly outbox: Outbox;
  private readonly options: Required<ExporterOptions>;
  private readonly abort = new AbortController();
  private running: Promise<void> | null = null;
  private session: Session | null = null;
  private pending: Window | null = null;
  /** After a (re)connect: ask the stream how far the last attempt got before publishing. */
  private reconcileFirst = true;
  private lastProblem: string | null = null;
  private readBackDenied = false;
  private readonly counters = {
    published: { events: 0, alerts: 0, lost: 0 }, duplicates: 0, skippedStored: 0, lostEvents: 0, connects: 0, failures: 0,
    lastErrorTime: null as string | null,
  };

  constructor(readonly config: NatsExportConfig, db: Database.Database, private readonly log: (line: string) => void, options: ExporterOptions = {}) {
    this.outbox = new Outbox(db, { prefix: config.subjectPrefix, hostToken: config.hostToken }, config.host, new UserDb(), log);
    this.options = {
      pollMs: 200, window: 1000, windowBytes: 4 * 1024 * 1024, ackTimeoutMs: 10_000, backoffMinMs: 500, backoffMaxMs: 15_000, ...options,
    };
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Ends the connection; what was not acknowledged stays in the store for the next start. */
  async stop(): Promise<void> {
    this.abort.abort();
    const nc = this.session?.nc;
    if (nc !== undefined) await nc.close().catch(() => undefined);
    await this.running;
  }

  /** The highest event id the exporter holds (sent or about to be): retention counts deletions above it as lost. */
  exportedUpTo(): number {
    const p = this.pending;
    const held = p !== null && p.stream === 'events' && p.messages.length > 0 ? p.messages[p.messages.length - 1]!.upTo : 0;
    return Math.max(this.outbox.cursor('events'), held);
  }

  stats(): ExportStats {
    const lag = this.outbox.lag();
    return {
      target: 'nats', host: this.config.host, stream: this.config.stream, storeId: this.outbox.storeId,
      connected: this.session !== null, server: this.session?.nc.getServer() ?? null,
      cursor: { events: this.outbox.cursor('events'), alerts: this.outbox.cursor('alerts') },
      lagEvents: lag.events, lagSeconds: lag.seconds, alertsBehind: this.outbox.alertsBehind(),
      published: { ...this.counters.published }, duplicates: this.counters.duplicates, skippedStored: this.counters.skippedStored,
      lostEvents: this.counters.lostEvents, connects: this.counters.connects, failures: this.counters.failures,
      lastError: this.lastProblem, lastErrorTime: this.counters.lastErrorTime,
    };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let delay = this.options.backoffMinMs;
    while (!signal.aborted) {
      let published = false;
      const began = Date.now();
      try {
        const session = await this.connect();
        this.session = session;
        this.reconcileFirst = true;
        if (this.lastProblem !== null || this.counters.connects === 1) {
          const lag = this.outbox.lag();
          this.log(`procwatch export: connected to ${session.nc.getServer()}, stream ${this.config.stream} (${session.info.config.num_replicas} replica(s)); ` +
            `${lag.events} event(s) and ${this.outbox.alertsBehind()} alert record(s) to send`);
        }
        this.lastProblem = null;
        published = await this.pump(session);
      } catch (err) {
        if (signal.aborted) break;
        this.counters.failures++;
        const line = describe(err, this.config);
        this.counters.lastErrorTime = new Date().toISOString();
        if (line !== this.lastProblem) this.log(`procwatch export: ${line}; the daemon goes on storing locally and retries (backoff up to ${this.options.backoffMaxMs / 1000} s)`);
        this.lastProblem = line;
      } finally {
        const nc = this.session?.nc;
        this.session = null;
        if (nc !== undefined) await nc.close().catch(() => undefined);
      }
      if (signal.aborted) break;
      // A session that sent something, or lasted, was a recovery: the next failure starts the backoff again.
      if (published || Date.now() - began > 30_000) delay = this.options.backoffMinMs;
      await sleep(delay * (0.75 + Math.random() * 0.5), signal);
      delay = Math.min(this.options.backoffMaxMs, delay * 2);
    }
  }

  private connectionOptions(): ConnectionOptions {
    const c = this.config;
    const o: ConnectionOptions = {
      servers: c.servers, name: `procwatch ${c.host}`, reconnect: false, timeout: 5000, inboxPrefix: c.inboxPrefix,
      pingInterval: 10_000, maxPingOut: 3, noEcho: true,
    };
    // The client writes to the socket every 32 KiB of a window by default; a window is written
    // in one go at the end of the publishing loop (the client's option, not in its types).
    Object.assign(o, { pendingLimit: 4 * 1024 * 1024 });
    if (c.tls !== null) {
      const tls: NonNullable<ConnectionOptions['tls']> = {};
      if (c.tls.caFile !== null) tls.caFile = c.tls.caFile;
      if (c.tls.certFile !== null) tls.certFile = c.tls.certFile;
      if (c.tls.keyFile !== null) tls.keyFile = c.tls.keyFile;
      o.tls = tls;
    }
    return o;
  }

  private async connect(): Promise<Session> {
    const { connect, createInbox, credsAuthenticator, MsgHdrsImpl, nkeyAuthenticator } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const c = this.config;
    const options = this.connectionOptions();
    const auth = c.auth;
    const file = (path: string): Uint8Array => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new ExportProblem(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    if (auth.kind === 'token') options.token = auth.token;
    else if (auth.kind === 'user') { options.user = auth.user; options.pass = auth.password; }
    else if (auth.kind === 'nkey') options.authenticator = nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(file(auth.seedFile)).trim()));
    else if (auth.kind === 'credentials') options.authenticator = credsAuthenticator(file(auth.file));
    const nc = await connect(options);
    this.counters.connects++;
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: this.options.ackTimeoutMs });
      const info = await this.ensureStream(jsm);
      const prepared = class extends MsgHdrsImpl {
        bytes = new Uint8Array(0);
        override encode(): Uint8Array {
          return this.bytes;
        }
      };
      const session: Session = {
        nc, jsm, info, ackPrefix: createInbox(c.inboxPrefix), onAck: null, readAck: ackReader(c.stream), headers: new prepared(), serverError: null, windows: 0,
        onClosed: null,
      };
      // One reaction to the close for the whole session (a race against the promise in every
      // window would pile one up per window until the connection ends).
      void nc.closed().then(() => session.onClosed?.());
      nc.subscribe(`${session.ackPrefix}.>`, { callback: (_err, msg) => session.onAck?.(msg) });
      void (async () => {
        for await (const status of nc.status()) {
          if (status.type === 'error') session.serverError = String((status as { error?: Error }).error?.message ?? 'server error');
        }
      })().catch(() => undefined);
      return session;
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err;
    }
  }

  /** Creates the stream when allowed and missing; checks that it takes this host's subjects. */
  private async ensureStream(jsm: JetStreamManager): Promise<StreamInfo> {
    const c = this.config;
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(c.stream);
    } catch (err) {
      if ((err as { code?: number }).code !== 10059) throw err;
      if (!c.createStream) throw new ExportProblem(`stream ${c.stream} does not exist and daemon.export.nats.create_stream is false: create it on the server (README "Fleet export")`);
      const { DiscardPolicy, RetentionPolicy, StorageType } = await import('@nats-io/jetstream');
      const nanos = (ms: number): number => ms * 1_000_000;
      info = await jsm.streams.add({
        name: c.stream, subjects: [`${c.subjectPrefix}.>`], num_replicas: c.replicas, storage: StorageType.File,
        retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, max_age: c.maxAgeMs === null ? 0 : nanos(c.maxAgeMs),
        max_bytes: c.maxBytes ?? -1, duplicate_window: nanos(c.duplicateWindowMs), allow_direct: true,
      });
      this.log(`procwatch export: created stream ${c.stream} (subjects ${c.subjectPrefix}.>, ${c.replicas} replica(s))`);
    }
    const subjects = info.config.subjects ?? [];
    const ours = [eventSubject({ prefix: c.subjectPrefix, hostToken: c.hostToken }, 'exec'), alertSubject({ prefix: c.subjectPrefix, hostToken: c.hostToken })];
    for (const s of ours) {
      if (!subjects.some((p) => subjectMatches(p, s))) {
        throw new ExportProblem(`stream ${c.stream} does not take subject ${s} (its subjects: ${subjects.join(', ') || 'none'}): add ${c.subjectPrefix}.> to it`);
      }
    }
    return info;
  }

  /** Publishes windows until the connection fails (throws) or the exporter stops; true if anything was acknowledged. */
  private async pump(session: Session): Promise<boolean> {
    const signal = this.abort.signal;
    let acked = false;
    while (!signal.aborted) {
      this.pending ??= this.nextWindow();
      if (this.pending === null) {
        await sleep(this.options.pollMs, signal);
        continue;
      }
      if (this.reconcileFirst) {
        await this.reconcile(session, this.pending);
        this.reconcileFirst = false;
        if (this.pending.messages.length === 0) {
          this.pending = null;
          continue;
        }
      }
      await this.publish(session, this.pending);
      this.pending = null;
      acked = true;
    }
    return acked;
  }

  /** Alert records first (few, and people wait for them), then events. */
  private nextWindow(): Window | null {
    const alerts = this.outbox.nextAlerts(this.outbox.cursor('alerts'), 100);
    if (alerts.length > 0) return { stream: 'alerts', messages: alerts };
    const events = this.outbox.nextEvents(this.outbox.cursor('events'), this.options.window, this.options.windowBytes);
    return events.length > 0 ? { stream: 'events', messages: events } : null;
  }

  /**
   * Which messages of the window the stream has already (an earlier attempt stored them but
   * its acknowledgements were lost, or the daemon was killed before it saved the cursor): the
   * stream's last message on this host's events (or alerts) subjects names the newest record
   * stored, and everything up to it is acknowledged without being sent again. The request
   * names the subjects (`$JS.API.DIRECT.GET.STREAM.PREFIX.HOST.events.>`), so a host can be
   * allowed to read back its own records only.
   */
  private async reconcile(session: Session, window: Window): Promise<void> {
    const s = { prefix: this.config.subjectPrefix, hostToken: this.config.hostToken };
    const subject = window.stream === 'events' ? `${s.prefix}.${s.hostToken}.events.>` : alertSubject(s);
    let msgId: string | null = null;
    try {
      const query = { last_by_subj: subject };
      const m = session.info.config.allow_direct ? await session.jsm.direct.getMessage(this.config.stream, query) : await session.jsm.streams.getMessage(this.config.stream, query);
      msgId = m?.header?.get('Nats-Msg-Id') ?? null;
    } catch (err) {
      if ((err as { code?: number }).code === 10037) return; // nothing stored for this host yet
      if (!/permission/i.test((err as Error).message)) throw err;
      // Not allowed to read back: the stream's duplicate window still covers outages shorter than it.
      if (!this.readBackDenied) this.log(`procwatch export: not allowed to read back this host's last record (${(err as Error).message}); retries rely on the stream's duplicate window alone`);
      this.readBackDenied = true;
      return;
    }
    const stored = msgId === null ? null : parseMsgId(msgId);
    if (stored === null || stored.store !== this.outbox.storeId || stored.hostToken !== this.config.hostToken) return;
    let n = 0;
    while (n < window.messages.length && window.messages[n]!.upTo <= stored.id) n++;
    if (n === 0) return;
    const done = window.messages.splice(0, n);
    this.counters.skippedStored += done.length;
    this.outbox.ack(window.stream, done[done.length - 1]!.upTo);
  }

  /**
   * Publishes the window and waits for every acknowledgement (or the first sign that some will
   * not come); acknowledges the longest acknowledged prefix; throws if any failed. Publishes are
   * plain messages with a reply subject, their acknowledgements gathered by one subscription and
   * one timer per window: the client's request API builds two Error objects and a timer per
   * message, which cost more CPU than everything else the exporter does.
   */
  private async publish(session: Session, window: Window): Promise<void> {
    const messages = window.messages;
    const n = messages.length;
    const results: Array<PubAck | Error | undefined> = new Array<PubAck | Error | undefined>(n);
    const base = `${session.ackPrefix}.${++session.windows}.`;
    let left = n;
    let settle!: () => void;
    const all = new Promise<void>((resolve) => { settle = resolve; });
    session.onAck = (msg) => {
      if (!msg.subject.startsWith(base)) return; // a late answer to an earlier window
      const i = Number(msg.subject.slice(base.length));
      if (!(i >= 0 && i < n) || results[i] !== undefined) return;
      const ack = session.readAck(msg);
      results[i] = ack;
      if (--left === 0 || ack instanceof Error) settle();
    };
    // The bodies of the window go into one buffer, so the client gets views instead of encoding
    // a new array per message. A body takes at most 3 bytes per UTF-16 unit; records are
    // mostly ASCII, so the buffer is sized for that and a new one started when one could overflow.
    let chars = 0;
    for (let i = 0; i < n; i++) chars += messages[i]!.body.length + messages[i]!.msgId.length + 32;
    let bytes = Buffer.allocUnsafe(0);
    const h = session.headers;
    const options = { reply: '', headers: h };
    let at = 0;
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const head = headerText(m.msgId);
      const most = (head.length + m.body.length) * 3;
      if (bytes.length - at < most) {
        bytes = Buffer.allocUnsafe(Math.max(Math.ceil(chars * 1.125) + 65_536, most));
        at = 0;
      }
      chars -= m.body.length + m.msgId.length + 32;
      // One write for both: the headers are ASCII (message ids are, records.ts), so as many bytes as characters.
      const len = bytes.write(head + m.body, at, 'utf8');
      h.bytes = bytes.subarray(at, at + head.length);
      options.reply = base + i;
      session.nc.publish(m.subject, bytes.subarray(at + head.length, at + len), options);
      at += len;
    }
    // The wait ends at the last acknowledgement, a refusal, the connection's end or the timeout.
    session.onClosed = settle;
    if (session.nc.isClosed()) settle();
    const timer = setTimeout(settle, this.options.ackTimeoutMs);
    await all;
    clearTimeout(timer);
    session.onAck = null;
    session.onClosed = null;
    let prefix = 0;
    let failure: unknown = null;
    for (; prefix < n; prefix++) {
      const r = results[prefix];
      if (r === undefined) {
        failure = session.serverError !== null ? new Error(session.serverError)
          : session.nc.isClosed() ? new Error('connection closed') : new ExportProblem(`JetStream did not acknowledge within ${this.options.ackTimeoutMs / 1000} s (a stream leader election, or servers down or overloaded)`);
        break;
      }
      if (r instanceof Error) {
        failure = r;
        break;
      }
      if (r.stream !== this.config.stream) {
        failure = new ExportProblem(`subject ${messages[prefix]!.subject} was stored by stream ${r.stream}, not ${this.config.stream}: the streams' subjects overlap`);
        break;
      }
      const m = messages[prefix]!;
      if (r.duplicate) this.counters.duplicates++;
      if (m.type === 'event') this.counters.published.events++;
      else if (m.type === 'alert') this.counters.published.alerts++;
      else {
        this.counters.published.lost++;
        this.counters.lostEvents += window.stream === 'events' ? m.lostCount : 0;
      }
    }
    if (prefix > 0) this.outbox.ack(window.stream, messages[prefix - 1]!.upTo);
    if (failure !== null) {
      messages.splice(0, prefix);
      throw failure;
    }
  }
}

/** One line for what went wrong, with what to do where it is clear. */
function describe(err: unknown, c: NatsExportConfig): string {
  if (err instanceof ExportProblem) return err.message;
  const e = err as Error & { code?: unknown; cause?: unknown };
  const cause = e.cause as (Error & { code?: unknown }) | undefined;
  const text = `${e.message ?? String(err)}${cause?.message !== undefined && !e.message.includes(cause.message) ? `: ${cause.message}` : ''}`.split('\n')[0]!;
  const servers = c.servers.join(', ');
  // Which server a refusal came from changes from try to try: the line says it once.
  const plain = text.replace(/\s*\(?(?:\d{1,3}\.){3}\d{1,3}:\d+\)?|\s*\[[0-9a-fA-F:.]+\]:\d+/g, '').trim();
  if (/authorization violation|authentication/i.test(text) || e.name === 'AuthorizationError') return `NATS (${servers}) refused the credentials: ${text}`;
  if (/does not support 'tls'/.test(text)) return `TLS is configured but the server does not offer it (nothing was sent): ${servers}`;
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|connection refused/i.test(`${text} ${String(e.code ?? cause?.code ?? '')}`)) {
    return `cannot reach NATS at ${servers}: ${plain}`;
  }
  if (/clos/i.test(text) && /connection/i.test(text)) return `the connection to NATS closed (a server stopped or restarted)`;
  if (e.name === 'TimeoutError' || /^timeout$/i.test(text)) return `JetStream did not answer in time (a stream leader election, or servers down or overloaded)`;
  if (/no responders|503/i.test(text)) return `JetStream did not answer (no stream leader, or JetStream not enabled for this account): ${text}`;
  if (/permission/i.test(text)) return `NATS denied a permission (README "Fleet export", server-side permissions): ${text}`;
  return `export to ${servers} failed: ${plain}`;
}
