/**
 * The daemon section of the config file (README: "Daemon configuration"). Defaults are
 * embedded, so `procwatch daemon` runs with no file at all.
 */

import { kernelFsProblem, pathClash, socketPathProblem } from '../daemon/paths.js';
import { UserDb } from '../procfs/users.js';
import { DEFAULT_READER_PRIORITY, checkCaptureOptions, type BpfCaptureOptions } from '../sources/index.js';
import { ConfigReader, isPlain, parseYamlMapping, readConfigText, type Plain } from './reader.js';
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
  socket: string;
  /** Group (gid, resolved from the name in the file) that may also open the socket; root always can. */
  socketGroup: number | null;
  /** Optional loopback TCP listener for the API and /metrics; needs a token. */
  httpListen: string | null;
  httpToken: string | null;
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
  /** Resource snapshots, their history and the group metrics (issue 12; src/config/resources.ts). */
  resources: ResourcesConfig;
  /** The web console (issue 13; src/config/web.ts): off unless daemon.web.listen is set. */
  web: WebConfig;
}

export const DAEMON_DEFAULTS: DaemonConfig = {
  source: 'auto',
  ebpf: {},
  database: '/var/lib/procwatch/events.db',
  socket: '/run/procwatch/procwatch.sock',
  socketGroup: null,
  httpListen: null,
  httpToken: null,
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
  resources: RESOURCES_DEFAULTS,
  web: WEB_DEFAULTS,
};

/**
 * The daemon's eBPF ring buffer unless daemon.ebpf.ring_buffer says otherwise (`watch` keeps
 * the source's 8 MiB). Its pages count twice in the daemon's RSS (libbpf maps the data area
 * twice so records never wrap), so 8 MiB cost 16 MiB of the ~80 MB goal. 2 MiB holds about
 * 6,000 processes' fork+exec+exit records (~340 bytes for a short command line): 2.5 s of
 * the machine's fastest exec storm (~2,500/s) while JavaScript is busy, besides the reader's
 * 1 MiB of batch buffers. What finds it full is still counted and reported as lost.
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

const KEYS = ['source', 'ebpf', 'database', 'socket', 'socket_group', 'http', 'retention', 'rcvbuf', 'reader_priority', 'hold_ms', 'max_exited', 'flush_interval_ms', 'max_queue', 'poll_interval_ms', 'resources', 'web'];

export async function parseDaemonConfig(text: string, file: string): Promise<DaemonConfig> {
  const r: ConfigReader = new ConfigReader(file);
  const doc = await parseYamlMapping(r, text);
  r.keys(doc, 'top level', ['daemon', 'checks', 'defaults', 'rules', 'alerts']);
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
  if (d.http !== undefined) {
    if (!isPlain(d.http)) r.fail('daemon.http', 'expected a mapping with listen and token');
    r.keys(d.http, 'daemon.http', ['listen', 'token']);
    const listen = r.string(d.http.listen, 'daemon.http.listen');
    const m = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d+)$/.exec(listen);
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) r.fail('daemon.http.listen', `expected a loopback address and port such as 127.0.0.1:9465, got '${listen}'`);
    const token = r.string(d.http.token, 'daemon.http.token');
    if (token.length < 16) r.fail('daemon.http.token', 'expected at least 16 characters');
    config.httpListen = listen;
    config.httpToken = token;
  }
  if (d.ebpf !== undefined) config.ebpf = parseEbpf(r, d.ebpf, size, duration);
  if (d.rcvbuf !== undefined) config.rcvbufBytes = size(d.rcvbuf, 'daemon.rcvbuf');
  if (d.reader_priority !== undefined) config.readerPriority = r.number(d.reader_priority, 'daemon.reader_priority', 0, { max: 99, integer: true });
  if (d.hold_ms !== undefined) config.holdMs = timer(r.number(d.hold_ms, 'daemon.hold_ms', 1), 'daemon.hold_ms');
  if (d.max_exited !== undefined) config.maxExited = r.number(d.max_exited, 'daemon.max_exited', 100);
  if (d.flush_interval_ms !== undefined) config.flushIntervalMs = timer(r.number(d.flush_interval_ms, 'daemon.flush_interval_ms', 10), 'daemon.flush_interval_ms');
  if (d.max_queue !== undefined) config.maxQueue = r.number(d.max_queue, 'daemon.max_queue', 1000);
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

const EBPF_KEYS = ['network', 'files', 'path_prefix', 'user', 'cgroup', 'ring_buffer', 'syscalls', 'syscalls_interval', 'shell', 'shell_binaries', 'shell_redact'];

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
  r.wrap('daemon.ebpf', () => checkCaptureOptions(capture));
  return capture;
}

export async function loadDaemonConfig(file: string | undefined): Promise<DaemonConfig> {
  if (file === undefined) return { ...DAEMON_DEFAULTS };
  return parseDaemonConfig(readConfigText(file), file);
}
