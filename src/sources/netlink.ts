/**
 * The netlink proc connector source: the native reader thread hands over batches of
 * record.h records; this module decodes them into ProcEvents. ENOBUFS arrives as a `lost`
 * record (the table then resyncs from /proc); undecodable records are counted as malformed.
 */

import { openProcConnector, procConnectorAvailability, type ProcConnector } from './native.js';
import { decodeBatch, newDecodeStats, type DecodeStats } from './record.js';
import type { Availability, BatchSink, EventSource, SourceCounters } from './source.js';
import type { SourceOptions } from './index.js';

export interface NetlinkOptions extends SourceOptions {
  /** Test only: the reader stalls this long after its first frame, to make the kernel drop events. */
  debugStallMs?: number;
}

export function netlinkAvailability(): Availability {
  return procConnectorAvailability();
}

class NetlinkSource implements EventSource {
  readonly name = 'netlink' as const;
  readonly limitations = '';
  private connector: ProcConnector | null = null;
  private readonly decode: DecodeStats = newDecodeStats();
  private events = 0;
  private lost = 0;
  private errors: string[] = [];

  constructor(private readonly options: NetlinkOptions) {}

  async start(sink: BatchSink): Promise<void> {
    if (this.connector !== null) throw new Error('netlink source already started');
    this.connector = openProcConnector({
      rcvbufBytes: this.options.rcvbufBytes,
      debugStallMs: this.options.debugStallMs,
      onBatch: (buffer) => {
        const batch = decodeBatch(buffer, this.decode);
        if (batch.length === 0) return;
        this.events += batch.length;
        for (const event of batch) if (event.kind === 'lost') this.lost += event.count ?? 1;
        sink(batch);
      },
      onError: (message) => {
        // Kept for counters(); the reader goes on. Bounded: only the last few matter.
        this.errors.push(message);
        if (this.errors.length > 10) this.errors.shift();
      },
    });
  }

  async stop(): Promise<void> {
    const connector = this.connector;
    if (connector === null) return;
    connector.stop();
    await connector.closed; // every batch read before the stop has been delivered
  }

  counters(): SourceCounters {
    const native = this.connector?.counters();
    return {
      ...(native ?? {}),
      events: this.events,
      batches: this.decode.batches,
      lost: this.lost,
      malformed: this.decode.malformed + (native?.malformed ?? 0),
      rcvbufBytes: this.connector?.rcvbufBytes ?? 0,
    };
  }

  lastErrors(): readonly string[] {
    return this.errors;
  }
}

export function createNetlinkSource(options: NetlinkOptions): EventSource {
  return new NetlinkSource(options);
}
