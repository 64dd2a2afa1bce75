/**
 * The daemon and the query commands as users run them: separate processes talking over the
 * unix socket. Includes the kill -9 scenario: integrity, nothing acknowledged lost, the gap
 * recorded as `lost` and the processes that ended unseen closed as inferred.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { procConnectorAvailability } from '../../src/sources/native.js';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { EventStore } from '../../src/store/index.js';
import { eventually, spawnGroup } from '../helpers/wait.js';

// These scenarios need every short-lived process seen: the netlink source (root + the addon).
const netlink = procConnectorAvailability();
const needsNetlink = netlink.available ? false : `SKIPPED: needs the netlink source (${netlink.reason})`;
if (needsNetlink) console.error(`daemon-cli: ${needsNetlink}`);
const ebpf = ebpfAvailability({ network: true, files: true });
const needsEbpf = ebpf.available ? false : `SKIPPED: needs the eBPF source (${ebpf.reason})`;
if (needsEbpf) console.error(`daemon-cli: ${needsEbpf}`);
// CI builds the addons and runs as root: there a missing capability is a failure, not a skip.
if (needsNetlink && process.env.PROCWATCH_REQUIRE_NATIVE === '1') {
  test('the netlink source is required here (PROCWATCH_REQUIRE_NATIVE=1)', () => assert.fail(needsNetlink));
}
if (needsEbpf && process.env.PROCWATCH_REQUIRE_BPF === '1') {
  test('the eBPF source is required here (PROCWATCH_REQUIRE_BPF=1)', () => assert.fail(needsEbpf));
}

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const BIN = join(ROOT, 'bin/procwatch');
const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A CLI call; on a loaded machine (a storm beside it) a 10,000-event answer may take a while: 60 s, then it says so. */
function run(args: string[], timeout = 60_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout, maxBuffer: 256 * 1024 * 1024 });
  const killed = r.status === null ? `\n(killed by ${String(r.signal)}: no answer within ${timeout / 1000} s)` : '';
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr + killed };
}

function sql(db: string, query: string): string {
  const r = spawnSync('sqlite3', [db, query], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** Starts a daemon and waits for its API; `wrap` runs it under another command (e.g. setpriv). */
async function startDaemon(name: string, extra: string[] = [], paths: { socket?: string; db?: string; wrap?: string[] } = {}): Promise<{ proc: ChildProcess; socket: string; db: string; log: () => string }> {
  const socket = paths.socket ?? join(dir, `${name}.sock`);
  const db = paths.db ?? join(dir, `${name}.db`);
  let log = '';
  const argv = [process.execPath, BIN, 'daemon', '--database', db, '--socket', socket, ...extra];
  const [command, ...args] = [...(paths.wrap ?? []), ...argv];
  const proc = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const until = Date.now() + 60_000; // loading eBPF programs on a loaded machine takes a while
  while (!log.includes('API on') && Date.now() < until && proc.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  assert.ok(log.includes('API on'), `daemon did not start: ${log}`);
  return { proc, socket, db, log: () => log };
}

/** A config file for the poll source (runs anywhere), with extra daemon keys. */
function pollConfig(name: string, extra = ''): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `daemon:\n  source: poll\n  poll_interval_ms: 100\n${extra}`);
  return file;
}

/** `procwatch daemon ARGS` that must refuse: it has to exit by itself, quickly. */
function refused(args: string[]): { code: number; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'daemon', ...args], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  assert.notEqual(r.status, null, `the daemon did not exit on its own (signal ${String(r.signal)}): ${r.stderr}`);
  return { code: r.status!, stderr: r.stderr };
}

const modeOf = (path: string): number => statSync(path).mode & 0o777;

/** `procwatch ARGS --json` (one document or JSON lines), parsed. */
function json<T>(args: string[]): T {
  const r = run([...args, '--json']);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
function jsonLines<T>(args: string[]): T[] {
  const r = run([...args, '--json']);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as T);
}

