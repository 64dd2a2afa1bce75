/**
 * Behaviour capture by the eBPF source on the real kernel (root), as issue 18 lists it:
 * per-process syscall counts (a program making a known number of getpid calls has exactly
 * that count; running processes' counts at the interval, only when they changed; a full
 * kernel table is a counted `lost` event that does not resync the table); TCP sessions (a
 * transfer of known sizes between two processes over loopback: one session each side with
 * those byte counts, ±1%, the direction, the owner and the duration; a refused connect is no
 * session; a full table is a counted loss); shell lines (an interactive bash under a
 * pseudo-terminal, run as nobody, typing a builtin, a pipeline and a redirection: each line
 * exactly, with its user, cwd and tty; a secret redacted before anyone sees it; a bash binary
 * without readline reported, not guessed; a bash first exec'd after the start watched too).
 *
 * With PROCWATCH_REQUIRE_BPF=1 (CI) a missing eBPF capability fails instead of skipping.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecEvent, LostEvent, ProcEvent, SessionEvent, ShellEvent, SyscallsEvent } from '../../src/events/types.js';
import { createEbpfSource, ebpfAvailability, type EbpfOptions } from '../../src/sources/ebpf.js';
import { descendantPids, waitFor } from '../helpers/spawn.js';

const REQUIRE_BPF = process.env.PROCWATCH_REQUIRE_BPF === '1';
const availability = ebpfAvailability({ network: true });
const skip = availability.available || REQUIRE_BPF ? false : `SKIPPED: eBPF source unavailable here: ${availability.reason}`;
if (skip) console.error(`ebpf capture tests: ${skip}`);

const children: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/**
 * A tiny C program: N getpid() calls through syscall(2) (no libc caching), then, if asked,
 * waits for a line on stdin and makes M more before it exits.
 */
let getpidProgram = '';
before(() => {
  if (skip) return;
  const dir = tempDir('pwcap-bin-');
  const src = join(dir, 'getpids.c');
  writeFileSync(src, `#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  long n = atol(argv[1]), m = argc > 2 ? atol(argv[2]) : 0;
  for (long i = 0; i < n; i++) syscall(SYS_getpid);
  if (argc > 2) {
    char c;
    if (read(0, &c, 1) != 1) return 2;
    for (long i = 0; i < m; i++) syscall(SYS_getpid);
  }
  return 0;
}
`);
  getpidProgram = join(dir, 'getpids');
  const cc = spawnSync('cc', ['-O1', '-o', getpidProgram, src], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `cc failed: ${cc.stderr}`);
});

/** A running source and everything it delivered so far. */
async function startCapture(options: EbpfOptions): Promise<{ events: ProcEvent[]; problems: string[]; counters: () => Record<string, number>; stop: () => Promise<Record<string, number>> }> {
  const source = createEbpfSource(options);
  const events: ProcEvent[] = [];
  const problems: string[] = [];
  await source.start((batch) => events.push(...batch), (p) => problems.push(p.message));
  return {
    events,
    problems,
    counters: () => ({ ...source.counters() }) as Record<string, number>,
    stop: async () => {
      await source.stop(); // every batch delivered: the counters include the last lost records
      return { ...source.counters() } as Record<string, number>;
    },
  };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));
}

const isSyscalls = (e: ProcEvent): e is SyscallsEvent => e.kind === 'syscalls';
const isLost = (e: ProcEvent): e is LostEvent => e.kind === 'lost';

// ---- syscall counts ---------------------------------------------------------------------------

test('the eBPF source is available here (required in CI)', { skip }, () => {
  assert.ok(availability.available, `eBPF source unavailable: ${availability.reason}`);
});

