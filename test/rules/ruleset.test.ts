/** Rule files → a compiled rule set: the language, lists, macros, exceptions, overrides, and one `file:line` per mistake. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuleSet, RULES_DEFAULTS, type RuleSet } from '../../src/rules/ruleset.js';
import { RuleEngine } from '../../src/rules/engine.js';
import { RuleFileError } from '../../src/rules/yaml-file.js';
import type { ProcEvent } from '../../src/events/types.js';
import { newRecord, type ProcessRecord } from '../../src/table/record.js';
import type { Alert } from '../../src/alerts/types.js';
import type { ScopeContext } from '../../src/rules/scope.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-rules-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const path = join(dir, `r${++n}.yaml`);
  writeFileSync(path, text);
  return path;
}
const ACTIONS = new Set(['log', 'kill', 'hook']);
const load = (files: string[], pack = false): Promise<RuleSet> => loadRuleSet({ ...RULES_DEFAULTS, pack, files }, ACTIONS);

async function refused(files: string[], line: number, pattern: RegExp): Promise<void> {
  await assert.rejects(load(files), (err: unknown) => {
    assert.ok(err instanceof RuleFileError, `a RuleFileError, got ${String(err)}`);
    assert.equal(err.line, line, `line of: ${err.message}`);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return true;
  });
}

function record(pid: number, over: Partial<ProcessRecord> = {}): ProcessRecord {
  return { ...newRecord(pid, 1000 + pid, `${pid}:${1000 + pid}`, 'observed'), uids: [1000, 1000, 1000, 1000], gids: [1000, 1000, 1000, 1000], startNs: 0, ...over };
}

/** A tiny table: records by key, parents by parentKey. */
function harness(set: RuleSet, records: ProcessRecord[]): { run: (e: ProcEvent) => Alert[]; engine: RuleEngine } {
  const byKey = new Map(records.map((r) => [r.key, r]));
  const ctx: ScopeContext = {
    get: (k) => byKey.get(k),
    ancestors: (k) => { const out: ProcessRecord[] = []; let p = byKey.get(k)?.parentKey ?? null; while (p !== null) { const r = byKey.get(p); if (r === undefined) break; out.push(r); p = r.parentKey; } return out; },
    userName: (uid) => (uid === 0 ? 'root' : `u${uid}`),
    wallMs: (ns) => ns / 1e6,
  };
  const alerts: Alert[] = [];
  const engine = new RuleEngine({ ctx, bootId: 'b', maxQueue: 10, onAlert: (a) => alerts.push(a) });
  engine.setRuleSet(set);
  return {
    engine,
    run: (e) => {
      alerts.length = 0;
      engine.evaluate(e, e.key ? byKey.get(e.key) : undefined);
      return [...alerts];
    },
  };
}

const exec = (r: ProcessRecord, filename: string | null = null): ProcEvent => ({
  kind: 'exec', seq: 1, ktimeNs: 5e9, pid: r.pid, tid: r.pid, cpu: 0, provenance: 'observed', key: r.key,
  details: { comm: r.comm, exe: r.exe, argv: r.argv, argvTruncated: false, cwd: r.cwd, ppid: r.ppid, uids: r.uids, gids: r.gids, startTicks: r.startTicks, label: null, cgroup: null, filename },
});

test('the shipped pack loads, every rule indexed by the event kinds it can match', async () => {
  const set = await load([], true);
  const names = set.rules.map((r) => r.name);
  for (const name of ['exec-from-writable-dir', 'exec-deleted-binary', 'shell-under-network-service', 'reverse-shell', 'uid0-gained', 'ptrace-attach', 'gid0-not-uid0', 'domain-not-alone', 'service-abnormal-exit', 'container-drift', 'unexpected-listener']) {
    assert.ok(names.includes(name), `${name} in the pack`);
  }
  assert.deepEqual([...set.rules.find((r) => r.name === 'uid0-gained')!.kinds!], ['uid']);
  assert.deepEqual(set.byKind.get('fork'), [], 'no pack rule looks at forks: they cost nothing');
  assert.ok(set.byKind.get('exec')!.some((r) => r.name === 'exec-from-writable-dir'));
});