type History = { processes: Array<{ pid: number; argv: string[] | null; exitCode: number | null; exitTime: string | null; exitOrigin: string | null }> };

/** Until `history` shows pid with its end: the daemon has seen it and stored it. */
function historyOf(socket: string, pid: number, extra: string[] = []): Promise<History['processes'][number]> {
  let last: unknown;
  return eventually(`the end of ${pid} in history`, () => {
    const h = json<History>(['history', '--socket', socket, '--since', '1h', '--pid', String(pid), ...extra]);
    last = h.processes;
    return h.processes.find((p) => p.pid === pid && p.exitTime !== null);
  }, { seen: () => last, stepMs: 100 });
}

const exited = (p: ChildProcess): Promise<number | null> => new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.on('exit', (code) => r(code))));

test('query commands answer from a running daemon', { skip: needsNetlink }, async () => {
  const d = await startDaemon('queries');
  const marker = spawn('/bin/sh', ['-c', 'sleep 0.3; exit 3', 'pwcli-marker'], { stdio: 'ignore' });
  const markerPid = marker.pid!;
  await exited(marker);
  await historyOf(d.socket, markerPid);

  const ps = run(['ps', '--socket', d.socket]);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout.split('\n')[0]!, /^USER\s+PID\s+PPID\s+STIME\s+CMD$/);
  assert.ok(ps.stdout.split('\n').some((l) => new RegExp(`^\\S+\\s+${d.proc.pid}\\s`).test(l)), 'the daemon lists itself');
  const psJson = JSON.parse(run(['ps', '--socket', d.socket, '--json', '-u', 'root']).stdout) as { processes: Array<{ pid: number; user: string }> };
  assert.ok(psJson.processes.length > 0 && psJson.processes.every((p) => p.user === 'root'));
  const cols = run(['ps', '--socket', d.socket, '-o', 'pid,comm']);
  assert.match(cols.stdout.split('\n')[0]!, /^\s*PID COMMAND$/);

  const tree = run(['tree', '--socket', d.socket, '1']);
  assert.equal(tree.code, 0);
  assert.match(tree.stdout, /^1 root /);

  const history = run(['history', '--socket', d.socket, '--since', '1m', '--name', 'sh', '--json']);
  const found = (JSON.parse(history.stdout) as { processes: Array<{ pid: number; argv: string[] }> }).processes.find((p) => p.pid === markerPid);
  assert.deepEqual(found?.argv, ['/bin/sh', '-c', 'sleep 0.3; exit 3', 'pwcli-marker']);

  const events = run(['events', '--socket', d.socket, '--since', '1m', '--pid', String(markerPid)]);
  assert.equal(events.code, 0);
  assert.match(events.stdout, new RegExp(`(exit|inferred_exit)\\s+${markerPid}`));

  const lineage = run(['lineage', '--socket', d.socket, String(markerPid)]);
  assert.equal(lineage.code, 0, lineage.stderr);
  assert.match(lineage.stdout, new RegExp(`\\* ${markerPid} root /bin/sh -c 'sleep 0\\.3; exit 3' pwcli-marker  \\[started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d, exit code 3 after \\d+(\\.\\d+)?m?s; key ${markerPid}:\\d+\\]`));

  const stats = run(['stats', '--socket', d.socket]);
  assert.match(stats.stdout, /^source\s+\S+/m);
  assert.match(stats.stdout, /^lost\s+\d+ \(source\)/m);

  assert.match(stats.stdout, /^per second\s+.*\(last minute\)$/m);

  const missing = run(['lineage', '--socket', d.socket, '3999999']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^procwatch: no process with pid 3999999 is known\n$/);
  const bad = run(['events', '--socket', d.socket, '--since', 'soonish']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^procwatch: --since must be a time/, 'the option is named, not the API parameter');
  assert.equal(bad.stderr.split('\n').length, 2, 'one line');
  const far = run(['events', '--socket', d.socket, '--since', '999999999999999d']);
  assert.equal(far.code, 2);
  assert.match(far.stderr, /^procwatch: --since is out of range/);
  const followUntil = run(['events', '--socket', d.socket, '-f', '--until', '1m']);
  assert.equal(followUntil.code, 2);
  assert.match(followUntil.stderr, /^procwatch: --until cannot be used with --follow/);
  const badGlob = run(['ps', '--socket', d.socket, '--name', '[']);
  assert.equal(badGlob.code, 2);
  assert.match(badGlob.stderr, /^procwatch: --name is not a valid glob/);

  const second = spawnSync(process.execPath, [BIN, 'daemon', '--database', join(dir, 'other.db'), '--socket', d.socket], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(second.status, 4);
  assert.match(second.stderr, /another procwatch daemon is already running/);

  d.proc.kill('SIGTERM');
  assert.equal(await exited(d.proc), 0);
  assert.equal(existsSync(d.socket), false, 'SIGTERM removes the socket');
  const runs = spawnSync('sqlite3', [d.db, 'SELECT count(*) FROM runs WHERE stopped IS NULL'], { encoding: 'utf8' });
  assert.equal(runs.stdout.trim(), '0', 'a graceful stop is recorded');
});