test('syscall counts: a program making 100,000 getpid calls has exactly that count when it exits', { skip, timeout: 90_000 }, async () => {
  const N = 100_000;
  const cap = await startCapture({ syscalls: true });
  let pid = 0;
  try {
    const child = spawn(getpidProgram, [String(N)], { stdio: 'ignore' });
    children.push(child);
    pid = child.pid!;
    assert.equal(await exited(child), 0);
    await waitFor(`the final syscall profile of pid ${pid}`, () => cap.events.some((e) => isSyscalls(e) && e.pid === pid && e.final), 30_000);
  } finally {
    await cap.stop();
  }
  const profiles = cap.events.filter((e): e is SyscallsEvent => isSyscalls(e) && e.pid === pid);
  assert.equal(profiles.length, 1, 'one profile, at the exit (no interval was asked for)');
  const p = profiles[0]!;
  assert.equal(p.final, true);
  assert.equal(p.counts.getpid, N, `getpid counted ${p.counts.getpid} times: ${JSON.stringify(p.counts)}`);
  assert.equal(p.counts.exit_group, 1, 'the exit itself is counted');
  assert.ok((p.counts.execve ?? 0) >= 1, 'and the exec that started the program');
  assert.equal(p.total, Object.values(p.counts).reduce((a, b) => a + b, 0));
  const exec = cap.events.find((e): e is ExecEvent => e.kind === 'exec' && e.pid === pid);
  assert.equal(p.startTicks, exec?.details.startTicks, 'the profile names the process instance (pid and start time)');
});

test('syscall counts at the interval: a running process\'s counts arrive while it runs, again only when they changed', { skip, timeout: 90_000 }, async () => {
  const cap = await startCapture({ syscalls: true, syscallsIntervalMs: 100 });
  let pid = 0;
  try {
    const child = spawn(getpidProgram, ['1000', '500'], { stdio: ['pipe', 'ignore', 'ignore'] });
    children.push(child);
    pid = child.pid!;
    const first = await waitFor('a snapshot with 1,000 getpid calls', () => cap.events.find((e): e is SyscallsEvent => isSyscalls(e) && e.pid === pid && e.counts.getpid === 1000), 30_000);
    assert.equal(first.final, false);
    // Blocked in read(2): nothing changes, so three more intervals bring no new snapshot.
    const seen = cap.events.filter((e) => isSyscalls(e) && e.pid === pid).length;
    const intervalsLater = Date.now() + 400;
    await waitFor('400 ms', () => Date.now() >= intervalsLater, 2000);
    const unchanged = cap.events.filter((e) => isSyscalls(e) && e.pid === pid).length;
    assert.ok(unchanged <= seen + 1, `a blocked process sent ${unchanged - seen} more snapshots (at most one: the read may have been counted after the first)`);
    child.stdin!.end('x');
    assert.equal(await exited(child), 0);
    await waitFor('the final profile', () => cap.events.some((e) => isSyscalls(e) && e.pid === pid && e.final), 30_000);
  } finally {
    await cap.stop();
  }
  const profiles = cap.events.filter((e): e is SyscallsEvent => isSyscalls(e) && e.pid === pid);
  const final = profiles.at(-1)!;
  assert.equal(final.final, true, 'the last one is the exit\'s');
  assert.equal(final.counts.getpid, 1500);
  for (let i = 1; i < profiles.length; i++) assert.ok(profiles[i]!.total >= profiles[i - 1]!.total, 'counts only grow');
  assert.ok(profiles.slice(0, -1).every((p) => !p.final), 'only one final profile');
});

