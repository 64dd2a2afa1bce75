/**
 * The daemon section of the config file (README: "Daemon configuration"). Defaults are
 * embedded, so `procwatch daemon` runs with no file at all.
 */

import { kernelFsProblem, pathClash, socketPathProblem } from '../daemon/paths.js';
import { UserDb } from '../procfs/users.js';
import { DEFAULT_READER_PRIORITY, checkCaptureOptions, type BpfCaptureOptions } from '../sources/index.js';
import { parseExportSection, type NatsExportConfig } from '../export/config.js';
import { MAX_RCVBUF_BYTES } from '../sources/native.js';
import { DEFAULT_API_LIMITS, type ApiLimits } from '../api/limits.js';
import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigReader, isPlain, parseYamlMapping, readConfigText, stderrWarnings, type Plain, type WarningSink } from './reader.js';
import { parseDuration, parseSize } from './units.js';
import { RESOURCES_DEFAULTS, parseResourcesConfig, type ResourcesConfig } from './resources.js';
import { compileGroup } from '../resources/groups.js';
import { WEB_DEFAULTS, parseWebConfig, type WebConfig } from './web.js';

export type SourceSetting = 'auto' | 'ebpf' | 'netlink' | 'poll';
const SOURCES: readonly SourceSetting[] = ['auto', 'ebpf', 'netlink', 'poll'];

export interface DaemonConfig {
  source: SourceSetting;
  /** eBPF source: network/file capture and their in-kernel filters, ring buffer size. */
  ebpf: BpfCaptureOptions;
  database: string;
  /** Whether the database and its companions may be symbolic links (default: refused). */
  followSymlinks: boolean;
  socket: string;
  /** Group (gid, resolved from the name in the file) that may also open the socket; root always can. */
  socketGroup: number | null;
  /** Optional TCP listener for the API and /metrics; needs a token (and TLS off loopback). */
  httpListen: string | null;
  /** Opens the whole API (`Authorization: Bearer TOKEN`). */
  httpToken: string | null;
  /** Opens /metrics only: what a Prometheus server is given. */
  httpScrapeToken: string | null;
  /** PEM certificate chain and private key: the listener speaks HTTPS (Node's https). */
  httpTls: { cert: string; key: string } | null;
  /** Bounds on API clients (daemon.api): connections, heavy answers, streams. */
  apiLimits: ApiLimits;
  retentionMaxAgeMs: number | null;
  retentionMaxBytes: number | null;
  /** How often retention runs (it also runs soon after start). */
  retentionIntervalMs: number;
  rcvbufBytes: number;
  /** Netlink reader thread's SCHED_FIFO priority; 0: normal scheduling. */
  readerPriority: number;
  holdMs: number;
  maxExited: number;
  flushIntervalMs: number;
  maxQueue: number;
  pollIntervalMs: number;
  /** daemon.export.nats: ship stored events and alerts to NATS JetStream (src/export/); null: off. */
  exportNats: NatsExportConfig | null;
  /** Resource snapshots, their history and the group metrics (issue 12; src/config/resources.ts). */
  resources: ResourcesConfig;
  /** The web console (issue 13; src/config/web.ts): off unless daemon.web.listen is set. */
  web: WebConfig;
}

export const DAEMON_DEFAULTS: DaemonConfig = {
  source: 'auto',
  ebpf: {},
  database: '/var/lib/procwatch/events.db',
  followSymlinks: false,
  socket: '/run/procwatch/procwatch.sock',
  socketGroup: null,
  httpListen: null,
  httpToken: null,
  httpScrapeToken: null,
  httpTls: null,
  apiLimits: { ...DEFAULT_API_LIMITS },
  retentionMaxAgeMs: 30 * 86_400_000,
  retentionMaxBytes: 1024 ** 3,
  retentionIntervalMs: 60_000,
  rcvbufBytes: 16 * 1024 * 1024,
  readerPriority: DEFAULT_READER_PRIORITY,
  holdMs: 20,
  maxExited: 20_000,
  flushIntervalMs: 200,
  maxQueue: 200_000,
  pollIntervalMs: 1000,
  exportNats: null,
  resources: RESOURCES_DEFAULTS,
  web: WEB_DEFAULTS,
};

