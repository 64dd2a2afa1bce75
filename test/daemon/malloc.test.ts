import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LONG_RUN_MALLOC, tuneMallocForLongRun } from '../../src/daemon/malloc.js';

const mallocModule = new URL('../../src/daemon/malloc.js', import.meta.url).href;
const addon = fileURLToPath(new URL('../../../native/build/Release/malloctune.node', import.meta.url));
const requireNative = process.env.PROCWATCH_REQUIRE_NATIVE === '1';

/**
 * In a fresh node: optionally the daemon's malloc set-up, then an 8 MiB buffer allocated and
 * freed (glibc's default then raises its mmap threshold above 8 MiB), then 16 buffers of 1 MiB
 * kept. Prints how much the main malloc heap ([heap] in /proc/self/maps) grew for them, and its
 * size with them. With glibc's default the growth alone can be 0: an 8 MiB buffer freed late (V8
 * sweeps array buffers on a helper thread) can leave 16 MiB free at the heap's top, under the
 * raised trim threshold, and the 1 MiB blocks fit there. The heap's size then says where they are.
 */
function heapWithBlocks(tune: boolean, env: NodeJS.ProcessEnv = {}): { tuning: unknown; grewKiB: number; heapKiB: number } {
  const script = `
    import { readFileSync } from 'node:fs';
    const heapKiB = () => {
      const line = readFileSync('/proc/self/maps', 'utf8').split('\\n').find((l) => l.endsWith('[heap]'));
      if (line === undefined) return 0;
      const [start, end] = line.split(' ')[0].split('-').map((x) => parseInt(x, 16));
      return (end - start) / 1024;
    };
    let tuning = null;
    if (${tune}) tuning = (await import(${JSON.stringify(mallocModule)})).tuneMallocForLongRun();
    // Freed by a full GC, or at the latest by the next one, which finishes the sweep of array
    // buffers before it starts: three rounds, and no clock, make sure the 8 MiB were freed.
    for (let i = 0; i < 3; i++) {
      let big = new ArrayBuffer(8 << 20);
      new Uint8Array(big)[0] = 1;
      big = null;
      globalThis.gc();
    }
    const before = heapKiB();
    const keep = [];
    for (let i = 0; i < 16; i++) { const b = new ArrayBuffer(1 << 20); new Uint8Array(b).fill(1); keep.push(b); }
    console.log(JSON.stringify({ tuning, grewKiB: heapKiB() - before, heapKiB: heapKiB(), kept: keep.length }));`;
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^MALLOC_|^GLIBC_TUNABLES$/.test(name)));
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...clean, NODE_OPTIONS: '', ...env } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { tuning: unknown; grewKiB: number; heapKiB: number };
}

test('the daemon\'s malloc set-up keeps large blocks out of the malloc heap after a burst, as the unit\'s MALLOC_* settings do', (t) => {
  if (!existsSync(addon)) {
    assert.ok(!requireNative, `PROCWATCH_REQUIRE_NATIVE=1 but ${addon} is not built`);
    t.skip(`SKIPPED: ${addon} is not built (npm run build:native); CI builds it`);
    return;
  }
  // glibc's default, for contrast: after the 8 MiB block is freed, 1 MiB blocks come from the heap.
  const untouched = heapWithBlocks(false);
  assert.ok(untouched.heapKiB >= 16 * 1024, `without the set-up the heap is ${untouched.heapKiB} KiB with the 16 MiB kept`);
  const tuned = heapWithBlocks(true);
  assert.deepEqual(tuned.tuning, { applied: true });
  assert.ok(tuned.grewKiB < 1024, `with the set-up the heap grew ${tuned.grewKiB} KiB`);
  // A user's own MALLOC_* setting stands: nothing is called, and glibc does what it says.
  const theirs = heapWithBlocks(true, { MALLOC_ARENA_MAX: '4' }); // one that leaves the thresholds dynamic
  assert.deepEqual(theirs.tuning, { applied: false, reason: 'MALLOC_ARENA_MAX is set: the environment\'s malloc settings stand' });
  assert.ok(theirs.heapKiB >= 16 * 1024, `with the user's setting the heap is ${theirs.heapKiB} KiB with the 16 MiB kept`);
});

test('the malloc set-up: the environment\'s settings win, and a missing addon or another libc only leave malloc as it is', () => {
  const calls: number[][] = [];
  const fake = (accepts: boolean) => () => (a: number, m: number, t: number) => {
    calls.push([a, m, t]);
    return accepts;
  };
  assert.deepEqual(tuneMallocForLongRun({ PATH: '/bin' }, fake(true)), { applied: true });
  assert.deepEqual(calls, [[LONG_RUN_MALLOC.arenaMax, LONG_RUN_MALLOC.mmapThreshold, LONG_RUN_MALLOC.trimThreshold]]);
  assert.deepEqual(LONG_RUN_MALLOC, { arenaMax: 2, mmapThreshold: 131_072, trimThreshold: 131_072 }, 'what packaging/procwatch.service sets');
  for (const env of [{ MALLOC_ARENA_MAX: '4' }, { MALLOC_MMAP_THRESHOLD_: '65536' }, { GLIBC_TUNABLES: 'glibc.malloc.arena_max=8' }]) {
    const result = tuneMallocForLongRun(env, fake(true));
    assert.equal(result.applied, false);
    assert.match(result.applied ? '' : result.reason, /is set: the environment's malloc settings stand$/);
  }
  assert.equal(calls.length, 1, 'not called when the environment sets malloc');
  assert.deepEqual(tuneMallocForLongRun({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0' }, fake(true)), { applied: true }, 'tunables of something else');
  assert.deepEqual(tuneMallocForLongRun({}, fake(false)), { applied: false, reason: 'this libc does not take glibc\'s mallopt settings' });
  assert.deepEqual(tuneMallocForLongRun({}, () => 'native/build/Release/malloctune.node is not built (x)'), { applied: false, reason: 'native/build/Release/malloctune.node is not built (x)' });
});
