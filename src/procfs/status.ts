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

/** The value of one `Key:\tvalue` line; only the few keys we need are looked up, not all ~55 lines split. */
function field(text: string, key: string): string | undefined {
  const label = `${key}:`;
  let start: number;
  if (text.startsWith(label)) {
    start = label.length;
  } else {
    const at = text.indexOf(`\n${label}`);
    if (at < 0) return undefined;
    start = at + 1 + label.length;
  }
  const end = text.indexOf('\n', start);
  return text.slice(start, end < 0 ? undefined : end);
}

/** Returns null when the Uid/Gid lines are missing or malformed. */
export function parseStatus(text: string): ProcStatus | null {
  const uids = quad(field(text, 'Uid'));
  const gids = quad(field(text, 'Gid'));
  if (uids === null || gids === null) return null;
  const groupsText = (field(text, 'Groups') ?? '').trim();
  return {
    name: (field(text, 'Name') ?? '').trim(),
    tgid: Number((field(text, 'Tgid') ?? '').trim()),
    ppid: Number((field(text, 'PPid') ?? '').trim()),
    uids,
    gids,
    groups: groupsText === '' ? [] : groupsText.split(/\s+/).map(Number),
  };
}