/**
 * The daemon's eBPF ring buffer unless daemon.ebpf.ring_buffer says otherwise (the source's
 * default, which `watch` uses, is the same: PW_DEFAULT_RING in native/bpf/procbpf.c). Its
 * pages count twice in RSS (libbpf maps the data area twice so records never wrap), so 8 MiB
 * cost 16 MiB of the ~80 MB goal. 2 MiB holds about 6,000 processes' fork+exec+exit records
 * (~340 bytes for a short command line): 2.5 s of the machine's fastest exec storm (~2,500/s)
 * while JavaScript is busy, besides the reader's 1 MiB of batch buffers. What finds it full is
 * still counted and reported as lost.
 */
export const DAEMON_RING_BYTES = 2 * 1024 ** 2;

/**
 * SQLite's page cache for the daemon's connection, KiB. better-sqlite3 builds SQLite with a
 * 16 MiB default, which the writer fills as the database grows: the largest part of the
 * daemon's malloc heap (~9 MiB after 10,000 processes). Writes append (time-ordered rows and
 * keys) and the queries walk indexes that the OS caches anyway; SQLite's own default is 2 MiB.
 */
export const DAEMON_SQLITE_CACHE_KIB = 2048;

/** setInterval takes at most 2^31-1 ms; a longer interval fires at once, in a loop. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const KEYS = ['source', 'ebpf', 'database', 'follow_symlinks', 'socket', 'socket_group', 'http', 'api', 'retention', 'rcvbuf', 'reader_priority', 'hold_ms', 'max_exited', 'flush_interval_ms', 'max_queue', 'poll_interval_ms', 'resources', 'export', 'web'];

export async function parseDaemonConfig(text: string, file: string, warn: WarningSink = stderrWarnings): Promise<DaemonConfig> {
  const r: ConfigReader = new ConfigReader(file);
  const doc = await parseYamlMapping(r, text, warn);
  r.keys(doc, 'top level', ['daemon', 'checks', 'defaults', 'rules', 'alerts', 'fleet']);
  const config = { ...DAEMON_DEFAULTS };
  const d = doc.daemon;
  if (d === undefined) return config;
  if (!isPlain(d)) r.fail('daemon', 'expected a mapping');
  r.keys(d, 'daemon', KEYS);
  if (d.source !== undefined) {
    if (!SOURCES.includes(d.source as SourceSetting)) r.fail('daemon.source', `expected ${SOURCES.join(', ')}`);
    config.source = d.source as SourceSetting;
  }
  if (d.database !== undefined) config.database = r.string(d.database, 'daemon.database');
  if (d.follow_symlinks !== undefined) config.followSymlinks = r.boolean(d.follow_symlinks, 'daemon.follow_symlinks');
  if (d.socket !== undefined) config.socket = r.string(d.socket, 'daemon.socket');
  if (d.socket_group !== undefined) {
    const group = r.string(d.socket_group, 'daemon.socket_group');
    const gid = /^\d+$/.test(group) ? Number(group) : new UserDb().group.byName.get(group);
    if (gid === undefined) r.fail('daemon.socket_group', `unknown group '${group}'`);
    config.socketGroup = gid;
  }
  const size = (v: unknown, path: string): number => {
    const n = typeof v === 'number' ? v : parseSize(r.string(v, path));
    if (n === null || !(n > 0)) r.fail(path, `expected a size such as 512MiB or 1GB, got '${String(v)}'`);
    return n;
  };
  const duration = (v: unknown, path: string): number => {
    const n = typeof v === 'number' ? v * 1000 : parseDuration(r.string(v, path));
    if (n === null || !(n > 0)) r.fail(path, `expected a duration such as 30d, 12h or 90s, got '${String(v)}'`);
    return n;
  };
  const timer = (ms: number, path: string): number => {
    if (ms > MAX_TIMER_MS) r.fail(path, `at most ${MAX_TIMER_MS} ms (about 24.8 days)`);
    return ms;
  };
  if (d.retention !== undefined) {
    if (!isPlain(d.retention)) r.fail('daemon.retention', 'expected a mapping with max_age and/or max_size');
    r.keys(d.retention, 'daemon.retention', ['max_age', 'max_size', 'interval']);
    if (d.retention.max_age !== undefined) config.retentionMaxAgeMs = d.retention.max_age === 'none' ? null : duration(d.retention.max_age, 'daemon.retention.max_age');
    if (d.retention.max_size !== undefined) config.retentionMaxBytes = d.retention.max_size === 'none' ? null : size(d.retention.max_size, 'daemon.retention.max_size');
    if (d.retention.interval !== undefined) config.retentionIntervalMs = timer(duration(d.retention.interval, 'daemon.retention.interval'), 'daemon.retention.interval');
  }
  if (d.http !== undefined) Object.assign(config, parseHttp(r, d.http));
  if (d.api !== undefined) config.apiLimits = parseApiLimits(r, d.api, size, duration);
  if (d.ebpf !== undefined) config.ebpf = parseEbpf(r, d.ebpf, size, duration);
  if (d.export !== undefined) config.exportNats = parseExportSection(r, d.export);
  if (d.rcvbuf !== undefined) {
    config.rcvbufBytes = size(d.rcvbuf, 'daemon.rcvbuf');
    // The kernel takes an int: a larger size would fail only at start, naming the native option.
    if (config.rcvbufBytes > MAX_RCVBUF_BYTES) r.fail('daemon.rcvbuf', `at most ${MAX_RCVBUF_BYTES} bytes (2 GiB - 1), got '${String(d.rcvbuf)}'`);
  }
  if (d.reader_priority !== undefined) config.readerPriority = r.number(d.reader_priority, 'daemon.reader_priority', 0, { max: 99, integer: true });
  if (d.hold_ms !== undefined) config.holdMs = timer(r.number(d.hold_ms, 'daemon.hold_ms', 1), 'daemon.hold_ms');
  if (d.max_exited !== undefined) config.maxExited = r.number(d.max_exited, 'daemon.max_exited', 100, { max: 10_000_000, integer: true });
  if (d.flush_interval_ms !== undefined) config.flushIntervalMs = timer(r.number(d.flush_interval_ms, 'daemon.flush_interval_ms', 10), 'daemon.flush_interval_ms');
  if (d.max_queue !== undefined) config.maxQueue = r.number(d.max_queue, 'daemon.max_queue', 1000, { max: 100_000_000, integer: true });
  if (d.poll_interval_ms !== undefined) config.pollIntervalMs = timer(r.number(d.poll_interval_ms, 'daemon.poll_interval_ms', 50), 'daemon.poll_interval_ms');
  if (d.resources !== undefined) {
    const users = new UserDb();
    config.resources = parseResourcesConfig(r, d.resources, duration, timer,
      (group, path) => r.wrap(group.match === undefined ? `${path}.cgroup` : `${path}.match`, () => compileGroup(group, users)));
  }
  if (d.web !== undefined) config.web = parseWebConfig(r, d.web, duration);
  const paths = daemonPathsProblem(config);
  if (paths !== null) r.fail(`daemon.${paths.key}`, paths.message);
  return config;
}

/**
 * What is wrong with the database and socket paths, and which key says so; null when
 * nothing. Checked for the file's values and again after command-line overrides.
 */