test('without a daemon: ps and tree fall back to /proc with a notice; store queries fail clearly', () => {
  const socket = join(dir, 'nobody-home.sock');
  const ps = run(['ps', '--socket', socket]);
  assert.equal(ps.code, 0);
  assert.match(ps.stderr, /cannot reach the daemon .*reading \/proc directly/);
  assert.ok(ps.stdout.split('\n').length > 5);
  const events = run(['events', '--socket', socket]);
  assert.equal(events.code, 4);
  assert.match(events.stderr, /^procwatch: cannot reach the daemon at .*is the daemon running\?.*\n$/);
  const badGlob = run(['ps', '--no-daemon', '--name', '[']);
  assert.equal(badGlob.code, 2, badGlob.stderr);
  assert.match(badGlob.stderr, /^procwatch: --name: bad glob '\['/);
  assert.equal(badGlob.stderr.split('\n').length, 2, 'one line');
});

test('ps from the daemon and ps from /proc agree: NLWP, the JSON fields', async () => {
  // A process with a settled number of threads, running before the daemon starts (seeded).
  const threaded = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(threaded);
  // Node starts its threads as it boots: wait until the count has held for half a second.
  const threadsOf = (): number => Number(readFileSync(`/proc/${threaded.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[17]);
  let counts: number[] = [];
  await eventually('node\'s thread count to settle', async () => {
    counts = [...counts.slice(-9), threadsOf()];
    await new Promise((r) => setTimeout(r, 50));
    return counts.length === 10 && counts.every((n) => n === counts[0] && n > 1);
  }, { seen: () => counts });
  const d = await startDaemon('agree', ['--config', pollConfig('agree')]);
  try {
    const nlwp = Number(readFileSync(`/proc/${threaded.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[17]);
    assert.ok(nlwp > 1, `node runs several threads (${nlwp})`);
    const row = (out: string): string | undefined => out.split('\n').find((l) => l.trim().startsWith(`${threaded.pid} `));
    const fromDaemon = run(['ps', '--socket', d.socket, '-o', 'pid,threads']);
    const fromProc = run(['ps', '--no-daemon', '-o', 'pid,threads']);
    assert.match(row(fromDaemon.stdout) ?? '', new RegExp(`^\\s*${threaded.pid}\\s+${nlwp}$`));
    assert.match(row(fromProc.stdout) ?? '', new RegExp(`^\\s*${threaded.pid}\\s+${nlwp}$`));
    type P = Record<string, unknown> & { pid: number };
    const daemonJson = (JSON.parse(run(['ps', '--socket', d.socket, '--json']).stdout) as { processes: P[] }).processes.find((p) => p.pid === threaded.pid)!;
    const procJson = (JSON.parse(run(['ps', '--no-daemon', '--json']).stdout) as { processes: P[] }).processes.find((p) => p.pid === threaded.pid)!;
    assert.deepEqual(Object.keys(procJson).sort(), Object.keys(daemonJson).sort(), 'the same fields');
    for (const field of ['key', 'ppid', 'parentKey', 'argv', 'exe', 'uid', 'euid', 'suid', 'fsuid', 'gid', 'egid', 'sgid', 'fsgid', 'threads', 'live', 'user']) {
      assert.deepEqual(procJson[field], daemonJson[field], field);
    }
    assert.equal(procJson.origin, 'scanned');
    assert.equal(daemonJson.origin, 'seeded');
  } finally {
    threaded.kill();
    d.proc.kill('SIGTERM');
    assert.equal(await exited(d.proc), 0);
  }
});

test('paths that are not the daemon\'s to take: refused with exit 2, quickly, touching nothing', () => {
  // The socket path is the database: the database must survive.
  const db = join(dir, 'precious.db');
  sql(db, "CREATE TABLE t (x); INSERT INTO t VALUES ('keep me')");
  const same = refused(['--database', db, '--socket', db, '--source', 'poll']);
  assert.equal(same.code, 2, same.stderr);
  assert.match(same.stderr, /^procwatch: --socket: the socket path '.*precious.db' is the database/);
  assert.equal(sql(db, 'SELECT x FROM t'), 'keep me');
  // Something else at the socket path: never deleted, nothing started.
  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'data');
  const other = refused(['--database', join(dir, 'unused.db'), '--socket', file, '--source', 'poll']);
  assert.equal(other.code, 2, other.stderr);
  assert.match(other.stderr, /refusing to start: .*not-a-socket exists and is not a socket: refusing to replace it/);
  assert.equal(readFileSync(file, 'utf8'), 'data');
  assert.equal(existsSync(join(dir, 'unused.db')), false, 'refused before the database was opened');
  assert.equal(existsSync(join(dir, 'unused.db.pid')), false);
  // Longer than a unix socket address holds; under kernel file systems (mkdir there hangs Node 20).
  const long = refused(['--database', join(dir, 'unused.db'), '--socket', join(dir, 's'.repeat(120)), '--source', 'poll']);
  assert.equal(long.code, 2);
  assert.match(long.stderr, /^procwatch: --socket: the socket path is \d+ bytes; a unix socket path can have at most 107\n$/);
  const proc = refused(['--database', join(dir, 'unused.db'), '--socket', '/proc/procwatch-test/api.sock', '--source', 'poll']);
  assert.equal(proc.code, 2);
  assert.match(proc.stderr, /--socket: '\/proc\/procwatch-test\/api.sock' is under \/proc/);
  const sys = refused(['--database', '/sys/procwatch-test/events.db', '--socket', join(dir, 'x.sock'), '--source', 'poll']);
  assert.equal(sys.code, 2);
  assert.match(sys.stderr, /--database: '\/sys\/procwatch-test\/events.db' is under \/sys/);
  const group = refused(['--config', pollConfig('badgroup', '  socket_group: no-such-group-xyz\n'), '--database', join(dir, 'unused.db'), '--socket', join(dir, 'x.sock')]);
  assert.equal(group.code, 2);
  assert.match(group.stderr, /^procwatch: config .*badgroup.yaml: daemon.socket_group: unknown group 'no-such-group-xyz'\n$/);
  for (const r of [same, other, long, proc, sys, group]) assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
});

