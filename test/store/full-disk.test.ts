/**
 * Issue 14, item 4: a full disk. On a small tmpfs of its own (a unique mount point, removed
 * afterwards), the store writes what fits in bounded chunks instead of retrying the whole
 * backlog in one transaction, resumes as soon as any chunk fits, and the daemon logs one line
 * when writing starts failing and one when it recovers, each with the backlog.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProcEvent } from '../../src/events/types.js';
import { EventStore } from '../../src/store/index.js';
import { startDaemon, waitFor } from '../api/harness.js';

const root = process.getuid?.() === 0;
const skip = root ? false : 'SKIPPED: needs root (mounts a small tmpfs)';
if (skip) console.error(`full-disk: ${skip}`);
const mounts: string[] = [];
after(() => {
  for (const m of mounts) {
    spawnSync('umount', ['-l', m]);
    rmSync(m, { recursive: true, force: true });
  }
});

/** A tmpfs of `kib` KiB at a fresh directory. */
function smallDisk(kib: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'pw-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  mounts.push(dir);
  return dir;
}

const freeBytes = (dir: string): number => { const s = statfsSync(dir); return s.bavail * s.bsize; };

/** Leaves about `leave` bytes free on the file system of dir (a filler file), returns its path. */
function fillTo(dir: string, leave: number, name = 'filler'): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.alloc(Math.max(0, freeBytes(dir) - leave)));
  return path;
}

function events(n: number, from: number): ProcEvent[] {
  return Array.from({ length: n }, (_, i) => ({ seq: from + i, ktimeNs: 1e9 + i, pid: 4_000_000 + ((from + i) % 1000), tid: 1, cpu: 0, provenance: 'observed', kind: 'comm', comm: `c-${from + i}-${'z'.repeat(150)}` } as ProcEvent));
}

test('a backlog larger than the free space: what fits is written in chunks; writing resumes as soon as a chunk fits', { skip }, () => {
  const dir = smallDisk(6 * 1024);
  const path = join(dir, 'events.db');
  const store = new EventStore({ path, bootId: 'b', source: 'test', maxQueue: 1_000_000 });
  store.db.pragma('wal_autocheckpoint = 100'); // keep the WAL from taking the whole disk
  const filler = fillTo(dir, 1024 * 1024);
  store.enqueue(events(20_000, 0), () => undefined, (ns) => ns / 1e6); // ~4 MiB of rows: more than 1 MiB free
  assert.throws(() => store.flush(), /SQLITE_FULL|database or disk is full/);
  const first = store.counters();
  assert.ok(first.written > 0, 'the space there was got used (before: nothing, the whole backlog was one transaction)');
  assert.ok(first.queued > 0 && first.queued < 20_000, `${first.queued} still queued`);
  assert.equal(first.written + first.queued, 20_000, 'nothing lost');
  // Space for a part of the rest only: that part goes in, the next flush does not wait for room for all of it.
  unlinkSync(filler);
  fillTo(dir, 600 * 1024, 'filler2');
  let progressed = false;
  try {
    store.flush();
    progressed = true;
  } catch {
    progressed = store.counters().written > first.written;
  }
  assert.ok(progressed, `more was written with partial space (${store.counters().written} vs ${first.written})`);
  unlinkSync(join(dir, 'filler2'));
  for (let i = 0; i < 50 && store.counters().queued > 0; i++) {
    try {
      store.flush();
    } catch {
      store.db.pragma('wal_checkpoint(TRUNCATE)');
    }
  }
  const end = store.counters();
  assert.equal(end.queued, 0);
  assert.equal(end.written, 20_000);
  assert.equal(end.dropped, 0);
  assert.equal((store.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n, 20_000);
  store.close();
});

test('the daemon logs one line when the store starts failing and one when it writes again, with the backlog', { skip }, async () => {
  const dir = smallDisk(8 * 1024);
  const log: string[] = [];
  const h = await startDaemon({}, { dir, log: (l) => log.push(l) });
  try {
    const filler = fillTo(dir, 64 * 1024);
    // A steady stream of events the disk cannot take.
    let seq = 0;
    const feed = setInterval(() => {
      h.daemon.store.enqueue(events(500, seq), () => undefined, (ns) => ns / 1e6);
      seq += 500;
    }, 20);
    const failedLine = /^procwatch daemon: store write failed: .*; \d+ events wait in memory/;
    assert.ok(await waitFor(() => (log.some((l) => failedLine.test(l)) ? true : undefined), 30_000), log.join('\n'));
    // Many flush intervals later (50 ms each in the harness), still one line. The backlog stays
    // well under the disk's size, so that it can all be written once the filler goes.
    const failedAt = h.daemon.store.counters();
    await waitFor(() => (h.daemon.store.counters().queued > failedAt.queued + 4000 ? true : undefined), 30_000);
    clearInterval(feed);
    await new Promise((r) => setTimeout(r, 500)); // ten more failing flushes
    assert.equal(log.filter((l) => /store write failed/.test(l)).length, 1, log.join('\n'));
    unlinkSync(filler);
    assert.ok(await waitFor(() => (h.daemon.store.counters().queued === 0 ? true : undefined), 60_000), `queue drained: ${JSON.stringify(h.daemon.store.counters())}`);
    assert.ok(await waitFor(() => (log.some((l) => /^procwatch daemon: store writes again after [\d.]+ s: \d+ waiting events written; 0 dropped meanwhile/.test(l)) ? true : undefined), 30_000), log.join('\n'));
    assert.equal(log.filter((l) => /store writes again/.test(l)).length, 1);
  } finally {
    await h.stop(true);
  }
});