test('lists, macros, exceptions and an output template, evaluated on events', async () => {
  const set = await load([file(`
lists:
  shells: [sh, bash]
  web: [nginx]
macros:
  is_exec: event.kind == "exec"
  shell_spawn: is_exec && process.name in shells
rules:
  - name: shell-under-web
    severity: critical
    condition: shell_spawn && ancestors.exists(a, a.name in web)
    output: 'shell {process.exe} under {parent.name} ({rule}, {severity})'
    exceptions:
      - name: cgi
        fields: [parent.exe, process.args]
        comps: [glob, startswith]
        values:
          - [/usr/lib/cgi-bin/*, sh -c ok]
`)]);
  const nginx = record(10, { comm: 'nginx', exe: '/usr/sbin/nginx' });
  const cgi = record(11, { comm: 'cgi', exe: '/usr/lib/cgi-bin/run', parentKey: nginx.key, ppid: 10 });
  const shell = record(12, { comm: 'sh', exe: '/usr/bin/dash', argv: ['sh', '-c', 'id'], parentKey: cgi.key, ppid: 11 });
  const allowed = record(13, { comm: 'sh', exe: '/usr/bin/dash', argv: ['sh', '-c', 'ok now'], parentKey: cgi.key, ppid: 11 });
  const lone = record(14, { comm: 'sh', exe: '/usr/bin/dash', argv: ['sh'] });
  const h = harness(set, [nginx, cgi, shell, allowed, lone]);
  const fired = h.run(exec(shell));
  assert.equal(fired.length, 1);
  assert.equal(fired[0]!.message, 'shell /usr/bin/dash under cgi (shell-under-web, critical)');
  assert.equal(fired[0]!.severity, 'critical');
  assert.equal(fired[0]!.key, shell.key);
  assert.equal(h.run(exec(allowed)).length, 0, 'the exception tuple matches: no alert');
  assert.equal(h.run(exec(lone)).length, 0, 'no web server above');
  assert.equal(h.run(exec(shell)).length, 0, 'the same rule and process alert once');
});

test('a later file appends to lists and overrides a rule: tuning is a list edit', async () => {
  const base = file(`
lists:
  shells: [sh]
rules:
  - name: shells
    condition: event.kind == "exec" && process.name in shells
    exceptions:
      - name: known
        fields: [process.exe]
        values: [/bin/known]
`);
  const tuning = file(`
lists:
  shells: {append: [zsh]}
overrides:
  - rule: shells
    severity: error
    actions: [hook]
    exceptions:
      - name: known
        values: [/bin/also-known]
`);
  const set = await load([base, tuning]);
  const rule = set.rules[0]!;
  assert.equal(rule.severity, 'error');
  assert.deepEqual(rule.actions, ['hook']);
  const h = harness(set, [record(1, { comm: 'zsh', exe: '/bin/zsh' }), record(2, { comm: 'zsh', exe: '/bin/also-known' }), record(3, { comm: 'sh', exe: '/bin/known' })]);
  assert.equal(h.run(exec(record(1, { comm: 'zsh', exe: '/bin/zsh' }))).length, 1, 'zsh appended to the list');
  assert.equal(h.run(exec(record(2, { comm: 'zsh', exe: '/bin/also-known' }))).length, 0, 'appended exception value');
  assert.equal(h.run(exec(record(3, { comm: 'sh', exe: '/bin/known' }))).length, 0, 'the original exception value stays');
});

test('every mistake is refused with file:line and the reason', async () => {
  await refused([file('rules:\n  - name: x\n    condition: >-\n      event.kind == "exec" &&\n      process.nmae == "sh"\n')], 5, /condition: No such key: nmae/);
  await refused([file('rules:\n  - name: x\n    condition: event.kind == "exec" &&\n')], 3, /condition: /);
  await refused([file('rules:\n  - name: x\n    condition: process.name\n')], 3, /not bool/);
  await refused([file('rules:\n  - name: x\n    condition: unknown_list == 1\n')], 3, /Unknown variable: unknown_list/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n    severity: loud\n')], 4, /severity: expected one of/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n    actions: [pager]\n')], 4, /unknown action 'pager'/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n    actions: [kill]\n')], 4, /kill action needs mode: enforce/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n    colour: red\n')], 4, /unknown key 'colour'/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n    output: "{process.nope}"\n')], 4, /unknown field 'process.nope'/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n    rate_limit: often\n')], 4, /rate_limit/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n    exceptions:\n      - name: e\n        fields: [process.exe, parent.exe]\n        values: [[a]]\n')], 5, /values\[0\] has 1 item/);
  await refused([file('macros:\n  a: b\n  b: a\nrules: []\n')], 2, /refers to itself: a → b → a/);
  await refused([file('lists:\n  shells: {append: [x]}\n')], 2, /no list of that name/);
  await refused([file('lists:\n  event: [x]\n')], 2, /bad list name 'event'/);
  await refused([file('rules:\n  - name: x\n    condition: "true"\n  - name: x\n    condition: "true"\n')], 4, /defined twice/);
  await refused([file('overrides:\n  - rule: nothing\n    enabled: false\n')], 2, /no rule named 'nothing'/);
  await refused([file('rules: [\n')], 2, /YAML/);
  await refused([join(dir, 'missing.yaml')], 0, /cannot read: ENOENT/);
});

