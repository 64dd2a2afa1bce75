/** The API shapes the console reads (README: API reference). Only the fields it uses. */

import type { ProcessRow } from '../../src/api/process-row.js';

export type { ProcessRow };

export type ProcessStreamMessage =
  | { type: 'reset'; time: string }
  | { type: 'upsert'; processes: ProcessRow[] }
  | { type: 'remove'; keys: string[] }
  | { type: 'synced'; processes: number }
  | { type: 'stream_closed'; reason: string };

/** An event as /v1/events sends it: common fields, the kind's own fields, and (live) the process. */
export interface ApiEvent {
  id?: number;
  bootId?: string;
  run?: number;
  seq: number;
  time: string;
  kind: string;
  pid: number;
  tid: number;
  key: string | null;
  count?: number | null;
  reason?: string;
  limit?: number;
  details?: { comm?: string | null; exe?: string | null; argv?: string[] | null; cwd?: string | null };
  process?: { key: string; pid: number; ppid: number | null; parentKey: string | null; comm: string | null; exe: string | null; argv: string[] | null; user: string | null; uid: number | null };
  [field: string]: unknown;
}

export interface StoredProcess {
  key: string;
  pid: number;
  ppid: number | null;
  parentKey: string | null;
  bootId?: string;
  startTicks: number | null;
  startTime: string | null;
  execTime: string | null;
  exitTime: string | null;
  comm: string | null;
  exe: string | null;
  argv: string[] | null;
  cwd: string | null;
  uid: number | null;
  euid: number | null;
  suid: number | null;
  fsuid: number | null;
  gid: number | null;
  egid: number | null;
  sgid: number | null;
  fsgid: number | null;
  user: string | null;
  label: string | null;
  cgroup: string | null;
  unit?: string | null;
  container?: string | null;
  containerRuntime?: string | null;
  exitCode: number | null;
  exitSignal: number | null;
  coreDumped: boolean | null;
  origin: string;
  exitOrigin: string | null;
  usage: Record<string, number | string | null> | null;
  threads?: number;
  live?: boolean;
}

export interface Lineage {
  process: StoredProcess;
  ancestors: StoredProcess[];
  descendants: Array<StoredProcess & { depth: number }>;
  truncated: boolean;
}

export interface Alert {
  id: number;
  source: 'rule' | 'check';
  name: string;
  severity: string;
  message: string;
  time: string;
  state: 'firing' | 'resolved';
  resolvedTime: string | null;
  key: string | null;
  process: { key: string; pid: number; comm: string | null; exe: string | null; argv: string[] | null; user: string | null } | null;
  suppressed: number;
  origin: string;
  mode: string;
  actions: string[];
}

export interface CheckState {
  name: string;
  kind: string;
  status: string;
  state: string;
  since: string;
  detail: string;
  count: number | null;
}

export interface Stats {
  source: string;
  uptimeSeconds: number;
  eventsByKind: Record<string, number>;
  sourceCounters: Record<string, number>;
  reorder: Record<string, number>;
  table: Record<string, number>;
  store: Record<string, number | string | null>;
  api: Record<string, number>;
  limits: Record<string, number | null>;
  resources: Record<string, unknown>;
}

export interface Health {
  ok: boolean;
  source: string;
  sourceWhy: string;
  bootId: string;
  startedAt: string;
  pid: number;
}
