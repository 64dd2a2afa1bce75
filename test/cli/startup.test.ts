/**
 * Issue 16: the command line loads only what a command uses. `--version` is answered by the
 * launcher itself; each command's module is imported on demand; and no command loads a heavy
 * dependency (SQLite, the rules language, the metrics library, YAML) just to show its help.
 * Behaviour stays Commander's: the same version text, help of every command, exit codes.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, REPO_ROOT, procwatch, run } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-startup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = join(REPO_ROOT, 'dist/test/helpers/module-log.js');
const HEAVY = /node_modules\/(better-sqlite3|prom-client|yaml|@marcbachmann|nats)\//;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let logs = 0;
/** Runs `node --import module-log bin/procwatch ARGS`; returns the result and the modules it loaded. */
async function traced(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; modules: string[] }> {
  const log = join(dir, `modules-${++logs}.txt`);
  writeFileSync(log, '');
  const r = await run(process.execPath, ['--import', HOOK, BIN, ...args], { env: { ...process.env, PROCWATCH_MODULE_LOG: log } });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, modules: readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') };
}

test('--version and -V print the package version as Commander does, and load none of the command line', async () => {
  const commander = await run(process.execPath, [join(REPO_ROOT, 'dist/src/cli/main.js'), '--version']);
  assert.equal(commander.code, 0, commander.stderr);
  assert.equal(commander.stdout, `${VERSION}\n`);
  for (const flag of ['--version', '-V']) {
    const r = await traced([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, commander.stdout, flag);
    assert.equal(r.stderr, '');
    const ours = r.modules.filter((m) => m.includes('/dist/src/') || m.includes('node_modules/'));
    assert.deepEqual(ours, [], `${flag} loaded ${ours.join(', ')}`);
  }
  // With anything more on the line it is Commander's parsing again, as before.
  const more = await procwatch(['--version', 'extra']);
  assert.equal(more.code, 0, more.stderr);
  assert.equal(more.stdout, `${VERSION}\n`);
});

test('every command still has its --help (exit 0), and none loads SQLite, CEL, prom-client or YAML for it', async () => {
  const top = await procwatch(['--help']);
  assert.equal(top.code, 0, top.stderr);
  const section = top.stdout.slice(top.stdout.indexOf('Commands:'));
  const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
  for (const expected of ['check', 'watch', 'daemon', 'ps', 'tree', 'top', 'events', 'history', 'lineage', 'stats']) assert.ok(names.includes(expected), `${expected} in ${names.join(' ')}`);
  for (const name of names) {
    const r = await traced([name, '--help']);
    assert.equal(r.code, 0, `${name} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: procwatch ${name} `), name);
    const heavy = r.modules.filter((m) => HEAVY.test(m));
    assert.deepEqual(heavy, [], `${name} --help loaded ${heavy.join(', ')}`);
  }
});

test('check runs from its bundle, which holds its own modules and Commander only; its verdicts and exit codes are unchanged', async () => {
  const ok = await traced(['check', 'procwatch-no-such-process:0-0']);
  assert.equal(ok.code, 0, ok.stderr);
  // One prebuilt file (scripts/build-bundles.mjs): no ES module of ours, no package loaded.
  const loaded = ok.modules.filter((m) => m.includes('/dist/src/') || m.includes('node_modules/'));
  assert.deepEqual(loaded, [], `check loaded ${loaded.join(', ')}`);
  const bundle = (JSON.parse(readFileSync(join(REPO_ROOT, 'dist/bundles.json'), 'utf8')) as Record<string, { inputs: string[] }>).check!;
  const packages = [...new Set(bundle.inputs.filter((m) => m.includes('node_modules/')).map((m) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(m)![1]))];
  assert.deepEqual(packages, ['commander']);
  const ours = bundle.inputs.filter((m) => m.startsWith('dist/src/'));
  assert.ok(ours.includes('dist/src/cli/check.js') && ours.includes('dist/src/checks/run.js'), ours.join(' '));
  for (const unused of ['/store/', '/rules/', '/api/', '/daemon/', '/sources/', '/alerts/', '/resources/']) {
    assert.deepEqual(ours.filter((m) => m.includes(unused)), [], `the check bundle holds ${unused}`);
  }
  const missing = await procwatch(['check', 'procwatch-no-such-process:1-']);
  assert.equal(missing.code, 1, missing.stderr);
  const bad = await procwatch(['check', 'sshd:5-1']);
  assert.equal(bad.code, 2, bad.stdout);
  assert.match(bad.stderr, /^procwatch: .+\n$/);
  const nagios = await procwatch(['check', '--format', 'nagios', 'sshd:5-1']);
  assert.equal(nagios.code, 3, nagios.stderr);
  const unknown = await procwatch(['no-such-command']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^procwatch: unknown command 'no-such-command'/);
});
