/**
 * Issue 14, item 7, on the real kernel: a process that is a zombie when the daemon seeds its
 * table, and is then reaped (which sends no event), must not stay live forever.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { procConnectorAvailability } from '../../src/sources/native.js';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { get, startDaemon, waitFor } from '../api/harness.js';

const sources: Array<['netlink' | 'ebpf', { available: boolean; reason: string }, string | undefined]> = [
  ['netlink', procConnectorAvailability(), process.env.PROCWATCH_REQUIRE_NATIVE],
  ['ebpf', ebpfAvailability(), process.env.PROCWATCH_REQUIRE_BPF],
];

/** A parent that forks a child exiting with 3 and reaps it only when told (a line on stdin). */
const PARENT = `
import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(3)
print(pid, flush=True)
sys.stdin.readline()
os.waitpid(pid, 0)
print("reaped", flush=True)
time.sleep(120)
`;

const state = (pid: number): string | null => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0]!;
  } catch {
    return null;
  }
};

for (const [source, availability, required] of sources) {
  const skip = availability.available ? false : `SKIPPED: needs the ${source} source (${availability.reason})`;
  if (skip && required === '1') {
    test(`the ${source} source is required here`, () => assert.fail(skip));
    continue;
  }
  if (skip) console.error(`zombie: ${skip}`);
  test(`${source}: a zombie at the seed is exited (inferred, with its exit code), also after it is reaped`, { skip }, async () => {
    const parent = spawn('python3', ['-c', PARENT], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: parent.stdout! })[Symbol.asyncIterator]();
    try {
      const child = Number((await lines.next()).value);
      assert.ok(await waitFor(() => (state(child) === 'Z' ? true : undefined), 30_000), 'the child became a zombie');
      const h = await startDaemon({ source });
      try {
        const seen = async (): Promise<{ exitTime: string | null; exitOrigin: string | null; exitCode: number | null } | undefined> => {
          const r = await get(h.socket, `/v1/processes/${child}`);
          return r.status === 200 ? r.json<{ process: { exitTime: string | null; exitOrigin: string | null; exitCode: number | null } }>().process : undefined;
        };
        const before = await seen();
        assert.equal(before?.exitOrigin, 'inferred', JSON.stringify(before));
        assert.notEqual(before?.exitTime, null);
        assert.equal(before?.exitCode, 3);
        const live = (await get(h.socket, `/v1/processes?pid=${child}`)).json<{ processes: unknown[] }>().processes;
        assert.deepEqual(live, [], 'not in the live table');
        parent.stdin!.write('go\n');
        assert.equal((await lines.next()).value, 'reaped');
        assert.equal(state(child), null);
        const after = await seen();
        assert.equal(after?.exitOrigin, 'inferred');
        assert.equal(after?.exitCode, 3);
        const history = (await get(h.socket, `/v1/history?pid=${child}`)).json<{ processes: Array<{ exitCode: number | null; exitTime: string | null }> }>().processes;
        assert.equal(history[0]?.exitCode, 3, 'stored with its exit code');
        assert.notEqual(history[0]?.exitTime, null);
      } finally {
        await h.stop();
      }
    } finally {
      parent.kill('SIGKILL');
    }
  });
}
