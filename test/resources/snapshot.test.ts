/**
 * The two snapshot sources on the same real processes (issue 12): the eBPF task iterator and
 * /proc must agree field by field on processes that hold still (memory by kind, fds, the fd
 * limit, faults, switches, I/O, threads, ids, state, a zombie), and on the CPU of a busy one
 * within what separates the reads; across the whole system they agree on every process
 * instance both saw. With PROCWATCH_REQUIRE_BPF=1 (CI) a missing task iterator fails.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { EbpfSnapshotSource, ProcSnapshotSource, openSnapshotSource, type ResourceSample, type Snapshot } from '../../src/resources/index.js';
import { loadBpfNative } from '../../src/sources/bpf-native.js';
import { TASK, TASK_FLAG, TaskReader, taskLayout } from '../../src/sources/record.js';
import { waitFor } from '../helpers/spawn.js';

const REQUIRE_BPF = process.env.PROCWATCH_REQUIRE_BPF === '1';
const isRoot = process.getuid?.() === 0;
let iterReason: string | null = null;
try {
  EbpfSnapshotSource.open().close();
} catch (err) {
  iterReason = (err as Error).message;
}
const skip = iterReason === null || REQUIRE_BPF ? (isRoot || REQUIRE_BPF ? false : 'SKIPPED: needs root') : `SKIPPED: the eBPF task iterator cannot load here: ${iterReason}`;
if (skip) console.warn(`snapshot.test: ${skip}`);

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const children: ChildProcess[] = [];
after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });

/** Runs a python3 script that prints "ready ..." once it holds still; returns it and the rest of that line. */
async function started(script: string): Promise<{ child: ChildProcess; said: string }> {
  const child = spawn(PYTHON, ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  const said = await waitFor(`python3 pid ${child.pid} to get ready`, () => /^ready(.*)\n/m.exec(out)?.[1], 15_000);
  return { child, said: said.trim() };
}
const holdStill = async (script: string): Promise<ChildProcess> => (await started(script)).child;

const MEMORY = `
import mmap, os, sys
anon = bytearray(24 << 20)
for i in range(0, len(anon), 4096): anon[i] = 1
shm = mmap.mmap(-1, 8 << 20, flags=mmap.MAP_SHARED)
for i in range(0, len(shm), 4096): shm[i] = 1
fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(40)]
print('ready', flush=True)
sys.stdin.read()
`;
const THREADS = `
import sys, threading
go = threading.Event()
ts = [threading.Thread(target=go.wait) for _ in range(3)]
for t in ts: t.start()
print('ready', flush=True)
sys.stdin.read()
`;
const NOFILE = `
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (77, 1000))
print('ready', flush=True)
sys.stdin.read()
`;
const BUSY = `
print('ready', flush=True)
while True: pass
`;
const ZOMBIE_PARENT = `
import os, sys, time
pid = os.fork()
if pid == 0: os._exit(3)
time.sleep(0.3)
print('ready', pid, flush=True)
sys.stdin.read()
`;

/** Fields that hold still in a process that does nothing. */
const STILL: Array<keyof ResourceSample> = [
  'key', 'ppid', 'startTicks', 'comm', 'state', 'uid', 'euid', 'threads', 'kernelThread', 'minorFaults', 'majorFaults', 'voluntarySwitches',
  'involuntarySwitches', 'readBytes', 'writeBytes', 'readChars', 'writeChars', 'vsizeBytes', 'rssBytes', 'rssAnonBytes', 'rssFileBytes',
  'rssShmemBytes', 'swapBytes', 'fds', 'fdLimit',
];
const TICK_NS = 1e7;

function byPid(s: Snapshot): Map<number, ResourceSample> {
  return new Map(s.samples.map((x) => [x.pid, x]));
}

let ebpf: EbpfSnapshotSource;
const proc = new ProcSnapshotSource();
before(() => { if (!skip) ebpf = EbpfSnapshotSource.open(); });
after(() => ebpf?.close());

test('the task record layout in record.ts is the one the addon was built with', { skip }, () => {
  const bpf = loadBpfNative();
  assert.ok(bpf.available, 'the eBPF addon is built');
  const c = bpf.addon.taskLayout();
  const ts = taskLayout();
  for (const [k, v] of Object.entries(ts)) assert.equal(c[k], v, `record.ts TASK ${k} = ${v}, record.h says ${c[k]}`);
  assert.ok(c.pageSize! >= 4096, 'the page size comes with it');
  assert.equal(TASK.SIZE % 8, 0);
  assert.equal(TASK_FLAG.leader, 1);
});

test('readInto: a buffer too short gets the bytes it holds; copyLast then gives them all', { skip }, async () => {
  const bpf = loadBpfNative();
  assert.ok(bpf.available);
  const h = bpf.addon.openTasks();
  try {
    const small = Buffer.alloc(TASK.SIZE);
    const bytes = await h.readInto(small);
    assert.ok(bytes > TASK.SIZE && bytes % TASK.SIZE === 0, `${bytes} bytes: more tasks than one record`);
    const big = Buffer.alloc(bytes);
    assert.equal(h.copyLast(big), bytes);
    assert.deepEqual(big.subarray(0, TASK.SIZE), small, 'the first record is the one the small buffer got');
    assert.equal(h.copyLast(big), 0, 'once copied, the handle lets its memory go');
    const again = Buffer.alloc(bytes * 2);
    const n = await h.readInto(again);
    assert.ok(n > 0 && n <= again.length, 'a walk that fits goes straight into the buffer');
    const walked = new TaskReader(again.subarray(0, n));
    const tgids = Array.from({ length: walked.count }, (_, i) => walked.i32At(i, TASK.tgid));
    assert.ok(tgids.includes(process.pid), 'the walk\'s records are in the buffer: this process is among them');
    assert.equal(h.copyLast(big), 0, 'nothing kept of a walk that fit');
    const first = h.readInto(again);
    assert.throws(() => h.readInto(again), /already in flight/, 'one walk at a time');
    assert.ok((await first) > 0);
  } finally {
    h.close();
  }
});

test('eBPF and /proc agree on processes that hold still: memory by kind, fds, limits, faults, switches, I/O, threads, ids', { skip, timeout: 60_000 }, async () => {
  const held = [await holdStill(MEMORY), await holdStill(THREADS), await holdStill(NOFILE)];
  const before = byPid(await proc.take());
  const mid = byPid(await ebpf.take());
  const afterwards = byPid(await proc.take());
  for (const child of held) {
    const pid = child.pid!;
    const [p1, e, p2] = [before.get(pid), mid.get(pid), afterwards.get(pid)];
    assert.ok(p1 && e && p2, `pid ${pid} is in all three snapshots`);
    for (const field of STILL) {
      assert.deepEqual(p1[field], p2[field], `pid ${pid} ${field}: /proc changed between two reads (${String(p1[field])} → ${String(p2[field])}): not holding still`);
      assert.deepEqual(e[field], p1[field], `pid ${pid} ${field}: eBPF ${String(e[field])}, /proc ${String(p1[field])}`);
    }
    // /proc's CPU is in ticks, rounded down per user and system part: within two ticks below.
    assert.ok(e.cpuNs >= p1.cpuNs && e.cpuNs - p1.cpuNs < 2 * TICK_NS + 1, `pid ${pid} cpu: eBPF ${e.cpuNs} ns, /proc ${p1.cpuNs} ns`);
  }
  const [memory, threads, nofile] = held.map((c) => mid.get(c.pid!)!);
  assert.ok(memory!.rssAnonBytes! >= 24 << 20, `24 MiB touched: anon ${memory!.rssAnonBytes}`);
  assert.ok(memory!.rssShmemBytes! >= 8 << 20, `8 MiB shared: shmem ${memory!.rssShmemBytes}`);
  assert.equal(memory!.rssBytes, memory!.rssAnonBytes! + memory!.rssFileBytes! + memory!.rssShmemBytes!);
  assert.ok(memory!.fds! >= 43, `40 opened + stdio: ${memory!.fds}`);
  assert.equal(threads!.threads, 4);
  assert.equal(nofile!.fdLimit, 77);
  for (const c of held) c.stdin!.end();
});

test('eBPF and /proc agree on a zombie (no memory, no fds) and on a busy process\'s CPU within the time between reads', { skip, timeout: 60_000 }, async () => {
  const { child: parent, said } = await started(ZOMBIE_PARENT);
  const zombiePid = Number(said);
  const busy = await holdStill(BUSY);
  const p1 = byPid(await proc.take());
  const e = byPid(await ebpf.take());
  // The second read once /proc's tick-resolution CPU of the busy loop has moved on (three
  // snapshots can all fall within one 10 ms tick on a quiet machine).
  let p2 = byPid(await proc.take());
  for (const until = Date.now() + 10_000; p2.get(busy.pid!)!.cpuNs <= p1.get(busy.pid!)!.cpuNs && Date.now() < until;) p2 = byPid(await proc.take());
  for (const field of ['key', 'state', 'ppid', 'rssBytes', 'vsizeBytes', 'fds', 'threads'] as const) {
    assert.deepEqual(e.get(zombiePid)?.[field], p1.get(zombiePid)?.[field], `zombie ${field}`);
  }
  assert.equal(e.get(zombiePid)?.state, 'Z');
  assert.equal(e.get(zombiePid)?.rssBytes, null, 'a zombie has no address space: unknown, not 0');
  const b = busy.pid!;
  const [c1, ce, c2] = [p1.get(b)!.cpuNs, e.get(b)!.cpuNs, p2.get(b)!.cpuNs];
  assert.ok(c2 > c1, 'the busy loop ran between the reads');
  // /proc rounds each part down to a tick: eBPF's exact value lies between the two reads, within that.
  assert.ok(ce >= c1 && ce <= c2 + 2 * TICK_NS, `busy cpu: /proc ${c1} then ${c2}, eBPF between: ${ce}`);
  busy.kill('SIGKILL');
  parent.stdin!.end();
});

test('across the whole system, both sources see the same process instances with the same identity', { skip, timeout: 60_000 }, async () => {
  const p1 = await proc.take();
  const e = await ebpf.take();
  const p2 = await proc.take();
  const stable = new Map(p1.samples.filter((s) => p2.samples.some((t) => t.key === s.key)).map((s) => [s.key, s]));
  const seen = new Set(e.samples.map((s) => s.key));
  const missing = [...stable.keys()].filter((k) => !seen.has(k));
  // This VM's init (pid 1) is not listed by the kernel's task iterator at all: a one-line
  // iter/task program misses it too, and so does an iterator bound to tid 1. The daemon
  // completes the snapshot from /proc for live processes the iterator did not show (tested in
  // test/resources/sampler.test.ts); anything else missing is a failure.
  assert.deepEqual(missing.filter((k) => !k.startsWith('1:')), [], 'every instance /proc showed before and after is in the eBPF snapshot');
  if (missing.length > 0) console.warn(`snapshot.test: the task iterator does not list ${missing.join(', ')} on this kernel`);
  for (const s of e.samples) {
    const p = stable.get(s.key);
    if (p === undefined) continue;
    // A process whose parent exits between the reads is reparented: eBPF's read lies between.
    const after = p2.samples.find((t) => t.key === s.key)!;
    assert.ok(s.ppid === p.ppid || s.ppid === after.ppid, `${s.key} ppid: eBPF ${s.ppid}, /proc ${p.ppid} then ${after.ppid}`);
    assert.equal(s.kernelThread, p.kernelThread, `${s.key} kernel thread`);
    // /proc shows a kernel thread's full name (and a workqueue worker's current work); the task has 15 bytes of it.
    assert.ok(p.comm!.startsWith(s.comm!), `${s.key} comm: eBPF '${s.comm}', /proc '${p.comm}'`);
  }
  assert.equal(e.source, 'ebpf');
  assert.equal(e.cpuResolution, 'ns');
});

test('auto takes the task iterator here; proc can be asked for', { skip }, () => {
  const auto = openSnapshotSource('auto');
  assert.equal(auto.source.name, 'ebpf', auto.why);
  auto.source.close();
  const p = openSnapshotSource('proc');
  assert.equal(p.source.name, 'proc');
});
