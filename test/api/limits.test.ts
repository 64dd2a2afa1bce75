/**
 * Issue 14, items 2 and 3: the bounds hold. Connections without a valid request are few and
 * short-lived on TCP, connections per listener are capped, large answers being sent and event
 * streams are capped (503 with Retry-After beyond), and the unix socket keeps answering. Each
 * bound logs when it is hit and when it clears. No timing is asserted: conditions are awaited.
 * Peak memory under the same abuse is measured by `npm run bench -- abuse` (BENCHMARKS.md).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { ProcEvent } from '../../src/events/types.js';
import { get, startDaemon, waitFor, type Harness } from './harness.js';

const TOKEN = 'limits-test-token-0123456789';

interface Listener { listener: string; connections: number; unauthenticated: number; refusedConnections: number; firstRequestTimeouts: number }
async function listeners(h: Harness): Promise<Listener[]> {
  return (await get(h.socket, '/v1/stats')).json<{ api: { listeners: Listener[] } }>().api.listeners;
}
const tcp = (ls: Listener[]): Listener => ls.find((l) => l.listener.startsWith('127.0.0.1'))!;

/** A raw connection; collects what the server sends and whether it closed. */
function raw(where: { port: number } | { path: string }): { socket: Socket; data: () => string; closed: Promise<void> } {
  const socket = 'port' in where ? connect(where.port, '127.0.0.1') : connect(where.path);
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => (data += c));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, data: () => data, closed };
}

test('TCP: connections without a valid request are capped, get a 503, and time out; the unix socket still answers', async () => {
  const log: string[] = [];
  const h = await startDaemon({}, { api: { limits: { maxUnauthenticated: 3, maxConnections: 8, firstRequestMs: 60_000 } }, log: (l) => log.push(l) });
  try {
    await h.api.listenTcp('127.0.0.1:0', TOKEN);
    const port = h.api.tcpPort()!;
    const idle = [raw({ port }), raw({ port }), raw({ port })];
    assert.ok(await waitFor(async () => (tcp(await listeners(h)).unauthenticated === 3 ? true : undefined), 30_000), 'three idle connections held');
    const fourth = raw({ port });
    await fourth.closed;
    assert.match(fourth.data(), /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*retry-after: 5\r\n/);
    assert.equal((await get(h.socket, '/v1/health')).status, 200, 'the unix socket answers');
    assert.ok(log.some((l) => /^procwatch daemon: API limit reached: 3 connections without a valid request yet on 127\.0\.0\.1:\d+/.test(l)), log.join('\n'));
    // A connection that sends a valid request is no longer pending: it frees its slot.
    idle[0]!.socket.write(`GET /v1/health HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`);
    assert.ok(await waitFor(() => (idle[0]!.data().startsWith('HTTP/1.1 200') ? true : undefined), 30_000));
    assert.ok(await waitFor(async () => (tcp(await listeners(h)).unauthenticated === 2 ? true : undefined), 30_000));
    assert.ok(log.some((l) => /API limit cleared: 3 connections without a valid request yet .*; 1 refused meanwhile/.test(l)), log.join('\n'));
    // A wrong token does not count as a valid request.
    idle[1]!.socket.write('GET /v1/health HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\n\r\n');
    assert.ok(await waitFor(() => (idle[1]!.data().startsWith('HTTP/1.1 401') ? true : undefined), 30_000));
    assert.equal(tcp(await listeners(h)).unauthenticated, 2);
    for (const c of idle) c.socket.destroy();
  } finally {
    await h.stop();
  }
});

test('a connection that sends nothing is closed after the first-request timeout', async () => {
  const h = await startDaemon({}, { api: { limits: { firstRequestMs: 200 } } });
  try {
    await h.api.listenTcp('127.0.0.1:0', TOKEN);
    const silent = raw({ port: h.api.tcpPort()! });
    const local = raw({ path: h.socket });
    await Promise.all([silent.closed, local.closed]);
    assert.equal(silent.data(), '', 'closed without an answer');
    assert.ok(await waitFor(async () => (tcp(await listeners(h)).firstRequestTimeouts >= 1 ? true : undefined), 30_000));
  } finally {
    await h.stop();
  }
});

