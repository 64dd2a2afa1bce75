/**
 * The eBPF source on the real kernel (root): the shared contract; exact argv, exe, cwd and
 * start time for processes that live microseconds; exit codes and signals; threads counted
 * not reported; outbound connect and inbound accept with addresses, ports and pids; file
 * opens with path and flags under a prefix filter (and a uid filter), nothing outside it,
 * never procwatch's own; a full ring buffer reported as a `lost` event with a count; and
 * stop() that is idempotent and leaves no program loaded in the kernel.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ConnectEvent, AcceptEvent, OpenEvent, ProcEvent } from '../../src/events/types.js';
import { chooseSource, parseSourceChoice } from '../../src/sources/index.js';
import { createEbpfSource, ebpfAvailability, type EbpfOptions } from '../../src/sources/ebpf.js';
import { runSourceContract } from './contract.js';

const availability = ebpfAvailability({ network: true, files: true });
const skip = availability.available ? false : `SKIPPED: eBPF source unavailable here: ${availability.reason}`;
if (skip) console.error(`ebpf tests: ${skip}`);

const children: ChildProcess[] = [];
const tempDirs: string[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

runSourceContract({
  name: 'ebpf',
  create: () => (availability.available ? createEbpfSource({}) : availability.reason),
  lifetimeSeconds: 0.05,
  startKinds: ['exec'],
  endKinds: ['exit'],
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a source around `body`, returning every event delivered until stop() resolved. */
async function capture(options: EbpfOptions, body: () => Promise<void>): Promise<{ events: ProcEvent[]; counters: Record<string, number> }> {
  const source = createEbpfSource(options);
  const events: ProcEvent[] = [];
  await source.start((batch) => events.push(...batch));
  let counters: Record<string, number> = {};
  try {
    await body();
    await sleep(150); // the reader flushes within 20 ms; leave room on a loaded machine
    counters = { ...source.counters() };
  } finally {
    await source.stop();
  }
  return { events, counters };
}

function run(cmd: string, args: string[], options: { cwd?: string } = {}): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], cwd: options.cwd });
  children.push(child);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ pid: child.pid!, code, signal, stdout })));
}

test('auto prefers eBPF here and says so; ebpf can be asked for by name', { skip, timeout: 20_000 }, async () => {
  const auto = await chooseSource('auto');
  assert.equal(auto.source.name, 'ebpf');
  assert.match(auto.why, /eBPF/);
  const named = await chooseSource(parseSourceChoice('ebpf'));
  assert.equal(named.source.name, 'ebpf');
  assert.match(named.why, /eBPF, as asked/);
});

