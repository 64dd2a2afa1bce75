/**
 * Bounds on what API clients can make the daemon hold (issue 14): connections per listener,
 * TCP connections that have not yet sent a request with a valid token (fewer, and only for a
 * short while), heavy answers being sent at once, event streams, and each stream's buffer.
 * Beyond a bound a connection is closed at once, and a request gets 503 with Retry-After.
 * Each bound logs one line when it is first hit and one when it clears, with how many were
 * refused meanwhile. The descriptors the bounds allow stay below the process's limit minus a
 * reserve, so the event source (which opens /proc files) and the unix socket always have some.
 */

import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ApiLimits {
  /** Open connections per listener (the unix socket, the TCP listener). */
  maxConnections: number;
  /** TCP connections that have not yet sent a request with a valid token. */
  maxUnauthenticated: number;
  /** How long a new connection has to send its first (valid) request. */
  firstRequestMs: number;
  /** Answers that can be large (events, history, lineage, processes, tree) being sent at once. */
  maxHeavy: number;
  /** Open event streams (`follow=1`). */
  maxStreams: number;
  /** Bytes a stream may have waiting for a client that does not read; beyond, it is closed. */
  streamBufferBytes: number;
  /** Retry-After of a 503, seconds. */
  retryAfterSeconds: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = {
  maxConnections: 128,
  maxUnauthenticated: 16,
  firstRequestMs: 5000,
  maxHeavy: 4,
  maxStreams: 16,
  streamBufferBytes: 1024 * 1024,
  retryAfterSeconds: 5,
};

/** Descriptors kept free for the event source, the store and the unix socket, whatever clients do. */
export const FD_RESERVE = 256;

/** The soft RLIMIT_NOFILE and the descriptors open now; null when /proc cannot say. */
export function descriptorBudget(procRoot = '/proc'): { limit: number; open: number } | null {
  try {
    const line = readFileSync(`${procRoot}/self/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    const limit = soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
    return Number.isFinite(limit) ? { limit, open: readdirSync(`${procRoot}/self/fd`).length } : null;
  } catch {
    return null;
  }
}

/**
 * The limits, lowered where the descriptor limit could not hold them all with the reserve
 * left over: each listener's connections (unix and TCP) come out of what remains. Returns
 * the limits and, when lowered, the line that says so.
 */
export function fitToDescriptors(limits: ApiLimits, listeners: number, budget = descriptorBudget()): { limits: ApiLimits; note: string | null } {
  if (budget === null) return { limits, note: null };
  const free = budget.limit - budget.open - FD_RESERVE;
  const perListener = Math.max(4, Math.floor(free / Math.max(1, listeners)));
  if (limits.maxConnections <= perListener) return { limits, note: null };
  const fitted = { ...limits, maxConnections: perListener, maxUnauthenticated: Math.min(limits.maxUnauthenticated, perListener), maxStreams: Math.min(limits.maxStreams, perListener) };
  return { limits: fitted, note: `API connections per listener lowered from ${limits.maxConnections} to ${perListener}: the descriptor limit is ${budget.limit}, ${budget.open} are open, ${FD_RESERVE} are kept for the event source and the unix socket` };
}

/** A bound that logs when it is first hit and when it clears, not once per refusal. */
export class LimitLog {
  private hit = false;
  private refusedWhileHit = 0;
  refused = 0;

  constructor(private readonly what: string, private readonly log: (line: string) => void) {}

  refuse(detail: string): void {
    this.refused++;
    this.refusedWhileHit++;
    if (this.hit) return;
    this.hit = true;
    this.refusedWhileHit = 1;
    this.log(`procwatch daemon: API limit reached: ${this.what} (${detail}); refusing more until it clears`);
  }

  /** Called when usage drops below the bound. */
  clear(): void {
    if (!this.hit) return;
    this.hit = false;
    this.log(`procwatch daemon: API limit cleared: ${this.what}; ${this.refusedWhileHit} refused meanwhile`);
  }
}

interface TrackedSocket extends Socket {
  procwatchPending?: boolean;
  procwatchTimer?: NodeJS.Timeout;
}

/** What a listener's guard counts, for /v1/stats. */
export interface GuardCounters {
  connections: number;
  unauthenticated: number;
  refusedConnections: number;
  firstRequestTimeouts: number;
}

/**
 * Watches one listener's connections: at most maxConnections (Node drops the rest at accept),
 * and at most `maxPending` of them that have not yet sent a valid request, each for at most
 * firstRequestMs. `accepted(socket)` marks a connection that has (called by the handler once
 * a request passed the token check).
 */
export class ConnectionGuard {
  private pending = 0;
  private timeouts = 0;
  private readonly connectionsLog: LimitLog;
  private readonly pendingLog: LimitLog;

  constructor(private readonly server: Server, readonly name: string, private readonly limits: ApiLimits, private readonly maxPending: number, log: (line: string) => void) {
    this.connectionsLog = new LimitLog(`${limits.maxConnections} connections on ${name}`, log);
    this.pendingLog = new LimitLog(`${maxPending} connections without a valid request yet on ${name}`, log);
    server.maxConnections = limits.maxConnections;
    server.on('drop', () => this.connectionsLog.refuse('new connections are closed at once'));
    server.on('connection', (socket: TrackedSocket) => this.opened(socket));
  }

  private opened(socket: TrackedSocket): void {
    if (this.pending >= this.maxPending) {
      this.pendingLog.refuse(`the oldest get ${this.limits.firstRequestMs} ms to send one`);
      refuseSocket(socket, this.limits.retryAfterSeconds);
      return;
    }
    this.pending++;
    socket.procwatchPending = true;
    socket.procwatchTimer = setTimeout(() => {
      // An event loop kept busy past the bound (a large answer, a store flush on a loaded
      // machine) runs this timer before it reads a request that arrived in time: look again
      // after the I/O phase that follows, which parses it (and calls accepted()).
      setImmediate(() => {
        if (socket.procwatchPending !== true) return;
        this.timeouts++;
        socket.destroy();
      });
    }, this.limits.firstRequestMs);
    socket.procwatchTimer.unref();
    socket.once('close', () => {
      this.settle(socket);
      if (this.server.listening) this.server.getConnections((err, n) => { if (err === null && n < this.limits.maxConnections) this.connectionsLog.clear(); });
    });
  }

  /** The connection sent a request that passed the token check: it no longer counts as pending. */
  accepted(socket: Socket): void {
    // Over HTTPS the request's socket is the TLS socket; Node keeps the TCP one as _parent.
    this.settle(((socket as Socket & { _parent?: Socket })._parent ?? socket) as TrackedSocket);
  }

  private settle(socket: TrackedSocket): void {
    if (socket.procwatchPending !== true) return;
    socket.procwatchPending = false;
    if (socket.procwatchTimer !== undefined) clearTimeout(socket.procwatchTimer);
    this.pending--;
    if (this.pending < this.maxPending) this.pendingLog.clear();
  }

  counters(): GuardCounters {
    return {
      connections: (this.server as Server & { _connections?: number })._connections ?? 0,
      unauthenticated: this.pending,
      refusedConnections: this.connectionsLog.refused + this.pendingLog.refused,
      firstRequestTimeouts: this.timeouts,
    };
  }
}

/** A raw 503 for a connection refused before any request was read, then closed. */
function refuseSocket(socket: Socket, retryAfter: number): void {
  const body = '{"error":"too many connections waiting for their first request: retry later"}';
  socket.on('error', () => undefined);
  socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nretry-after: ${retryAfter}\r\nconnection: close\r\n\r\n${body}`);
  socket.destroySoon();
}
