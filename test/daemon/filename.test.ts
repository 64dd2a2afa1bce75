/**
 * Issue 14, item 16, on the real kernel: the eBPF source stores what execve was given
 * (`filename`) beside the resolved image (`exe`), in the API and as a store column.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { get, startDaemon, waitFor } from '../api/harness.js';

const availability = ebpfAvailability();
const skip = availability.available ? false : `SKIPPED: needs the eBPF source (${availability.reason})`;
if (skip && process.env.PROCWATCH_REQUIRE_BPF === '1') test('the eBPF source is required here', () => assert.fail(skip));
else if (skip) console.error(`filename: ${skip}`);

test('eBPF: /bin/true run by that name is stored with filename /bin/true and its resolved exe', { skip }, async () => {
  const h = await startDaemon({ source: 'ebpf' });
  try {
    const child = spawn('/bin/true', ['pw-filename-marker'], { stdio: 'ignore' });
    const pid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    type P = { filename: string | null; exe: string | null; argv: string[] | null };
    const found = await waitFor(async () => {
      const r = await get(h.socket, `/v1/history?pid=${pid}`);
      return r.json<{ processes: P[] }>().processes.find((p) => p.argv?.[1] === 'pw-filename-marker');
    }, 30_000);
    assert.ok(found, 'stored');
    assert.equal(found.filename, '/bin/true');
    assert.equal(found.exe, '/usr/bin/true', 'the resolved image (merged /usr)');
    const row = h.daemon.store.db.prepare("SELECT filename, exe FROM processes WHERE pid = ? AND argv LIKE '%pw-filename-marker%'").get(pid);
    assert.deepEqual(row, { filename: '/bin/true', exe: '/usr/bin/true' });
  } finally {
    await h.stop();
  }
});
