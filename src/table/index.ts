/** Public interface of table/: the live process table and the tracker that feeds it. */
export { ProcessTable, type TableCounters, type TableOptions } from './table.js';
export { ProcessTracker, type TrackerCounters, type TrackerOptions } from './tracker.js';
export { ReorderBuffer } from './reorder.js';
export { Clock } from './clock.js';
export type { ProcessRecord, Origin } from './record.js';
export { processKey, PROCESS_KEY } from './record.js';
