/** Public interface of resources/: snapshots of every process's resources, from eBPF or /proc. */
export type { ResourceSample, Snapshot, SnapshotSource, SnapshotSourceName } from './types.js';
export { EbpfSnapshotSource, splitCpu } from './ebpf.js';
export { ProcSnapshotSource, sampleOf } from './proc.js';
import { EbpfSnapshotSource } from './ebpf.js';
import { ProcSnapshotSource } from './proc.js';
import type { SnapshotSource } from './types.js';

export type SnapshotChoice = 'auto' | 'ebpf' | 'proc';

/**
 * The snapshot source asked for: `auto` takes the task iterator when it loads, else /proc,
 * and says why. `ebpf` throws (one line) when the iterator cannot load.
 */
export function openSnapshotSource(choice: SnapshotChoice): { source: SnapshotSource; why: string } {
  if (choice === 'proc') return { source: new ProcSnapshotSource(), why: 'proc (as configured)' };
  try {
    return { source: EbpfSnapshotSource.open(), why: 'ebpf (task iterator)' };
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    if (choice === 'ebpf') throw new Error(`the eBPF task iterator cannot be used: ${reason}`);
    return { source: new ProcSnapshotSource(), why: `proc (the eBPF task iterator cannot be used: ${reason})` };
  }
}
