/**
 * The eBPF source on the real kernel (root): the shared contract; exact argv (and its cap),
 * filename, exe, cwd, cgroup id and start time for processes that live microseconds; exit
 * codes, signals and comm, one exit per process with either exit program; threads counted
 * not reported; outbound connect and inbound accept (IPv4, IPv6) with addresses, ports and
 * pids; file opens with path and flags under a prefix filter (and a uid filter), nothing
 * outside it, never procwatch's own; paths that cannot be named truthfully (detached
 * mount) left unknown, a deleted exe marked; every event the kernel could not send
 * reported as a `lost` event with its reason and count; a failing reader that says so and
 * closes; stop() that delivers everything already captured, is idempotent and leaves no
 * program loaded; tracefs mounted by the source when missing (in a private mount
 * namespace); and a build without clang that leaves its reason for the loader to report.
 *
 * With PROCWATCH_REQUIRE_BPF=1 (CI) a missing eBPF capability fails instead of skipping.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmdirSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ConnectEvent, AcceptEvent, ExecEvent, ExitEvent, LostEvent, OpenEvent, ProcEvent } from '../../src/events/types.js';
import { openBpf } from '../../src/sources/bpf-native.js';
import { DAEMON_RING_BYTES } from '../../src/config/daemon.js';
import { chooseSource, parseSourceChoice } from '../../src/sources/index.js';
import { createEbpfSource, ebpfAvailability, type EbpfOptions } from '../../src/sources/ebpf.js';
import { runSourceContract } from './contract.js';
import { sleep, waitForComm } from '../helpers/spawn.js';
import { eventually } from '../helpers/wait.js';

const REQUIRE_BPF = process.env.PROCWATCH_REQUIRE_BPF === '1';
const availability = ebpfAvailability({ network: true, files: true });
// CI sets PROCWATCH_REQUIRE_BPF=1: then nothing is skipped and a missing capability fails.
const skip = availability.available || REQUIRE_BPF ? false : `SKIPPED: eBPF source unavailable here: ${availability.reason}`;
if (skip) console.error(`ebpf tests: ${skip}`);
const isRoot = process.getuid?.() === 0;
const skipNotRoot = isRoot ? false : 'SKIPPED: needs root (mount namespaces, read-only bind mounts)';
if (skipNotRoot) console.error(`ebpf tests: ${skipNotRoot}`);

const children: ChildProcess[] = [];
const tempDirs: string[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

test('the eBPF source is available here (required in CI)', { skip }, () => {
  assert.ok(availability.available, `eBPF source unavailable: ${availability.reason}`);
});

runSourceContract({
  name: 'ebpf',
  create: () => (availability.available || REQUIRE_BPF ? createEbpfSource({}) : availability.reason),
  lifetimeSeconds: 0.05,
  startKinds: ['exec'],
  endKinds: ['exit'],
  changes: true,
});


/** Runs a source around `body`, returning every event delivered until stop() resolved. */
async function capture(options: EbpfOptions, body: (events: ProcEvent[]) => Promise<void>): Promise<{ events: ProcEvent[]; counters: Record<string, number> }> {
  const source = createEbpfSource(options);
  const events: ProcEvent[] = [];
  await source.start((batch) => events.push(...batch));
  let kernel: Record<string, number> = {};
  try {
    await body(events);
    // The kernel's own counters (read from its map) are gone once the programs are unloaded.
    kernel = { ...source.counters() };
  } finally {
    // Detaches the programs, then delivers every event they captured: nothing is left to wait for.
    await source.stop();
  }
  // Counters only grow: the larger of before and after the final drain.
  const final: Record<string, number> = { ...source.counters() };
  const counters: Record<string, number> = { ...kernel };
  for (const [k, v] of Object.entries(final)) counters[k] = Math.max(v, kernel[k] ?? 0);
  return { events, counters };
}

const isExec = (e: ProcEvent): e is ExecEvent => e.kind === 'exec';
/** A process's exit (a thread's has tid != pid). */
const isExit = (e: ProcEvent): e is ExitEvent => e.kind === 'exit' && e.tid === e.pid;
const isLost = (e: ProcEvent): e is LostEvent => e.kind === 'lost';
const inode = (path: string): number => statSync(path).ino;

function run(cmd: string, args: string[], options: { cwd?: string } = {}): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], cwd: options.cwd });
  children.push(child);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ pid: child.pid!, code, signal, stdout })));
}

test('auto prefers eBPF here and says so; ebpf can be asked for by name', { skip, timeout: 60_000 }, async () => {
  const auto = await chooseSource('auto');
  assert.equal(auto.source.name, 'ebpf');
  assert.match(auto.why, /eBPF/);
  const named = await chooseSource(parseSourceChoice('ebpf'));
  assert.equal(named.source.name, 'ebpf');
  assert.match(named.why, /eBPF, as asked/);
});

test('without the eBPF addon, auto falls back to netlink and says why', { skip, timeout: 60_000 }, () => {
  const index = new URL('../../src/sources/index.js', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(index)}); const c = await m.chooseSource('auto'); console.log(c.source.name + ' | ' + c.why);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, PROCWATCH_BPF_ADDON: '/nonexistent/procbpf.node' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^netlink \| netlink proc connector \(eBPF unavailable: eBPF addon not built \(no \/nonexistent\/procbpf.node/);
});

