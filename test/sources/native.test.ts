/**
 * The proc connector addon against the real kernel: real processes are started with
 * node:child_process and the decoded events must carry their pids, exit codes, signals,
 * argv, exe and ids. Needs root and a built addon; without them every test is skipped with
 * the reason printed. Events are filtered by the pids spawned here (other test files run at
 * the same time and make processes too).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecEvent, ExitEvent, ProcEvent } from '../../src/events/types.js';
import { openProcConnector, procConnectorAvailability } from '../../src/sources/native.js';
import type { ProcConnector } from '../../src/sources/native.js';
import { RecordDecoder } from '../../src/sources/record.js';

const availability = procConnectorAvailability();
const SKIP = availability.available ? false : `SKIPPED (real-kernel proc connector tests): ${availability.reason}`;
if (SKIP !== false) console.warn(`native.test: ${SKIP}`);

const which = (cmd: string): string | null =>
  ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')]
    .map((d) => join(d, cmd)).find((p) => p !== cmd && existsSync(p)) ?? null;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function waitFor(check: () => boolean, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await sleep(10);
  }
  return check();
}

/** A subscription that collects every decoded event. */
class Collector {
  readonly events: ProcEvent[] = [];
  readonly errors: string[] = [];
  readonly decoder = new RecordDecoder();
  batches = 0;
  readonly conn: ProcConnector;

  constructor(options: { rcvbufBytes?: number; debugStallMs?: number } = {}) {
    this.conn = openProcConnector({
      ...options,
      onBatch: (buf) => {
        this.batches++;
        for (const e of this.decoder.decode(buf)) this.events.push(e);
      },
      onError: (m) => this.errors.push(m),
    });
  }

  of(pid: number): ProcEvent[] {
    return this.events.filter((e) => e.pid === pid);
  }
  exec(pid: number): ExecEvent[] {
    return this.events.filter((e): e is ExecEvent => e.kind === 'exec' && e.pid === pid);
  }
  exit(pid: number): ExitEvent | undefined {
    return this.events.find((e): e is ExitEvent => e.kind === 'exit' && e.pid === pid && e.tid === pid);
  }
  /** Waits for the exit event of pid (the kernel sends it before the parent can reap). */
  async exited(pid: number): Promise<ExitEvent> {
    assert.ok(await waitFor(() => this.exit(pid) !== undefined), `exit event of pid ${pid} not seen`);
    return this.exit(pid)!;
  }
}

interface Ran { pid: number; code: number | null; signal: NodeJS.Signals | null }
function run(cmd: string, args: string[], options: { cwd?: string; onSpawn?: (pid: number) => void } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'ignore', cwd: options.cwd });
    child.on('error', reject);
    const pid = child.pid;
    if (pid === undefined) return;
    options.onSpawn?.(pid);
    child.on('exit', (code, signal) => resolve({ pid, code, signal }));
  });
}

