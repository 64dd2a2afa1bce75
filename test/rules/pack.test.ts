/**
 * The shipped rule pack on real processes: each rule is triggered by what it is meant to catch
 * and stays quiet for the look-alike it must not catch. A real daemon watches the machine (the
 * netlink source (and the uid, gid and ptrace rules on the eBPF one too); the eBPF one for filenames and
 * accepted connections); alerts are read back through the API. The look-alike always runs
 * first: once the trigger's alert is in, the look-alike's events were evaluated too.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { startRulesDaemon, sourceProblem, type RulesDaemon } from './harness.js';
import { uniqueTag, which } from '../helpers/spawn.js';
import type { Alert } from '../../src/alerts/types.js';
import { cgroup2Mount } from '../../src/procfs/cgroup.js';

const TAG = uniqueTag();
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : which('python3');
const SH = '/bin/sh';
const root = process.getuid?.() === 0;
// Binaries for the tests: /run is not world-writable (so only the writable-dir rule's own test runs from /tmp).
const runDir = mkdtempSync(join(existsSync('/run') ? '/run' : '/var/lib', `pw-pack-${TAG}-`));
const tmpDir = mkdtempSync(join('/tmp', `pw-pack-${TAG}-`));
chmodSync(runDir, 0o755);
const CONTAINER_ID = `${'ab'.repeat(16)}${TAG.padEnd(32, '0').slice(0, 32).replace(/[^0-9a-f]/g, 'c')}`;
const cgroupParent = `${cgroup2Mount() ?? '/nonexistent-cgroup2'}/pw-pack-${TAG}`;
const cgroupDir = `${cgroupParent}/docker-${CONTAINER_ID}.scope`;

const CONFIG = `
rules:
  lists:
    watched_services: {append: [pwsvc-${TAG}]}
    listener_local_networks: {replace: []}
  overrides:
    - rule: container-drift
      baseline: {learn: exec, group: process.container, window: 2s}
`;

let netlink: RulesDaemon | null = null;
let ebpf: RulesDaemon | null = null;
const netlinkSkip = root ? sourceProblem('netlink') : 'needs root';
const ebpfSkip = root ? sourceProblem('ebpf') : 'needs root';

before(async () => {
  if (!netlinkSkip) netlink = await startRulesDaemon({ source: 'netlink', yaml: CONFIG });
  if (!ebpfSkip) ebpf = await startRulesDaemon({ source: 'ebpf', yaml: CONFIG, daemonYaml: '  ebpf:\n    network: true\n' });
});
after(async () => {
  await netlink?.stop();
  await ebpf?.stop();
  rmSync(runDir, { recursive: true, force: true });
  rmSync(tmpDir, { recursive: true, force: true });
  try { rmdirSync(cgroupDir); rmdirSync(cgroupParent); } catch { /* not made */ }
});

/** A copy of a binary under a distinctive name in `dir`. */
function copy(from: string, dir: string, name: string): string {
  const to = join(dir, name);
  copyFileSync(from, to);
  chmodSync(to, 0o755);
  return to;
}
/** A symlink: exec'd through it, the process's name (comm) is the link's name. */
function link(to: string, name: string): string {
  const path = join(mkdtempSync(join(runDir, 'l-')), name);
  symlinkSync(to, path);
  return path;
}

/** Runs a program to its end; its pid and how it ended. */
/** Runs a copy of head (`-c 1`, reading its stdin) until `end()`; resolves once it runs its own image. */
async function startHeld(file: string): Promise<{ pid: number; end: () => void }> {
  const child = spawn(file, ['-c', '1'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const comm = file.slice(file.lastIndexOf('/') + 1).slice(0, 15);
  const until = Date.now() + 30_000;
  const commOf = (): string => { try { return readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim(); } catch { return ''; } };
  while (commOf() !== comm && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.equal(commOf(), comm, `${file} did not start`);
  return { pid: child.pid!, end: () => { child.stdin!.end('x'); } };
}

function runToEnd(file: string, args: string[], stdio: StdioOptions = 'ignore'): Promise<{ pid: number; code: number | null; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio });
    child.on('error', reject);
    child.stdin?.end('exit\n'); // a shell reading its stdin pipe gets a line, then EOF
    child.on('close', (code, signal) => resolve({ pid: child.pid!, code, signal }));
  });
}