test('exec storm of microsecond processes: every argv exact, every exit code 0, exe/cwd/start time right', { skip, timeout: 60_000 }, async () => {
  const N = 200;
  const cwd = mkdtempSync(join(tmpdir(), 'pwebpf-cwd-'));
  tempDirs.push(cwd);
  let shellPid = 0;
  let sleeper = { pid: 0, startTicks: '' };
  const { events, counters } = await capture({}, async () => {
    const shell = await run('/bin/sh', ['-c', `i=0; while [ $i -lt ${N} ]; do /bin/true a b c$i; i=$((i+1)); done`], { cwd });
    shellPid = shell.pid;
    assert.equal(shell.code, 0);
    // A process alive long enough to read its /proc stat: the start time must agree with it.
    const child = spawn('/bin/sleep', ['600'], { stdio: 'ignore' });
    children.push(child);
    await waitForComm(child.pid!, 'sleep');
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    sleeper = { pid: child.pid!, startTicks: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]! };
    child.kill('SIGKILL');
  });
  const execs = events.filter((e): e is Extract<ProcEvent, { kind: 'exec' }> => e.kind === 'exec' && e.details.ppid === shellPid);
  assert.equal(execs.length, N, `saw ${execs.length} of ${N} execs (lost ${counters.lost})`);
  const trueExe = realpathSync('/bin/true');
  const seenArgs = new Set<string>();
  for (const e of execs) {
    const argv = e.details.argv;
    assert.ok(argv !== null && argv.length === 4 && argv[0] === '/bin/true' && argv[1] === 'a' && argv[2] === 'b', JSON.stringify(argv));
    seenArgs.add(argv[3]!);
    assert.equal(e.details.comm, 'true');
    assert.equal(e.details.filename, '/bin/true', 'filename is what execve was given');
    assert.equal(typeof e.details.cgroupId, 'number');
    assert.equal(e.details.exe, trueExe);
    assert.equal(e.details.cwd, cwd);
    assert.deepEqual(e.details.uids, [0, 0, 0, 0]);
    assert.equal(e.details.argvTruncated, false);
    assert.equal(e.provenance, 'observed');
  }
  assert.deepEqual([...seenArgs].sort(), Array.from({ length: N }, (_, i) => `c${i}`).sort(), 'each argv exactly once');
  const pids = new Set(execs.map((e) => e.pid));
  const exits = events.filter((e) => e.kind === 'exit' && pids.has(e.pid));
  assert.equal(exits.length, N, 'every one seen ending');
  for (const x of exits) if (x.kind === 'exit') {
    assert.deepEqual(x.status, { code: 0, signal: null, coreDumped: false });
    assert.equal(x.comm, 'true', 'the exit names the process');
  }
  const forks = events.filter((e) => e.kind === 'fork' && pids.has(e.pid));
  assert.equal(forks.length, N, 'every one seen forking');
  const startOf = new Map(execs.map((e) => [e.pid, e.kind === 'exec' ? e.details.startTicks : null]));
  for (const f of forks) if (f.kind === 'fork') {
    assert.equal(f.parentPid, shellPid);
    assert.equal(f.startTicks, startOf.get(f.pid), 'the fork carries the child\'s start time, as its exec does');
  }
  const sleepExec = events.find((e) => e.kind === 'exec' && e.pid === sleeper.pid);
  assert.ok(sleepExec?.kind === 'exec');
  assert.equal(sleepExec.details.startTicks, Number(sleeper.startTicks), 'start ticks equal /proc/PID/stat field 22');
  assert.equal(counters.lost, 0);
});

test('exit status: a code, a signal, the parent; a thread is reported as a thread (fork with thread: true, exit with its tid), never as a process', { skip, timeout: 60_000 }, async () => {
  let coded = 0;
  let killed = 0;
  let threads = { forks: 0, exits: 0 };
  let workerTid = 0;
  const { events, counters } = await capture({}, async () => {
    coded = (await run('/bin/sh', ['-c', 'exit 7'])).pid;
    const k = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    children.push(k);
    const done = new Promise((r) => k.on('exit', r));
    await waitForComm(k.pid!, 'sleep'); // killed as sleep, not as the node child before its exec
    k.kill('SIGKILL');
    await done;
    killed = k.pid!;
    // The worker reports its own thread id (gettid) before it ends.
    const w = new Worker("require('worker_threads').parentPort.postMessage(require('fs').readlinkSync('/proc/thread-self').split('/').pop())", { eval: true });
    w.on('message', (tid: string) => { workerTid = Number(tid); });
    await new Promise((r) => w.on('exit', r));
  });
  threads = { forks: counters.threadForks ?? 0, exits: counters.threadExits ?? 0 };
  const exitOf = (pid: number) => events.find((e) => e.kind === 'exit' && e.pid === pid);
  const c = exitOf(coded);
  assert.ok(c?.kind === 'exit');
  assert.deepEqual(c.status, { code: 7, signal: null, coreDumped: false });
  assert.equal(c.rawCode, 7 << 8);
  assert.equal(c.comm, 'sh');
  assert.equal(c.parentPid, process.pid);
  assert.equal(c.tid, coded);
  const k = exitOf(killed);
  assert.ok(k?.kind === 'exit');
  assert.deepEqual(k.status, { code: null, signal: 9, coreDumped: false });
  assert.equal(k.comm, 'sleep');
  assert.equal(counters.exitDuplicates, 0, 'the 6.16+ exit program never needs to deduplicate');
  assert.ok(threads.forks >= 1 && threads.exits >= 1, `worker thread counted: ${JSON.stringify(threads)}`);
  assert.ok(workerTid > 0, 'the worker told its tid');
  const ours = events.filter((e) => e.pid === process.pid && (e.kind === 'exit' || e.kind === 'fork'));
  const threadFork = ours.find((e) => e.kind === 'fork' && e.tid === workerTid);
  assert.ok(threadFork?.kind === 'fork' && threadFork.thread, `the worker's fork is a thread's: ${JSON.stringify(ours)}`);
  assert.equal(threadFork.startTicks, null, 'a thread has no process start time');
  assert.ok(ours.some((e) => e.kind === 'exit' && e.tid === workerTid), `the worker's exit is reported with its tid: ${JSON.stringify(ours)}`);
  assert.ok(!ours.some((e) => (e.kind === 'fork' && !e.thread) || (e.kind === 'exit' && e.tid === e.pid)), 'our own threads are never process events');
});