export function daemonPathsProblem(config: DaemonConfig): { key: 'socket' | 'database'; message: string } | null {
  const socket = socketPathProblem(config.socket);
  if (socket !== null) return { key: 'socket', message: socket };
  const database = kernelFsProblem(config.database);
  if (database !== null) return { key: 'database', message: database };
  const clash = pathClash(config.socket, config.database);
  return clash === null ? null : { key: 'socket', message: clash };
}

const API_KEYS = ['max_connections', 'max_unauthenticated', 'first_request_timeout', 'max_heavy_queries', 'max_streams', 'stream_buffer'];

/** daemon.api: what clients of the API can make the daemon hold (README "Security"). */
function parseApiLimits(r: ConfigReader, v: unknown, size: (v: unknown, path: string) => number, duration: (v: unknown, path: string) => number): ApiLimits {
  if (!isPlain(v)) r.fail('daemon.api', `expected a mapping with some of: ${API_KEYS.join(', ')}`);
  r.keys(v, 'daemon.api', API_KEYS);
  const limits = { ...DEFAULT_API_LIMITS };
  const count = (key: string, max: number): number | undefined => (v[key] === undefined ? undefined : r.number(v[key], `daemon.api.${key}`, 1, { max, integer: true }));
  limits.maxConnections = count('max_connections', 100_000) ?? limits.maxConnections;
  limits.maxUnauthenticated = count('max_unauthenticated', 100_000) ?? limits.maxUnauthenticated;
  limits.maxHeavy = count('max_heavy_queries', 10_000) ?? limits.maxHeavy;
  limits.maxStreams = count('max_streams', 100_000) ?? limits.maxStreams;
  if (v.first_request_timeout !== undefined) {
    limits.firstRequestMs = duration(v.first_request_timeout, 'daemon.api.first_request_timeout');
    if (limits.firstRequestMs > 600_000) r.fail('daemon.api.first_request_timeout', 'at most 10m');
  }
  if (v.stream_buffer !== undefined) {
    limits.streamBufferBytes = size(v.stream_buffer, 'daemon.api.stream_buffer');
    if (limits.streamBufferBytes < 64 * 1024 || limits.streamBufferBytes > 1024 ** 3) r.fail('daemon.api.stream_buffer', 'from 64KiB to 1GiB');
  }
  if (limits.maxUnauthenticated > limits.maxConnections) r.fail('daemon.api.max_unauthenticated', `at most daemon.api.max_connections (${limits.maxConnections})`);
  if (limits.maxStreams > limits.maxConnections) r.fail('daemon.api.max_streams', `at most daemon.api.max_connections (${limits.maxConnections})`);
  return limits;
}

