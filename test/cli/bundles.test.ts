/**
 * Issue 16: bin/procwatch runs `check`, `ps` and `tree` from prebuilt files with V8's code cache
 * (scripts/build-bundles.mjs), every other command from the ES modules. The two must answer
 * alike, byte for byte and exit code for exit code; and a missing or foreign cache, or a
 * missing bundle, only costs speed.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { BIN, REPO_ROOT, run, show, type RunResult } from '../helpers/cli.js';
import { childPids, waitFor } from '../helpers/spawn.js';
import { ETC_ROOT, PROC_ROOT } from '../fixtures/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-bundles-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ES_MODULES = join(REPO_ROOT, 'dist/src/cli/main.js');
const BUNDLE = join(REPO_ROOT, 'dist/src/cli/check.cjs');
const HEADER = '// procwatch-bundle ';

const config = join(dir, 'checks.yaml');
writeFileSync(config, 'checks:\n  web:\n    spec: "nginx:1-"\n  shells:\n    spec: "bash:0-2"\n');
const badConfig = join(dir, 'bad.yaml');
writeFileSync(badConfig, 'checks: [1, 2\n');

const onFixture = (args: string[]): string[] => ['check', '--proc-root', PROC_ROOT, '--etc-root', ETC_ROOT, ...args];

/** Every kind of answer: OK and failing verdicts in each format, usage errors, config files, help. */
const CASES: string[][] = [
  onFixture(['sshd:1-', 'cron:0-5']),
  onFixture(['sshd:5-']),
  onFixture(['-f', 'nagios', 'sshd:1-', 'boinc:0-0']),
  onFixture(['-f', 'nagios-plain', 'boinc:0-0']),
  onFixture(['-f', 'json', 'sshd:1-', '--cpu', '90']),
  onFixture(['-f', 'nagios', '--cpu', '98', '--cpu-warning', '50']),
  onFixture(['@gid0-not-uid0']),
  onFixture(['-x', '402']),
  onFixture(['-c', config]),
  onFixture(['-c', config, '--only', 'shells', '-f', 'nagios']),
  onFixture(['-c', badConfig]),
  onFixture(['-f', 'nagios', '-c', badConfig]),
  onFixture(['sshd:5-1']),
  onFixture(['-f', 'nagios', 'sshd:5-1']),
  onFixture(['--no-such-option']),
  onFixture(['-f', 'xml', 'sshd:1-']),
  ['check', '--proc-root', join(dir, 'missing'), 'sshd:1-'],
  ['check', '--help'],
  ['check'],
];

const normal = (r: RunResult): [number | null, string, string] => [r.code, r.stdout, r.stderr];

test('check answers the same from its bundle as from the ES modules: output, errors and exit codes', async () => {
  assert.ok(readFileSync(BUNDLE, 'utf8').startsWith(HEADER), 'npm run build made the bundle');
  await sameAnswers(CASES);
});

/** Runs each command line from the bundle (bin/procwatch) and from the ES modules: the same answer. */
async function sameAnswers(cases: string[][]): Promise<void> {
  for (const args of cases) {
    const modules = await run(process.execPath, [ES_MODULES, ...args]);
    const bundled = await run(BIN, args);
    assert.deepEqual(normal(bundled), normal(modules), `procwatch ${args.join(' ')}\nbundle: ${show(bundled)}\nES modules: ${show(modules)}`);
    assert.doesNotMatch(bundled.stderr, /Warning|    at /, 'no warning, no stack trace');
  }
}

