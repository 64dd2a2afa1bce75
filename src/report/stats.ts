/** `procwatch stats` as text: rounded figures, human durations, kinds in the README's order. */

import { EVENT_KINDS } from '../events/types.js';
import { LOCAL, humanDuration, isoDateTime, type TimeStyle } from './time.js';

export interface StatsAnswer {
  source: string;
  uptimeSeconds: number;
  eventsByKind: Record<string, number>;
  sourceCounters: Record<string, number>;
  reorder: Record<string, number>;
  table: Record<string, number>;
  store: Record<string, unknown> & { byKindLastMinute: Record<string, number> };
}

/** Kinds in the README's order, then any other the daemon counts. */
function inKindOrder(counts: Record<string, number>): Array<[string, number]> {
  const order = (k: string): number => {
    const i = (EVENT_KINDS as readonly string[]).indexOf(k);
    return i < 0 ? EVENT_KINDS.length : i;
  };
  return Object.entries(counts).sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b));
}

/** 1234567 → "1,234,567". */
const count = (n: unknown): string => (typeof n === 'number' ? Math.round(n).toLocaleString('en-US') : '-');

/** A per-second rate, rounded as people read it: 0.02, 1.5, 37. */
function rate(n: number): string {
  if (n === 0) return '0';
  return n < 1 ? n.toFixed(2) : n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
}

function bytes(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KiB` : n < 1024 ** 3 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function renderStats(s: StatsAnswer, time: TimeStyle = LOCAL): string {
  // The current rate: events stored in the last minute, not totals over the whole uptime.
  const window = Math.max(1, Math.min(60, s.uptimeSeconds));
  const lines = [
    `source          ${s.source}, up ${humanDuration(s.uptimeSeconds)}`,
    `events          ${inKindOrder(s.eventsByKind).map(([k, n]) => `${k} ${count(n)}`).join(', ') || 'none yet'}`,
    `per second      ${inKindOrder(s.store.byKindLastMinute).map(([k, n]) => `${k} ${rate(n / window)}`).join(', ') || '-'} (last minute)`,
    `lost            ${count(s.sourceCounters.lost ?? 0)} (source), ${count(s.store.dropped)} (store queue overflow); resyncs ${count(s.table.resyncs)}`,
    `late/malformed  ${count(s.reorder.late)} late, ${count(s.sourceCounters.malformed ?? 0)} malformed`,
    `table           ${count(s.table.live)} live, ${count(s.table.exited)} exited kept`,
    `store           ${count(s.store.events)} events, ${count(s.store.processes)} processes, ${bytes(Number(s.store.dbBytes))}; queue ${count(s.store.queued)}, lag ${count(s.store.lagMs)} ms; oldest ${typeof s.store.oldestEvent === 'string' ? isoDateTime(s.store.oldestEvent, time) : '-'}`,
  ];
  return `${lines.join('\n')}\n`;
}

