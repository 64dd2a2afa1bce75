/** Parser for /proc/PID/status (procps calls it status2proc): only the fields we use. */

import type { IdQuad } from '../events/types.js';

export interface ProcStatus {
  name: string;
  tgid: number;
  ppid: number;
  /** Real, effective, saved, filesystem. */
  uids: IdQuad;
  gids: IdQuad;
  /** Supplementary groups. */
  groups: number[];
}

function quad(value: string | undefined): IdQuad | null {
  if (value === undefined) return null;
  const parts = value.trim().split(/\s+/).map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n))) return null;
  return [parts[0]!, parts[1]!, parts[2]!, parts[3]!];
}

/** Returns null when the Uid/Gid lines are missing or malformed. */
export function parseStatus(text: string): ProcStatus | null {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  const uids = quad(fields.get('Uid'));
  const gids = quad(fields.get('Gid'));
  if (uids === null || gids === null) return null;
  const groupsText = (fields.get('Groups') ?? '').trim();
  return {
    name: (fields.get('Name') ?? '').trim(),
    tgid: Number((fields.get('Tgid') ?? '').trim()),
    ppid: Number((fields.get('PPid') ?? '').trim()),
    uids,
    gids,
    groups: groupsText === '' ? [] : groupsText.split(/\s+/).map(Number),
  };
}