test('ps and tree answer the same from their bundle as from the ES modules', async () => {
  assert.ok(readFileSync(join(REPO_ROOT, 'dist/src/cli/ps.cjs'), 'utf8').startsWith(HEADER), 'npm run build made the bundle');
  // A process tree of our own that lives through the test: only it is listed (-p), so /proc's
  // other processes, which come and go, do not change the answer between the two runs.
  const parent = spawn('sh', ['-c', 'sleep 600 & sleep 600 & wait'], { stdio: 'ignore' });
  try {
    await waitFor('the two sleeps', () => childPids(parent.pid!, 'sleep').length === 2, 30_000);
    const pid = String(parent.pid);
    const socket = ['--socket', join(dir, 'no-daemon.sock')];
    await sameAnswers([
      ['ps', '--no-daemon', '-p', pid],
      ['ps', ...socket, '-p', pid, '-o', 'pid,ppid,user,comm,args'],
      ['ps', '--no-daemon', '-p', pid, '--json'],
      ['ps', '-ef', '--no-daemon', '-p', pid],
      ['tree', '--no-daemon', '-p', pid],
      ['tree', ...socket, '-p', pid],
      ['ps', '-o', 'nosuch'],
      ['ps', '-Z'],
      ['tree', '--nosuch'],
      ['ps', '--help'],
      ['tree', '--help'],
    ]);
  } finally {
    parent.kill('SIGKILL');
    for (const sleep of childPids(parent.pid!, 'sleep')) process.kill(sleep, 'SIGKILL');
  }
});

/** A copy of the launcher and the bundle in a package of their own, to break the cache in. */
function copyPackage(name: string): { bin: string; cache: string } {
  const root = join(dir, name);
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'dist/src/cli'), { recursive: true });
  for (const file of ['bin/procwatch', 'bin/package.json', 'package.json', 'dist/src/cli/check.cjs']) copyFileSync(join(REPO_ROOT, file), join(root, file));
  return { bin: join(root, 'bin/procwatch'), cache: join(root, 'dist/src/cli/check.cjs.cache') };
}

test('a cache from another build, a corrupt one or none at all only costs the parse: the answers stay the same', async () => {
  const id = readFileSync(BUNDLE, 'utf8').slice(HEADER.length, HEADER.length + 16);
  const real = readFileSync(`${BUNDLE}.cache`);
  const variants: [string, Buffer | null][] = [
    ['none', null],
    ['foreign', Buffer.concat([Buffer.from('0123456789abcdef', 'latin1'), real.subarray(16)])],
    ['corrupt', Buffer.concat([Buffer.from(id, 'latin1'), Buffer.alloc(real.length - 16, 0x5a)])],
    ['truncated', real.subarray(0, 40)],
  ];
  const args = onFixture(['-f', 'nagios', 'sshd:1-', 'boinc:0-0']);
  const expected = await run(BIN, args);
  assert.equal(expected.code, 2, show(expected));
  for (const [name, cache] of variants) {
    const pkg = copyPackage(name);
    if (cache !== null) writeFileSync(pkg.cache, cache);
    const r = await run(pkg.bin, args);
    assert.deepEqual(normal(r), normal(expected), `${name} cache: ${show(r)}`);
  }
});

test('without the bundle (tsc alone built dist/) check runs from the ES modules, with the same answers', async () => {
  const root = join(dir, 'unbundled');
  mkdirSync(join(root, 'bin'), { recursive: true });
  for (const file of ['bin/procwatch', 'bin/package.json', 'package.json']) copyFileSync(join(REPO_ROOT, file), join(root, file));
  cpSync(join(REPO_ROOT, 'dist/src'), join(root, 'dist/src'), { recursive: true, filter: (src) => !src.endsWith('.cjs') && !src.endsWith('.cjs.cache') });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  const log = join(dir, 'modules.txt');
  writeFileSync(log, '');
  for (const args of [onFixture(['sshd:1-', 'cron:0-5']), onFixture(['-f', 'nagios', 'sshd:1-', 'boinc:0-0']), onFixture(['-c', config])]) {
    const expected = await run(BIN, args);
    const r = await run(process.execPath, ['--import', join(REPO_ROOT, 'dist/test/helpers/module-log.js'), join(root, 'bin/procwatch'), ...args], { env: { ...process.env, PROCWATCH_MODULE_LOG: log } });
    assert.deepEqual(normal(r), normal(expected), `procwatch ${args.join(' ')}: ${show(r)}`);
  }
  assert.match(readFileSync(log, 'utf8'), /unbundled\/dist\/src\/cli\/check\.js/, 'the ES modules ran');
});