test('connections per listener are capped: more are closed at once', async () => {
  const log: string[] = [];
  const h = await startDaemon({}, { api: { limits: { maxConnections: 4, maxUnauthenticated: 4, firstRequestMs: 60_000 } }, log: (l) => log.push(l) });
  try {
    const held = [raw({ path: h.socket }), raw({ path: h.socket }), raw({ path: h.socket }), raw({ path: h.socket })];
    assert.ok(await waitFor(() => (h.api.listenerCounters()[0]!.connections === 4 ? true : undefined), 30_000));
    const extra = raw({ path: h.socket });
    await extra.closed;
    assert.equal(extra.data(), '', 'dropped at accept');
    assert.ok(log.some((l) => /API limit reached: 4 connections on .*api\.sock/.test(l)), log.join('\n'));
    held[0]!.socket.destroy();
    assert.ok(await waitFor(() => (h.api.listenerCounters()[0]!.connections === 3 ? true : undefined), 30_000));
    assert.equal((await get(h.socket, '/v1/health')).status, 200, 'a slot is free again');
    for (const c of held) c.socket.destroy();
  } finally {
    await h.stop();
  }
});

/** Stores n events (enough that an answer of 10,000 does not fit in a socket buffer). */
function fill(h: Harness, n: number): void {
  const now = h.daemon.tracker.clock.nowNs();
  const events: ProcEvent[] = [];
  for (let i = 0; i < n; i++) events.push({ seq: i + 1, ktimeNs: now, pid: 3_000_000, tid: 3_000_000, cpu: 0, provenance: 'observed', kind: 'comm', comm: `filler-${i}-${'x'.repeat(60)}` });
  h.daemon.store.enqueue(events, () => undefined, (ns) => h.daemon.tracker.clock.wallMs(ns));
  h.daemon.store.flush();
}

test('large answers being sent and event streams are capped: 503 with Retry-After, and the slot comes back', async () => {
  const log: string[] = [];
  const h = await startDaemon({}, { api: { limits: { maxHeavy: 2, maxStreams: 2 } }, log: (l) => log.push(l) });
  try {
    fill(h, 12_000);
    // Two clients ask for 10,000 events and never read: their answers wait in the daemon.
    const readers = [0, 1].map(() => {
      const c = raw({ path: h.socket });
      c.socket.pause();
      c.socket.write('GET /v1/events?since=1h&limit=10000 HTTP/1.1\r\nhost: x\r\n\r\n');
      return c;
    });
    assert.ok(await waitFor(async () => ((await get(h.socket, '/v1/stats')).json<{ api: { heavyInFlight: number } }>().api.heavyInFlight === 2 ? true : undefined), 30_000));
    const busy = await get(h.socket, '/v1/events?since=1h&limit=10');
    assert.equal(busy.status, 503);
    assert.match(busy.json<{ error: string }>().error, /^busy: 2 large answers are being sent; retry in 5 s$/);
    assert.equal((await get(h.socket, '/v1/history?limit=1')).status, 503, 'history is large too');
    assert.equal((await get(h.socket, '/v1/health')).status, 200, 'small answers still come');
    assert.equal((await get(h.socket, '/metrics')).status, 200);
    assert.ok(log.some((l) => /API limit reached: 2 large answers/.test(l)));
    readers[0]!.socket.destroy();
    assert.ok(await waitFor(async () => ((await get(h.socket, '/v1/events?since=1h&limit=10')).status === 200 ? true : undefined), 30_000), 'the slot came back');
    readers[1]!.socket.destroy();

    // Streams: two open, the third is refused with Retry-After.
    const streams = [0, 1].map(() => {
      const c = raw({ path: h.socket });
      c.socket.write('GET /v1/events?follow=1&pid=3000001 HTTP/1.1\r\nhost: x\r\n\r\n');
      return c;
    });
    assert.ok(await waitFor(async () => ((await get(h.socket, '/v1/stats')).json<{ api: { streamClients: number } }>().api.streamClients === 2 ? true : undefined), 30_000));
    const third = await get(h.socket, '/v1/events?follow=1&format=sse');
    assert.equal(third.status, 503);
    assert.match(third.json<{ error: string }>().error, /^busy: 2 event streams are open/);
    for (const c of streams) c.socket.destroy();
    assert.ok(await waitFor(async () => ((await get(h.socket, '/v1/stats')).json<{ api: { streamClients: number; busy: number } }>().api.streamClients === 0 ? true : undefined), 30_000));
    assert.ok(log.some((l) => /API limit cleared: 2 event streams; 1 refused meanwhile/.test(l)), log.join('\n'));
  } finally {
    await h.stop();
  }
});
