/**
 * The JavaScript end of a native reader (netlink, eBPF): decodes each batch buffer the addon
 * hands over, keeps the tallies a source reports, and passes non-empty batches on.
 */

import type { BatchSink } from './source.js';
import { decodeBatch, newDecodeStats, type DecodeStats } from './record.js';

export class NativeIntake {
  readonly decode: DecodeStats = newDecodeStats();
  events = 0;
  /** Events the kernel or the reader said were missed (`lost` records' counts). */
  lost = 0;
  /** Sequence number of the last event delivered, for the one a failing reader adds. */
  lastSeq = 0;

  /** Decodes one batch buffer and delivers its events to `sink`. */
  take(buffer: Buffer, sink: BatchSink): void {
    const batch = decodeBatch(buffer, this.decode);
    if (batch.length === 0) return;
    this.events += batch.length;
    this.lastSeq = batch[batch.length - 1]!.seq;
    for (const event of batch) if (event.kind === 'lost') this.lost += event.count ?? 1;
    sink(batch);
  }

  /** A reader that ended on its own: its watch delivers one more `lost` event, counted here. */
  countFailure(): void {
    this.lost++;
    this.events++;
  }
}