const HTTP_KEYS = ['listen', 'token', 'scrape_token', 'tls'];

/**
 * daemon.http: the API on TCP. On a loopback address plain HTTP with a token; on any other
 * address only HTTPS (tls.cert, tls.key) with a token, so that a central Prometheus can
 * scrape without a proxy and no command line crosses the network in clear. `scrape_token`
 * opens /metrics and nothing else (the command lines under /v1 stay closed to it).
 */
function parseHttp(r: ConfigReader, v: unknown): Pick<DaemonConfig, 'httpListen' | 'httpToken' | 'httpScrapeToken' | 'httpTls'> {
  if (!isPlain(v)) r.fail('daemon.http', `expected a mapping with some of: ${HTTP_KEYS.join(', ')}`);
  r.keys(v, 'daemon.http', HTTP_KEYS);
  const listen = r.string(v.listen, 'daemon.http.listen');
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d+\.\d+\.\d+\.\d+|localhost)):(\d+)$/.exec(listen);
  const host = m === null ? null : (m[1] ?? m[2])!;
  const port = m === null ? NaN : Number(m[3]);
  if (host === null || (host !== 'localhost' && isIP(host) === 0) || !(port >= 1 && port <= 65535)) {
    r.fail('daemon.http.listen', `expected an address and port such as 127.0.0.1:9465, 0.0.0.0:9465 or [::]:9465, got '${listen}'`);
  }
  const token = (key: 'token' | 'scrape_token'): string | null => {
    if (v[key] === undefined) return null;
    const t = r.string(v[key], `daemon.http.${key}`);
    if (t.length < 16) r.fail(`daemon.http.${key}`, 'expected at least 16 characters');
    if (/[\s\x00-\x1f\x7f]/.test(t)) r.fail(`daemon.http.${key}`, 'expected no spaces or control characters (it travels in an HTTP header)');
    return t;
  };
  const full = token('token');
  const scrape = token('scrape_token');
  if (full === null && scrape === null) r.fail('daemon.http', 'needs token (the whole API) or scrape_token (/metrics only), or both');
  if (full !== null && full === scrape) r.fail('daemon.http.scrape_token', 'must differ from daemon.http.token');
  let tls: { cert: string; key: string } | null = null;
  if (v.tls !== undefined) {
    if (!isPlain(v.tls)) r.fail('daemon.http.tls', 'expected a mapping with cert and key (PEM files)');
    r.keys(v.tls, 'daemon.http.tls', ['cert', 'key']);
    tls = { cert: r.string(v.tls.cert, 'daemon.http.tls.cert'), key: r.string(v.tls.key, 'daemon.http.tls.key') };
  }
  if (!isLoopback(host) && tls === null) {
    r.fail('daemon.http.listen', `${listen} is not a loopback address: listening there needs daemon.http.tls (cert and key), so that tokens and command lines do not cross the network in clear`);
  }
  return { httpListen: listen, httpToken: full, httpScrapeToken: scrape, httpTls: tls };
}

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\.\d+\.\d+\.\d+$/i.test(host);
}

const EBPF_KEYS = ['network', 'files', 'path_prefix', 'user', 'cgroup', 'ring_buffer', 'syscalls', 'syscalls_interval', 'shell', 'shell_binaries', 'shell_redact', 'id_events'];

/**
 * How often the daemon reads running processes' syscall counts (daemon.ebpf.syscalls_interval):
 * a profile is stored for a process that runs long before it exits, at one row per process.
 */
export const DEFAULT_SYSCALLS_INTERVAL_MS = 60_000;

/** daemon.ebpf.network: true (or connections): connect/accept events; sessions: one event per TCP connection at its close; or both, as a list. */
function parseNetwork(r: ConfigReader, v: unknown, capture: BpfCaptureOptions): void {
  const path = 'daemon.ebpf.network';
  if (typeof v === 'boolean') {
    capture.network = v;
    return;
  }
  const items = Array.isArray(v) ? r.strings(v, path) : [r.string(v, path)];
  for (const item of items) {
    if (item === 'connections') capture.network = true;
    else if (item === 'sessions') capture.sessions = true;
    else r.fail(path, `expected true or false (connect/accept events), connections, sessions, or a list of those, got '${item}'`);
  }
}