describe('proc connector on the real kernel', { skip: SKIP }, () => {
  let c: Collector;
  let work: string;
  const uid0: readonly number[] = [0, 0, 0, 0];

  before(() => {
    c = new Collector();
    work = realpathSync(mkdtempSync(join(tmpdir(), 'pw-native-')));
  });
  after(async () => {
    c.conn.stop();
    await c.conn.closed;
    rmSync(work, { recursive: true, force: true });
  });

  test('subscribes with the 16 MiB default receive buffer', () => {
    assert.ok(c.conn.rcvbufBytes >= 16 << 20, `rcvbuf ${c.conn.rcvbufBytes}`);
  });

  test('fork, exec (argv, exe, cwd, comm, ids, parent) and exit code of sh -c "...; exit 7"', async () => {
    const script = 'sleep 0.2; exit 7';
    const r = await run('/bin/sh', ['-c', script, 'pwmarker'], { cwd: work });
    assert.equal(r.code, 7);
    const exit = await c.exited(r.pid);
    assert.deepEqual(exit.status, { code: 7, signal: null, coreDumped: false });
    assert.equal(exit.rawCode, 7 << 8);
    assert.equal(exit.parentPid, process.pid);

    const fork = c.of(r.pid).find((e) => e.kind === 'fork');
    assert.ok(fork?.kind === 'fork', 'fork of the child seen');
    assert.equal(fork.parentPid, process.pid);
    assert.equal(fork.thread, false);

    const [exec] = c.exec(r.pid);
    assert.ok(exec !== undefined, 'exec seen');
    assert.equal(exec.provenance, 'observed');
    const d = exec.details;
    // sh lives 200 ms: everything must have been read, and be right.
    assert.deepEqual(d.argv, ['/bin/sh', '-c', script, 'pwmarker']);
    assert.equal(d.argvTruncated, false);
    assert.equal(d.comm, 'sh');
    assert.equal(d.exe, realpathSync('/bin/sh'));
    assert.equal(d.cwd, work);
    assert.equal(d.ppid, process.pid);
    assert.deepEqual(d.uids, uid0);
    assert.deepEqual(d.gids, uid0);
    assert.ok(d.startTicks !== null && d.startTicks > 0);
    assert.ok(exec.seq > fork.seq && exit.seq > exec.seq, 'sequence follows fork < exec < exit');
    assert.ok(exec.ktimeNs > 0 && exit.ktimeNs >= exec.ktimeNs);

    // The sleep that sh forked: a grandchild, matched through the fork event.
    const child = c.events.find((e) => e.kind === 'fork' && e.parentPid === r.pid);
    assert.ok(child !== undefined, 'fork of sleep seen');
    const [sleepExec] = c.exec(child.pid);
    assert.deepEqual(sleepExec?.details.argv, ['sleep', '0.2']);
    assert.equal(sleepExec?.details.ppid, r.pid);
    assert.deepEqual((await c.exited(child.pid)).status, { code: 0, signal: null, coreDumped: false });
  });

  test('short-lived /bin/true: names are right or unknown, never wrong', async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, () => run('/bin/true', [])));
    for (const r of runs) {
      assert.deepEqual((await c.exited(r.pid)).status, { code: 0, signal: null, coreDumped: false });
      const execs = c.exec(r.pid);
      assert.equal(execs.length, 1, `one exec for ${r.pid}`);
      const d = execs[0]!.details;
      assert.ok(d.comm === null || d.comm === 'true', `comm ${d.comm}`);
      assert.ok(d.argv === null || (d.argv.length === 1 && d.argv[0] === '/bin/true'), `argv ${JSON.stringify(d.argv)}`);
      assert.ok(d.exe === null || d.exe === realpathSync('/bin/true'), `exe ${d.exe}`);
      assert.ok(d.ppid === null || d.ppid === process.pid);
    }
  });

  test('exec followed at once by another exec: the first record never shows the second image', async () => {
    for (let i = 0; i < 15; i++) {
      const r = await run('/bin/sh', ['-c', 'exec /bin/sleep 0.05']);
      await c.exited(r.pid);
      const execs = c.exec(r.pid);
      assert.equal(execs.length, 2, 'two execs of one pid');
      const [first, second] = [execs[0]!.details, execs[1]!.details];
      assert.ok(first.argv === null || first.argv[0] === '/bin/sh', `first argv ${JSON.stringify(first.argv)}`);
      assert.ok(first.comm === null || first.comm === 'sh', `first comm ${first.comm}`);
      assert.ok(first.exe === null || first.exe === realpathSync('/bin/sh'), `first exe ${first.exe}`);
      assert.deepEqual(second.argv, ['/bin/sleep', '0.05']);
      assert.equal(second.comm, 'sleep');
      assert.equal(first.startTicks === null || first.startTicks === second.startTicks, true, 'same instance');
    }
  });

  test('SIGKILL: exit carries the signal, no code', async () => {
    let pid = 0;
    const done = run('sleep', ['5'], { onSpawn: (p) => { pid = p; } });
    assert.ok(await waitFor(() => pid !== 0 && c.exec(pid).length > 0), 'exec of sleep seen');
    process.kill(pid, 'SIGKILL');
    const r = await done;
    assert.equal(r.signal, 'SIGKILL');
    const exit = await c.exited(r.pid);
    assert.deepEqual(exit.status, { code: null, signal: 9, coreDumped: false });
    assert.deepEqual(c.exec(r.pid)[0]?.details.argv, ['sleep', '5']);
  });

  test('setsid: a sid event for the process', async () => {
    const setsid = which('setsid');
    if (setsid === null) return assert.fail('setsid(1) missing (util-linux)');
    const r = await run(setsid, ['/bin/sleep', '0.05']);
    await c.exited(r.pid);
    // setsid(1) forks first only if it leads its process group; look at the child's line too.
    const line = new Set([r.pid, ...c.events.filter((e) => e.kind === 'fork' && e.parentPid === r.pid).map((e) => e.pid)]);
    assert.ok(c.events.some((e) => e.kind === 'sid' && line.has(e.pid)), 'sid event seen');
  });

  test('uid and gid changes (setpriv), and the exec after them reads the new ids', async () => {
    const setpriv = which('setpriv');
    if (setpriv === null) return assert.fail('setpriv(1) missing (util-linux)');
    const r = await run(setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/sleep', '0.1']);
    assert.equal(r.code, 0);
    await c.exited(r.pid);
    const uid = c.of(r.pid).find((e) => e.kind === 'uid');
    const gid = c.of(r.pid).find((e) => e.kind === 'gid');
    assert.ok(uid?.kind === 'uid' && uid.ruid === 65534 && uid.euid === 65534, `uid event ${JSON.stringify(uid)}`);
    assert.ok(gid?.kind === 'gid' && gid.rgid === 65534 && gid.egid === 65534, `gid event ${JSON.stringify(gid)}`);
    const last = c.exec(r.pid).at(-1)!.details;
    assert.deepEqual(last.argv, ['/bin/sleep', '0.1']);
    assert.deepEqual(last.uids, [65534, 65534, 65534, 65534]);
    assert.deepEqual(last.gids, [65534, 65534, 65534, 65534]);
    // setpriv's own exec record: root ids, or unknown if the change beat the reads.
    const first = c.exec(r.pid)[0]!.details;
    assert.ok(first.uids === null || first.uids.every((u) => u === 0), `setpriv uids ${JSON.stringify(first.uids)}`);
  });

  test('comm change through prctl(PR_SET_NAME)', async (t) => {
    const python = which('python3');
    if (python === null) return t.skip('SKIPPED: python3 not installed');
    const r = await run(python, ['-c', "import ctypes;ctypes.CDLL(None).prctl(15,b'pwcomm',0,0,0)"]);
    assert.equal(r.code, 0);
    await c.exited(r.pid);
    const comm = c.of(r.pid).find((e) => e.kind === 'comm');
    assert.ok(comm?.kind === 'comm', 'comm event seen');
    assert.equal(comm.comm, 'pwcomm');
    for (const e of c.exec(r.pid)) assert.notEqual(e.details.comm, 'pwcomm', 'an exec record never shows a later rename');
  });

  test('threads: a thread fork is flagged and carries the process id', async (t) => {
    const python = which('python3');
    if (python === null) return t.skip('SKIPPED: python3 not installed');
    const r = await run(python, ['-c', 'import threading; t=threading.Thread(target=lambda: None); t.start(); t.join()']);
    await c.exited(r.pid);
    const thread = c.events.find((e) => e.kind === 'fork' && e.pid === r.pid && e.thread);
    assert.ok(thread?.kind === 'fork', 'thread fork seen');
    assert.notEqual(thread.tid, r.pid);
    // CLONE_THREAD shares the process's parent: the kernel names that (real_parent), not the creator.
    assert.equal(thread.parentPid, process.pid);
  });

  test('ptrace attach (strace) names the tracer', async (t) => {
    const strace = which('strace');
    if (strace === null) return t.skip('SKIPPED: strace not installed (apt-get install strace)');
    const r = await run(strace, ['-f', '-o', '/dev/null', '/bin/true']);
    assert.equal(r.code, 0, 'strace ran (ptrace allowed here)');
    await c.exited(r.pid);
    const traced = c.events.filter((e) => e.kind === 'ptrace' && e.tracerPid === r.pid);
    assert.ok(traced.length > 0, 'ptrace event with strace as the tracer');
    const tracee = traced[0]!.pid;
    assert.ok(c.events.some((e) => e.kind === 'fork' && e.pid === tracee && e.parentPid === r.pid), 'the tracee is strace\'s child');
  });

  test('core dump: coredump event, exit by SIGSEGV', async () => {
    const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
    const r = await run('/bin/sh', ['-c', 'ulimit -c unlimited; kill -SEGV $$'], { cwd: work });
    assert.equal(r.signal, 'SIGSEGV');
    const exit = await c.exited(r.pid);
    assert.equal(exit.status.signal, 11);
    assert.equal(exit.status.code, null);
    const dump = c.of(r.pid).find((e) => e.kind === 'coredump');
    assert.ok(dump?.kind === 'coredump', 'coredump event seen');
    assert.equal(dump.parentPid, process.pid);
    const cores = readdirSync(work).filter((f) => f.startsWith('core'));
    if (!pattern.startsWith('|') && cores.length > 0) assert.equal(exit.status.coreDumped, true, 'a core was written');
    for (const f of cores) rmSync(join(work, f), { force: true });
  });

  test('stop delivers every batch before closed resolves; seq rises by one; counters agree', async () => {
    c.conn.stop();
    await c.conn.closed;
    for (let i = 1; i < c.events.length; i++) assert.equal(c.events[i]!.seq, c.events[i - 1]!.seq + 1);
    const n = c.conn.counters();
    assert.equal(n.malformed, 0);
    assert.equal(c.decoder.stats.malformed, 0, String(c.decoder.stats.lastError));
    assert.equal(n.batches, c.batches, 'every batch counted was delivered');
    assert.equal(n.events, c.events.length, 'every record counted was delivered');
    assert.ok(n.received >= n.events - n.enobufs);
    assert.deepEqual(c.errors, []);
  });
});