const of = (rule: string, pid: number) => (a: Alert): boolean => a.name === rule && a.process?.pid === pid;
async function noAlert(d: RulesDaemon, rule: string, pid: number): Promise<void> {
  const got = (await d.alerts()).filter(of(rule, pid));
  assert.deepEqual(got.map((a) => a.message), [], `${rule} must not fire for pid ${pid}`);
}

const skipN = netlinkSkip ? { skip: netlinkSkip } : {};
const skipE = ebpfSkip ? { skip: ebpfSkip } : {};

test('exec-from-writable-dir: a binary run from /tmp fires; the same binary elsewhere does not', skipN, async () => {
  // The netlink source reads exe from /proc after the exec: each program (a copy of head, which
  // waits on its stdin) lives until the alert shows the daemon has read them, however late a
  // busy machine lets its reader run. The quiet one execs first, so it was read before.
  const quiet = await startHeld(copy('/usr/bin/head', runDir, `pwok-${TAG}`));
  const loud = await startHeld(copy('/usr/bin/head', tmpDir, `pwtmp-${TAG}`));
  const a = await netlink!.waitAlert('exec from /tmp', of('exec-from-writable-dir', loud.pid)).finally(() => { quiet.end(); loud.end(); });
  assert.equal(a.severity, 'error');
  assert.match(a.message, new RegExp(`pwtmp-${TAG}`));
  assert.equal(a.process?.exe, join(tmpDir, `pwtmp-${TAG}`));
  await noAlert(netlink!, 'exec-from-writable-dir', quiet.pid);
});

