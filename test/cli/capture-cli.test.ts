/**
 * Behaviour capture end to end, as users run it: a daemon with daemon.ebpf.shell,
 * network: sessions and syscalls: counts in its config; an interactive bash typing lines
 * (one with a secret), a TCP transfer, a getpid loop; then `events -k shell -u nobody`,
 * `events -k session`, `history --syscalls KEY` and the database itself: what is stored is
 * redacted, the session has its bytes, the profile its count. Also `watch` with the new
 * flags, and bad config and flags refused in one line.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { BIN, procwatch } from '../helpers/cli.js';
import { waitFor } from '../helpers/spawn.js';

const REQUIRE_BPF = process.env.PROCWATCH_REQUIRE_BPF === '1';
const ebpf = ebpfAvailability({ sessions: true, shell: true, syscalls: true });
const skip = ebpf.available || REQUIRE_BPF ? false : `SKIPPED: needs the eBPF source (${ebpf.reason})`;
if (skip) console.error(`capture-cli: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'pw-capcli-'));
chmodSync(dir, 0o755);
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (code) => resolve(code))));
}

function sql(db: string, query: string): string {
  const r = spawnSync('sqlite3', [db, query], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function startDaemon(name: string, config: string): Promise<{ proc: ChildProcess; socket: string; db: string; log: () => string }> {
  const socket = join(dir, `${name}.sock`);
  const db = join(dir, `${name}.db`);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, config);
  let log = '';
  const proc = spawn(process.execPath, [BIN, 'daemon', '--config', file, '--database', db, '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  await waitFor(`the daemon's API (log: ${log})`, () => log.includes('API on') || proc.exitCode !== null, 30_000, 50);
  assert.ok(log.includes('API on'), `daemon did not start: ${log}`);
  return { proc, socket, db, log: () => log };
}

const PROMPT = 'PW-CLI> ';

/** Types lines into an interactive bash (as nobody, under script(1)), each after the previous prompt. */
async function typeInBash(cwd: string, lines: string[]): Promise<void> {
  const inner = `setpriv --reuid=65534 --regid=65534 --clear-groups env -i HISTFILE=/dev/null TERM=dumb 'PS1=${PROMPT}' bash --norc --noprofile -i`;
  const child = spawn('script', ['-qfc', inner, '/dev/null'], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const prompts = (): number => out.split(PROMPT).length - 1;
  await waitFor(`bash's first prompt (output: ${JSON.stringify(out.slice(-200))})`, () => prompts() >= 1, 30_000, 20);
  for (const line of lines) {
    const before = prompts();
    child.stdin!.write(`${line}\n`);
    await waitFor(`the prompt after '${line}' (output: ${JSON.stringify(out.slice(-200))})`, () => prompts() > before, 30_000, 20);
  }
  child.stdin!.end('exit\n');
  assert.equal(await exited(child), 0);
}

/** A TCP transfer between two child processes: the client sends `send` bytes, the server answers `reply`. */
async function transfer(send: number, reply: number): Promise<{ client: number; server: number }> {
  const server = spawn(process.execPath, ['-e', `
const net = require('net');
const s = net.createServer((c) => { let got = 0; c.on('data', (d) => { got += d.length; if (got === ${send}) c.end(Buffer.alloc(${reply})); }); c.on('close', () => s.close()); });
s.listen(0, '127.0.0.1', () => console.log(s.address().port));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  let port = '';
  server.stdout!.on('data', (d: Buffer) => (port += d.toString()));
  await waitFor('the listener', () => port.includes('\n'), 30_000);
  const client = spawn(process.execPath, ['-e', `
const c = require('net').connect(${Number(port)}, '127.0.0.1', () => c.write(Buffer.alloc(${send})));
c.on('data', () => {}); c.on('end', () => c.end());`], { stdio: 'ignore' });
  children.push(client);
  assert.equal(await exited(client), 0);
  assert.equal(await exited(server), 0);
  return { client: client.pid!, server: server.pid! };
}

test('daemon with shell, sessions and syscall counts: stored redacted, queryable by kind and user, profile by key', { skip, timeout: 120_000 }, async () => {
  const d = await startDaemon('all', `daemon:
  source: ebpf
  flush_interval_ms: 50
  ebpf:
    network: sessions
    syscalls: counts
    syscalls_interval: 1s
    shell: true
    shell_redact: ['/pass(?:word)?[A-Za-z_]*=(\\S+)/i']
`);
  const cwd = mkdtempSync(join(dir, 'sh-'));
  chmodSync(cwd, 0o755);
  await typeInBash(cwd, ['cd /', 'ls /etc | wc -l', 'export PASSWORD=hunter2 KEEP=1']);
  const { client, server } = await transfer(200_000, 50_000);
  const getpids = spawn('python3', ['-c', 'import os\nfor i in range(5000): os.getpid()'], { stdio: 'ignore' });
  children.push(getpids);
  assert.equal(await exited(getpids), 0);

  // events -k shell -u nobody: the three lines, the secret redacted, as the API and the CLI show them.
  type ShellRow = { line: string; redacted: boolean; uid: number; cwd: string; key: string };
  const rows = await waitFor<ShellRow[]>('four shell lines stored', () => {
    const r = spawnSync(process.execPath, [BIN, 'events', '--socket', d.socket, '-k', 'shell', '-u', 'nobody', '--json'], { encoding: 'utf8' });
    const found = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ShellRow);
    // Other tests may type into a bash of their own as nobody meanwhile: ours typed its first line in cwd.
    const key = found.find((f) => f.line === 'cd /' && f.cwd === realpathSync(cwd))?.key;
    const mine = found.filter((f) => f.key === key);
    return mine.length >= 4 ? mine : null;
  }, 20_000, 200);
  assert.deepEqual(rows.map((r) => r.line), ['cd /', 'ls /etc | wc -l', 'export PASSWORD=[REDACTED] KEEP=1', 'exit']);
  assert.deepEqual(rows.map((r) => r.redacted), [false, false, true, false]);
  assert.ok(rows.every((r) => r.uid === 65534));
  assert.equal(rows[1]!.cwd, '/');
  const text = await procwatch(['events', '--socket', d.socket, '-k', 'shell', '-u', '65534']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /pts\/\d+ \/ \$ ls \/etc \| wc -l/);
  assert.ok(!sql(d.db, "SELECT group_concat(data) FROM events WHERE kind = 'shell'").includes('hunter2'), 'the secret is not in the database');
  const root = await procwatch(['events', '--socket', d.socket, '-k', 'shell', '-u', 'root', '--json']);
  const rootKeys = root.stdout.trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as ShellRow).key);
  assert.ok(!rootKeys.includes(rows[0]!.key), `nobody's lines are not root's: ${root.stdout}`);

  // events -k session: the transfer, both ends, with their bytes.
  type SessionRow = { pid: number; direction: string; bytesSent: number; bytesReceived: number; key: string };
  const sessions = await waitFor<SessionRow[]>('both sessions stored', () => {
    const r = spawnSync(process.execPath, [BIN, 'events', '--socket', d.socket, '-k', 'session', '--json'], { encoding: 'utf8' });
    const all = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SessionRow);
    const mine = all.filter((s) => s.pid === client || s.pid === server);
    return mine.length === 2 ? mine : null;
  }, 20_000, 200);
  const c = sessions.find((s) => s.pid === client)!;
  assert.equal(c.direction, 'connect');
  assert.deepEqual([c.bytesSent, c.bytesReceived], [200_000, 50_000]);
  const sessionText = await procwatch(['events', '--socket', d.socket, '-k', 'session', '-p', String(client)]);
  assert.match(sessionText.stdout, /tcp connected 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+, .*sent 195KiB, received 48\.8KiB/);

  // history --syscalls KEY: the getpid loop's profile, and the client's session totals.
  const key = sql(d.db, `SELECT key FROM processes WHERE pid = ${getpids.pid} ORDER BY id DESC LIMIT 1`);
  type Profile = { syscalls: { final: boolean; counts: Array<{ name: string; count: number }> } | null };
  const profile = await waitFor<Profile>('the python profile stored', () => {
    const r = spawnSync(process.execPath, [BIN, 'history', '--socket', d.socket, '--syscalls', key, '--json'], { encoding: 'utf8' });
    const p = JSON.parse(r.stdout) as Profile;
    return p.syscalls?.final === true ? p : null;
  }, 20_000, 200);
  const getpid = profile.syscalls!.counts.find((x) => x.name === 'getpid');
  assert.ok(getpid !== undefined && getpid.count >= 5000 && getpid.count < 5100, `getpid ${getpid?.count} (5,000 from the loop, a few from python itself)`);
  const shown = await procwatch(['history', '--socket', d.socket, '--syscalls', key]);
  assert.match(shown.stdout, /syscalls of \d+:\d+: \d+ in its whole life/);
  assert.match(shown.stdout, /\n\s+\d+\s+[\d.]+%\s+getpid\n/);
  const clientKey = sql(d.db, `SELECT key FROM processes WHERE pid = ${client} ORDER BY id DESC LIMIT 1`);
  const totals = await procwatch(['history', '--socket', d.socket, '--syscalls', clientKey, '--json']);
  assert.deepEqual((JSON.parse(totals.stdout) as { sessions: unknown }).sessions, { sessions: 1, bytesSent: 200_000, bytesReceived: 50_000 });
  assert.equal(sql(d.db, 'SELECT count(*) FROM syscall_profiles WHERE key = ' + `'${key}'`), '1', 'one row per process, however many reads');
  assert.equal(sql(d.db, "SELECT count(*) FROM events WHERE kind = 'syscalls'"), '0', 'profiles are not event rows');

  const bad = await procwatch(['history', '--socket', d.socket, '--syscalls', key, '--exe', '/x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--syscalls shows one process: it takes no --exe/);
  d.proc.kill('SIGTERM');
  assert.equal(await exited(d.proc), 0, d.log());
});

test('watch --shell --sessions --syscalls: events as they happen, text escaped', { skip, timeout: 120_000 }, async () => {
  const watch = spawn(process.execPath, [BIN, 'watch', '--source', 'ebpf', '--shell', '--syscalls', '-k', 'shell,syscalls', '--duration', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(watch);
  let out = '';
  let err = '';
  watch.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  watch.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(`watch started (stderr: ${err})`, () => err.includes('watching with'), 30_000, 20);
  const cwd = mkdtempSync(join(dir, 'w-'));
  chmodSync(cwd, 0o755);
  // Ctrl-V makes readline insert the next key as it is: here ESC, the start of a colour sequence.
  await typeInBash(cwd, ['echo "\u0016\u001b[31mred\u0016\u001b[0m"']);
  await waitFor(`the line in watch's output (${out.slice(-300)})`, () => out.includes('echo "\\e[31mred\\e[0m"'), 30_000, 50);
  await waitFor('a syscall profile line', () => /syscalls\s+\d+ .*\d+ syscalls: /.test(out), 30_000, 50);
  assert.ok(!out.includes('\u001b['), 'the escape sequence typed never reaches the terminal raw');
  watch.kill('SIGINT');
  assert.equal(await exited(watch), 0, err);
});

test('bad capture config and flags: one line each, exit 2', async () => {
  const cases: Array<[string, RegExp]> = [
    ['network: packets', /daemon\.ebpf\.network: expected true or false \(connect\/accept events\), connections, sessions, or a list of those, got 'packets'/],
    ['syscalls: true', /daemon\.ebpf\.syscalls: expected counts or false/],
    ['syscalls_interval: 5s', /daemon\.ebpf\.syscalls_interval: applies to syscall counts/],
    ['syscalls: counts\n    syscalls_interval: 10ms', /daemon\.ebpf\.syscalls_interval: at least 1s/],
    ['shell_binaries: [/bin/bash]', /daemon\.ebpf\.shell_binaries: applies to shell capture/],
    ['shell: true\n    shell_redact: [\'(oops\']', /'\(oops' is not a regular expression/],
    ['shell: true\n    shell_binaries: [bash]', /a shell binary must be an absolute path, got 'bash'/],
  ];
  for (const [yaml, message] of cases) {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `daemon:\n  ebpf:\n    ${yaml}\n`);
    const r = await procwatch(['daemon', '--config', file, '--database', join(dir, 'bad.db'), '--socket', join(dir, 'bad.sock')]);
    assert.equal(r.code, 2, `${yaml}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const flags: Array<[string[], RegExp]> = [
    [['--syscalls-interval', '5'], /--syscalls-interval goes with --syscalls/],
    [['--shell-binary', '/bin/bash'], /--shell-binary and --shell-redact go with --shell/],
    [['--shell', '--shell-redact', '[x'], /is not a regular expression/],
    [['--syscalls', '--syscalls-interval', 'soon'], /--syscalls-interval expects a positive number/],
  ];
  for (const [args, message] of flags) {
    const r = await procwatch(['watch', '--source', 'ebpf', ...args, '--duration', '1']);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