test('the files are private: directories 0700, database, -wal, -shm and socket 0600', async () => {
  const db = join(dir, 'fresh/state/x.db');
  const socket = join(dir, 'fresh-run/x.sock');
  const d = await startDaemon('private', ['--config', pollConfig('private')], { db, socket });
  try {
    assert.equal(modeOf(join(dir, 'fresh')), 0o700);
    assert.equal(modeOf(join(dir, 'fresh/state')), 0o700);
    assert.equal(modeOf(join(dir, 'fresh-run')), 0o700);
    for (const f of [db, `${db}-wal`, `${db}-shm`, socket]) assert.equal(modeOf(f), 0o600, f);
  } finally {
    d.proc.kill('SIGTERM');
    assert.equal(await exited(d.proc), 0);
  }
});

test('SIGTERM writes every queued event before exiting', async () => {
  // Flushes only at the stop (queries that read the store would flush; ps and stats do not).
  const d = await startDaemon('queued', ['--config', pollConfig('queued', '  flush_interval_ms: 600000\n')]);
  const shell = spawn('/bin/sh', ['-c', 'sleep 30 & sleep 30 & sleep 30 & wait'], { stdio: 'ignore' });
  children.push(shell);
  let pids: number[] = [];
  try {
    const kids = async (): Promise<number[]> => {
      const all = JSON.parse(run(['ps', '--socket', d.socket, '--json']).stdout) as { processes: Array<{ pid: number; ppid: number }> };
      return all.processes.filter((p) => p.ppid === shell.pid).map((p) => p.pid);
    };
    await eventually('the daemon to see the three sleeps', async () => (pids = await kids()).length === 3, { seen: () => pids, stepMs: 100 });
    const stats = JSON.parse(run(['stats', '--socket', d.socket, '--json']).stdout) as { store: { queued: number } };
    assert.ok(stats.store.queued >= 4, `queued, not written (${stats.store.queued})`);
    const stored = (): string => sql(d.db, `SELECT group_concat(pid) FROM (SELECT pid FROM events WHERE kind = 'inferred_start' AND pid IN (${[shell.pid, ...pids].join(',')}) ORDER BY pid)`);
    assert.equal(stored(), '', 'nothing of them written yet');
    d.proc.kill('SIGTERM');
    assert.equal(await exited(d.proc), 0);
    assert.equal(stored(), [shell.pid!, ...pids].sort((a, b) => a - b).join(','), 'each one written at the stop');
    assert.equal(sql(d.db, 'SELECT count(*) FROM runs WHERE stopped IS NULL'), '0');
  } finally {
    for (const pid of pids) process.kill(pid);
    shell.kill();
  }
});

