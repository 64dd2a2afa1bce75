import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const heapModule = new URL('../../src/daemon/heap.js', import.meta.url).href;

/**
 * Runs tuneHeapForLongRun in a fresh node (with `nodeArgs`), then allocates ~60 MiB of
 * short-lived objects; prints the flags it set and the young generation's size in MiB.
 */
function youngGeneration(nodeArgs: string[], env: NodeJS.ProcessEnv = {}): { flags: string[]; newSpaceMiB: number } {
  const script = `
    const heap = await import(${JSON.stringify(heapModule)});
    const v8 = await import('node:v8');
    const flags = heap.tuneHeapForLongRun();
    const keep = [];
    for (let i = 0; i < 1e6; i++) { const o = { i, s: 'x' + i }; if (i % 50 === 0) keep.push(o); }
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(JSON.stringify({ flags, newSpaceMiB: space.space_size / 2 ** 20, kept: keep.length }));`;
  const r = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '', ...env } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { flags: string[]; newSpaceMiB: number };
}

test('the heap set-up of the daemon and watch keeps the young generation at its initial size, where Node would grow it to 32 MiB', () => {
  const tuned = youngGeneration([]);
  // Not --compact-on-every-full-gc: each full GC then needed pages for every live object (a spike).
  assert.deepEqual(tuned.flags, ['--semi-space-growth-factor=1']);
  assert.ok(tuned.newSpaceMiB <= 2, `new space ${tuned.newSpaceMiB} MiB`);
  // The same allocations with Node's own sizing, for contrast: the flags are what made the difference.
  const untouched = youngGeneration(['--max-semi-space-size=16']);
  assert.deepEqual(untouched.flags, [], 'a heap option on the command line: the user decides');
  assert.ok(untouched.newSpaceMiB >= 8, `new space ${untouched.newSpaceMiB} MiB without the daemon's flags`);
});

test('heap options in NODE_OPTIONS or on the command line stand: none of the daemon\'s is set', () => {
  assert.deepEqual(youngGeneration([], { NODE_OPTIONS: '--max_semi_space_size=4' }).flags, []);
  assert.deepEqual(youngGeneration(['--heap-growing-percent=50']).flags, []);
  assert.deepEqual(youngGeneration(['--no-compact-on-every-full-gc']).flags, []);
  assert.deepEqual(youngGeneration(['--max-old-space-size=512']).flags.length, 1, 'the old space limit is not one of them');
});
