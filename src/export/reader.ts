/**
 * Reading the fleet's records back from the stream (`procwatch fleet`): an ordered consumer
 * (ephemeral: nothing is left on the server, nothing acknowledged) from a start time, on one
 * filter subject (NATS 2.9 takes one per consumer), to the end of the stream or, when
 * following, on and on. Content filters run here, on the decoded records.
 */

import { readFileSync } from 'node:fs';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { ConfigReader, isPlain, parseYamlMapping, readConfigText } from '../config/reader.js';
import { InputError } from '../errors.js';
import { hasGlob } from '../util/glob.js';
import { hostTokenOf, parseNatsSection, type NatsExportConfig } from './config.js';
import { parseRecord, type FleetRecord } from './records.js';

/** The stream cannot be read (no server answers, credentials refused, no such stream): exit 4. */
export class FleetUnavailable extends Error {
  override readonly name = 'FleetUnavailable';
}

/**
 * The NATS settings of a config file: `fleet.nats` (a reader's own credentials), else
 * `daemon.export.nats` (an exporting host's).
 */
export async function loadFleetConfig(file: string): Promise<NatsExportConfig> {
  const r = new ConfigReader(file);
  const doc = await parseYamlMapping(r, readConfigText(file));
  const fleet = doc.fleet;
  if (fleet !== undefined) {
    if (!isPlain(fleet)) return r.fail('fleet', 'expected a mapping with nats');
    r.keys(fleet, 'fleet', ['nats']);
    if (fleet.nats !== undefined) return parseNatsSection(r, fleet.nats, 'fleet.nats');
  }
  const d = doc.daemon;
  const exp = isPlain(d) && isPlain(d.export) ? d.export : undefined;
  if (exp?.nats !== undefined) return parseNatsSection(r, exp.nats, 'daemon.export.nats');
  return r.fail('fleet', 'no fleet.nats (or daemon.export.nats) section: where is the stream?');
}

/** Settings from the command line alone (`--server`): no credentials, default stream and prefix. */
export function serverOnlyConfig(servers: string[]): NatsExportConfig {
  const r = new ConfigReader('(command line)');
  return parseNatsSection(r, { servers, host: 'fleet-reader' }, '--server');
}

export interface ReadOptions {
  /** Host glob; the subject narrows to one host when it has no wildcard. */
  host?: string;
  /** `events` (one kind narrows the subject) or `alerts`; `all` for both. */
  what: 'events' | 'alerts' | 'all';
  kind?: string;
  sinceMs?: number;
  follow?: boolean;
  /** Called when the read has reached what the stream held (following: before new records), if no record says so. */
  onCaughtUp?: () => void;
}

function connectionOptions(c: NatsExportConfig): ConnectionOptions {
  const o: ConnectionOptions = { servers: c.servers, name: 'procwatch fleet', timeout: 10_000, maxReconnectAttempts: -1 };
  if (c.tls !== null) {
    o.tls = {};
    if (c.tls.caFile !== null) o.tls.caFile = c.tls.caFile;
    if (c.tls.certFile !== null) o.tls.certFile = c.tls.certFile;
    if (c.tls.keyFile !== null) o.tls.keyFile = c.tls.keyFile;
  }
  if (c.auth.kind === 'token') o.token = c.auth.token;
  else if (c.auth.kind === 'user') { o.user = c.auth.user; o.pass = c.auth.password; }
  return o;
}

export class FleetReader {
  private constructor(readonly config: NatsExportConfig, private readonly nc: NatsConnection, private readonly jsm: JetStreamManager) {}

