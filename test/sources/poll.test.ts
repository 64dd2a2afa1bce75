import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PollSource } from '../../src/sources/index.js';
import type { ExecEvent, ProcEvent } from '../../src/events/types.js';
import { ProcessTracker } from '../../src/table/index.js';
import { runSourceContract } from './contract.js';
import { sleep } from '../helpers/spawn.js';

/** A fake /proc with one process, removed after `ms`: the poller then cannot scan any more. */
function vanishingProc(ms: number): string {
  const root = mkdtempSync(join(tmpdir(), 'pw-vanish-'));
  mkdirSync(join(root, '1'));
  writeFileSync(join(root, '1', 'stat'), '1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 1 1000 100 0');
  setTimeout(() => rmSync(root, { recursive: true, force: true }), ms).unref();
  return root;
}

runSourceContract({
  name: 'poll',
  create: () => new PollSource({ intervalMs: 100 }),
  lifetimeSeconds: 0.6,
  startKinds: ['inferred_start'],
  endKinds: ['inferred_exit'],
  lossy: null, // it reports differences between scans: nothing to lose, and it never says it lost
  failing: () => new PollSource({ intervalMs: 50, procRoot: vanishingProc(150) }),
  failReason: /\/proc poller stopped: cannot read \/proc tree .*ENOENT/,
});


test('poll: an exec inside an existing process (same pid and start) refreshes its image, also when comm and exe stay', async () => {
  const events: ProcEvent[] = [];
  const tracker = new ProcessTracker({ source: new PollSource({ intervalMs: 100 }), holdMs: 1, onEvents: (batch) => events.push(...batch) });
  await tracker.start();
  try {
    // sh, then (same pid) another sh with other arguments: comm and exe do not change, argv does.
    const child = spawn('/bin/sh', ['-c', 'sleep 0.5; exec /bin/sh -c "sleep 1; exit 0" pwpoll-second', 'pwpoll-first'], { stdio: 'ignore' });
    const pid = child.pid!;
    const exited = new Promise((r) => child.on('exit', r));
    await sleep(300);
    assert.equal(tracker.table.live.get(pid)?.argv?.at(-1), 'pwpoll-first');
    await sleep(700);
    const record = tracker.table.live.get(pid);
    assert.deepEqual(record?.argv, ['/bin/sh', '-c', 'sleep 1; exit 0', 'pwpoll-second'], 'the table shows the new image');
    const exec = events.find((e): e is ExecEvent => e.kind === 'exec' && e.pid === pid);
    assert.ok(exec !== undefined, 'an exec event (inferred) was reported');
    assert.equal(exec.provenance, 'inferred');
    assert.equal(exec.details.startTicks, record?.startTicks, 'the same instance');
    await exited;
  } finally {
    await tracker.stop();
  }
});

test('poll: a process rewriting its own title (setproctitle) and a zombie are not taken for an exec', async () => {
  const events: ProcEvent[] = [];
  const tracker = new ProcessTracker({ source: new PollSource({ intervalMs: 100 }), holdMs: 1, onEvents: (batch) => events.push(...batch) });
  await tracker.start();
  try {
    // perl's `$0 = ...` rewrites the command line in place, on the same stack, as PostgreSQL does.
    const titled = spawn('perl', ['-e', 'select(undef, undef, undef, 0.4); $0 = "pwpoll-retitled worker"; sleep 2', 'pwpoll-title'], { stdio: 'ignore' });
    // A parent that does not reap: its child stays a zombie (no exe, empty cmdline) for a while.
    const parent = spawn('perl', ['-e', 'my $p = fork(); if ($p == 0) { select(undef, undef, undef, 0.3); exit 0 } sleep 2; waitpid($p, 0)'], { stdio: 'ignore' });
    const done = Promise.all([titled, parent].map((c) => new Promise((r) => c.on('exit', r))));
    await sleep(400);
    const zombie = [...tracker.table.live.values()].find((r) => r.ppid === parent.pid);
    assert.ok(zombie !== undefined, 'the child was seen alive');
    const zombieArgv = zombie.argv;
    await sleep(700);
    assert.ok(readFileSync(`/proc/${titled.pid}/cmdline`, 'utf8').startsWith('pwpoll-retitled'), 'perl did rewrite its title');
    assert.equal(events.filter((e) => e.kind === 'exec' && (e.pid === titled.pid || e.pid === zombie.pid)).length, 0, 'no exec reported');
    assert.deepEqual(tracker.table.live.get(zombie.pid)?.argv ?? tracker.table.get(zombie.key)?.argv, zombieArgv, 'the zombie keeps its image');
    titled.kill();
    await done;
  } finally {
    await tracker.stop();
  }
});