test('a database damaged behind a valid header, after a clean stop: refused with exit 2 and one line, and the daemon exits', () => {
  const db = join(dir, 'damaged.db');
  const store = new EventStore({ path: db, bootId: 'b', source: 'test' });
  const batch = [];
  for (let i = 1; i <= 20_000; i++) batch.push({ seq: i, ktimeNs: i, pid: 1, tid: 1, cpu: 0, provenance: 'observed' as const, kind: 'sid' as const, key: null });
  store.enqueue(batch, () => undefined, () => Date.now());
  store.flush();
  store.close();
  const pages = statSync(db).size / 4096;
  const fd = openSync(db, 'r+');
  for (let page = Math.floor(pages / 2); page < Math.floor(pages / 2) + 10; page++) writeSync(fd, Buffer.alloc(4096, 0x33), 0, 4096, page * 4096);
  closeSync(fd);
  const runs = sql(db, 'SELECT count(*) FROM runs');
  const r = refused(['--database', db, '--socket', join(dir, 'damaged.sock'), '--source', 'poll']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^procwatch daemon: refusing to start: database .*damaged.db failed its integrity check: [^\n]+; move it aside or restore a backup\n$/);
  assert.equal(sql(db, 'SELECT count(*) FROM runs'), runs, 'no run recorded: the next start does not take it for a crash');
  assert.equal(existsSync(`${db}.pid`), false, 'the lock is released');
});

test('a failure after the source started stops the source and exits (exit 4), leaving no lock or socket', async () => {
  const db = join(dir, 'fails-late.db');
  const socket = join(dir, 'fails-late.sock');
  const d = await startDaemon('fails-late', ['--config', pollConfig('fails-late')], { db, socket });
  d.proc.kill('SIGTERM');
  assert.equal(await exited(d.proc), 0);
  // The reconcile at the next start writes events: make every write fail, after the file checks pass.
  sql(db, "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no more room'); END");
  const r = refused(['--config', pollConfig('fails-late'), '--database', db, '--socket', socket]);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /refusing to start: no more room\n$/);
  assert.equal(existsSync(socket), false);
  assert.equal(existsSync(`${db}.pid`), false);
});

