/**
 * The daemon and the query commands as users run them: separate processes talking over the
 * unix socket. Includes the kill -9 scenario: integrity, nothing acknowledged lost, the gap
 * recorded as `lost` and the processes that ended unseen closed as inferred.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { procConnectorAvailability } from '../../src/sources/native.js';
import { ebpfAvailability } from '../../src/sources/ebpf.js';

// These scenarios need every short-lived process seen: the netlink source (root + the addon).
const netlink = procConnectorAvailability();
const needsNetlink = netlink.available ? false : `SKIPPED: needs the netlink source (${netlink.reason})`;
if (needsNetlink) console.error(`daemon-cli: ${needsNetlink}`);
const ebpf = ebpfAvailability({ network: true, files: true });
const needsEbpf = ebpf.available ? false : `SKIPPED: needs the eBPF source (${ebpf.reason})`;
if (needsEbpf) console.error(`daemon-cli: ${needsEbpf}`);

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const BIN = join(ROOT, 'bin/procwatch');
const dir = mkdtempSync(join(tmpdir(), 'pw-cli-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function startDaemon(name: string, extra: string[] = []): Promise<{ proc: ChildProcess; socket: string; db: string; log: () => string }> {
  const socket = join(dir, `${name}.sock`);
  const db = join(dir, `${name}.db`);
  let log = '';
  const proc = spawn(process.execPath, [BIN, 'daemon', '--database', db, '--socket', socket, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const until = Date.now() + 15_000;
  while (!log.includes('API on') && Date.now() < until && proc.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  assert.ok(log.includes('API on'), `daemon did not start: ${log}`);
  return { proc, socket, db, log: () => log };
}

const exited = (p: ChildProcess): Promise<number | null> => new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.on('exit', (code) => r(code))));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('query commands answer from a running daemon', { skip: needsNetlink }, async () => {
  const d = await startDaemon('queries');
  const marker = spawn('/bin/sh', ['-c', 'sleep 0.3; exit 3', 'pwcli-marker'], { stdio: 'ignore' });
  const markerPid = marker.pid!;
  await exited(marker);
  await sleep(1500);

  const ps = run(['ps', '--socket', d.socket]);
  assert.equal(ps.code, 0, ps.stderr);
  assert.match(ps.stdout.split('\n')[0]!, /^UID\s+PID\s+PPID\s+STIME\s+CMD$/);
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
  assert.match(lineage.stdout, new RegExp(`\\* ${markerPid} \\[`));

  const stats = run(['stats', '--socket', d.socket]);
  assert.match(stats.stdout, /^source\s+\S+/m);
  assert.match(stats.stdout, /^lost\s+\d+ \(source\)/m);

  const missing = run(['lineage', '--socket', d.socket, '3999999']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^procwatch: no process with pid 3999999 is known\n$/);
  const bad = run(['events', '--socket', d.socket, '--since', 'soonish']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.split('\n').length, 2, 'one line');

  const second = spawnSync(process.execPath, [BIN, 'daemon', '--database', join(dir, 'other.db'), '--socket', d.socket], { encoding: 'utf8', timeout: 15_000 });
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
  const longLived = spawn('sleep', ['2'], { stdio: 'ignore' });
  await sleep(1500);
  // Everything the API has answered with has been committed (queries flush first).
  const before = run(['events', '--socket', d.socket, '--since', '1h', '--json', '--limit', '10000']).stdout.split('\n').filter(Boolean).length;
  assert.ok(before > 100, `the storm was recorded (${before} events)`);
  d.proc.kill('SIGKILL');
  await exited(d.proc);
  storm.kill('SIGKILL');
  await exited(longLived); // ends while no daemon watches
  const check = spawnSync('sqlite3', [d.db, 'PRAGMA integrity_check'], { encoding: 'utf8' });
  assert.equal(check.stdout.trim(), 'ok');
  const count = Number(spawnSync('sqlite3', [d.db, 'SELECT count(*) FROM events'], { encoding: 'utf8' }).stdout.trim());
  assert.ok(count >= before, `after the kill ${count} events ≥ ${before} acknowledged`);

  const again = await startDaemon('crash');
  await sleep(500);
  const lost = JSON.parse(run(['events', '--socket', again.socket, '--since', '1h', '--kind', 'lost', '--json']).stdout.trim().split('\n').pop()!) as { reason: string };
  assert.match(lost.reason, /not watching from .* did not stop cleanly/);
  const gone = JSON.parse(run(['history', '--socket', again.socket, '--since', '1h', '--name', 'sleep', '--json']).stdout) as { processes: Array<{ pid: number; exitOrigin: string | null }> };
  assert.equal(gone.processes.find((p) => p.pid === longLived.pid)?.exitOrigin, 'inferred', 'ended unseen: recorded as inferred');
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
    await sleep(500);
    server.close();

    type Stored = { kind: string; pid: number; path?: string; flagNames?: string[]; remotePort?: number; localPort?: number };
    const events = (kinds: string): Stored[] => {
      const r = run(['events', '--socket', d.socket, '--since', '5m', '--kind', kinds, '--json']);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored);
    };
    const opens = events('open');
    assert.ok(opens.some((e) => e.pid === writer.pid && e.path === `${files}/written` && e.flagNames?.includes('O_CREAT')), JSON.stringify(opens));
    assert.ok(opens.every((e) => e.path?.startsWith(`${files}/`)), 'the prefix filter holds: /etc/hostname is not there');
    const net = events('connect,accept');
    assert.ok(net.some((e) => e.kind === 'connect' && e.pid === client.pid && e.remotePort === port), JSON.stringify(net));
    assert.ok(net.some((e) => e.kind === 'accept' && e.pid === process.pid && e.localPort === port), JSON.stringify(net));
    const text = run(['events', '--socket', d.socket, '--since', '5m', '--kind', 'open']);
    assert.match(text.stdout, new RegExp(`open\\s+${writer.pid}\\s.*open ${files}/written O_WRONLY\\|O_CREAT\\|O_TRUNC fd \\d+`));

    // Same database, another socket: refused by the lock, before any program is loaded.
    const second = spawnSync(process.execPath, [BIN, 'daemon', '--database', d.db, '--socket', join(dir, 'capture-2.sock'), '--source', 'ebpf'], { encoding: 'utf8', timeout: 15_000 });
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
  const marker = spawn('/bin/sh', ['-c', 'exit 7', 'pwcli-netlink'], { stdio: 'ignore' });
  await exited(marker);
  await sleep(500);
  const history = JSON.parse(run(['history', '--socket', d.socket, '--since', '1m', '--json']).stdout) as { processes: Array<{ pid: number; argv: string[]; exitCode: number }> };
  const found = history.processes.find((p) => p.pid === marker.pid);
  assert.deepEqual(found?.argv, ['/bin/sh', '-c', 'exit 7', 'pwcli-netlink']);
  assert.equal(found?.exitCode, 7);
  const health = JSON.parse(run(['stats', '--socket', d.socket, '--json']).stdout) as { source: string };
  assert.equal(health.source, 'netlink');
  d.proc.kill('SIGTERM');
  assert.equal(await exited(d.proc), 0);
});
