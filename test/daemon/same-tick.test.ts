/**
 * Issue 14, item 8, with the real daemon: the eBPF source carries each process's exact start
 * (startBootNs, consistent with /proc's ticks), and a live process whose key the store already
 * has for a process that exited (a same-tick pid reuse while no daemon watched) gets the next
 * key, `pid:startTicks.2`, instead of overwriting the stored one.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBootId } from '../../src/daemon/daemon.js';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { EventStore } from '../../src/store/index.js';
import { get, startDaemon, waitFor } from '../api/harness.js';

const ticksOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
const availability = ebpfAvailability();
const skip = availability.available ? false : `SKIPPED: needs the eBPF source (${availability.reason})`;
if (skip && process.env.PROCWATCH_REQUIRE_BPF === '1') test('the eBPF source is required here', () => assert.fail(skip));
else if (skip) console.error(`same-tick: ${skip}`);

test('eBPF: fork and exec events carry the exact start, in the same tick /proc shows', { skip }, async () => {
  const h = await startDaemon({ source: 'ebpf' });
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const pid = child.pid!;
    type E = { kind: string; startTicks?: number; startBootNs?: number | null; details?: { startTicks: number | null; startBootNs?: number | null } };
    const events = await waitFor(async () => {
      const r = (await get(h.socket, `/v1/events?pid=${pid}&kind=fork,exec&since=1m`)).json<{ events: E[] }>().events;
      return r.some((e) => e.kind === 'exec') && r.some((e) => e.kind === 'fork') ? r : undefined;
    }, 30_000);
    assert.ok(events, 'fork and exec stored');
    const ticks = ticksOf(pid);
    const fork = events.find((e) => e.kind === 'fork')!;
    const exec = events.find((e) => e.kind === 'exec')!;
    assert.equal(typeof fork.startBootNs, 'number');
    assert.equal(fork.startBootNs, exec.details?.startBootNs, 'the same instant in both');
    assert.equal(Math.floor(fork.startBootNs! / 1e7), ticks, 'ns / 10 ms = /proc ticks (USER_HZ 100)');
    const live = (await get(h.socket, `/v1/processes/${pid}`)).json<{ process: { key: string } }>().process;
    assert.equal(live.key, `${pid}:${ticks}`, 'an ordinary process keeps its ordinary key');
  } finally {
    child.kill('SIGKILL');
    await h.stop();
  }
});

test('a live process whose key the store has for an exited one gets pid:ticks.2; both stay queryable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-sametick-'));
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const pid = child.pid!;
    await waitFor(() => { try { return ticksOf(pid) > 0 ? true : undefined; } catch { return undefined; } }, 30_000);
    const ticks = ticksOf(pid);
    // What an earlier run stored: the first process of that pid and tick, exited.
    const store = new EventStore({ path: join(dir, 'events.db'), bootId: readBootId(), source: 'test' });
    store.db.prepare("INSERT INTO processes (boot, key, pid, start_ticks, start_time, exit_time, comm, origin, exit_origin) VALUES (?, ?, ?, ?, ?, ?, 'first', 'observed', 'observed')")
      .run(store.boot, `${pid}:${ticks}`, pid, ticks, Date.now() - 1000, Date.now() - 900);
    store.close();
    const h = await startDaemon({}, { dir });
    try {
      const live = (await get(h.socket, `/v1/processes/${pid}`)).json<{ process: { key: string; comm: string; exitTime: string | null } }>().process;
      assert.equal(live.key, `${pid}:${ticks}.2`);
      assert.equal(live.exitTime, null);
      const first = (await get(h.socket, `/v1/processes/${encodeURIComponent(`${pid}:${ticks}`)}`)).json<{ process: { comm: string; exitTime: string | null } }>().process;
      assert.equal(first.comm, 'first', 'the stored process was not overwritten');
      assert.notEqual(first.exitTime, null);
      const history = (await get(h.socket, `/v1/history?pid=${pid}`)).json<{ processes: Array<{ key: string }> }>().processes.map((p) => p.key).sort();
      assert.deepEqual(history, [`${pid}:${ticks}`, `${pid}:${ticks}.2`]);
      const lineage = await get(h.socket, `/v1/lineage/${encodeURIComponent(`${pid}:${ticks}.2`)}`);
      assert.equal(lineage.status, 200, lineage.body);
    } finally {
      await h.stop();
    }
  } finally {
    child.kill('SIGKILL');
  }
});
