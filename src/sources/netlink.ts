/**
 * The netlink proc connector source: the native reader thread hands over batches of
 * record.h records; this module decodes them into ProcEvents. Events the kernel dropped
 * arrive as a `lost` record with their exact count (the table then resyncs from /proc);
 * undecodable records are counted as malformed. A reader thread that dies is a `lost` event
 * too, and a fatal problem for whoever started the source.
 */

import { InputError } from '../errors.js';
import { DEFAULT_READER_PRIORITY, openProcConnector, procConnectorAvailability, type ProcConnector } from './native.js';
import { NativeIntake } from './intake.js';
import { ReaderWatch, SourceStartError, type Availability, type BatchSink, type EventSource, type ProblemSink, type SourceCounters } from './source.js';
import type { SourceOptions } from './index.js';

export interface NetlinkOptions extends SourceOptions {
  /** Test only: the reader stalls this long after its first frame, to make the kernel drop events. */
  debugStallMs?: number;
  /** Test only: the reader fails as on a fatal recv error after this long (default: $PROCWATCH_TEST_NETLINK_FAIL_MS). */
  debugFailMs?: number;
}

export function netlinkAvailability(): Availability {
  return procConnectorAvailability();
}

/**
 * The test hook for a reader that dies, from the environment, so that `procwatch watch` can be
 * tested end to end: PROCWATCH_TEST_NETLINK_FAIL_MS=N makes the reader fail after N ms.
 */
function failHookFromEnv(): number | undefined {
  const text = process.env.PROCWATCH_TEST_NETLINK_FAIL_MS;
  const ms = text === undefined || text === '' ? NaN : Number(text);
  return Number.isInteger(ms) && ms >= 0 && ms <= 60000 ? ms : undefined;
}

class NetlinkSource implements EventSource {
  readonly name = 'netlink' as const;
  private connector: ProcConnector | null = null;
  private watch: ReaderWatch | null = null;
  private readonly intake = new NativeIntake();

  /** The SCHED_FIFO priority asked for the reader thread. */
  private readonly readerPriority: number;

  constructor(private readonly options: NetlinkOptions) {
    this.readerPriority = options.readerPriority ?? DEFAULT_READER_PRIORITY;
  }

  /** What the user should know: a reader at normal priority names fewer short-lived processes. */
  get limitations(): string {
    const error = this.connector?.readerPriorityError ?? null;
    return error === null ? '' : `reader thread at normal priority (SCHED_FIFO ${this.readerPriority} refused: ${error}): more short-lived processes go unnamed`;
  }

  async start(sink: BatchSink, onProblem?: ProblemSink): Promise<void> {
    if (this.connector !== null) throw new Error('netlink source already started');
    const watch = new ReaderWatch('the netlink reader', sink, onProblem, () => this.intake.lastSeq, () => this.intake.countFailure());
    try {
      this.connector = openProcConnector({
        rcvbufBytes: this.options.rcvbufBytes,
        readerPriority: this.readerPriority,
        debugStallMs: this.options.debugStallMs,
        debugFailMs: this.options.debugFailMs ?? failHookFromEnv(),
        onBatch: (buffer) => this.intake.take(buffer, sink),
        onError: (message) => watch.error(message),
      });
    } catch (err) {
      if (err instanceof RangeError) throw new InputError(err.message);
      // One line: "procconn: bind(CN_IDX_PROC): Operation not permitted" → what the user needs.
      const message = (err instanceof Error ? err.message : String(err)).replace(/^procconn: /, '');
      throw new SourceStartError(`cannot open the proc connector: ${message}`);
    }
    this.watch = watch;
    watch.follow(this.connector.closed);
  }

  async stop(): Promise<void> {
    const connector = this.connector;
    if (connector === null) return;
    this.watch?.stopRequested();
    connector.stop();
    await connector.closed; // every batch read before the stop has been delivered
  }

  counters(): SourceCounters {
    const native = this.connector?.counters();
    return {
      ...(native ?? {}),
      events: this.intake.events,
      batches: this.intake.decode.batches,
      lost: this.intake.lost,
      malformed: this.intake.decode.malformed + (native?.malformed ?? 0),
      rcvbufBytes: this.connector?.rcvbufBytes ?? 0,
      readerPriority: this.connector?.readerPriority ?? 0,
    };
  }
}

export function createNetlinkSource(options: NetlinkOptions): EventSource {
  return new NetlinkSource(options);
}