test('a full syscall table is a lost event (scope syscalls, a count) and no table resync', { skip, timeout: 90_000 }, async () => {
  const cap = await startCapture({ syscalls: true, debugSyscallTableMax: 2 });
  let counters: Record<string, number> = {};
  try {
    // More processes making syscalls at once than the table holds (2 entries).
    const sleepers = Array.from({ length: 4 }, () => spawn(getpidProgram, ['10', '10'], { stdio: ['pipe', 'ignore', 'ignore'] }));
    children.push(...sleepers);
    await waitFor('a lost event for syscalls', () => cap.events.some((e) => isLost(e) && e.scope === 'syscalls'), 30_000, 20);
    for (const s of sleepers) s.stdin!.end('x');
    await Promise.all(sleepers.map(exited));
  } finally {
    counters = await cap.stop();
  }
  const lost = cap.events.filter((e): e is LostEvent => isLost(e) && e.scope === 'syscalls');
  const total = lost.reduce((n, e) => n + (e.count ?? 0), 0);
  assert.ok(total > 0, 'each lost event says how many syscalls were not counted');
  assert.equal(counters.syscallTableLost, total, 'the counter agrees with the lost events');
  assert.match(lost[0]!.reason, /syscalls not counted: the kernel's table of processes was full/);
  assert.ok(cap.events.every((e) => !isLost(e) || e.scope === 'syscalls'), 'nothing else was lost');
});

// ---- TCP sessions ------------------------------------------------------------------------------

/** A node child: listens on 127.0.0.1 (or ::1), reads `expect` bytes, answers `reply` bytes, ends. */
const SERVER = `
const net = require('net');
const [expect, reply, host] = process.argv.slice(1).map((a, i) => (i < 2 ? Number(a) : a));
const server = net.createServer((s) => {
  let got = 0;
  s.on('data', (d) => {
    got += d.length;
    if (got === expect) s.end(Buffer.alloc(reply, 0x61));
  });
  s.on('close', () => { console.log('got ' + got); server.close(); });
});
server.listen(0, host, () => console.log('port ' + server.address().port));
`;
/** A node child: connects, sends `send` bytes, reads until the server ends, closes. */
const CLIENT = `
const net = require('net');
const [port, send, host] = process.argv.slice(1).map((a, i) => (i < 2 ? Number(a) : a));
const s = net.connect(port, host, () => s.write(Buffer.alloc(send, 0x62)));
let got = 0;
s.on('data', (d) => (got += d.length));
s.on('end', () => { console.log('got ' + got); s.end(); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(3); });
`;

function lines(child: ChildProcess): string[] {
  const out: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    out.push(...parts);
  });
  return out;
}