test('without the eBPF addon, auto falls back to netlink and says why', { skip, timeout: 20_000 }, () => {
  const index = new URL('../../src/sources/index.js', import.meta.url).href;
  const script = `const m = await import(${JSON.stringify(index)}); const c = await m.chooseSource('auto'); console.log(c.source.name + ' | ' + c.why);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 15_000, env: { ...process.env, PROCWATCH_BPF_ADDON: '/nonexistent/procbpf.node' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^netlink \| netlink proc connector \(eBPF unavailable: eBPF addon not built \(no \/nonexistent\/procbpf.node/);
});

test('exec storm of microsecond processes: every argv exact, every exit code 0, exe/cwd/start time right', { skip, timeout: 20_000 }, async () => {
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
    const child = spawn('/bin/sleep', ['2'], { stdio: 'ignore' });
    children.push(child);
    await sleep(100);
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
  for (const x of exits) if (x.kind === 'exit') assert.deepEqual(x.status, { code: 0, signal: null, coreDumped: false });
  const forks = events.filter((e) => e.kind === 'fork' && pids.has(e.pid));
  assert.equal(forks.length, N, 'every one seen forking');
  for (const f of forks) if (f.kind === 'fork') assert.equal(f.parentPid, shellPid);
  const sleepExec = events.find((e) => e.kind === 'exec' && e.pid === sleeper.pid);
  assert.ok(sleepExec?.kind === 'exec');
  assert.equal(sleepExec.details.startTicks, Number(sleeper.startTicks), 'start ticks equal /proc/PID/stat field 22');
  assert.equal(counters.lost, 0);
});

test('exit status: a code, a signal, the parent; a thread is counted, not reported as an exit', { skip, timeout: 20_000 }, async () => {
  let coded = 0;
  let killed = 0;
  let threads = { forks: 0, exits: 0 };
  const { events, counters } = await capture({}, async () => {
    coded = (await run('/bin/sh', ['-c', 'exit 7'])).pid;
    const k = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    children.push(k);
    const done = new Promise((r) => k.on('exit', r));
    await sleep(50);
    k.kill('SIGKILL');
    await done;
    killed = k.pid!;
    const w = new Worker('0', { eval: true });
    await new Promise((r) => w.on('exit', r));
  });
  threads = { forks: counters.threadForks ?? 0, exits: counters.threadExits ?? 0 };
  const exitOf = (pid: number) => events.find((e) => e.kind === 'exit' && e.pid === pid);
  const c = exitOf(coded);
  assert.ok(c?.kind === 'exit');
  assert.deepEqual(c.status, { code: 7, signal: null, coreDumped: false });
  assert.equal(c.rawCode, 7 << 8);
  assert.equal(c.parentPid, process.pid);
  assert.equal(c.tid, coded);
  const k = exitOf(killed);
  assert.ok(k?.kind === 'exit');
  assert.deepEqual(k.status, { code: null, signal: 9, coreDumped: false });
  assert.ok(threads.forks >= 1 && threads.exits >= 1, `worker thread counted: ${JSON.stringify(threads)}`);
  assert.ok(!events.some((e) => e.pid === process.pid && (e.kind === 'exit' || e.kind === 'fork')), 'our own threads are not process events');
});

test('network capture: a connect to a local listener and its accept, with addresses, ports and pids', { skip, timeout: 20_000 }, async () => {
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

test('file capture: opens under the prefix with path, flags and result; nothing outside it; uid filter', { skip, timeout: 20_000 }, async () => {
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

test('a full ring buffer becomes a lost event with a count', { skip, timeout: 20_000 }, async () => {
  const N = 300;
  let shellPid = 0;
  const { events, counters } = await capture({ ringBytes: 4096, debugStallMs: 1500 }, async () => {
    shellPid = (await run('/bin/sh', ['-c', `i=0; while [ $i -lt ${N} ]; do /bin/true; i=$((i+1)); done`])).pid;
    await sleep(1800); // the reader wakes from its stall and reads the kernel's counter
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

test('stop twice is fine, and afterwards the kernel no longer has our programs', { skip, timeout: 20_000 }, async () => {
  const source = createEbpfSource({ network: true, files: true, pathPrefix: '/nonexistent-pw/' });
  await source.start(() => undefined);
  const ids = source.programIds();
  assert.equal(ids.length, 9, 'exec, fork, exit, connect x2, accept x2, openat x2');
  const bpftool = ['/usr/sbin/bpftool', '/usr/bin/bpftool', '/sbin/bpftool'].find((p) => existsSync(p));
  if (bpftool !== undefined) assert.equal(spawnSync(bpftool, ['prog', 'show', 'id', String(ids[0])]).status, 0, 'bpftool sees it while running');
  assert.ok(ids.every((id) => heldProgramIds().includes(id)));
  await source.stop();
  await source.stop();
  assert.deepEqual(source.programIds(), []);
  assert.ok(!heldProgramIds().some((id) => ids.includes(id)), 'no program fd left open');
  if (bpftool === undefined) {
    console.error('ebpf tests: bpftool not installed; checked our fds only');
    return;
  }
  const until = Date.now() + 2000;
  let still = ids;
  while (still.length > 0 && Date.now() < until) {
    still = still.filter((id) => spawnSync(bpftool, ['prog', 'show', 'id', String(id)]).status === 0);
    if (still.length > 0) await sleep(50);
  }
  assert.deepEqual(still, [], 'bpftool prog show finds none of our programs');
});

test('network/file capture mounts tracefs itself when it is not mounted', { skip, timeout: 20_000 }, async () => {
  const mounted = (): boolean => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === '/sys/kernel/tracing');
  if (mounted()) {
    // Lazy: whoever holds it keeps using it; new lookups no longer see it.
    const r = spawnSync('umount', ['-l', '/sys/kernel/tracing'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `umount -l /sys/kernel/tracing: ${r.stderr}`);
  }
  assert.equal(existsSync('/sys/kernel/tracing/events'), false, 'tracefs is gone before the test');
  const source = createEbpfSource({ network: true });
  await source.start(() => undefined);
  try {
    assert.ok(mounted(), 'the source mounted tracefs');
    assert.ok(existsSync('/sys/kernel/tracing/events/syscalls/sys_enter_connect'), 'and found the syscall tracepoints through it');
  } finally {
    await source.stop();
  }
});

/** Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid system). */
function cgroup2Root(): string | null {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2' && mountPoint !== undefined) return mountPoint;
  }
  return null;
}

test('cgroup filter: only tasks in the cgroup (or below) are reported, in the kernel', { skip, timeout: 20_000 }, async () => {
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
