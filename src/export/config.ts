/**
 * `daemon.export.nats` (README "Fleet export"): where and how the daemon ships its stored
 * events and alerts. Every key is checked here, at start, with one line naming the key; what
 * can only be known by trying (a server that does not answer, credentials it refuses, a
 * stream that is missing) is the exporter's to report and retry.
 */

import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigReader, isPlain, type Plain } from '../config/reader.js';
import { parseDuration, parseSize } from '../config/units.js';

/** How the daemon proves who it is to the NATS servers; at most one. */
export type NatsAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'user'; user: string; password: string }
  /** A file holding an nkey seed (`SU...`), as `nk -gen user` writes it. */
  | { kind: 'nkey'; seedFile: string }
  /** A `.creds` file (a user JWT and its seed), as `nsc` writes it. */
  | { kind: 'credentials'; file: string };

export interface NatsTls {
  /** CA bundle that signs the servers' certificates (default: the system's). */
  caFile: string | null;
  /** Client certificate and key, for servers that verify clients. */
  certFile: string | null;
  keyFile: string | null;
}

export interface NatsExportConfig {
  servers: string[];
  /** This host's name in every record and (as `hostToken`) in every subject. */
  host: string;
  /** `host` made a single subject token: dots become underscores. */
  hostToken: string;
  subjectPrefix: string;
  stream: string;
  /** Create the stream when it is missing (else only check that it exists and takes our subjects). */
  createStream: boolean;
  /** Stream settings used when creating it. */
  replicas: number;
  maxAgeMs: number | null;
  maxBytes: number | null;
  duplicateWindowMs: number;
  auth: NatsAuth;
  /** Null: plain TCP unless a server URL says `tls://`. Set: TLS or nothing. */
  tls: NatsTls | null;
  /** Reply subjects of this host's publishes (server-side permissions: subscribe to `INBOX.>`). */
  inboxPrefix: string;
}

const KEYS = ['servers', 'host', 'subject_prefix', 'stream', 'create_stream', 'replicas', 'max_age', 'max_bytes', 'duplicate_window',
  'token', 'user', 'password', 'nkey', 'credentials', 'tls', 'inbox_prefix'];

/** A subject token: no dots, no wildcards, no spaces. */
const TOKEN = /^[A-Za-z0-9_-]+$/;
const HOST = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const SERVER = /^(?:(?:nats|tls):\/\/)?(?:[^\s/@]+@)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$/;

export function hostTokenOf(host: string): string {
  return host.replace(/\./g, '_');
}

/** The machine's name as a valid `host`: characters outside the allowed set become `-`. */
export function defaultHost(): string {
  const name = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 253);
  return name === '' ? 'localhost' : name;
}