test('network capture: a connect to a local listener and its accept, with addresses, ports and pids', { skip, timeout: 60_000 }, async () => {
  // Both ends run in children: procwatch never reports its own network activity.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const refusedPort = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  const server = spawn(process.execPath, ['-e', `
    const s = require('net').createServer((c) => { c.end(); s.close(); });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(server);
  const serverExited = new Promise((r) => server.on('exit', r));
  const port = await new Promise<number>((r) => server.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  let client = 0;
  let refused = 0;
  const { events } = await capture({ network: true }, async () => {
    const bash = ['-c', 'exec 3<>/dev/tcp/127.0.0.1/"$1"; exec 3>&-', 'pwconnect'];
    client = (await run('/bin/bash', [...bash, String(port)])).pid;
    refused = (await run('/bin/bash', [...bash, String(refusedPort)])).pid;
    await serverExited;
  });
  const connects = events.filter((e): e is ConnectEvent => e.kind === 'connect');
  const accepts = events.filter((e): e is AcceptEvent => e.kind === 'accept');
  const ok = connects.find((e) => e.pid === client);
  assert.ok(ok, `connect by ${client} seen (${connects.length} connects)`);
  assert.equal(ok.family, 'ipv4');
  assert.equal(ok.protocol, 'tcp');
  assert.equal(ok.remoteAddress, '127.0.0.1');
  assert.equal(ok.remotePort, port);
  assert.equal(ok.result, 0);
  assert.equal(ok.error, null);
  assert.equal(ok.localAddress, '127.0.0.1');
  assert.ok(ok.localPort !== null && ok.localPort > 0);
  assert.equal(ok.uid, 0);
  const acc = accepts.find((e) => e.pid === server.pid);
  assert.ok(acc, 'accept by the server seen');
  assert.equal(acc.localPort, port);
  assert.equal(acc.localAddress, '127.0.0.1');
  assert.equal(acc.remoteAddress, '127.0.0.1');
  assert.equal(acc.remotePort, ok.localPort, 'the accepted peer is the client socket');
  assert.equal(acc.protocol, 'tcp');
  assert.ok(acc.fd >= 0 && acc.result === acc.fd);
  const no = connects.find((e) => e.pid === refused);
  assert.ok(no, 'refused connect seen');
  assert.equal(no.remotePort, refusedPort);
  assert.equal(no.error, 'ECONNREFUSED');
  assert.equal(no.result, -111);
  assert.ok(!events.some((e) => (e.kind === 'connect' || e.kind === 'accept') && e.pid === process.pid), 'never procwatch itself');
});

test('file capture: opens under the prefix with path, flags and result; nothing outside it; uid filter', { skip, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pwebpf-files-'));
  tempDirs.push(dir);
  chmodSync(dir, 0o755);
  const inside = join(dir, 'a.txt');
  let shell = 0;
  const { events } = await capture({ files: true, pathPrefix: `${dir}/` }, async () => {
    shell = (await run('/bin/sh', ['-c', `echo hi > ${inside}; cat ${inside} /etc/hostname >/dev/null; cat ${dir}/missing 2>/dev/null; exit 0`])).pid;
    writeFileSync(join(dir, 'self.txt'), 'procwatch itself'); // must not be reported
  });
  const opens = events.filter((e): e is OpenEvent => e.kind === 'open');
  assert.ok(opens.length > 0, 'file events seen');
  assert.ok(opens.every((e) => e.path.startsWith(`${dir}/`)), `only under the prefix: ${opens.map((e) => e.path).join(', ')}`);
  const write = opens.find((e) => e.pid === shell && e.path === inside);
  assert.ok(write, 'the shell\'s redirection seen');
  assert.deepEqual(write.flagNames.filter((f) => f !== 'O_LARGEFILE'), ['O_WRONLY', 'O_CREAT', 'O_TRUNC']);
  assert.equal(write.mode, 0o666);
  assert.ok(write.result >= 0 && write.error === null);
  assert.equal(write.dirFd, null);
  const read = opens.find((e) => e.pid !== shell && e.path === inside);
  assert.ok(read, 'cat\'s read seen');
  assert.equal(read.flags & 3, 0);
  assert.equal(read.flagNames[0], 'O_RDONLY');
  const missing = opens.find((e) => e.path === `${dir}/missing`);
  assert.ok(missing, 'a failed open is seen');
  assert.equal(missing.result, -2);
  assert.equal(missing.error, 'ENOENT');
  assert.ok(!opens.some((e) => e.path.endsWith('self.txt')), 'never procwatch itself');

  // With a uid filter, root's opens are dropped in the kernel and nobody's are kept.
  const filtered = await capture({ files: true, pathPrefix: `${dir}/`, uid: 65534 }, async () => {
    await run('/bin/cat', [inside]);
    spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/cat', inside], { stdio: 'ignore' });
  });
  const byUid = filtered.events.filter((e): e is OpenEvent => e.kind === 'open');
  assert.ok(byUid.length >= 1, 'nobody\'s open seen');
  assert.ok(byUid.every((e) => e.uid === 65534), 'only uid 65534');
  assert.ok((filtered.counters.filtered ?? 0) > 0, 'the kernel counted what it dropped');
});

test('a full ring buffer becomes a lost event with a count', { skip, timeout: 60_000 }, async () => {
  const N = 300;
  let shellPid = 0;
  const { events, counters } = await capture({ ringBytes: 4096, debugStallMs: 1500 }, async (seen) => {
    shellPid = (await run('/bin/sh', ['-c', `i=0; while [ $i -lt ${N} ]; do /bin/true; i=$((i+1)); done`])).pid;
    // The reader wakes from its stall and reads the kernel's counter.
    await eventually('the lost event', () => seen.some((e) => e.kind === 'lost'), { seen: () => seen.length });
  });
  const lost = events.filter((e) => e.kind === 'lost');
  assert.ok(lost.length >= 1, 'a lost event was delivered');
  const count = lost.reduce((n, e) => n + (e.kind === 'lost' ? e.count ?? 0 : 0), 0);
  for (const e of lost) if (e.kind === 'lost') assert.match(e.reason, /ring buffer full/);
  assert.ok(count > 0, 'with a count');
  assert.equal(counters.lost, count, 'and counted');
  assert.equal(counters.ringbufLost, count);
  const execs = events.filter((e) => e.kind === 'exec' && e.details.ppid === shellPid).length;
  assert.ok(execs < N, `${execs} of ${N} execs fit in a 4 KiB ring`);
  assert.ok(execs + count >= N, `every exec seen or counted lost (${execs} seen, ${count} lost)`);
});

test('without a size, the ring buffer is 2 MiB (what `watch` uses), the same as the daemon\'s', { skip, timeout: 60_000 }, async () => {
  const { counters } = await capture({}, async () => undefined);
  assert.equal(counters.ringBytes, 2 * 1024 ** 2);
  assert.equal(counters.ringBytes, DAEMON_RING_BYTES);
});

/** Ids of the BPF programs whose fds this process holds (fdinfo has prog_id). */
function heldProgramIds(): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m !== null) ids.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

