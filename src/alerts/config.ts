/**
 * The config file's `alerts:` section (README: "Actions"): named actions that rules and
 * checks hand their alerts to, and the actions used when a rule names none. `log` and `kill`
 * exist without being defined (kill with its defaults).
 */

import { parseDuration } from '../config/units.js';
import { RuleFileError, type LocatedYaml } from '../rules/yaml-file.js';

export interface ExecAction { type: 'exec'; argv: string[]; timeoutMs: number; maxRunning: number }
export interface WebhookAction { type: 'webhook'; url: string; timeoutMs: number; retries: number; maxQueue: number; headers: Record<string, string> }
export interface SyslogAction { type: 'syslog'; socket: string; facility: number; tag: string }
export interface AlertmanagerAction { type: 'alertmanager'; url: string; timeoutMs: number; retries: number; maxQueue: number; resolveAfterMs: number }
export interface KillAction { type: 'kill'; signal: 'SIGKILL' | 'SIGTERM'; maxKills: number; perMs: number }
export interface LogAction { type: 'log' }

export type ActionSpec = ExecAction | WebhookAction | SyslogAction | AlertmanagerAction | KillAction | LogAction;

export interface AlertsConfig {
  actions: Map<string, ActionSpec>;
  defaultActions: string[];
  /** Alerts kept in the store (the oldest go first), besides the event retention. */
  maxStored: number;
}

export const SYSLOG_FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

export function defaultKill(): KillAction {
  return { type: 'kill', signal: 'SIGKILL', maxKills: 5, perMs: 10 * 60_000 };
}

export function alertsDefaults(): AlertsConfig {
  return { actions: new Map<string, ActionSpec>([['log', { type: 'log' }], ['kill', defaultKill()]]), defaultActions: ['log'], maxStored: 100_000 };
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const TYPE_KEYS: Record<ActionSpec['type'], string[]> = {
  log: ['type'],
  exec: ['type', 'argv', 'timeout', 'max_running'],
  webhook: ['type', 'url', 'timeout', 'retries', 'max_queue', 'headers'],
  syslog: ['type', 'socket', 'facility', 'tag'],
  alertmanager: ['type', 'url', 'timeout', 'retries', 'max_queue', 'resolve_after'],
  kill: ['type', 'signal', 'max_kills', 'per'],
};

export function parseAlertsSection(y: LocatedYaml | null): AlertsConfig {
  const config = alertsDefaults();
  if (y === null || !isMap(y.value) || y.value.alerts === undefined) return config;
  const a = y.value.alerts;
  if (!isMap(a)) throw new RuleFileError(y.file, y.lineOf(['alerts']), 'alerts: expected a mapping');
  const fail: (path: Array<string | number>, message: string) => never = (path, message) => {
    throw new RuleFileError(y.file, y.lineOf(['alerts', ...path]), `alerts.${path.join('.')}: ${message}`);
  };
  for (const key of Object.keys(a)) if (!['actions', 'default_actions', 'max_stored'].includes(key)) fail([key], 'unknown key (expected actions, default_actions, max_stored)');
  if (a.max_stored !== undefined) {
    if (typeof a.max_stored !== 'number' || !Number.isInteger(a.max_stored) || a.max_stored < 100) fail(['max_stored'], 'expected an integer ≥ 100');
    config.maxStored = a.max_stored as number;
  }
  if (a.actions !== undefined) {
    if (!isMap(a.actions)) fail(['actions'], 'expected a mapping of action names to actions');
    for (const [name, v] of Object.entries(a.actions)) {
      if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) fail(['actions', name], 'an action name is letters, digits, _ . -');
      config.actions.set(name, parseAction(v, (key, m) => fail(key === null ? ['actions', name] : ['actions', name, key], m)));
    }
  }
  if (a.default_actions !== undefined) {
    const list = a.default_actions;
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) fail(['default_actions'], 'expected a list of action names');
    for (const n of list as string[]) {
      if (!config.actions.has(n)) fail(['default_actions'], `unknown action '${n}'`);
      if (config.actions.get(n)!.type === 'kill') fail(['default_actions'], 'kill cannot be a default action: a rule opts in to it (mode: enforce)');
    }
    config.defaultActions = list as string[];
  }
  return config;
}