function readableFile(r: ConfigReader, v: unknown, path: string): string {
  const file = r.string(v, path);
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    r.fail(path, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return file;
}

/** daemon.export: one sub-section per target (only `nats` today). */
export function parseExportSection(r: ConfigReader, v: unknown): NatsExportConfig | null {
  if (!isPlain(v)) r.fail('daemon.export', 'expected a mapping with nats');
  r.keys(v, 'daemon.export', ['nats']);
  if (v.nats === undefined || v.nats === null) return null;
  return parseNatsSection(r, v.nats, 'daemon.export.nats');
}

/** The NATS keys; `fleet` commands read the same keys (from `fleet.nats` or `daemon.export.nats`). */
export function parseNatsSection(r: ConfigReader, v: unknown, at: string): NatsExportConfig {
  if (!isPlain(v)) r.fail(at, `expected a mapping with some of: ${KEYS.join(', ')}`);
  const n: Plain = v;
  r.keys(n, at, KEYS);
  const key = (k: string): string => `${at}.${k}`;
  if (n.servers === undefined) r.fail(key('servers'), 'required: the NATS server URLs, such as [nats://nats1:4222, nats://nats2:4222]');
  const servers = typeof n.servers === 'string' ? [n.servers] : r.strings(n.servers, key('servers'));
  if (servers.length === 0) r.fail(key('servers'), 'expected at least one server URL');
  servers.forEach((s, i) => {
    const m = SERVER.exec(s);
    const port = /:(\d+)$/.exec(s.replace(/^\w+:\/\//, ''))?.[1];
    if (m === null || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
      r.fail(`${key('servers')}[${i}]`, `expected nats://HOST:PORT or tls://HOST:PORT, got '${s}'`);
    }
    if (/@/.test(s)) r.fail(`${key('servers')}[${i}]`, 'put credentials in user/password, token, nkey or credentials, not in the URL');
  });
  const host = n.host === undefined ? defaultHost() : r.string(n.host, key('host'));
  if (!HOST.test(host)) r.fail(key('host'), `expected a host name of letters, digits, '.', '_' and '-' (at most 253), got '${host}'`);
  const subjectPrefix = n.subject_prefix === undefined ? 'procwatch' : r.string(n.subject_prefix, key('subject_prefix'));
  if (!subjectPrefix.split('.').every((t) => TOKEN.test(t))) {
    r.fail(key('subject_prefix'), `expected dot-separated tokens of letters, digits, '_' and '-' (no wildcards), got '${subjectPrefix}'`);
  }
  const stream = n.stream === undefined ? 'PROCWATCH' : r.string(n.stream, key('stream'));
  if (!TOKEN.test(stream)) r.fail(key('stream'), `expected a stream name of letters, digits, '_' and '-', got '${stream}'`);
  const duration = (value: unknown, path: string): number | null => {
    if (value === 'none') return null;
    const ms = typeof value === 'number' ? value * 1000 : parseDuration(r.string(value, path));
    if (ms === null || !(ms > 0)) r.fail(path, `expected a duration such as 30d, 12h or 90s${path.endsWith('max_age') ? ", or 'none'" : ''}, got '${String(value)}'`);
    return ms;
  };
  let maxBytes: number | null = null;
  if (n.max_bytes !== undefined && n.max_bytes !== 'none') {
    const b = typeof n.max_bytes === 'number' ? n.max_bytes : parseSize(r.string(n.max_bytes, key('max_bytes')));
    if (b === null || !(b > 0)) r.fail(key('max_bytes'), `expected a size such as 10GiB, or 'none', got '${String(n.max_bytes)}'`);
    maxBytes = b;
  }
  const window = n.duplicate_window === undefined ? 120_000 : duration(n.duplicate_window, key('duplicate_window'));
  if (window === null) r.fail(key('duplicate_window'), 'expected a duration such as 2m');
  const auth = parseAuth(r, n, key);
  let tls: NatsTls | null = null;
  if (n.tls !== undefined && n.tls !== false) {
    if (n.tls === true) tls = { caFile: null, certFile: null, keyFile: null };
    else {
      if (!isPlain(n.tls)) r.fail(key('tls'), 'expected true, or a mapping with some of: ca, cert, key');
      r.keys(n.tls, key('tls'), ['ca', 'cert', 'key']);
      const file = (k: string): string | null => (n.tls as Plain)[k] === undefined ? null : readableFile(r, (n.tls as Plain)[k], key(`tls.${k}`));
      tls = { caFile: file('ca'), certFile: file('cert'), keyFile: file('key') };
      if ((tls.certFile === null) !== (tls.keyFile === null)) r.fail(key('tls'), 'cert and key go together');
    }
  }
  const hostToken = hostTokenOf(host);
  const inboxPrefix = n.inbox_prefix === undefined ? `_INBOX.${hostToken}` : r.string(n.inbox_prefix, key('inbox_prefix'));
  if (!inboxPrefix.split('.').every((t) => TOKEN.test(t))) r.fail(key('inbox_prefix'), `expected dot-separated tokens (no wildcards), got '${inboxPrefix}'`);
  return {
    servers, host, hostToken, subjectPrefix, stream, auth, tls, inboxPrefix,
    createStream: n.create_stream === undefined ? true : r.boolean(n.create_stream, key('create_stream')),
    replicas: n.replicas === undefined ? 1 : r.number(n.replicas, key('replicas'), 1, { max: 5, integer: true }),
    maxAgeMs: n.max_age === undefined ? 30 * 86_400_000 : duration(n.max_age, key('max_age')),
    maxBytes,
    duplicateWindowMs: window,
  };
}

function parseAuth(r: ConfigReader, n: Plain, key: (k: string) => string): NatsAuth {
  const given = ['token', 'user', 'nkey', 'credentials'].filter((k) => n[k] !== undefined);
  if (given.length > 1) r.fail(key(given[1]!), `give one of token, user/password, nkey or credentials (also given: ${given[0]})`);
  if (n.password !== undefined && n.user === undefined) r.fail(key('password'), 'needs user');
  if (n.token !== undefined) return { kind: 'token', token: r.string(n.token, key('token')) };
  if (n.user !== undefined) {
    if (n.password === undefined) r.fail(key('user'), 'needs password');
    return { kind: 'user', user: r.string(n.user, key('user')), password: r.string(n.password, key('password')) };
  }
  if (n.nkey !== undefined) return { kind: 'nkey', seedFile: readableFile(r, n.nkey, key('nkey')) };
  if (n.credentials !== undefined) return { kind: 'credentials', file: readableFile(r, n.credentials, key('credentials')) };
  return { kind: 'none' };
}
