/**
 * Issue 14, item 9: inside a pid namespace the eBPF programs would report the host's pids
 * while /proc, `--pid` and the API use the namespace's. The eBPF source refuses with one
 * clear line (exit 4), as the proc connector does; `auto` falls back to polling /proc.
 * Real namespaces: `unshare --pid --fork --mount-proc` (root).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { otherPidNamespace } from '../../src/sources/namespace.js';
import { BIN } from '../helpers/cli.js';

const root = process.getuid?.() === 0;
const skip = root ? false : 'SKIPPED: needs root (unshare --pid)';
if (skip) console.error(`pidns: ${skip}`);

const inNamespace = (args: string[]) => spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

test('the initial pid namespace is told from another', () => {
  assert.equal(otherPidNamespace('pid:[4026531836]'), null);
  assert.equal(otherPidNamespace('pid:[4026532175]'), 'pid:[4026532175]');
  if (root) assert.equal(otherPidNamespace(), null, 'the tests run in the host\'s namespace');
});

test('watch -s ebpf in a pid namespace: one line naming the namespace, exit 4', { skip }, () => {
  const r = inNamespace(['watch', '-s', 'ebpf', '--duration', '1']);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /^procwatch: eBPF source unavailable: eBPF reports the host's pids, and procwatch runs in another pid namespace \(pid:\[\d+\]\) whose pids differ: run it in the host's pid namespace/);
  assert.equal(r.stderr.split('\n').length, 2, 'one line');
});

test('auto in a pid namespace falls back to polling /proc and says why; the daemon refuses ebpf by name', { skip }, () => {
  const r = inNamespace(['watch', '-s', 'auto', '--duration', '1']);
  assert.equal(r.status, 0, r.stderr);
  // The fallback notice (issue 17): what it watches with, then one line per reason.
  assert.match(r.stderr, /^procwatch: watching with the \/proc poller \(neither kernel event source is available here\)$/m);
  assert.match(r.stderr, /^procwatch: {3}netlink unavailable: the kernel serves the proc connector only in the initial pid namespace, and procwatch runs in pid:\[\d+\]$/m);
  assert.match(r.stderr, /^procwatch: {3}eBPF unavailable: eBPF reports the host's pids, and procwatch runs in another pid namespace \(pid:\[\d+\]\)/m);
  const dir = mkdtempSync(join(tmpdir(), 'pw-pidns-'));
  try {
    const d = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, BIN, 'daemon', '-s', 'ebpf', '--database', join(dir, 'x.db'), '--socket', join(dir, 'x.sock')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(d.status, 4, d.stderr);
    assert.match(d.stderr, /refusing to start: eBPF source unavailable: eBPF reports the host's pids/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
