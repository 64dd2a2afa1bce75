/**
 * Issue 14, item 15: SSE as EventSource clients and proxies use it. Every event has `id:`
 * (its store id) and `event:` (its kind); a reconnect with `Last-Event-ID` resumes exactly
 * after that event, whatever `since` and `limit` said; a comment line keeps an idle stream
 * open through proxies.
 */

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { request, type ClientRequest } from 'node:http';
import type { ProcEvent } from '../../src/events/types.js';
import { get, startDaemon, waitFor, type Harness } from './harness.js';

let h: Harness;
before(async () => {
  h = await startDaemon({}, { api: { sseHeartbeatMs: 200 } });
});
after(() => h.stop());

const PID = 2_000_001; // no real process has it: only the events stored below match
let seq = 0;

/** Stores `n` comm events of PID (as the daemon's own events would be stored). */
function store(n: number): void {
  const now = h.daemon.tracker.clock.nowNs();
  const events: ProcEvent[] = [];
  for (let i = 0; i < n; i++) events.push({ seq: ++seq, ktimeNs: now, pid: PID, tid: PID, cpu: 0, provenance: 'observed', kind: 'comm', comm: `name-${seq}` });
  h.daemon.store.enqueue(events, () => undefined, (ns) => h.daemon.tracker.clock.wallMs(ns));
  h.daemon.store.flush();
}

interface Frame { id: string | null; event: string | null; data: { kind: string; id?: number; comm?: string } | null; comment: string | null }

/** An SSE client: frames as they come. */
function open(path: string, headers: Record<string, string> = {}): { frames: Frame[]; status: Promise<number>; req: ClientRequest } {
  const frames: Frame[] = [];
  const req = request({ socketPath: h.socket, path, headers: { accept: 'text/event-stream', ...headers } });
  const status = new Promise<number>((resolve) => {
    req.on('response', (res) => {
      resolve(res.statusCode ?? 0);
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (c: string) => {
        buf += c;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const frame: Frame = { id: null, event: null, data: null, comment: null };
          for (const line of buf.slice(0, end).split('\n')) {
            if (line.startsWith(':')) frame.comment = line.slice(1).trim();
            else if (line.startsWith('id: ')) frame.id = line.slice(4);
            else if (line.startsWith('event: ')) frame.event = line.slice(7);
            else if (line.startsWith('data: ')) frame.data = JSON.parse(line.slice(6)) as Frame['data'];
          }
          frames.push(frame);
          buf = buf.slice(end + 2);
        }
      });
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { frames, status, req };
}

const events = (frames: Frame[]): Frame[] => frames.filter((f) => f.data?.kind === 'comm');

test('every event has its store id and kind; Last-Event-ID resumes exactly after it', async () => {
  store(5);
  const first = open(`/v1/events?follow=1&format=sse&since=1h&pid=${PID}&kind=comm`);
  assert.equal(await first.status, 200);
  assert.ok(await waitFor(() => (events(first.frames).length >= 5 ? true : undefined), 30_000), JSON.stringify(first.frames));
  for (const f of events(first.frames)) {
    assert.equal(f.id, String(f.data!.id), 'id: is the store id');
    assert.equal(f.event, 'comm', 'event: is the kind');
  }
  // New events after the stored ones arrive on the same stream, with ids too.
  store(2);
  assert.ok(await waitFor(() => (events(first.frames).length >= 7 ? true : undefined), 30_000));
  first.req.destroy();
  const seen = events(first.frames);
  const ids = seen.map((f) => Number(f.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'in store order');

  // The client went away after the third event; meanwhile, more were stored.
  const resumeAt = ids[2]!;
  store(3);
  // Reconnecting with the same URL (as EventSource does) and the header: since/limit no longer apply.
  const again = open(`/v1/events?follow=1&format=sse&since=1s&limit=1&pid=${PID}&kind=comm`, { 'Last-Event-ID': String(resumeAt) });
  assert.equal(await again.status, 200);
  assert.ok(await waitFor(() => (events(again.frames).length >= 7 ? true : undefined), 30_000), JSON.stringify(again.frames.length));
  again.req.destroy();
  const resumed = events(again.frames).map((f) => f.data!.comm);
  const expected = [...seen.slice(3).map((f) => f.data!.comm)];
  assert.deepEqual(resumed.slice(0, expected.length), expected, 'exactly after the last event received: nothing skipped, nothing twice');
  assert.equal(resumed.length, expected.length + 3);
  assert.ok(events(again.frames).every((f) => Number(f.id) > resumeAt));
});

test('an idle stream gets a comment line (heartbeat) so proxies keep it open', async () => {
  const idle = open(`/v1/events?follow=1&format=sse&pid=${PID - 1}`);
  assert.equal(await idle.status, 200);
  const beat = await waitFor(() => idle.frames.find((f) => f.comment === 'heartbeat'), 30_000);
  idle.req.destroy();
  assert.ok(beat, 'a heartbeat comment came');
  assert.equal(beat.data, null, 'a comment, not an event: EventSource ignores it');
});

test('a malformed Last-Event-ID is a 400 before the stream opens', async () => {
  for (const bad of ['abc', '-1', '1.5', '99999999999999999999']) {
    const r = await get(h.socket, '/v1/events?follow=1&format=sse', { headers: { 'Last-Event-ID': bad } });
    assert.equal(r.status, 400, bad);
    assert.match(r.json<{ error: string }>().error, /^header Last-Event-ID must be an event id/);
  }
});