test('stop twice is fine, and afterwards the kernel no longer has our programs', { skip, timeout: 60_000 }, async () => {
  const source = createEbpfSource({ network: true, files: true, pathPrefix: '/nonexistent-pw/' });
  await source.start(() => undefined);
  const ids = source.programIds();
  const bpftool = ['/usr/sbin/bpftool', '/usr/bin/bpftool', '/sbin/bpftool'].find((p) => existsSync(p));
  try {
    // exec, fork, exit, free (exit accounting), connect x2, accept x2, openat x2; the process
    // changes: set{,re,res,fs}{u,g}id x2 each, setsid, ptrace x2, comm, coredump.
    assert.equal(ids.length, 10 + 16 + 1 + 2 + 1 + 1, 'the core, network, files and every process-change program');
    if (bpftool !== undefined) assert.equal(spawnSync(bpftool, ['prog', 'show', 'id', String(ids[0])]).status, 0, 'bpftool sees it while running');
    assert.ok(ids.every((id) => heldProgramIds().includes(id)));
  } finally {
    await source.stop(); // a failed assertion must not leave the programs loaded (and the test process alive)
  }
  await source.stop();
  assert.deepEqual(source.programIds(), []);
  assert.ok(!heldProgramIds().some((id) => ids.includes(id)), 'no program fd left open');
  if (bpftool === undefined) {
    console.error('ebpf tests: bpftool not installed; checked our fds only');
    return;
  }
  const until = Date.now() + 30_000; // the kernel frees programs a moment after the last reference
  let still = ids;
  while (still.length > 0 && Date.now() < until) {
    still = still.filter((id) => spawnSync(bpftool, ['prog', 'show', 'id', String(id)]).status === 0);
    if (still.length > 0) await sleep(50);
  }
  assert.deepEqual(still, [], 'bpftool prog show finds none of our programs');
});

test('process changes: id_events off loads none of the syscall programs, and says so in the limitations', { skip, timeout: 20_000 }, async () => {
  const problems: string[] = [];
  const source = createEbpfSource({ idEvents: false });
  await source.start(() => undefined, (p) => problems.push(p.message));
  try {
    assert.equal(source.programIds().length, 4 + 2, 'the core (exec, fork, exit, free), comm and coredump');
    assert.deepEqual(problems, [], 'switched off on purpose: no problem');
    assert.match(source.limitations, /no uid, gid, sid or ptrace events \(id_events off\)/);
  } finally {
    await source.stop();
  }
});

/** Runs a python snippet to its end; rejects with its stderr if it fails. */
function python(code: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(child.pid!) : reject(new Error(`python3 failed (${code}): ${err.trim()}`))));
  });
}

for (const group of ['uid', 'comm'] as const) {
  test(`process changes: a ${group} program the kernel refuses to attach is a notice; that group is off, the others work`, { skip, timeout: 30_000 }, async () => {
    const problems: Array<{ message: string; fatal: boolean }> = [];
    const events: ProcEvent[] = [];
    const source = createEbpfSource({ debugRefuseChange: group });
    await source.start((batch) => events.push(...batch), (p) => problems.push(p));
    try {
      assert.equal(problems.length, 1, `one notice: ${JSON.stringify(problems)}`);
      assert.equal(problems[0]!.fatal, false);
      assert.match(problems[0]!.message, new RegExp(`^eBPF: no ${group} events: the kernel refused to attach \\S+ \\(`));
      assert.ok(source.limitations.includes(problems[0]!.message.replace(/^eBPF: /, '')), source.limitations);
      // uid and gid go together in a set*id call, comm and sid in a rename after a setsid.
      const pid = await python(`import ctypes, os
os.setsid()
ctypes.CDLL(None).prctl(15, b'pw-refused', 0, 0, 0)
os.setresgid(0, 0, 7)
os.setresuid(0, 0, 7)`);
      const other = group === 'uid' ? 'gid' : 'sid';
      const until = Date.now() + 10_000;
      while (!events.some((e) => e.pid === pid && e.kind === other) && Date.now() < until) await sleep(20);
      await sleep(200); // what else the kernel sent for it has come by now
      const kinds = events.filter((e) => e.pid === pid && ['uid', 'gid', 'sid', 'comm'].includes(e.kind)).map((e) => e.kind);
      assert.ok(kinds.includes(other), `the ${other} program still works: ${kinds.join(' ')}`);
      assert.ok(!kinds.includes(group), `nothing from the refused ${group} group: ${kinds.join(' ')}`);
    } finally {
      await source.stop();
    }
  });
}

const hostMounts = (): string[] => readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');

