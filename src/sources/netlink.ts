/** Placeholder until the native addon lands: reports itself unavailable. */
import type { Availability, EventSource } from './source.js';
import type { SourceOptions } from './index.js';
export function netlinkAvailability(): Availability { return { available: false, reason: 'native addon not built' }; }
export function createNetlinkSource(_options: SourceOptions): EventSource { throw new Error('unavailable'); }