function parseAction(v: unknown, fail: (key: string | null, m: string) => never): ActionSpec {
  if (!isMap(v)) return fail(null, 'expected a mapping with type and its settings');
  const type = v.type;
  if (typeof type !== 'string' || !Object.hasOwn(TYPE_KEYS, type)) return fail('type', `expected one of: ${Object.keys(TYPE_KEYS).join(', ')}`);
  const t = type as ActionSpec['type'];
  for (const key of Object.keys(v)) if (!TYPE_KEYS[t].includes(key)) fail(key, `unknown key for a ${t} action (expected: ${TYPE_KEYS[t].join(', ')})`);
  const duration = (key: string, fallback: number, max = 86_400_000): number => {
    if (v[key] === undefined) return fallback;
    const ms = typeof v[key] === 'number' ? (v[key] as number) * 1000 : typeof v[key] === 'string' ? parseDuration(v[key] as string) : null;
    if (ms === null || !(ms > 0) || ms > max) return fail(key, `expected a duration such as 5s or 10m (at most ${max / 1000}s)`);
    return ms;
  };
  const integer = (key: string, fallback: number, min: number, max: number): number => {
    if (v[key] === undefined) return fallback;
    const n = v[key];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) return fail(key, `expected an integer from ${min} to ${max}`);
    return n;
  };
  const url = (): string => {
    if (typeof v.url !== 'string') return fail('url', 'expected an http:// or https:// URL');
    let parsed: URL;
    try {
      parsed = new URL(v.url);
    } catch {
      return fail('url', `'${v.url}' is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail('url', 'expected an http:// or https:// URL');
    return v.url;
  };
  switch (t) {
    case 'log':
      return { type: 'log' };
    case 'exec': {
      const argv = v.argv;
      if (!Array.isArray(argv) || argv.length === 0 || argv.some((x) => typeof x !== 'string' || x === '')) return fail('argv', 'expected a non-empty list of strings: the program and its arguments (no shell)');
      if (!(argv[0] as string).startsWith('/')) fail('argv', 'the program must be an absolute path (no PATH search, no shell)');
      return { type: 'exec', argv: argv as string[], timeoutMs: duration('timeout', 10_000), maxRunning: integer('max_running', 4, 1, 64) };
    }
    case 'webhook': {
      const headers: Record<string, string> = {};
      if (v.headers !== undefined) {
        if (!isMap(v.headers)) fail('headers', 'expected a mapping of header names to values');
        for (const [k, h] of Object.entries(v.headers as Record<string, unknown>)) {
          if (typeof h !== 'string' || !/^[A-Za-z0-9-]+$/.test(k) || /[\r\n]/.test(h)) fail('headers', `bad header '${k}'`);
          headers[k] = h as string;
        }
      }
      return { type: 'webhook', url: url(), timeoutMs: duration('timeout', 5000), retries: integer('retries', 3, 0, 20), maxQueue: integer('max_queue', 1000, 1, 1_000_000), headers };
    }
    case 'syslog': {
      const socket = v.socket === undefined ? '/dev/log' : v.socket;
      if (typeof socket !== 'string' || !socket.startsWith('/')) return fail('socket', 'expected the absolute path of a unix datagram socket');
      const facilityName = v.facility === undefined ? 'auth' : v.facility;
      if (typeof facilityName !== 'string' || !Object.hasOwn(SYSLOG_FACILITIES, facilityName)) return fail('facility', `expected one of: ${Object.keys(SYSLOG_FACILITIES).join(', ')}`);
      const tag = v.tag === undefined ? 'procwatch' : v.tag;
      if (typeof tag !== 'string' || !/^[!-~]{1,48}$/.test(tag)) return fail('tag', 'expected 1-48 printable characters without spaces');
      return { type: 'syslog', socket, facility: SYSLOG_FACILITIES[facilityName]!, tag };
    }
    case 'alertmanager':
      return {
        type: 'alertmanager', url: url().replace(/\/+$/, ''), timeoutMs: duration('timeout', 5000), retries: integer('retries', 3, 0, 20),
        maxQueue: integer('max_queue', 1000, 1, 1_000_000), resolveAfterMs: duration('resolve_after', 5 * 60_000, 30 * 86_400_000),
      };
    case 'kill': {
      const signal = v.signal === undefined ? 'SIGKILL' : v.signal;
      if (signal !== 'SIGKILL' && signal !== 'SIGTERM') return fail('signal', 'expected SIGKILL or SIGTERM');
      return { type: 'kill', signal, maxKills: integer('max_kills', 5, 1, 10_000), perMs: duration('per', 10 * 60_000) };
    }
  }
}