test('network/file capture mounts tracefs itself when it is not mounted (in a private mount namespace)', { skip, timeout: 90_000 }, () => {
  // Unmounting tracefs on the host would disturb whoever traces there; in a namespace of
  // its own the child can take tracefs (and debugfs, whose tracing dir libbpf prefers)
  // away, and the host's mounts stay as they are.
  const ebpfModule = new URL('../../src/sources/ebpf.js', import.meta.url).href;
  const script = `
    import { existsSync, readFileSync } from 'node:fs';
    import { spawnSync } from 'node:child_process';
    const { createEbpfSource } = await import(${JSON.stringify(ebpfModule)});
    const mounts = () => readFileSync('/proc/self/mounts', 'utf8').split('\\n').map((l) => l.split(' ')[1]);
    for (const p of ['/sys/kernel/debug/tracing', '/sys/kernel/debug', '/sys/kernel/tracing']) {
      while (mounts().includes(p)) {
        const r = spawnSync('umount', [p], { encoding: 'utf8' });
        if (r.status !== 0) { console.log(JSON.stringify({ error: 'umount ' + p + ': ' + r.stderr.trim() })); process.exit(0); }
      }
    }
    const before = existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events');
    const source = createEbpfSource({ network: true });
    await source.start(() => undefined);
    const mounted = mounts().includes('/sys/kernel/tracing');
    const connect = existsSync('/sys/kernel/tracing/events/syscalls/sys_enter_connect');
    await source.stop();
    console.log(JSON.stringify({ before, mounted, connect }));`;
  const hostBefore = hostMounts().filter((m) => m.startsWith('/sys/kernel/'));
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 25_000 });
  assert.equal(r.status, 0, `unshare: ${r.error?.message ?? r.stderr}`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { error?: string; before?: boolean; mounted?: boolean; connect?: boolean };
  assert.equal(result.error, undefined, result.error);
  assert.equal(result.before, false, 'no tracefs in the namespace before the source started');
  assert.equal(result.mounted, true, 'the source mounted tracefs on /sys/kernel/tracing');
  assert.equal(result.connect, true, 'and found the syscall tracepoints through it');
  assert.deepEqual(hostMounts().filter((m) => m.startsWith('/sys/kernel/')), hostBefore, 'the host\'s mounts are untouched');
});

/** Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid system). */
function cgroup2Root(): string | null {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2' && mountPoint !== undefined) return mountPoint;
  }
  return null;
}

test('cgroup filter: only tasks in the cgroup (or below) are reported, in the kernel', { skip, timeout: 60_000 }, async () => {
  const root = cgroup2Root();
  assert.ok(root !== null, 'a cgroup v2 hierarchy is mounted (needed for the cgroup filter)');
  const group = join(root, `pwtest-${process.pid}`);
  const child = join(group, 'inner');
  mkdirSync(child, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'pwebpf-cg-'));
  tempDirs.push(dir);
  const target = join(dir, 'f');
  writeFileSync(target, 'x');
  try {
    let inside = 0;
    let outside = 0;
    const { events, counters } = await capture({ files: true, pathPrefix: `${dir}/`, cgroupPath: group }, async () => {
      // The shell moves itself into the nested cgroup, then opens the file: below the filter's cgroup.
      inside = (await run('/bin/sh', ['-c', `echo $$ > ${child}/cgroup.procs && cat ${target} >/dev/null`])).pid;
      outside = (await run('/bin/sh', ['-c', `cat ${target} >/dev/null`])).pid;
    });
    const opens = events.filter((e): e is OpenEvent => e.kind === 'open' && e.path === target);
    assert.ok(opens.length > 0, 'the open inside the cgroup is reported');
    const cats = new Set(opens.map((e) => e.pid));
    assert.ok(!cats.has(outside), 'the shell outside opened nothing itself');
    const inodeOfChild = Number(spawnSync('stat', ['-c', '%i', child], { encoding: 'utf8' }).stdout.trim());
    assert.ok(opens.every((e) => e.cgroupId === inodeOfChild), `cgroupId is the nested cgroup's inode (${inodeOfChild})`);
    assert.ok((counters.filtered ?? 0) > 0, 'the open outside was dropped in the kernel and counted');
    assert.equal(inside > 0 && outside > 0, true);
  } finally {
    // Empty cgroups can be removed; the shell moved into it has exited.
    rmdirSync(child);
    rmdirSync(group);
  }
});

/** The cgroup v2 directory this process is in (the "0::" line of /proc/self/cgroup). */
function ownCgroupDir(root: string): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  assert.ok(line !== undefined, 'this process is in a cgroup v2 hierarchy');
  return join(root, line.slice(3));
}

test('exec cgroup id: a process that moved into a cgroup execs with that cgroup\'s id; its exit has its comm', { skip, timeout: 60_000 }, async () => {
  const root = cgroup2Root();
  assert.ok(root !== null, 'a cgroup v2 hierarchy is mounted');
  const group = join(root, `pwexec-${process.pid}`);
  mkdirSync(group);
  try {
    let pid = 0;
    const { events } = await capture({}, async () => {
      pid = (await run('/bin/sh', ['-c', `echo $$ > ${group}/cgroup.procs && exec /bin/true pwcgexec`])).pid;
    });
    const execs = events.filter((e): e is ExecEvent => isExec(e) && e.pid === pid);
    const shell = execs.find((e) => e.details.comm === 'sh');
    const moved = execs.find((e) => e.details.argv?.[1] === 'pwcgexec');
    assert.ok(shell && moved, `both execs of ${pid} seen`);
    assert.equal(shell.details.cgroupId, inode(ownCgroupDir(root)), 'the shell started in our cgroup');
    assert.equal(moved.details.cgroupId, inode(group), 'the exec after the move carries the test cgroup\'s inode');
    const exit = events.find((e): e is ExitEvent => isExit(e) && e.pid === pid);
    assert.ok(exit, 'its exit seen');
    assert.equal(exit.comm, 'true', 'the exit carries the comm of the image that ended');
  } finally {
    rmdirSync(group);
  }
});

test('filename: a #! script is reported with the script\'s path as filename and the interpreter as exe', { skip, timeout: 60_000 }, async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pwebpf-script-')));
  tempDirs.push(dir);
  const script = join(dir, 'pwscript.sh');
  writeFileSync(script, '#!/bin/sh\nexit 3\n');
  chmodSync(script, 0o755);
  let pid = 0;
  const { events } = await capture({}, async () => {
    const r = await run(script, ['pwarg']);
    assert.equal(r.code, 3);
    pid = r.pid;
  });
  const exec = events.find((e): e is ExecEvent => isExec(e) && e.pid === pid);
  assert.ok(exec, 'the script\'s exec seen');
  assert.equal(exec.details.filename, script);
  assert.equal(exec.details.exe, realpathSync('/bin/sh'));
  assert.deepEqual(exec.details.argv, ['/bin/sh', script, 'pwarg'], 'argv as the kernel rewrote it for the interpreter');
});

