/**
 * The daemon section of the config file (README: "Daemon configuration"). Defaults are
 * embedded, so `procwatch daemon` runs with no file at all.
 */

import { ConfigReader, isPlain, parseYamlMapping, readConfigText } from './reader.js';
import { parseDuration, parseSize } from './units.js';

export interface DaemonConfig {
  source: 'auto' | 'netlink' | 'poll';
  database: string;
  socket: string;
  /** Group (name or gid) that may also open the socket; root always can. */
  socketGroup: string | null;
  /** Optional loopback TCP listener for the API and /metrics; needs a token. */
  httpListen: string | null;
  httpToken: string | null;
  retentionMaxAgeMs: number | null;
  retentionMaxBytes: number | null;
  rcvbufBytes: number;
  holdMs: number;
  maxExited: number;
  flushIntervalMs: number;
  maxQueue: number;
  pollIntervalMs: number;
}

export const DAEMON_DEFAULTS: DaemonConfig = {
  source: 'auto',
  database: '/var/lib/procwatch/events.db',
  socket: '/run/procwatch/procwatch.sock',
  socketGroup: null,
  httpListen: null,
  httpToken: null,
  retentionMaxAgeMs: 30 * 86_400_000,
  retentionMaxBytes: 1024 ** 3,
  rcvbufBytes: 16 * 1024 * 1024,
  holdMs: 20,
  maxExited: 20_000,
  flushIntervalMs: 200,
  maxQueue: 200_000,
  pollIntervalMs: 1000,
};

const KEYS = ['source', 'database', 'socket', 'socket_group', 'http', 'retention', 'rcvbuf', 'hold_ms', 'max_exited', 'flush_interval_ms', 'max_queue', 'poll_interval_ms'];

export async function parseDaemonConfig(text: string, file: string): Promise<DaemonConfig> {
  const r: ConfigReader = new ConfigReader(file);
  const doc = await parseYamlMapping(r, text);
  r.keys(doc, 'top level', ['daemon', 'checks', 'defaults']);
  const config = { ...DAEMON_DEFAULTS };
  const d = doc.daemon;
  if (d === undefined) return config;
  if (!isPlain(d)) r.fail('daemon', 'expected a mapping');
  r.keys(d, 'daemon', KEYS);
  if (d.source !== undefined) {
    if (d.source !== 'auto' && d.source !== 'netlink' && d.source !== 'poll') r.fail('daemon.source', 'expected auto, netlink or poll');
    config.source = d.source;
  }
  if (d.database !== undefined) config.database = r.string(d.database, 'daemon.database');
  if (d.socket !== undefined) config.socket = r.string(d.socket, 'daemon.socket');
  if (d.socket_group !== undefined) config.socketGroup = r.string(d.socket_group, 'daemon.socket_group');
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
  if (d.retention !== undefined) {
    if (!isPlain(d.retention)) r.fail('daemon.retention', 'expected a mapping with max_age and/or max_size');
    r.keys(d.retention, 'daemon.retention', ['max_age', 'max_size']);
    if (d.retention.max_age !== undefined) config.retentionMaxAgeMs = d.retention.max_age === 'none' ? null : duration(d.retention.max_age, 'daemon.retention.max_age');
    if (d.retention.max_size !== undefined) config.retentionMaxBytes = d.retention.max_size === 'none' ? null : size(d.retention.max_size, 'daemon.retention.max_size');
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
  if (d.rcvbuf !== undefined) config.rcvbufBytes = size(d.rcvbuf, 'daemon.rcvbuf');
  if (d.hold_ms !== undefined) config.holdMs = r.number(d.hold_ms, 'daemon.hold_ms', 1);
  if (d.max_exited !== undefined) config.maxExited = r.number(d.max_exited, 'daemon.max_exited', 100);
  if (d.flush_interval_ms !== undefined) config.flushIntervalMs = r.number(d.flush_interval_ms, 'daemon.flush_interval_ms', 10);
  if (d.max_queue !== undefined) config.maxQueue = r.number(d.max_queue, 'daemon.max_queue', 1000);
  if (d.poll_interval_ms !== undefined) config.pollIntervalMs = r.number(d.poll_interval_ms, 'daemon.poll_interval_ms', 50);
  return config;
}

export async function loadDaemonConfig(file: string | undefined): Promise<DaemonConfig> {
  if (file === undefined) return { ...DAEMON_DEFAULTS };
  return parseDaemonConfig(readConfigText(file), file);
}