test('a store that cannot write at the stop: the error is one line (exit 4), and the socket and lock still go', async () => {
  const d = await startDaemon('cannot-close', ['--config', pollConfig('cannot-close')]);
  sql(d.db, "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  const shell = spawnGroup('sleep 600 & wait'); // events to write
  try {
    let listed: unknown;
    await eventually('the daemon to see the sleep', () => {
      listed = json<{ processes: Array<{ ppid: number; argv: string[] | null }> }>(['ps', '--socket', d.socket]).processes.filter((p) => p.ppid === shell.pid);
      return (listed as Array<{ argv: string[] | null }>).some((p) => p.argv?.[0] === 'sleep');
    }, { seen: () => listed, stepMs: 100 });
  } finally {
    shell.stop();
  }
  d.proc.kill('SIGTERM');
  assert.equal(await exited(d.proc), 4, d.log());
  assert.match(d.log(), /^procwatch daemon: error while stopping: disk full$/m);
  assert.equal(existsSync(d.socket), false, 'the socket is removed');
  assert.equal(existsSync(`${d.db}.pid`), false, 'the lock is released');
});

test('SIGTERM while the daemon is still starting stops it cleanly (exit 0)', async () => {
  const db = join(dir, 'slow-start.db');
  const socket = join(dir, 'slow-start.sock');
  const first = await startDaemon('slow-start', ['--config', pollConfig('slow-start')], { db, socket });
  first.proc.kill('SIGTERM');
  assert.equal(await exited(first.proc), 0);
  // Many processes of an earlier boot left "running": closing them makes the start take a while.
  sql(db, `INSERT INTO runs (boot_id, started, stopped, source) VALUES ('earlier-boot', 1, 2, 'poll');
    INSERT INTO boots (boot_id) VALUES ('earlier-boot');
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
    INSERT INTO processes (boot, key, pid, origin)
      SELECT (SELECT boot FROM boots WHERE boot_id = 'earlier-boot'), i || ':1', i, 'seeded' FROM n;`);
  let log = '';
  const proc = spawn(process.execPath, [BIN, 'daemon', '--config', pollConfig('slow-start'), '--database', db, '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  proc.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
    if (log.includes('source poll') && !proc.killed) proc.kill('SIGTERM'); // the source is chosen: the start is under way
  });
  const code = await exited(proc);
  assert.ok(!log.includes('API on'), `the signal came during the start: ${log}`);
  assert.equal(code, 0, log);
  assert.match(log, /stopping, flushing the store/);
  assert.equal(existsSync(socket), false);
  assert.equal(existsSync(`${db}.pid`), false);
  assert.equal(sql(db, 'SELECT count(*) FROM runs WHERE stopped IS NULL'), '0', 'a clean stop is recorded');
});

test('a broken config or a corrupt database: the daemon refuses to start with one clear line', () => {
  const config = join(dir, 'bad.yaml');
  writeFileSync(config, 'daemon:\n  retention: { max_age: forever }\n');
  const r1 = spawnSync(process.execPath, [BIN, 'daemon', '--config', config], { encoding: 'utf8' });
  assert.equal(r1.status, 2);
  assert.match(r1.stderr, /^procwatch: config .*bad.yaml: daemon.retention.max_age: expected a duration/);
  const db = join(dir, 'corrupt.db');
  writeFileSync(db, 'garbage'.repeat(1000));
  const r2 = spawnSync(process.execPath, [BIN, 'daemon', '--database', db, '--socket', join(dir, 'c.sock')], { encoding: 'utf8' });
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /refusing to start: cannot open database .*corrupt.db/);
  assert.ok(!/\n\s+at /.test(r1.stderr + r2.stderr), 'no stack trace');
});

