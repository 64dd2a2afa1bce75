/**
 * Issue 14, item 10: the single-instance lock is flock(2) on DATABASE.pid, not a guess from
 * the command line of whatever now has the pid written in a leftover file.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyRunning, claimInstance } from '../../src/daemon/instance.js';
import { BIN } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-lock-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A long-running process whose command line says "procwatch" (what used to block a start). */
function decoy(): ChildProcess {
  const p = spawn('bash', ['-c', 'exec -a procwatch-daemon-decoy sleep 300'], { stdio: 'ignore' });
  children.push(p);
  return p;
}

async function waitCmdline(pid: number, text: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`process ${pid} never showed '${text}' in its command line`);
}

test('a leftover lock file naming a live "procwatch" process does not block the start', async () => {
  const db = join(dir, 'stale.db');
  const d = decoy();
  await waitCmdline(d.pid!, 'procwatch-daemon-decoy');
  writeFileSync(`${db}.pid`, `${d.pid}\n`);
  const instance = await claimInstance(db, join(dir, 'stale.sock'));
  assert.equal(readFileSync(`${db}.pid`, 'utf8'), `${process.pid}\n`, 'our pid replaces the leftover one');
  // While we hold it, a second claim (another process) is refused by the lock itself.
  const second = spawnSync(process.execPath, [BIN, 'daemon', '--database', db, '--socket', join(dir, 'second.sock'), '--source', 'poll'], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(second.status, 4, second.stderr);
  assert.equal(second.stderr, `procwatch daemon: refusing to start: another procwatch daemon (pid ${process.pid}) is already using ${db} (it holds the lock ${db}.pid)\n`);
  instance.release();
  assert.equal(existsSync(`${db}.pid`), false, 'released: the file goes');
  instance.release(); // twice is harmless
});

test('a lock held by any process is respected, whatever its command line', async () => {
  const db = join(dir, 'held.db');
  // flock(1) creates the file and holds the lock while sleep runs; its cmdline has no "procwatch".
  const holder = spawn('flock', [`${db}.pid`, 'sleep', '300'], { stdio: 'ignore', detached: true });
  children.push(holder);
  for (let i = 0; i < 400 && !existsSync(`${db}.pid`); i++) await new Promise((r) => setTimeout(r, 25));
  let refused: unknown = null;
  for (let i = 0; i < 400; i++) {
    // flock(1) may not have locked yet when the file appears: wait for the refusal.
    try {
      (await claimInstance(db, join(dir, 'held.sock'))).release();
    } catch (err) {
      refused = err;
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok(refused instanceof AlreadyRunning, String(refused));
  assert.match((refused as Error).message, /^another procwatch daemon is already using .*held.db \(it holds the lock .*held.db.pid\)$/);
  process.kill(-holder.pid!, 'SIGKILL'); // flock and its sleep, which shares the lock
  await new Promise((r) => holder.on('exit', r));
  for (let i = 0; i < 400 && spawnSync('pgrep', ['-g', String(holder.pid)]).status === 0; i++) await new Promise((r) => setTimeout(r, 25));
  // Its holders died: the kernel released the lock, the next claim takes the file over.
  const instance = await claimInstance(db, join(dir, 'held.sock'));
  instance.release();
});

test('a symbolic link as the lock file is refused, not followed', async () => {
  const db = join(dir, 'linked.db');
  const target = join(dir, 'lock-target');
  symlinkSync(target, `${db}.pid`);
  await assert.rejects(claimInstance(db, join(dir, 'linked.sock')), /linked.db.pid is a symbolic link: refusing to follow it/);
  assert.equal(existsSync(target), false);
});