test('argv longer than the 16 KiB cap: the exact first 16,384 bytes, marked truncated', { skip, timeout: 60_000 }, async () => {
  const args = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(3, '0')}${'y'.repeat(496)}`);
  const cmdline = ['/bin/true', ...args].join('\0') + '\0';
  const CAP = 16384;
  assert.notEqual(cmdline[CAP - 1], '\0', 'the cut falls inside an argument');
  let pid = 0;
  const { events } = await capture({}, async () => {
    pid = (await run('/bin/true', args)).pid;
  });
  const exec = events.find((e): e is ExecEvent => isExec(e) && e.pid === pid);
  assert.ok(exec, 'its exec seen');
  assert.equal(exec.details.argvTruncated, true);
  assert.equal(exec.details.argv?.join('\0'), cmdline.slice(0, CAP), 'exactly the first 16,384 bytes');
  // Just under the cap: whole and not marked.
  const fits = ['/bin/true', 'z'.repeat(CAP - 12)];
  let pid2 = 0;
  const second = await capture({}, async () => {
    pid2 = (await run(fits[0]!, fits.slice(1))).pid;
  });
  const whole = second.events.find((e): e is ExecEvent => isExec(e) && e.pid === pid2);
  assert.ok(whole, 'the second exec seen');
  assert.equal(Buffer.byteLength(fits.join('\0') + '\0'), CAP - 1);
  assert.deepEqual(whole.details.argv, fits);
  assert.equal(whole.details.argvTruncated, false);
});

test('network capture: an IPv6 connect to ::1 and its accept', { skip, timeout: 60_000 }, async () => {
  const server = spawn(process.execPath, ['-e', `
    const s = require('net').createServer((c) => { c.end(); s.close(); });
    s.listen(0, '::1', () => console.log(s.address().port));`], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(server);
  const serverExited = new Promise((r) => server.on('exit', r));
  const port = await new Promise<number>((r) => server.stdout!.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
  let client = 0;
  const { events } = await capture({ network: true }, async () => {
    client = (await run('/bin/bash', ['-c', 'exec 3<>/dev/tcp/::1/"$1"; exec 3>&-', 'pwconnect6', String(port)])).pid;
    await serverExited;
  });
  const ok = events.find((e): e is ConnectEvent => e.kind === 'connect' && e.pid === client);
  assert.ok(ok, `connect by ${client} seen`);
  assert.equal(ok.family, 'ipv6');
  assert.equal(ok.protocol, 'tcp');
  assert.equal(ok.remoteAddress, '::1');
  assert.equal(ok.remotePort, port);
  assert.equal(ok.result, 0);
  assert.equal(ok.localAddress, '::1');
  assert.ok(ok.localPort !== null && ok.localPort > 0);
  const acc = events.find((e): e is AcceptEvent => e.kind === 'accept' && e.pid === server.pid);
  assert.ok(acc, 'accept by the server seen');
  assert.equal(acc.family, 'ipv6');
  assert.equal(acc.localAddress, '::1');
  assert.equal(acc.localPort, port);
  assert.equal(acc.remoteAddress, '::1');
  assert.equal(acc.remotePort, ok.localPort);
});

test('open paths: 4,095 bytes (the longest the kernel takes) whole; longer cut at 4,095 and marked', { skip, timeout: 60_000 }, async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pwebpf-long-')));
  tempDirs.push(dir);
  let exact = `${dir}/`;
  while (exact.length + 201 < 4095) exact += `${'d'.repeat(200)}/`;
  exact += 'f'.repeat(4095 - exact.length);
  assert.equal(Buffer.byteLength(exact), 4095);
  const longer = `${exact}g`;
  const { events } = await capture({ files: true, pathPrefix: `${dir}/` }, async () => {
    await run('/bin/cat', [exact, longer]);
  });
  const opens = events.filter((e): e is OpenEvent => e.kind === 'open');
  const whole = opens.find((e) => e.error === 'ENOENT');
  assert.ok(whole, 'the 4,095-byte open seen');
  assert.equal(whole.path, exact);
  assert.equal(whole.pathTruncated, false, 'a path that fits exactly is not marked truncated');
  const cut = opens.find((e) => e.error === 'ENAMETOOLONG');
  assert.ok(cut, 'the 4,096-byte open seen');
  assert.equal(cut.path, exact, 'its first 4,095 bytes');
  assert.equal(cut.pathTruncated, true);
});

test('opens the kernel could not track (table of calls in progress full) are a lost event with its reason', { skip, timeout: 60_000 }, async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pwebpf-full-')));
  tempDirs.push(dir);
  const fifo = join(dir, 'fifo');
  const target = join(dir, 'f');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  writeFileSync(target, 'x');
  let blockedPid = 0;
  let catPid = 0;
  const { events, counters } = await capture({ files: true, pathPrefix: `${dir}/`, debugInflightMax: 1 }, async () => {
    // The shell's open of the FIFO blocks until a writer comes: it holds the table's only entry.
    const blocked = run('/bin/sh', ['-c', `read x < ${fifo}`]);
    const sh = children[children.length - 1]!;
    await eventually('the shell to block in the FIFO open', () => /fifo|partner/.test(readFileSync(`/proc/${sh.pid}/wchan`, 'utf8')), { seen: () => readFileSync(`/proc/${sh.pid}/wchan`, 'utf8') });
    catPid = (await run('/bin/cat', [target])).pid; // finds the table full
    writeFileSync(fifo, 'go\n'); // procwatch's own open is never tracked; it releases the shell
    blockedPid = (await blocked).pid;
  });
  const opens = events.filter((e): e is OpenEvent => e.kind === 'open');
  assert.ok(opens.some((e) => e.pid === blockedPid && e.path === fifo), 'the FIFO open is reported when it returns');
  assert.ok(!opens.some((e) => e.pid === catPid), 'cat\'s open could not be tracked');
  const lost = events.filter(isLost).filter((e) => /in progress/.test(e.reason));
  assert.ok(lost.length >= 1, 'a lost event says why');
  const count = lost.reduce((n, e) => n + (e.count ?? 0), 0);
  assert.ok(count >= 1, 'with a count');
  assert.equal(counters.inflightLost, count, 'counted under inflightLost');
  assert.ok((counters.lost ?? 0) >= count, 'and in the source\'s lost total');
});

test('path prefix applied at syscall exit (as when the path was not readable at entry): same result', { skip, timeout: 60_000 }, async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pwebpf-late-')));
  tempDirs.push(dir);
  const inside = join(dir, 'in.txt');
  writeFileSync(inside, 'x');
  let shell = 0;
  const { events, counters } = await capture({ files: true, pathPrefix: `${dir}/`, debugPrefixAtExit: true }, async () => {
    shell = (await run('/bin/sh', ['-c', `cat ${inside} /etc/hostname >/dev/null`])).pid;
  });
  const opens = events.filter((e): e is OpenEvent => e.kind === 'open');
  assert.ok(opens.some((e) => e.path === inside && e.result >= 0), 'the open under the prefix is reported');
  assert.ok(opens.every((e) => e.path.startsWith(`${dir}/`)), `nothing outside it: ${opens.map((e) => e.path).join(', ')}`);
  assert.ok((counters.filtered ?? 0) > 0, 'the opens outside were dropped at exit and counted');
  assert.ok(shell > 0);
  assert.equal(counters.unreadableLost, 0);
});

test('pre-6.16 exit program: one exit per process even when many threads end together', { skip, timeout: 60_000 }, async () => {
  // Node processes with worker threads that exit_group() at once: every thread decrements
  // the live count, several can see it at 0; the per-process claim keeps one exit.
  const threaded = `const { Worker } = require('worker_threads');
    for (let i = 0; i < 6; i++) new Worker('setInterval(() => {}, 1000)', { eval: true });
    setTimeout(() => process.exit(5), 300);`;
  const pids: number[] = [];
  const { events, counters } = await capture({ debugExitFallback: true }, async () => {
    for (let round = 0; round < 3; round++) {
      const done = await Promise.all([0, 1].map(() => run(process.execPath, ['-e', threaded])));
      for (const r of done) {
        assert.equal(r.code, 5);
        pids.push(r.pid);
      }
    }
  });
  for (const pid of pids) {
    const exits = events.filter((e): e is ExitEvent => isExit(e) && e.pid === pid);
    assert.equal(exits.length, 1, `one exit for ${pid}, got ${exits.length} (duplicates suppressed: ${counters.exitDuplicates})`);
    assert.deepEqual(exits[0]!.status, { code: 5, signal: null, coreDumped: false });
    assert.equal(exits[0]!.comm, 'node');
  }
  assert.ok((counters.threadExits ?? 0) >= pids.length * 6, 'the worker threads were counted as thread exits');
});

test('paths that cannot be named truthfully: a lazily unmounted cwd/exe is unknown; a deleted exe is marked', { skip: skip || skipNotRoot, timeout: 60_000 }, async () => {
  const mnt = realpathSync(mkdtempSync(join(tmpdir(), 'pwebpf-mnt-')));
  tempDirs.push(mnt);
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', 'pwtest', mnt]).status, 0, 'mount a tmpfs');
  let mounted = true;
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pwebpf-del-')));
  tempDirs.push(dir);
  try {
    copyFileSync(realpathSync('/bin/true'), join(mnt, 't'));
    chmodSync(join(mnt, 't'), 0o755);
    copyFileSync(realpathSync('/bin/true'), join(dir, 'pwdel'));
    chmodSync(join(dir, 'pwdel'), 0o755);
    let lazy = 0;
    let deleted = 0;
    const { events, counters } = await capture({}, async () => {
      // The shell enters the mount, the mount is detached under it, then (go file) it execs from it.
      const go = join(dir, 'go');
      const detached = run('/bin/sh', ['-c', `cd ${mnt} && while [ ! -e ${go} ]; do sleep 0.05; done && exec ./t pwlazy`]);
      const sh = children[children.length - 1]!;
      await eventually('the shell inside the mount', () => { try { return readlinkSync(`/proc/${sh.pid}/cwd`) === mnt; } catch { return false; } });
      assert.equal(spawnSync('umount', ['-l', mnt]).status, 0, 'umount -l');
      mounted = false;
      writeFileSync(go, '');
      lazy = (await detached).pid;
      deleted = (await run('/bin/sh', ['-c', `exec 3< ${dir}/pwdel && rm ${dir}/pwdel && exec /proc/self/fd/3 pwdeleted`])).pid;
    });
    const inDetached = events.find((e): e is ExecEvent => isExec(e) && e.pid === lazy && e.details.argv?.[1] === 'pwlazy');
    assert.ok(inDetached, 'the exec from the detached mount seen');
    assert.equal(inDetached.details.exe, null, 'exe on a detached mount: unknown, not "/t"');
    assert.equal(inDetached.details.cwd, null, 'cwd on a detached mount: unknown, not "/"');
    assert.equal(inDetached.details.filename, './t');
    assert.ok((counters.exeUnknown ?? 0) >= 1 && (counters.cwdUnknown ?? 0) >= 1, 'both counted');
    const ofDeleted = events.find((e): e is ExecEvent => isExec(e) && e.pid === deleted && e.details.argv?.[1] === 'pwdeleted');
    assert.ok(ofDeleted, 'the exec of the deleted file seen');
    assert.equal(ofDeleted.details.exe, `${dir}/pwdel (deleted)`, 'marked as /proc/PID/exe marks it');
    assert.equal(ofDeleted.details.filename, '/proc/self/fd/3');
  } finally {
    if (mounted) spawnSync('umount', ['-l', mnt]);
  }
});

test('a failing reader says why on onError and closes by itself; stop() afterwards is fine', { skip, timeout: 60_000 }, async () => {
  const errors: string[] = [];
  const reader = openBpf({ onBatch: () => undefined, onError: (m) => errors.push(m), debugReaderFault: true });
  try {
    await run('/bin/true', []);
    const closed = await Promise.race([reader.closed.then(() => true), sleep(30_000).then(() => false)]);
    assert.ok(closed, 'the reader closed by itself (no busy loop, no silent hang)');
    assert.equal(errors.length, 1, errors.join(' | '));
    assert.match(errors[0]!, /^procbpf: reader stopped, no more events will be delivered: ring buffer: Input\/output error$/);
  } finally {
    reader.stop();
    reader.stop();
  }
  assert.deepEqual(reader.programIds(), []);
});

test('stop() delivers everything captured before it, even when every batch slot is taken', { skip, timeout: 90_000 }, async () => {
  // The reader stalls at its first event while a storm of long-argv execs fills the ring
  // buffer (~1.3 MB of records: more than the 4 batch slots hold); stop() comes during the
  // stall, so JavaScript cannot give slots back until the reader is done.
  const N = 300;
  const long = 'w'.repeat(4000);
  const source = createEbpfSource({ debugStallMs: 2500 });
  const events: ProcEvent[] = [];
  await source.start((batch) => events.push(...batch));
  const shell = await run('/bin/sh', ['-c', `i=0; while [ $i -lt ${N} ]; do /bin/true ${long} $i; i=$((i+1)); done`]);
  assert.equal(shell.code, 0);
  await source.stop();
  const counters = source.counters();
  const execs = events.filter((e) => isExec(e) && e.details.ppid === shell.pid);
  assert.equal(execs.length, N, `all ${N} execs delivered (readerDropped ${counters.readerDropped}, lost ${counters.lost})`);
  assert.equal(counters.readerDropped, 0);
  assert.equal(counters.lost, 0);
});

test('build without clang: npm install still succeeds, and the loader reports the exact reason', { timeout: 60_000 }, () => {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const copy = mkdtempSync(join(tmpdir(), 'pwebpf-build-'));
  tempDirs.push(copy);
  for (const f of ['scripts/build-native.mjs', 'native/record.h', 'native/bpf/binding.gyp', 'native/bpf/procbpf.c', 'native/bpf/procwatch.bpf.c', 'native/bpf/procwatch.h']) {
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    copyFileSync(join(repo, f), join(copy, f));
  }
  const env = { ...process.env, CLANG: '/nonexistent/clang', PROCWATCH_REQUIRE_BPF: '0', PROCWATCH_REQUIRE_NATIVE: '0' };
  const r = spawnSync(process.execPath, [join(copy, 'scripts/build-native.mjs')], { encoding: 'utf8', env, timeout: 50_000 });
  assert.equal(r.status, 0, `the build script exits 0: ${r.stderr}`);
  const why = 'eBPF addon not built: clang not found (CLANG=/nonexistent/clang does not exist)';
  assert.match(r.stderr, new RegExp(why.replace(/[()]/g, '\\$&')));
  assert.equal(readFileSync(join(copy, 'native/bpf/build/UNAVAILABLE'), 'utf8').trim(), why);
  const ebpfModule = new URL('../../src/sources/ebpf.js', import.meta.url).href;
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(ebpfModule)}); console.log(m.ebpfAvailability().reason);`], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, PROCWATCH_BPF_ADDON: join(copy, 'native/bpf/build/Release/procbpf.node') },
  });
  assert.equal(probe.status, 0, probe.stderr);
  assert.ok(probe.stdout.startsWith(why), `the source says why: ${probe.stdout}`);
});

