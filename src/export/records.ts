/**
 * The exported records (README "Fleet record schema"): subjects, message ids and JSON bodies.
 * One module for both ends: the exporter builds them, `procwatch fleet` reads them.
 *
 * A record is unique fleet-wide by (host, store, id): `store` is a random id of the host's
 * database, so a database that is replaced (and starts its ids again) never collides with
 * what its predecessor sent. Message ids (`Nats-Msg-Id`) are derived from the same three
 * and are therefore the same on every retry, after a reconnect, a restart or a kill -9.
 */

import type { Alert } from '../alerts/types.js';

export interface Subjects {
  prefix: string;
  hostToken: string;
}

/** `PREFIX.HOST.events.KIND`: a kind is a token already; anything else would be made one. */
export function eventSubject(s: Subjects, kind: string): string {
  return `${s.prefix}.${s.hostToken}.events.${kind.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export function alertSubject(s: Subjects): string {
  return `${s.prefix}.${s.hostToken}.alerts`;
}

export const eventMsgId = (hostToken: string, store: string, id: number): string => `${hostToken}:${store}:e${id}`;
export const alertMsgId = (hostToken: string, store: string, changeId: number): string => `${hostToken}:${store}:a${changeId}`;
export const gapMsgId = (hostToken: string, store: string, stream: 'events' | 'alerts', first: number, last: number): string =>
  `${hostToken}:${store}:${stream === 'events' ? 'lost' : 'alost'}${first}-${last}`;

/** What a message id says: whose, and which record. Null for ids procwatch did not make. */
export function parseMsgId(msgId: string): { hostToken: string; store: string; type: 'e' | 'a' | 'lost' | 'alost'; id: number } | null {
  const m = /^([A-Za-z0-9_-]+):([0-9a-f]+):(e|a|lost|alost)(\d+)(?:-(\d+))?$/.exec(msgId);
  if (m === null) return null;
  // A gap stands for its last id: everything up to it has been dealt with.
  return { hostToken: m[1]!, store: m[2]!, type: m[3] as 'e' | 'a' | 'lost' | 'alost', id: Number(m[5] ?? m[4]) };
}

/** A stored event as the exporter reads it: the `events` row's columns, and its boot id. */
export interface EventRow {
  id: number;
  /** The boot id as JSON text (quoted): the exporter makes it once per boot. */
  bootIdJson: string;
  run: number;
  seq: number;
  timeMs: number;
  ktimeNs: number;
  /** The kind as JSON text (quoted). */
  kindJson: string;
  pid: number;
  tid: number;
  key: string | null;
  provenance: string;
  /** The kind-specific fields, as stored: a JSON object's text. */
  data: string;
}

/**
 * The event record's JSON text: the fields `/v1/events` gives a stored event, plus `type`,
 * `host` and `store`, and for exec events `user` (the effective user's name on that host:
 * uids mean little across a fleet). Built as text: the stored `data` is JSON already, and
 * parsing and re-serialising every event would cost more than the publish.
 */
export function eventRecord(head: string, row: EventRow, user: string | null): string {
  const data = row.data.length > 2 ? `,${row.data.slice(1)}` : '}';
  return `${head},"id":${row.id},"bootId":${row.bootIdJson},"run":${row.run},"seq":${row.seq},` +
    `"time":"${new Date(row.timeMs).toISOString()}","ktimeNs":${row.ktimeNs},"kind":${row.kindJson},"pid":${row.pid},` +
    `"tid":${row.tid},"key":${row.key === null ? 'null' : JSON.stringify(row.key)},"provenance":${PROVENANCE_JSON[row.provenance] ?? JSON.stringify(row.provenance)}` +
    `${user === null ? '' : `,"user":${JSON.stringify(user)}`}${data}`;
}

const PROVENANCE_JSON: Record<string, string> = { observed: '"observed"', inferred: '"inferred"' };

/** `{"type":TYPE,"host":...,"store":...` — the start every record shares (no closing brace). */
export function recordHead(type: 'event' | 'alert' | 'lost', host: string, store: string): string {
  return `{"type":"${type}","host":${JSON.stringify(host)},"store":"${store}"`;
}

/** An alert, or a change of its state (a check's alert resolving), as a record. */
export function alertRecord(host: string, store: string, changeId: number, change: 'firing' | 'resolved', alert: Alert): string {
  return JSON.stringify({ type: 'alert', host, store, changeId, change, ...alert });
}

/**
 * Records the exporter could not send because they were gone from the store first (local
 * retention deleted them while the link was down): how many, which ids, and why.
 */
export function gapRecord(host: string, store: string, stream: 'events' | 'alerts', first: number, last: number, count: number, reason: string): string {
  return JSON.stringify({
    type: 'lost', host, store, kind: 'lost', time: new Date().toISOString(), stream, firstId: first, lastId: last, count, reason,
  });
}

/** Any record, as `procwatch fleet` reads it back. */
export interface FleetRecord {
  type: 'event' | 'alert' | 'lost';
  host: string;
  store: string;
  time: string;
  kind?: string;
  id?: number;
  [field: string]: unknown;
}

/** A message body as a record; null when it is not one of ours. */
export function parseRecord(body: string): FleetRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if ((r.type !== 'event' && r.type !== 'alert' && r.type !== 'lost') || typeof r.host !== 'string' || typeof r.time !== 'string') return null;
  return r as FleetRecord;
}
