/**
 * Issue 16: a signal while the kernel verifies the BPF programs must not fail the start. The
 * verifier answers EAGAIN when a signal is pending, and `node --cpu-prof` sends SIGPROF every
 * sampling interval: the programs failed to load under the profiler ("Resource temporarily
 * unavailable"). Here they are loaded (and the resource snapshots' task iterator too) under the
 * profiler at a 50 µs interval, several times.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { REPO_ROOT } from '../helpers/cli.js';

const availability = ebpfAvailability();
const skip = availability.available ? false : `SKIPPED: needs the eBPF source (${availability.reason})`;
if (skip && process.env.PROCWATCH_REQUIRE_BPF === '1') test('the eBPF source is required here', () => assert.fail(skip));
else if (skip) console.error(`bpf-signals: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'pw-bpf-signals-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the eBPF programs and the task iterator load under node --cpu-prof (SIGPROF every 50 µs)', { skip }, () => {
  const ebpf = pathToFileURL(join(REPO_ROOT, 'dist/src/sources/ebpf.js')).href;
  const resources = pathToFileURL(join(REPO_ROOT, 'dist/src/resources/ebpf.js')).href;
  const script = `
    const { probeEbpf } = await import(${JSON.stringify(ebpf)});
    const { EbpfSnapshotSource } = await import(${JSON.stringify(resources)});
    const problems = [];
    for (let i = 0; i < 3; i++) {
      const problem = probeEbpf();
      if (problem !== null) problems.push(problem);
      try {
        const tasks = EbpfSnapshotSource.open();
        const snapshot = await tasks.take();
        if (snapshot.samples.length === 0) problems.push('the task iterator listed no process');
        tasks.close();
      } catch (err) {
        problems.push(String(err.message));
      }
    }
    process.stdout.write(JSON.stringify({ problems }));
  `;
  const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', dir, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { problems: string[] };
  assert.deepEqual(out.problems, [], 'every load under the profiler succeeded');
  assert.ok(readdirSync(dir).some((f) => f.endsWith('.cpuprofile')), 'the profiler ran');
});