test('build without Python: each addon\'s line says why (node-gyp\'s own error), not a bare "configure error"', { timeout: 120_000 }, () => {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const copy = mkdtempSync(join(tmpdir(), 'pwebpf-nopy-'));
  tempDirs.push(copy);
  for (const f of ['scripts/build-native.mjs', 'native/record.h', 'native/binding.gyp', 'native/procconn.c', 'native/bpf/binding.gyp', 'native/bpf/procbpf.c', 'native/bpf/procwatch.bpf.c', 'native/bpf/procwatch.h']) {
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    copyFileSync(join(repo, f), join(copy, f));
  }
  // python3 and python that cannot run, first on PATH; node-gyp finds no other.
  const fake = join(copy, 'fake-bin');
  mkdirSync(fake);
  for (const name of ['python3', 'python']) {
    writeFileSync(join(fake, name), '#!/bin/sh\nexit 1\n');
    chmodSync(join(fake, name), 0o755);
  }
  const env = { ...process.env, PATH: `${fake}:${process.env.PATH ?? ''}`, npm_config_python: '/nonexistent/python3', PYTHON: '/nonexistent/python3', PROCWATCH_REQUIRE_BPF: '0', PROCWATCH_REQUIRE_NATIVE: '0' };
  const r = spawnSync(process.execPath, [join(copy, 'scripts/build-native.mjs')], { encoding: 'utf8', env, timeout: 110_000 });
  assert.equal(r.status, 0, `the build script exits 0: ${r.stderr}`);
  assert.match(r.stderr, /^build-native: native addon build failed: configure: Error: Could not find any Python installation to use \(install python3\); continuing without it/m);
  assert.doesNotMatch(r.stderr, /configure error;/, 'never the bare line');
});

