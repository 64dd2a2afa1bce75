/**
 * Issue 14, item 11: the small ones. Each is a class of bad input that once gave an internal
 * error, a wrong answer or a misleading line; each now gets one clear line and the right code.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDaemonConfig, parseDaemonConfig } from '../../src/config/daemon.js';
import { InputError } from '../../src/errors.js';
import { bpfCapabilityProblem } from '../../src/sources/ebpf.js';
import { parseSpec } from '../../src/checks/index.js';
import { globToRegExp } from '../../src/util/glob.js';
import { get, startDaemon, waitFor } from '../api/harness.js';
import { BIN, procwatch } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-small-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = process.getuid?.() === 0;
const needsRoot = root ? false : 'SKIPPED: needs root (to drop privileges and capabilities with setpriv)';
if (needsRoot) console.error(`small-ones: ${needsRoot}`);

test('names that every object inherits are not fields, classes, builtins or units', async () => {
  const h = await startDaemon();
  try {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const r = await get(h.socket, `/v1/processes?format=text&fields=pid,${name}`);
      assert.equal(r.status, 400, `${name}: ${r.body}`);
      assert.match(r.json<{ error: string }>().error, new RegExp(`unknown field '${name}'`));
    }
  } finally {
    await h.stop();
  }
  const ps = await procwatch(['ps', '--no-daemon', '-o', '__proto__']);
  assert.equal(ps.code, 2, ps.stderr);
  assert.match(ps.stderr, /^procwatch: unknown field '__proto__' for -o/);
  assert.throws(() => globToRegExp('[[:constructor:]]'), /unknown character class '\[:constructor:\]'/);
  assert.throws(() => parseSpec('@constructor'), /unknown builtin check '@constructor'/);
  assert.throws(() => parseSpec('@toString=x'), /unknown builtin check/);
});

test('history and processes read globs alike (fnmatch rules, not SQLite GLOB)', async () => {
  const h = await startDaemon();
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const pid = sleeper.pid!;
    // Until the poll source has seen it and the store holds it.
    const stored = await waitFor(async () => {
      const r = await get(h.socket, `/v1/history?pid=${pid}`);
      return r.json<{ processes: unknown[] }>().processes.length > 0 ? true : undefined;
    }, 30_000);
    assert.ok(stored, 'the sleeper reached the store');
    const keys = async (path: string): Promise<string[]> => {
      const r = await get(h.socket, path);
      assert.equal(r.status, 200, r.body);
      return r.json<{ processes: Array<{ key: string; pid: number }> }>().processes.filter((p) => p.pid === pid).map((p) => p.key);
    };
    for (const [glob, found] of [['[!a]*', true], ['[!/]*', false], ['*/[[:alpha:]]leep', true], ['*/s\\leep', true], ['*/[^s]leep', false]] as const) {
      const q = encodeURIComponent(glob);
      const live = await keys(`/v1/processes?exe=${q}&pid=${pid}`);
      const history = await keys(`/v1/history?exe=${q}&pid=${pid}`);
      assert.equal(live.length > 0, found, `processes, exe=${glob}`);
      assert.deepEqual(history, live, `history agrees with processes for exe=${glob}`);
    }
  } finally {
    sleeper.kill('SIGKILL');
    await h.stop();
  }
});

test('/v1/health takes no parameters', async () => {
  const h = await startDaemon();
  try {
    const r = await get(h.socket, '/v1/health?x=1');
    assert.equal(r.status, 400);
    assert.match(r.json<{ error: string }>().error, /^unknown parameter 'x' \(known: none\)$/);
    assert.equal((await get(h.socket, '/v1/health')).status, 200);
  } finally {
    await h.stop();
  }
});

test('a count range takes safe integers only', () => {
  assert.throws(() => parseSpec('sshd:99999999999999999999'), (e: Error) => e instanceof InputError && /99999999999999999999 is above the largest bound, 9007199254740991/.test(e.message));
  assert.throws(() => parseSpec('sshd:1-99999999999999999999'), InputError);
  assert.deepEqual(parseSpec('sshd:1-9007199254740991').critical, { min: 1, max: 9007199254740991 });
});

test('YAML warnings are one line naming the file, not Node\'s multi-line warning', () => {
  const file = join(dir, 'tagged.yaml');
  writeFileSync(file, 'checks:\n  init:\n    spec: !!foo "nosuch-xyz:0"\n');
  const r = spawnSync(process.execPath, [BIN, 'check', '-c', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, `procwatch: config ${file}: YAML warning: Unresolved tag: tag:yaml.org,2002:foo at line 3, column 11\n`);
});

test('daemon.rcvbuf above what the kernel takes is refused by the config check, naming the key', async () => {
  await assert.rejects(parseDaemonConfig('daemon:\n  rcvbuf: 3GiB\n', 'test.yaml'), /^InputError: config test.yaml: daemon.rcvbuf: at most 2147483647 bytes \(2 GiB - 1\), got '3GiB'$/);
  assert.equal((await parseDaemonConfig('daemon:\n  rcvbuf: 2047MiB\n', 'test.yaml')).rcvbufBytes, 2047 * 1024 * 1024);
  await assert.rejects(parseDaemonConfig('daemon:\n  max_queue: 1e20\n', 'test.yaml'), /daemon.max_queue: expected an integer/);
});

test('a config holding a token that every user can read gets a warning', async () => {
  const file = join(dir, 'token.yaml');
  writeFileSync(file, 'daemon:\n  http:\n    listen: 127.0.0.1:9465\n    token: "0123456789abcdef0123"\n');
  const warnings: string[] = [];
  chmodSync(file, 0o644);
  await loadDaemonConfig(file, (w) => warnings.push(w));
  assert.deepEqual(warnings, [`config ${file}: warning: the file holds a daemon.http token and is readable by every user (mode 0644): chmod o-r it`]);
  chmodSync(file, 0o640);
  warnings.length = 0;
  await loadDaemonConfig(file, (w) => warnings.push(w));
  assert.deepEqual(warnings, []);
});

test('eBPF without CAP_BPF names the capability, not RLIMIT_MEMLOCK', { skip: needsRoot }, () => {
  const r = spawnSync('setpriv', ['--bounding-set', '-bpf,-sys_admin,-perfmon', process.execPath, BIN, 'watch', '-s', 'ebpf', '--duration', '1'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /^procwatch: eBPF source unavailable: eBPF needs CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\); this process lacks CAP_BPF and CAP_PERFMON/);
  assert.doesNotMatch(r.stderr, /MEMLOCK/);
  assert.equal(r.stderr.split('\n').length, 2, 'one line');
  // The parser of /proc/self/status, on its own.
  assert.equal(bpfCapabilityProblem('CapEff:\t000001ffffffffff\n'), null);
  assert.equal(bpfCapabilityProblem('CapEff:\t000000c000000000\n'), null, 'CAP_BPF and CAP_PERFMON');
  assert.match(bpfCapabilityProblem('CapEff:\t0000004000000000\n') ?? '', /lacks CAP_BPF \(/, 'CAP_PERFMON alone');
});

test('a source asked for by name that cannot run is exit 4 (cannot run), not 2 (bad input)', { skip: needsRoot }, () => {
  for (const source of ['ebpf', 'netlink']) {
    const r = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, BIN, 'watch', '-s', source, '--duration', '1'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 4, `${source}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^procwatch: ${source === 'ebpf' ? 'eBPF' : 'netlink'} source unavailable: .*root`));
  }
});
