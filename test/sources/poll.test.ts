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
import { eventually } from '../helpers/wait.js';

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


/** A directory for go files: a test process waits for one before its next step, so no step depends on time. */
function goFiles(): { path: (name: string) => string; go: (name: string) => void; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pw-poll-go-'));
  return { path: (name) => join(dir, name), go: (name) => writeFileSync(join(dir, name), ''), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Scans the poller made so far. */
const scans = (tracker: ProcessTracker): number => Number(tracker.counters().source.scans ?? 0);

test('poll: an exec inside an existing process (same pid and start) refreshes its image, also when comm and exe stay', async () => {
  const events: ProcEvent[] = [];
  const tracker = new ProcessTracker({ source: new PollSource({ intervalMs: 100 }), holdMs: 1, onEvents: (batch) => events.push(...batch) });
  await tracker.start();
  const files = goFiles();
  try {
    // sh, then (same pid) another sh with other arguments: comm and exe do not change, argv does.
    const second = `while [ ! -e ${files.path('end')} ]; do sleep 0.05; done; exit 0`;
    const child = spawn('/bin/sh', ['-c', `while [ ! -e ${files.path('exec')} ]; do sleep 0.05; done; exec /bin/sh -c '${second}' pwpoll-second`, 'pwpoll-first'], { stdio: 'ignore' });
    const pid = child.pid!;
    const exited = new Promise((r) => child.on('exit', r));
    await eventually('the first image in the table', () => tracker.table.live.get(pid)?.argv?.at(-1) === 'pwpoll-first', { seen: () => tracker.table.live.get(pid)?.argv });
    files.go('exec');
    await eventually('the second image in the table', () => tracker.table.live.get(pid)?.argv?.at(-1) === 'pwpoll-second', { seen: () => tracker.table.live.get(pid)?.argv });
    const record = tracker.table.live.get(pid);
    assert.deepEqual(record?.argv, ['/bin/sh', '-c', second, 'pwpoll-second'], 'the table shows the new image');
    const exec = events.find((e): e is ExecEvent => e.kind === 'exec' && e.pid === pid);
    assert.ok(exec !== undefined, 'an exec event (inferred) was reported');
    assert.equal(exec.provenance, 'inferred');
    assert.equal(exec.details.startTicks, record?.startTicks, 'the same instance');
    files.go('end');
    await exited;
  } finally {
    files.go('end');
    files.remove();
    await tracker.stop();
  }
});

test('poll: a process rewriting its own title (setproctitle) and a zombie are not taken for an exec', async () => {
  const events: ProcEvent[] = [];
  const tracker = new ProcessTracker({ source: new PollSource({ intervalMs: 100 }), holdMs: 1, onEvents: (batch) => events.push(...batch) });
  await tracker.start();
  const files = goFiles();
  const waitGo = (name: string): string => `select(undef, undef, undef, 0.05) until -e "${files.path(name)}";`;
  try {
    // perl's `$0 = ...` rewrites the command line in place, on the same stack, as PostgreSQL does.
    const titled = spawn('perl', ['-e', `${waitGo('title')} $0 = "pwpoll-retitled worker"; ${waitGo('end')}`, 'pwpoll-title'], { stdio: 'ignore' });
    // A parent that does not reap: its child stays a zombie (no exe, empty cmdline) until the end.
    const parent = spawn('perl', ['-e', `my $p = fork(); if ($p == 0) { ${waitGo('zombie')} exit 0 } ${waitGo('end')} waitpid($p, 0)`], { stdio: 'ignore' });
    const done = Promise.all([titled, parent].map((c) => new Promise((r) => c.on('exit', r))));
    const zombie = await eventually('the child alive in the table', () => [...tracker.table.live.values()].find((r) => r.ppid === parent.pid && r.argv !== null));
    await eventually('the titled perl in the table', () => tracker.table.live.get(titled.pid!)?.argv?.includes('pwpoll-title'));
    const zombieArgv = zombie.argv;
    files.go('title');
    files.go('zombie');
    const state = (pid: number): string => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0]!; } catch { return '?'; } };
    await eventually('the title rewritten and the child a zombie', () => readFileSync(`/proc/${titled.pid}/cmdline`, 'utf8').startsWith('pwpoll-retitled') && state(zombie.pid) === 'Z');
    // Two full scans after both changes: whatever the poller would make of them, it has made.
    const after = scans(tracker);
    await eventually('two more scans', () => scans(tracker) >= after + 2, { seen: () => scans(tracker) });
    assert.equal(events.filter((e) => e.kind === 'exec' && (e.pid === titled.pid || e.pid === zombie.pid)).length, 0, 'no exec reported');
    assert.deepEqual(tracker.table.live.get(zombie.pid)?.argv ?? tracker.table.get(zombie.key)?.argv, zombieArgv, 'the zombie keeps its image');
    files.go('end');
    await done;
  } finally {
    files.go('end');
    files.remove();
    await tracker.stop();
  }
});
