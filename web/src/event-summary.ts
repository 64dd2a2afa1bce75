/**
 * One line about any event, whatever its kind: the kinds the console knows get a short
 * sentence, every other kind (new sources add kinds) its own fields as name=value. All of it
 * is text made visible (text.ts); none of it is ever markup.
 */

import { bytes, commandLine, duration, visible } from './text.js';
import type { ApiEvent } from './types.js';

/** Fields every event has, shown in their own columns. */
const COMMON = new Set(['id', 'bootId', 'run', 'seq', 'time', 'ktimeNs', 'kind', 'pid', 'tid', 'cpu', 'key', 'provenance', 'process']);

export function eventName(e: ApiEvent): string {
  return visible(e.process?.comm ?? e.details?.comm ?? (typeof e.comm === 'string' ? e.comm : null) ?? '');
}

export function eventSummary(e: ApiEvent): string {
  switch (e.kind) {
    case 'exec':
      return commandLine(e.details?.argv ?? e.process?.argv ?? null, e.details?.exe ?? e.details?.comm ?? null);
    case 'fork':
      return `from ${String(e.parentPid ?? '?')}${e.thread === true ? ' (thread)' : ''}`;
    case 'exit': {
      const s = e.status as { code?: number | null; signal?: number | null; coreDumped?: boolean } | undefined;
      const how = s?.signal != null ? `signal ${s.signal}${s.coreDumped ? ' (core dumped)' : ''}` : `code ${String(s?.code ?? '?')}`;
      const life = typeof e.lifetimeNs === 'number' ? `, lived ${duration(e.lifetimeNs / 1e9)}` : '';
      return `${how}${life}`;
    }
    case 'acct': {
      const u = e.usage as { cpuSeconds?: number | null; maxRssBytes?: number | null } | undefined;
      return `used ${duration(u?.cpuSeconds ?? null)} CPU, peak RSS ${bytes(u?.maxRssBytes ?? null)}`;
    }
    case 'lost':
      return `${e.count == null ? 'an unknown number of' : String(e.count)} events lost: ${visible(e.reason ?? '')}`;
    case 'gap':
      return visible(e.reason ?? '');
    case 'truncated':
      return `older events matched too (limit ${String(e.limit ?? '?')}): narrow the range`;
    default:
      return generic(e);
  }
}

function generic(e: ApiEvent): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (COMMON.has(k) || v === null || v === undefined) continue;
    parts.push(`${k}=${visible(typeof v === 'string' ? v : JSON.stringify(v))}`);
    if (parts.length >= 12) break;
  }
  return parts.join(' ');
}