test('exec-from-writable-dir (eBPF): a script in /tmp fires by its filename, though its exe is the interpreter', skipE, async () => {
  const script = join(tmpDir, `pwscr-${TAG}.sh`);
  writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const okScript = join(runDir, `pwscr-${TAG}.sh`);
  writeFileSync(okScript, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const quiet = await runToEnd(okScript, []);
  const loud = await runToEnd(script, []);
  const a = await ebpf!.waitAlert('script from /tmp', of('exec-from-writable-dir', loud.pid));
  assert.match(a.message, new RegExp(`filename ${script.replace(/[.]/g, '\\.')}`));
  await noAlert(ebpf!, 'exec-from-writable-dir', quiet.pid);
});

test('exec-deleted-binary: a program exec\'d from a deleted file fires; the same file not deleted does not', skipN, async () => {
  const kept = copy('/bin/sleep', runDir, `pwkept-${TAG}`);
  const gone = copy('/bin/sleep', runDir, `pwgone-${TAG}`);
  const script = (path: string, unlink: boolean): string =>
    `import os\nfd = os.open(${JSON.stringify(path)}, os.O_RDONLY)\n${unlink ? `os.unlink(${JSON.stringify(path)})\n` : ''}os.execve(fd, ["x", "0.3"], {})\n`;
  const quiet = await runToEnd(PY!, ['-c', script(kept, false)]);
  const loud = await runToEnd(PY!, ['-c', script(gone, true)]);
  assert.equal(loud.code, 0);
  const a = await netlink!.waitAlert('exec of a deleted binary', of('exec-deleted-binary', loud.pid));
  assert.match(a.message, new RegExp(`pwgone-${TAG}`));
  await noAlert(netlink!, 'exec-deleted-binary', quiet.pid);
});

test('shell-under-network-service: a shell started by "nginx" fires; by another program it does not', skipE, async () => {
  const web = link(SH, 'nginx');
  const other = link(SH, `pwweb-${TAG}`);
  // The outer shell forks for the first command (another one follows), so the inner sh is its child.
  const body = `${SH} -c 'echo $$ > ${runDir}/PIDFILE'; exit 0`;
  await runToEnd(other, ['-c', body.replace('PIDFILE', 'quiet.pid')]);
  await runToEnd(web, ['-c', body.replace('PIDFILE', 'loud.pid')]);
  const pidOf = (f: string): number => Number(spawnSync('cat', [join(runDir, f)], { encoding: 'utf8' }).stdout.trim());
  const a = await ebpf!.waitAlert('a shell under nginx', of('shell-under-network-service', pidOf('loud.pid')));
  assert.equal(a.severity, 'critical');
  assert.match(a.message, /parent nginx/);
  await noAlert(ebpf!, 'shell-under-network-service', pidOf('quiet.pid'));
});

test('reverse-shell: a shell whose stdin and stdout are a TCP socket fires; one on pipes does not', skipN, async () => {
  const server = createServer((s) => { s.on('error', () => {}); setTimeout(() => s.end('exit\n'), 1500); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const quiet = await runToEnd(SH, ['-c', 'read line; exit 0'], ['pipe', 'pipe', 'ignore']);
    const socket: Socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const loud = await runToEnd(SH, ['-c', 'read line; exit 0'], [socket, socket, 'ignore']);
    socket.destroy();
    const a = await netlink!.waitAlert('a shell on a socket', of('reverse-shell', loud.pid));
    assert.match(a.message, /stdin tcp:127\.0\.0\.1:\d+/);
    await noAlert(netlink!, 'reverse-shell', quiet.pid);
  } finally {
    server.close();
  }
});

// uid, gid and ptrace changes: both sources report them (eBPF through its syscall tracepoints).
for (const [src, d, skip] of [['netlink', () => netlink!, skipN], ['ebpf', () => ebpf!, skipE]] as const) {
  test(`uid0-gained (${src}): a process that was uid 65534 becoming root fires; the same done by "sudo" does not`, skip, async () => {
    const script = 'import os, time\nos.setresuid(65534, 65534, 0)\ntime.sleep(0.05)\nos.setresuid(0, 0, 0)\ntime.sleep(0.05)\n';
    const quiet = await runToEnd(link(PY!, 'sudo'), ['-c', script]);
    const loud = await runToEnd(link(PY!, `pwpy-${TAG}-${src}`), ['-c', script]);
    assert.equal(loud.code, 0);
    const a = await d().waitAlert('uid 0 regained', of('uid0-gained', loud.pid));
    assert.match(a.message, /effective uid was 65534/);
    await noAlert(d(), 'uid0-gained', quiet.pid);
  });

  test(`ptrace-attach (${src}): strace attaching to a process it did not start fires; strace on its own child does not`, { ...skip, ...(which('strace') ? {} : { skip: 'needs strace' }) }, async () => {
    const strace = which('strace')!;
    const child = await runToEnd(strace, ['-qq', '-e', 'trace=none', '-o', '/dev/null', copy('/bin/sleep', runDir, `pwown-${TAG}-${src}`), '0.2']);
    assert.equal(child.code, 0);
    const victim = spawn(copy('/bin/sleep', runDir, `pwvic-${TAG}-${src}`), ['30'], { stdio: 'ignore' });
    try {
      const tracer = spawn(strace, ['-qq', '-e', 'trace=none', '-o', '/dev/null', '-p', String(victim.pid)], { stdio: 'ignore' });
      const a = await d().waitAlert('ptrace attach', of('ptrace-attach', victim.pid!));
      assert.match(a.message, new RegExp(`by pid ${tracer.pid}`));
      tracer.kill('SIGINT');
      const own = (await d().alerts()).filter((x) => x.name === 'ptrace-attach' && x.process?.comm === `pwown-${TAG}-${src}`);
      assert.deepEqual(own.map((x) => x.message), [], 'a debugger tracing its own child is left alone');
    } finally {
      victim.kill('SIGKILL');
    }
  });

  test(`gid0-not-uid0 (${src}): dropping the uid but keeping gid 0 fires; dropping the gid first does not`, skip, async () => {
    const quiet = await runToEnd(link(PY!, `pwgok-${TAG}-${src}`), ['-c', 'import os, time\nos.setgroups([])\nos.setresgid(65534, 65534, 65534)\nos.setresuid(65534, 65534, 65534)\ntime.sleep(0.05)\n']);
    const loud = await runToEnd(link(PY!, `pwgid-${TAG}-${src}`), ['-c', 'import os, time\nos.setgroups([])\nos.setresuid(65534, 65534, 65534)\ntime.sleep(0.05)\n']);
    const a = await d().waitAlert('gid 0, uid 65534', of('gid0-not-uid0', loud.pid));
    assert.match(a.message, /gid 0 but uid 65534/);
    await noAlert(d(), 'gid0-not-uid0', quiet.pid);
  });
}

test('service-abnormal-exit: a watched service exiting 3 fires; exiting 0 does not', skipE, async () => {
  const svc = link(SH, `pwsvc-${TAG}`);
  const quiet = await runToEnd(svc, ['-c', 'exit 0']);
  const loud = await runToEnd(svc, ['-c', 'exit 3']);
  assert.equal(loud.code, 3);
  const a = await ebpf!.waitAlert('abnormal exit', of('service-abnormal-exit', loud.pid));
  assert.match(a.message, /exit code 3/);
  await noAlert(ebpf!, 'service-abnormal-exit', quiet.pid);
  // Killed by SIGSEGV counts too; a stop by SIGTERM does not.
  const term = spawn(svc, ['-c', 'sleep 5'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  term.kill('SIGTERM');
  const segv = spawn(svc, ['-c', 'sleep 5'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  segv.kill('SIGSEGV');
  const s = await ebpf!.waitAlert('killed by SIGSEGV', of('service-abnormal-exit', segv.pid!));
  assert.match(s.message, /signal 11/);
  await noAlert(ebpf!, 'service-abnormal-exit', term.pid!);
});

test('container-drift (eBPF: the cgroup id at each exec): in a docker-named cgroup, a program first run after the learning window fires; one run in it does not', skipE, async (t) => {
  try {
    mkdirSync(cgroupParent);
    mkdirSync(cgroupDir);
  } catch (err) {
    if (process.env.PROCWATCH_REQUIRE_BPF === '1') throw err;
    t.skip(`cannot make a cgroup v2 directory: ${(err as Error).message}`);
    return;
  }
  const a = copy('/bin/true', runDir, `pwca-${TAG}`);
  const b = copy('/bin/true', runDir, `pwcb-${TAG}`);
  const marker = join(runDir, 'drift.pids');
  // The shell moves itself into the container's cgroup, runs A (learnt), waits out the 2 s window, runs A again and B.
  const r = await runToEnd(SH, ['-c', `echo $$ > ${cgroupDir}/cgroup.procs; ${a}; sleep 3; ${a}; ${b} & echo $! > ${marker}; wait`]);
  assert.equal(r.code, 0);
  const bPid = Number(spawnSync('cat', [marker], { encoding: 'utf8' }).stdout.trim());
  const alert = await ebpf!.waitAlert('drift', of('container-drift', bPid));
  assert.match(alert.message, new RegExp(`container ${CONTAINER_ID} \\(docker\\)`));
  assert.equal(alert.process?.container, CONTAINER_ID);
  const forA = (await ebpf!.alerts()).filter((x) => x.name === 'container-drift' && x.process?.exe === a);
  assert.deepEqual(forA.map((x) => x.message), [], 'A ran in the learning window: known');
});

test('unexpected-listener (eBPF): an unknown program accepting a connection fires; "nginx" does not', skipE, async () => {
  const serve = 'import socket\ns = socket.socket()\ns.bind(("127.0.0.1", 0))\ns.listen()\nprint(s.getsockname()[1], flush=True)\nc, _ = s.accept()\nc.close()\n';
  const listen = async (name: string): Promise<number> => {
    const child = spawn(link(PY!, name), ['-c', serve], { stdio: ['ignore', 'pipe', 'ignore'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('error', reject);
    });
    const c = connect(port, '127.0.0.1');
    c.on('error', () => {});
    await new Promise((r) => child.once('close', r));
    c.destroy();
    return child.pid!;
  };
  const quiet = await listen('nginx');
  const loud = await listen(`pwlis-${TAG}`);
  const a = await ebpf!.waitAlert('an unexpected listener', of('unexpected-listener', loud));
  assert.match(a.message, /accepted a connection on port \d+ from 127\.0\.0\.1/);
  await noAlert(ebpf!, 'unexpected-listener', quiet);
});