test('kill -9 in an exec storm: integrity, nothing acknowledged lost, the gap recorded', { skip: needsNetlink }, async () => {
  const d = await startDaemon('crash');
  const storm = spawn('/bin/sh', ['-c', 'while :; do /bin/true; done'], { stdio: 'ignore' });
  children.push(storm);
  const longLived = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(longLived);
  // Everything the API has answered with has been committed (queries flush first): these
  // execs are acknowledged, and each one must be in the file after the kill.
  type Stored = { id: number; kind: string; pid: number; key: string | null };
  let acknowledged: Stored[] = [];
  await eventually('the storm to be recorded (100 execs), and the sleep', () => {
    acknowledged = jsonLines<Stored>(['events', '--socket', d.socket, '--since', '1h', '--kind', 'exec', '--limit', '10000']);
    return acknowledged.length > 100 && acknowledged.some((e) => e.pid === longLived.pid);
  }, { seen: () => `${acknowledged.length} execs`, stepMs: 200 });
  d.proc.kill('SIGKILL');
  await exited(d.proc);
  storm.kill('SIGKILL');
  longLived.kill(); // ends while no daemon watches
  await exited(longLived);
  const check = spawnSync('sqlite3', [d.db, 'PRAGMA integrity_check'], { encoding: 'utf8' });
  assert.equal(check.stdout.trim(), 'ok');
  const survived = new Set(sql(d.db, "SELECT id || ' ' || pid || ' ' || coalesce(key, '') FROM events WHERE kind = 'exec'").split('\n'));
  const missing = acknowledged.filter((e) => !survived.has(`${e.id} ${e.pid} ${e.key ?? ''}`));
  assert.deepEqual(missing, [], 'every acknowledged exec (id, pid, key) survived the kill');
  const storedPids = new Set(sql(d.db, 'SELECT DISTINCT pid FROM processes').split('\n').map(Number));
  assert.ok(acknowledged.every((e) => storedPids.has(e.pid)), 'and so did their processes');

  // The start's reconcile stores the gap and closes what ended unseen before the API listens.
  const again = await startDaemon('crash');
  const lost = jsonLines<{ reason: string }>(['events', '--socket', again.socket, '--since', '1h', '--kind', 'lost']).pop();
  assert.match(String(lost?.reason), /not watching from .* did not stop cleanly/);
  const gone = await historyOf(again.socket, longLived.pid!);
  assert.equal(gone.exitOrigin, 'inferred', 'ended unseen: recorded as inferred');
  again.proc.kill('SIGTERM');
  assert.equal(await exited(again.proc), 0);
});

