/** Public interface of sources/: pick the best event source this machine allows, and say why. */

import { InputError } from '../errors.js';
import { PollSource } from './poll.js';
import type { Availability, EventSource } from './source.js';

export type { EventSource, SourceCounters, BatchSink, SourceName, Availability } from './source.js';
export { PollSource } from './poll.js';

export type SourceChoice = 'auto' | 'netlink' | 'poll';

export interface SourceOptions {
  procRoot?: string;
  /** Netlink receive buffer in bytes (default 16 MiB). */
  rcvbufBytes?: number;
  pollIntervalMs?: number;
}

export interface ChosenSource {
  source: EventSource;
  /** One line for the user: which source, and why this one. */
  why: string;
}

async function netlink(options: SourceOptions): Promise<{ source: EventSource | null; availability: Availability }> {
  const { createNetlinkSource, netlinkAvailability } = await import('./netlink.js');
  const availability = netlinkAvailability();
  return { source: availability.available ? createNetlinkSource(options) : null, availability };
}

export async function chooseSource(choice: SourceChoice, options: SourceOptions = {}): Promise<ChosenSource> {
  const poll = (): EventSource => new PollSource({ procRoot: options.procRoot, intervalMs: options.pollIntervalMs });
  if (choice === 'poll') return { source: poll(), why: 'poll source, as asked' };
  const { source, availability } = await netlink(options);
  if (source !== null) return { source, why: 'netlink proc connector' };
  if (choice === 'netlink') throw new InputError(`netlink source unavailable: ${availability.reason}`);
  return { source: poll(), why: `netlink unavailable (${availability.reason}); falling back to polling /proc` };
}

export function parseSourceChoice(text: string): SourceChoice {
  if (text === 'auto' || text === 'netlink' || text === 'poll') return text;
  throw new InputError(`unknown source '${text}' (expected auto, netlink or poll)`);
}