test('build on a read-only tree: the script still exits 0 with one line per addon', { skip: skipNotRoot, timeout: 60_000 }, () => {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const copy = mkdtempSync(join(tmpdir(), 'pwebpf-ro-'));
  tempDirs.push(copy);
  for (const f of ['scripts/build-native.mjs', 'native/record.h', 'native/bpf/binding.gyp', 'native/bpf/procbpf.c', 'native/bpf/procwatch.bpf.c', 'native/bpf/procwatch.h']) {
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    copyFileSync(join(repo, f), join(copy, f));
  }
  mkdirSync(join(copy, 'native/bpf/build/gen'), { recursive: true }); // an earlier build's output, now unremovable
  // Read-only only inside a private mount namespace: the bind mount goes with it.
  const sh = `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && exec "$2" "$1/scripts/build-native.mjs"`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', sh, 'pwro', copy, process.execPath], {
    encoding: 'utf8', timeout: 50_000, env: { ...process.env, PROCWATCH_REQUIRE_BPF: '0', PROCWATCH_REQUIRE_NATIVE: '0' },
  });
  assert.equal(r.status, 0, `exit 0 even read-only: ${r.stderr}`);
  assert.match(r.stderr, /^build-native: eBPF addon not built: EROFS: read-only file system.*; continuing without it/m);
  assert.match(r.stderr, /^build-native: native addon build failed: .*; continuing without it/m);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
});