async function transfer(host: string, send: number, reply: number): Promise<{ server: number; client: number }> {
  const server = spawn(process.execPath, ['-e', SERVER, String(send), String(reply), host], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  const serverOut = lines(server);
  const port = await waitFor('the listener\'s port', () => serverOut.find((l) => l.startsWith('port '))?.slice(5), 30_000);
  const client = spawn(process.execPath, ['-e', CLIENT, port, String(send), host], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(client);
  const clientOut = lines(client);
  assert.equal(await exited(client), 0, `client: ${clientOut.join(' | ')}`);
  assert.equal(await exited(server), 0);
  assert.deepEqual(clientOut, [`got ${reply}`]);
  assert.deepEqual(serverOut.slice(1), [`got ${send}`]);
  return { server: server.pid!, client: client.pid! };
}

const isSession = (e: ProcEvent): e is SessionEvent => e.kind === 'session';
const within1pct = (got: number, want: number): boolean => Math.abs(got - want) <= want * 0.01;

for (const host of ['127.0.0.1', '::1']) {
  test(`TCP sessions (${host}): a transfer of known sizes is one session each side, with those bytes, direction, owner and duration`, { skip, timeout: 90_000 }, async () => {
    const SEND = 3_000_000;
    const REPLY = 1_000_000;
    const cap = await startCapture({ sessions: true });
    let pids = { server: 0, client: 0 };
    try {
      pids = await transfer(host, SEND, REPLY);
      await waitFor('both sessions', () => [pids.client, pids.server].every((pid) => cap.events.some((e) => isSession(e) && e.pid === pid)), 30_000);
    } finally {
      await cap.stop();
    }
    const mine = (pid: number): SessionEvent[] => cap.events.filter((e): e is SessionEvent => isSession(e) && e.pid === pid);
    assert.equal(mine(pids.client).length, 1, 'one session for the client');
    assert.equal(mine(pids.server).length, 1, 'one session for the server');
    const c = mine(pids.client)[0]!;
    const s = mine(pids.server)[0]!;
    assert.equal(c.direction, 'connect');
    assert.equal(s.direction, 'accept');
    assert.ok(within1pct(c.bytesSent, SEND) && within1pct(c.bytesReceived, REPLY), `client sent ${c.bytesSent} (${SEND}), received ${c.bytesReceived} (${REPLY})`);
    assert.ok(within1pct(s.bytesSent, REPLY) && within1pct(s.bytesReceived, SEND), `server sent ${s.bytesSent} (${REPLY}), received ${s.bytesReceived} (${SEND})`);
    // Better than the 1% asked for: the SYN and FINs the socket's counters include are taken out.
    assert.deepEqual([c.bytesSent, c.bytesReceived, s.bytesSent, s.bytesReceived], [SEND, REPLY, REPLY, SEND], 'exact byte counts');
    assert.equal(c.family, host.includes(':') ? 'ipv6' : 'ipv4');
    assert.equal(c.remoteAddress, host);
    assert.equal(c.localAddress, host);
    assert.equal(c.remotePort, s.localPort, 'the client reached the server\'s port');
    assert.equal(s.remotePort, c.localPort);
    for (const e of [c, s]) {
      assert.equal(e.uid, 0);
      assert.ok(e.durationNs !== null && e.durationNs > 0 && e.establishedNs !== null && e.establishedNs < e.ktimeNs);
      const exec = cap.events.find((x): x is ExecEvent => x.kind === 'exec' && x.pid === e.pid);
      assert.equal(e.startTicks, exec?.details.startTicks, 'the owner is named by its instance');
    }
  });
}

test('TCP sessions: a refused connect is no session; a full table is a counted loss (scope session)', { skip, timeout: 90_000 }, async () => {
  const cap = await startCapture({ sessions: true, debugSessionTableMax: 1 });
  let counters: Record<string, number> = {};
  let refusedPid = 0;
  try {
    // A port nobody listens on: find one by listening and closing (the kernel does not reuse it at once).
    const probe = spawn(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close();})"], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(probe);
    const out = lines(probe);
    await exited(probe);
    const refused = spawn(process.execPath, ['-e', CLIENT, out[0]!, '10', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(refused);
    refusedPid = refused.pid!;
    assert.equal(await exited(refused), 3, 'the connect was refused');
    // Two transfers at once with room for one socket in the kernel's table.
    await Promise.all([transfer('127.0.0.1', 1000, 1000), transfer('127.0.0.1', 1000, 1000)]);
    await waitFor('a lost event for sessions', () => cap.events.some((e) => e.kind === 'lost' && e.scope === 'session'), 30_000, 20);
  } finally {
    counters = await cap.stop();
  }
  assert.ok(!cap.events.some((e) => isSession(e) && e.pid === refusedPid), 'a connect that never connected is not a session');
  const lost = cap.events.filter((e): e is LostEvent => isLost(e) && e.scope === 'session');
  assert.equal(counters.sessionTableLost, lost.reduce((n, e) => n + (e.count ?? 0), 0));
  assert.ok(counters.sessionTableLost! > 0);
});

test('TCP sessions: a connection established before capture began is reported at its close, owner and start unknown', { skip, timeout: 90_000 }, async () => {
  // The server waits for a line on stdin before it answers, so the connection is up first.
  const server = spawn(process.execPath, ['-e', `
const net = require('net');
const server = net.createServer((s) => {
  let got = 0;
  s.on('data', (d) => { got += d.length; });
  process.stdin.once('data', () => s.end(Buffer.alloc(5000, 0x61)));
  s.on('close', () => server.close());
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));`], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(server);
  const out = lines(server);
  const port = await waitFor('the port', () => out.find((l) => l.startsWith('port '))?.slice(5), 30_000);
  const client = spawn(process.execPath, ['-e', CLIENT, port, '7000', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(client);
  const clientOut = lines(client);
  await waitFor('the connection', () => spawnSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' }).stdout.trim() !== '', 30_000, 50);
  const cap = await startCapture({ sessions: true });
  try {
    server.stdin!.end('go\n');
    assert.equal(await exited(client), 0);
    assert.deepEqual(clientOut, ['got 5000']);
    await waitFor('two earlier sessions on the port', () => cap.events.filter((e) => isSession(e) && (e.localPort === Number(port) || e.remotePort === Number(port))).length === 2, 30_000);
  } finally {
    await cap.stop();
  }
  const seen = cap.events.filter((e): e is SessionEvent => isSession(e) && (e.localPort === Number(port) || e.remotePort === Number(port)));
  for (const e of seen) {
    assert.equal(e.direction, null);
    assert.equal(e.establishedNs, null);
    assert.equal(e.durationNs, null);
    assert.equal(e.pid, 0);
    assert.equal(e.startTicks, null);
  }
  const fromServer = seen.find((e) => e.localPort === Number(port))!;
  assert.equal(fromServer.bytesSent, 5000, 'the socket\'s own counters: the whole connection');
  assert.equal(fromServer.bytesReceived, 7000);
});

// ---- shell lines --------------------------------------------------------------------------------

const PROMPT = 'PW-PROMPT> ';

/**
 * An interactive bash under a pseudo-terminal (script(1)), run as nobody in `cwd`, with no rc
 * files and no history file. type() sends a line and waits for the next prompt: never a fixed wait.
 */
function interactiveBash(bash: string, cwd: string): { pid: () => number | null; type: (line: string) => Promise<void>; exit: () => Promise<number | null>; ready: Promise<void> } {
  const inner = `setpriv --reuid=65534 --regid=65534 --clear-groups env -i HISTFILE=/dev/null TERM=dumb 'PS1=${PROMPT}' ${bash} --norc --noprofile -i`;
  const child = spawn('script', ['-qfc', inner, '/dev/null'], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const prompts = (): number => out.split(PROMPT).length - 1;
  const ready = waitFor(`bash's first prompt (output so far: ${JSON.stringify(out.slice(-200))})`, () => prompts() >= 1, 30_000, 20).then(() => undefined);
  return {
    // script runs the command through $SHELL -c, which may exec it or stay as its parent (and may
    // itself be a bash, as root): ours is the bash below script that runs as nobody.
    pid: () => {
      const pids = descendantPids(child.pid!, 'bash').filter((pid) => ownerUid(pid) === 65534);
      return pids.length === 1 ? pids[0]! : null;
    },
    ready,
    type: async (line: string) => {
      const before = prompts();
      child.stdin!.write(`${line}\n`);
      await waitFor(`the prompt after '${line.slice(0, 40)}' (output: ${JSON.stringify(out.slice(-300))})`, () => prompts() > before, 30_000, 20);
    },
    /** Types `exit` (no prompt follows) and waits for script to end. */
    exit: () => {
      child.stdin!.end('exit\n');
      return exited(child);
    },
  };
}

/** The effective uid a process runs as (its /proc directory's owner), or null once it is gone. */
function ownerUid(pid: number): number | null {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return null;
  }
}

const isShell = (e: ProcEvent): e is ShellEvent => e.kind === 'shell';

test('shell: a builtin, a pipeline and a redirection typed in an interactive bash appear exactly, with user, cwd and tty; a secret is redacted', { skip, timeout: 60_000 }, async () => {
  const cwd = tempDir('pwcap-sh-');
  chmodSync(cwd, 0o777); // nobody may write the redirection's file here
  const lines = ['cd /tmp', `echo x > ${cwd}/out.txt`, 'echo hello | tr a-z A-Z | wc -c', 'export DB_PASSWORD=hunter2 MODE=fast', 'echo "two  spaces" ;  history -c'];
  const cap = await startCapture({ shell: true, shellRedact: ['/(?:pass(?:word)?|secret)[A-Za-z0-9_]*=(\\S+)/i'] });
  let bashPid: number | null = null;
  try {
    const sh = interactiveBash('/bin/bash', cwd);
    await sh.ready;
    bashPid = sh.pid();
    assert.ok(bashPid !== null, 'the bash under script');
    for (const line of lines) await sh.type(line);
    assert.equal(await sh.exit(), 0);
    // Other jobs on this machine may type into a bash too: the lines are those of ours.
    await waitFor('the exit line', () => cap.events.some((e) => isShell(e) && e.pid === bashPid && e.line === 'exit'), 30_000);
  } finally {
    await cap.stop();
  }
  const shell = cap.events.filter(isShell).filter((e) => e.pid === bashPid);
  assert.deepEqual(shell.map((e) => e.line), [...lines.slice(0, 3), 'export DB_PASSWORD=[REDACTED] MODE=fast', lines[4], 'exit'], 'every line, exactly, in order');
  assert.deepEqual(shell.map((e) => e.redacted), [false, false, false, true, false, false]);
  const bash = shell[0]!.pid;
  if (bashPid !== null) assert.equal(bash, bashPid, 'the lines are the bash process\'s');
  for (const e of shell) {
    assert.equal(e.pid, bash);
    assert.equal(e.uid, 65534, 'the user typing: nobody');
    assert.equal(e.euid, 65534);
    assert.match(e.tty ?? '', /^pts\/\d+$/);
    assert.equal(e.lineTruncated, false);
  }
  assert.equal(shell[0]!.cwd, realpathSync(cwd), 'cd /tmp was typed in the start directory');
  assert.ok(shell.slice(1).every((e) => e.cwd === '/tmp'), 'and the later lines in /tmp');
  const exec = cap.events.find((e): e is ExecEvent => e.kind === 'exec' && e.pid === bash && e.details.comm === 'bash');
  assert.equal(shell[0]!.startTicks, exec?.details.startTicks, 'the shell is named by its instance');
  assert.ok(!JSON.stringify(cap.events).includes('hunter2'), 'the secret never left the source');
});

test('shell: a binary without readline is reported, not guessed; a missing one too; a bash exec\'d after the start is watched', { skip, timeout: 60_000 }, async () => {
  const dir = tempDir('pwcap-bash-');
  chmodSync(dir, 0o755);
  const fake = join(dir, 'fakebash');
  copyFileSync('/bin/true', fake);
  const copy = join(dir, 'bash');
  copyFileSync('/bin/bash', copy); // another file (inode), found only when it runs
  chmodSync(copy, 0o755);
  const cap = await startCapture({ shell: true, shellBinaries: ['/bin/bash', fake, join(dir, 'missing')] });
  try {
    assert.ok(cap.problems.some((p) => p.includes(`${fake} has no readline symbol`)), cap.problems.join(' | '));
    assert.ok(cap.problems.some((p) => p.includes(`${join(dir, 'missing')} not found`)), cap.problems.join(' | '));
    const before = cap.counters().shellAttached!;
    const sh = interactiveBash(copy, dir);
    await sh.ready;
    // The uprobe goes on when the exec is seen; the line being read at that moment began before it.
    await waitFor('the new bash binary watched', () => cap.counters().shellAttached! > before, 30_000);
    await sh.type('true first');
    await sh.type('echo from the copy');
    await sh.exit();
    await waitFor('a line from the copy', () => cap.events.some((e) => isShell(e) && e.line === 'echo from the copy'), 30_000);
    // Its exit line comes after, and the capture stops below: wait for it too.
    await waitFor('the exit line of the copy', () => {
      const ran = cap.events.find((e): e is ExecEvent => e.kind === 'exec' && e.details.exe === copy);
      return ran !== undefined && cap.events.some((e) => isShell(e) && e.pid === ran.pid && e.line === 'exit');
    }, 30_000);
  } finally {
    await cap.stop();
  }
  const exec = cap.events.find((e): e is ExecEvent => e.kind === 'exec' && e.details.exe === copy);
  assert.ok(exec, 'the copy ran');
  assert.ok(cap.events.some((e) => isShell(e) && e.pid === exec.pid && e.line === 'exit'));
});

test('shell: a line longer than 4,095 bytes is cut there and marked', { skip, timeout: 60_000 }, async () => {
  const cwd = tempDir('pwcap-long-');
  chmodSync(cwd, 0o755);
  const long = `: ${'x'.repeat(5000)}`;
  const cap = await startCapture({ shell: true });
  try {
    const sh = interactiveBash('/bin/bash', cwd);
    await sh.ready;
    const bashPid = sh.pid();
    await sh.type(long);
    await sh.exit();
    await waitFor('the exit line', () => cap.events.some((e) => isShell(e) && e.pid === bashPid && e.line === 'exit'), 30_000);
  } finally {
    await cap.stop();
  }
  const cut = cap.events.find((e): e is ShellEvent => isShell(e) && e.line.startsWith(': x'));
  assert.ok(cut);
  assert.equal(cut.line, long.slice(0, 4095));
  assert.equal(cut.lineTruncated, true);
});