test('eBPF capture in the daemon: connects, accepts and file opens are stored and queryable; a second daemon on the same database refuses', { skip: needsEbpf }, async () => {
  const files = mkdtempSync(join(tmpdir(), 'pw-cli-files-'));
  const config = join(dir, 'capture.yaml');
  writeFileSync(config, `daemon:\n  source: ebpf\n  ebpf:\n    network: true\n    files: true\n    path_prefix: ${files}/\n`);
  const d = await startDaemon('capture', ['--config', config]);
  assert.match(d.log(), /source eBPF, as asked/);
  try {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const client = spawn(process.execPath, ['-e', `require('net').connect(${port}, '127.0.0.1', function () { this.end(); })`], { stdio: 'ignore' });
    await exited(client);
    const writer = spawn('/bin/sh', ['-c', `echo x > ${files}/written; cat /etc/hostname >/dev/null`], { stdio: 'ignore' });
    await exited(writer);

    type Stored = { kind: string; pid: number; path?: string; flagNames?: string[]; remotePort?: number; localPort?: number };
    const events = (kinds: string): Stored[] => jsonLines<Stored>(['events', '--socket', d.socket, '--since', '5m', '--kind', kinds]);
    let seen: Stored[] = [];
    await eventually('the open, the connect and the accept to be stored', () => {
      seen = events('open,connect,accept');
      return seen.some((e) => e.kind === 'open' && e.pid === writer.pid) && seen.some((e) => e.kind === 'connect' && e.pid === client.pid)
        && seen.some((e) => e.kind === 'accept' && e.localPort === port);
    }, { seen: () => seen, stepMs: 100 });
    server.close();
    const opens = events('open');
    assert.ok(opens.some((e) => e.pid === writer.pid && e.path === `${files}/written` && e.flagNames?.includes('O_CREAT')), JSON.stringify(opens));
    assert.ok(opens.every((e) => e.path?.startsWith(`${files}/`)), 'the prefix filter holds: /etc/hostname is not there');
    const net = events('connect,accept');
    assert.ok(net.some((e) => e.kind === 'connect' && e.pid === client.pid && e.remotePort === port), JSON.stringify(net));
    assert.ok(net.some((e) => e.kind === 'accept' && e.pid === process.pid && e.localPort === port), JSON.stringify(net));
    const text = run(['events', '--socket', d.socket, '--since', '5m', '--kind', 'open']);
    assert.match(text.stdout, new RegExp(`open\\s+${writer.pid}\\s.*open ${files}/written O_WRONLY\\|O_CREAT\\|O_TRUNC fd \\d+`));

    // Same database, another socket: refused by the lock, before any program is loaded.
    const second = spawnSync(process.execPath, [BIN, 'daemon', '--database', d.db, '--socket', join(dir, 'capture-2.sock'), '--source', 'ebpf'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(second.status, 4, second.stderr);
    assert.match(second.stderr, new RegExp(`^procwatch daemon: refusing to start: another procwatch daemon \\(pid ${d.proc.pid}\\) is already using ${d.db}`));
    assert.equal(second.stderr.trim().split('\n').length, 1, 'one line');
  } finally {
    d.proc.kill('SIGTERM');
    assert.equal(await exited(d.proc), 0);
    rmSync(files, { recursive: true, force: true });
  }
  assert.equal(existsSync(`${d.db}.pid`), false, 'a graceful stop removes the lock');
});

test('the daemon on the netlink source, asked for by name, records what ran', { skip: needsNetlink }, async () => {
  const d = await startDaemon('netlink', ['--source', 'netlink']);
  assert.match(d.log(), /source netlink proc connector, as asked/);
  // It waits on stdin until the daemon lists it: read at its exec, however busy the machine.
  const marker = spawn('/bin/sh', ['-c', 'read x; exit 7', 'pwcli-netlink'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    await eventually('the daemon to list the marker', () => json<{ processes: Array<{ pid: number }> }>(['ps', '--socket', d.socket]).processes.some((p) => p.pid === marker.pid), { stepMs: 100 });
  } finally {
    marker.stdin!.end('go\n');
  }
  await exited(marker);
  const found = await historyOf(d.socket, marker.pid!);
  assert.deepEqual(found.argv, ['/bin/sh', '-c', 'read x; exit 7', 'pwcli-netlink']);
  assert.equal(found.exitCode, 7);
  const health = JSON.parse(run(['stats', '--socket', d.socket, '--json']).stdout) as { source: string; sourceCounters: { readerPriority: number } };
  assert.equal(health.source, 'netlink');
  assert.equal(health.sourceCounters.readerPriority, 10, 'the reader thread under SCHED_FIFO 10 by default');
  d.proc.kill('SIGTERM');
  assert.equal(await exited(d.proc), 0);
});

test('a reader priority the kernel refuses (no CAP_SYS_NICE): the daemon runs on at normal priority and says so', { skip: needsNetlink }, async () => {
  const d = await startDaemon('no-nice', ['--source', 'netlink'], { wrap: ['setpriv', '--bounding-set', '-sys_nice'] });
  assert.match(d.log(), /^procwatch daemon: reader thread at normal priority \(SCHED_FIFO 10 refused: EPERM\): more short-lived processes go unnamed$/m);
  const stats = JSON.parse(run(['stats', '--socket', d.socket, '--json']).stdout) as { sourceCounters: { readerPriority: number } };
  assert.equal(stats.sourceCounters.readerPriority, 0);
  d.proc.kill('SIGTERM');
  assert.equal(await exited(d.proc), 0);
});