  static async open(config: NatsExportConfig): Promise<FleetReader> {
    const { connect, credsAuthenticator, nkeyAuthenticator } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const options = connectionOptions(config);
    if (config.auth.kind === 'nkey') options.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(config.auth.seedFile, 'utf8').trim()));
    else if (config.auth.kind === 'credentials') options.authenticator = credsAuthenticator(readFileSync(config.auth.file));
    let nc: NatsConnection;
    try {
      nc = await connect(options);
    } catch (err) {
      throw new FleetUnavailable(`cannot connect to NATS at ${config.servers.join(', ')}: ${(err as Error).message}`);
    }
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: API_TIMEOUT_MS });
      await jsm.streams.info(config.stream);
      return new FleetReader(config, nc, jsm);
    } catch (err) {
      await nc.close().catch(() => undefined);
      const missing = (err as { code?: number }).code === 10059;
      throw new FleetUnavailable(missing ? `no stream ${config.stream} on ${config.servers.join(', ')}` : `cannot read stream ${config.stream}: ${(err as Error).message}`);
    }
  }

  close(): Promise<void> {
    return this.nc.close().catch(() => undefined);
  }

  /** The one filter subject for a read: as narrow as NATS 2.9 allows; the rest is filtered on content. */
  filterSubject(o: ReadOptions): string {
    const p = this.config.subjectPrefix;
    const host = o.host !== undefined && !hasGlob(o.host) ? hostTokenOf(o.host) : '*';
    if (o.what === 'alerts') return `${p}.${host}.alerts`;
    if (o.what === 'events') return `${p}.${host}.events.${o.kind !== undefined && !o.kind.includes(',') ? o.kind : '*'}`;
    return host === '*' ? `${p}.>` : `${p}.${host}.>`;
  }

  /**
   * Calls `each` with every record from `sinceMs` (stream time: when it was stored, which is
   * never before the event happened) to the end of the stream; with `follow`, goes on until
   * `signal` aborts. Records that are not ours are skipped.
   */
  async read(o: ReadOptions, each: (r: FleetRecord, storedMs: number, caughtUp: boolean) => void, signal: AbortSignal): Promise<void> {
    const { jetstream, DeliverPolicy } = await import('@nats-io/jetstream');
    const js = jetstream(this.nc, { checkAPI: false, timeout: API_TIMEOUT_MS });
    const filter = this.filterSubject(o);
    const consumer = await whenAvailable(() => js.consumers.get(this.config.stream, {
      filter_subjects: filter,
      ...(o.sinceMs !== undefined ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(o.sinceMs).toISOString() } : { deliver_policy: DeliverPolicy.All }),
    }));
    const info = await whenAvailable(() => consumer.info(true));
    // The read has caught up at the last matching record the leader held when it began, and
    // without follow it ends there (hosts keep publishing). The consumer's own "nothing pending"
    // may speak for a replica behind.
    const end = await lastStoredSeq(this.jsm, this.config.stream, filter);
    if (info.delivered.stream_seq >= end) {
      if (!o.follow) return;
      o.onCaughtUp?.();
    }
    const messages = await consumer.consume({ max_messages: 1000 });
    const stop = (): void => void messages.stop();
    signal.addEventListener('abort', stop);
    // A read that waits for records the leader has and its server has not yet: bounded.
    let position = info.delivered.stream_seq;
    let lastProgress = Date.now();
    let stalled = false;
    const watchdog = o.follow ? null : setInterval(() => {
      if (Date.now() - lastProgress < STALLED_READ_MS) return;
      stalled = true;
      stop();
    }, 1000);
    try {
      for await (const m of messages) {
        lastProgress = Date.now();
        position = m.info.streamSequence;
        const r = parseRecord(m.string());
        const caughtUp = position >= end;
        if (r !== null) each(r, m.info.timestampNanos / 1e6, caughtUp);
        else if (caughtUp) o.onCaughtUp?.();
        if (caughtUp && !o.follow) break;
      }
    } finally {
      if (watchdog !== null) clearInterval(watchdog);
      signal.removeEventListener('abort', stop);
      await messages.close().catch(() => undefined);
    }
    if (stalled && !signal.aborted) {
      throw new FleetUnavailable(`the NATS server serving this read is behind the stream's leader (a replica still catching up after a restart?): ` +
        `no record for ${STALLED_READ_MS / 1000} s at stream sequence ${position} of ${end}; try again`);
    }
  }

  /** Subjects stored, with their message counts (`hosts`). */
  async subjects(filter: string): Promise<Record<string, number>> {
    const info = await this.jsm.streams.info(this.config.stream, { subjects_filter: filter });
    return info.state.subjects ?? {};
  }

  /** The last record stored on a subject (a wildcard allowed), and when it was stored. */
  async last(subject: string): Promise<{ record: FleetRecord | null; storedMs: number } | null> {
    const m = await this.jsm.streams.getMessage(this.config.stream, { last_by_subj: subject });
    if (m === null) return null;
    return { record: parseRecord(m.string()), storedMs: m.time.getTime() };
  }
}

/** How long one JetStream request may take before it is asked again (`whenAvailable`). */
const API_TIMEOUT_MS = 10_000;

/** How long a read without follow waits for records its server has not yet caught up on. */
const STALLED_READ_MS = 30_000;

/**
 * The sequence of the last record on `filter` (0 if none), as the stream's leader has it. A
 * read's consumer lives on one of the stream's servers, and a replica still catching up after a
 * restart says "nothing pending" early; a replica that thinks its group has no leader even
 * answers a stream info with its own, shorter state. A message get is the leader's alone.
 */
export async function lastStoredSeq(jsm: JetStreamManager, stream: string, filter: string): Promise<number> {
  return (await whenAvailable(() => jsm.streams.getMessage(stream, { last_by_subj: filter })))?.seq ?? 0;
}

/**
 * Calls `request` again, for up to a minute, while JetStream answers "JetStream system
 * temporarily unavailable" (what a replica catching up after a restart answers, often first,
 * and what a cluster electing a leader says) or does not answer in time (a consumer placed on
 * that replica is created once it has worked through what it missed; the next may go elsewhere).
 */
export async function whenAvailable<T>(request: () => Promise<T>): Promise<T> {
  for (const until = Date.now() + 60_000; ;) {
    try {
      return await request();
    } catch (err) {
      const e = err as Error;
      if (!(/temporarily unavailable/i.test(e.message) || e.name === 'TimeoutError')) throw err;
      if (Date.now() > until) throw new FleetUnavailable(`JetStream did not answer for a minute (a server catching up, or an election that does not end): ${e.message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** `--host` and friends, checked before connecting. */
export function checkHostGlob(host: string | undefined): void {
  if (host !== undefined && !/^[A-Za-z0-9._*?[\]!-]+$/.test(host)) throw new InputError(`--host: expected a host name or glob, got '${host}'`);
}
