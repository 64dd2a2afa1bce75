/** Public interface of store/: the SQLite event store, its queries and retention. */
export { EventStore, StoreError, asStoreError, type StoreOptions, type StoreCounters, type PreviousRun } from './store.js';
export { HISTORY_SORTS, type HistorySort, queryEvents, latestEvents, latestEventBounds, queryHistory, queryLineage, queryStats, getProcess, latestByPid, SubtreeTooLarge, MAX_SUBTREE, fixSubtree, type ProcessFilter, type StoredEvent, type StoredProcess, type EventQuery, type EventPage, type HistoryQuery, type Lineage, type StoreStats } from './queries.js';
export { querySessionTotals, querySyscallProfile, type SessionTotals, type SyscallProfile } from './queries.js';
export { applyRetention, type RetentionPolicy, type RetentionResult } from './retention.js';
export { SCHEMA_VERSION, migrate } from './schema.js';