describe('proc connector: overflow and shutdown', { skip: SKIP }, () => {
  test('a stalled reader with a tiny buffer reports ENOBUFS as a lost event and goes on', async () => {
    const c = new Collector({ rcvbufBytes: 1, debugStallMs: 400 });
    try {
      // The first frame stalls the reader; meanwhile these overflow the ~2 KiB buffer.
      const runs = await Promise.all(Array.from({ length: 40 }, () => run('/bin/true', [])));
      assert.ok(runs.length === 40);
      assert.ok(await waitFor(() => c.conn.counters().enobufs > 0, 3000), 'ENOBUFS seen');
      assert.ok(await waitFor(() => c.events.some((e) => e.kind === 'lost')), 'lost event delivered');
      const lost = c.events.find((e) => e.kind === 'lost');
      assert.ok(lost?.kind === 'lost');
      assert.equal(lost.count, null, 'the kernel does not say how many');
      assert.match(lost.reason, /ENOBUFS/);
      assert.equal(lost.cpu, -1);
      // ...and the reader is still alive afterwards. The buffer is still tiny, so a new burst
      // may overflow again: then ENOBUFS must say so, and the next try gets through.
      let seen = false;
      for (let attempt = 0; attempt < 10 && !seen; attempt++) {
        const lostBefore = c.conn.counters().enobufs;
        const again = await run('/bin/sh', ['-c', 'exit 3']);
        seen = await waitFor(() => c.exit(again.pid) !== undefined, 1000);
        if (seen) assert.equal(c.exit(again.pid)?.status.code, 3);
        else assert.ok(c.conn.counters().enobufs > lostBefore, 'an exit went missing without ENOBUFS');
      }
      assert.ok(seen, 'the reader delivers events after an overflow');
      c.conn.stop();
      await c.conn.closed;
      assert.equal(c.conn.counters().enobufs, c.events.filter((e) => e.kind === 'lost').length, 'one lost event per ENOBUFS');
    } finally {
      c.conn.stop();
      await c.conn.closed;
    }
  });

  test('stop is idempotent, final, and counters still answer', async () => {
    const c = new Collector();
    await run('/bin/true', []);
    c.conn.stop();
    c.conn.stop();
    await c.conn.closed;
    const batches = c.batches;
    const counters = c.conn.counters();
    await run('/bin/true', []);
    await sleep(100);
    assert.equal(c.batches, batches, 'no batches after stop');
    assert.deepEqual(c.conn.counters(), counters);
    c.conn.ref(); // harmless after stop
    c.conn.unref();
  });

  test('open() refuses bad options before touching the kernel', () => {
    assert.throws(() => openProcConnector({ rcvbufBytes: -1, onBatch: () => undefined, onError: () => undefined }), RangeError);
    assert.throws(() => openProcConnector({ rcvbufBytes: 1.5, onBatch: () => undefined, onError: () => undefined }), RangeError);
  });
});