test('a directory of rule files is read in name order', async () => {
  const d = mkdtempSync(join(dir, 'd-'));
  writeFileSync(join(d, '20-tune.yaml'), 'overrides:\n  - rule: a\n    enabled: false\n');
  writeFileSync(join(d, '10-base.yml'), 'rules:\n  - name: a\n    condition: "true"\n');
  writeFileSync(join(d, 'notes.txt'), 'not a rule file');
  const set = await load([d]);
  assert.equal(set.rules[0]!.enabled, false);
  assert.equal(set.byKind.get('exec')!.length, 0);
});

test('helpers: glob, globAny, basename, inCidr, event fields of other kinds read as unknown', async () => {
  const set = await load([file(`
rules:
  - name: g
    condition: process.exe.glob("/opt/*/bin/x") && process.exe.basename() == "x" && process.exe.dirname() == "/opt/a/bin"
  - name: c
    condition: event.kind == "connect" && event.remoteAddress.inCidr("10.0.0.0/8") && event.remotePort == 4444
  - name: u
    condition: event.kind == "exec" && event.exitCode == -1 && event.remotePort == -1 && process.cwd == ""
`)]);
  const r = record(5, { comm: 'x', exe: '/opt/a/bin/x' });
  const h = harness(set, [r]);
  assert.deepEqual(h.run(exec(r)).map((a) => a.name).sort(), ['g', 'u']);
  const connect = (addr: string): ProcEvent => ({
    kind: 'connect', seq: 2, ktimeNs: 6e9, pid: 5, tid: 5, cpu: 0, provenance: 'observed', key: r.key, family: 'ipv4', protocol: 'tcp',
    localAddress: null, localPort: null, remoteAddress: addr, remotePort: 4444, fd: 3, result: 0, error: null, uid: 0, cgroupId: 1,
  });
  h.engine.setRuleSet(set);
  assert.deepEqual(h.run(connect('10.1.2.3')).map((a) => a.name), ['c']);
  assert.deepEqual(h.run({ ...connect('192.168.1.1'), key: r.key, seq: 3 }).map((a) => a.name), []);
});

test('domain-not-alone (pack): a second process in init_t fires, a first one or another domain does not (labels as SELinux writes them; no LSM here)', async () => {
  const set = await load([], true);
  const init = record(1, { comm: 'systemd', exe: '/usr/lib/systemd/systemd', label: 'system_u:system_r:init_t:s0' });
  const second = record(40, { comm: 'mysqld', exe: '/usr/sbin/mysqld', label: 'system_u:system_r:init_t:s0' });
  const other = record(41, { comm: 'sshd', exe: '/usr/sbin/sshd', label: 'system_u:system_r:sshd_t:s0-s0:c0.c1023' });
  const live = [init, second, other];
  const h = harness(set, live);
  // The daemon's context counts live peers in the table; this one counts the records above.
  const peers = (r: ProcessRecord, domain: string): number => live.filter((x) => x.key !== r.key && x.label !== null && x.label.split(':')[2] === domain).length;
  (h.engine as unknown as { options: { ctx: ScopeContext } }).options.ctx.domainPeers = peers;
  const fired = h.run(exec(second));
  assert.deepEqual(fired.map((a) => a.name), ['domain-not-alone']);
  assert.match(fired[0]!.message, /1 other process\(es\) share the security domain of mysqld/);
  assert.deepEqual(h.run(exec(other)).map((a) => a.name), []);
  live.splice(1, 1); // mysqld gone: systemd alone again
  assert.deepEqual(h.run({ ...exec(init), seq: 9 }).map((a) => a.name), []);
});