/** daemon.ebpf: what the eBPF source captures besides process events, filtered in the kernel. */
function parseEbpf(r: ConfigReader, v: unknown, size: (v: unknown, path: string) => number, duration: (v: unknown, path: string) => number): BpfCaptureOptions {
  if (!isPlain(v)) r.fail('daemon.ebpf', `expected a mapping with some of: ${EBPF_KEYS.join(', ')}`);
  const e: Plain = v;
  r.keys(e, 'daemon.ebpf', EBPF_KEYS);
  const capture: BpfCaptureOptions = {};
  if (e.network !== undefined) parseNetwork(r, e.network, capture);
  if (e.syscalls !== undefined && e.syscalls !== false) {
    if (e.syscalls !== 'counts') r.fail('daemon.ebpf.syscalls', `expected counts or false, got '${String(e.syscalls)}'`);
    capture.syscalls = true;
    capture.syscallsIntervalMs = DEFAULT_SYSCALLS_INTERVAL_MS;
  }
  if (e.syscalls_interval !== undefined) {
    if (capture.syscalls !== true) r.fail('daemon.ebpf.syscalls_interval', 'applies to syscall counts: set daemon.ebpf.syscalls: counts');
    const ms = e.syscalls_interval === 'none' || e.syscalls_interval === 0 ? 0 : duration(e.syscalls_interval, 'daemon.ebpf.syscalls_interval');
    if (ms > 86_400_000) r.fail('daemon.ebpf.syscalls_interval', 'at most a day (1d)');
    if (ms !== 0 && ms < 1000) r.fail('daemon.ebpf.syscalls_interval', 'at least 1s (or none: only at exits)');
    capture.syscallsIntervalMs = ms;
  }
  if (e.shell !== undefined) capture.shell = r.boolean(e.shell, 'daemon.ebpf.shell');
  for (const [key, field] of [['shell_binaries', 'shellBinaries'], ['shell_redact', 'shellRedact']] as const) {
    if (e[key] === undefined) continue;
    if (capture.shell !== true) r.fail(`daemon.ebpf.${key}`, 'applies to shell capture: set daemon.ebpf.shell: true');
    // An empty redaction list is allowed (redact nothing); an empty list of binaries still watches the running shells.
    capture[field] = Array.isArray(e[key]) && e[key].length === 0 ? [] : r.strings(e[key], `daemon.ebpf.${key}`);
  }
  if (e.files !== undefined) capture.files = r.boolean(e.files, 'daemon.ebpf.files');
  if (e.path_prefix !== undefined) capture.pathPrefix = r.string(e.path_prefix, 'daemon.ebpf.path_prefix');
  if (e.user !== undefined) {
    const user = r.string(e.user, 'daemon.ebpf.user');
    const uid = /^\d+$/.test(user) ? Number(user) : new UserDb().passwd.byName.get(user);
    if (uid === undefined) r.fail('daemon.ebpf.user', `unknown user '${user}'`);
    capture.uid = uid;
  }
  if (e.cgroup !== undefined) capture.cgroupPath = r.string(e.cgroup, 'daemon.ebpf.cgroup');
  if (e.ring_buffer !== undefined) capture.ringBytes = size(e.ring_buffer, 'daemon.ebpf.ring_buffer');
  // uid, gid, sid and ptrace events: on unless switched off (their syscall tracepoints cost every syscall a little).
  if (e.id_events !== undefined) capture.idEvents = r.boolean(e.id_events, 'daemon.ebpf.id_events');
  r.wrap('daemon.ebpf', () => checkCaptureOptions(capture));
  return capture;
}

export async function loadDaemonConfig(file: string | undefined, warn: WarningSink = stderrWarnings): Promise<DaemonConfig> {
  if (file === undefined) return { ...DAEMON_DEFAULTS };
  const config = await parseDaemonConfig(readConfigText(file), file, warn);
  const secret = secretWarning(file, config);
  if (secret !== null) warn(secret);
  return config;
}

/** A warning when the file holds a token but anyone on the machine may read it. */
export function secretWarning(file: string, config: DaemonConfig): string | null {
  if (config.httpToken === null && config.httpScrapeToken === null) return null;
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return null;
  }
  if ((mode & 0o004) === 0) return null;
  return `config ${file}: warning: the file holds a daemon.http token and is readable by every user (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod o-r it`;
}
