/**
 * Conditions compiled to JavaScript give cel-js's results: every pack rule and macro compiles,
 * and on a mix of events each rule of the pack (and of a file of harder conditions) matches,
 * does not match, or fails exactly as it does on cel-js.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadRuleSet, PACK_FILE, RULES_DEFAULTS, type RuleSet } from '../../src/rules/ruleset.js';
import { RuleLanguage } from '../../src/rules/language.js';
import type { IdQuad, ProcEvent } from '../../src/events/types.js';
import { newRecord, type ProcessRecord } from '../../src/table/record.js';
import type { ScopeContext } from '../../src/rules/scope.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-compiled-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Conditions beyond the pack: errors on one side of && / ||, in exists / all, nesting, and some outside the subset. */
const HARDER = `
lists:
  names: [sh, nginx, "a b"]
macros:
  bad_cidr: 'event.remoteAddress.inCidr("not-a-network")'
  nginx_above: 'ancestors.exists(a, a.name == "nginx")'
rules:
  - {name: error-or-true, condition: 'bad_cidr || process.name == "sh"'}
  - {name: true-or-error, condition: 'process.name == "sh" || bad_cidr'}
  - {name: error-and-false, condition: 'bad_cidr && process.name == "nomatch"'}
  - {name: false-and-error, condition: 'process.name == "nomatch" && bad_cidr'}
  - {name: error-alone, condition: 'bad_cidr'}
  - {name: not-error, condition: '!bad_cidr'}
  - {name: exists-error, condition: 'ancestors.exists(a, a.name == "nginx" || a.exe.inCidr("bad"))'}
  - {name: all-error, condition: 'ancestors.all(a, a.name != "nginx" && a.exe.inCidr("bad"))'}
  - {name: all-names, condition: 'ancestors.all(a, a.name in names)'}
  - {name: nested, condition: 'ancestors.exists(a, ancestors.exists(b, b.pid == a.ppid && b.name == "nginx"))'}
  - {name: argv, condition: 'process.argv.exists(x, x.startsWith("-") || x.contains("/tmp/"))'}
  - {name: ternary, condition: 'process.known ? process.euid == 0 : event.kind == "exit"'}
  - {name: compare, condition: 'process.age >= 0.0 && process.pid > 11 && process.ppid <= 1 && event.seq < 1000 && event.time != 0.0'}
  - {name: nested-in, condition: '(process.name in names ? "sh" : "x") in names || "a b" in process.argv'}
  - {name: literal-list, condition: 'event.kind in ["exec", "exit"] && !(process.name in ["zzz"])'}
  - {name: functions, condition: 'process.exe.basename() == "sh" || process.exe.dirname() == "/tmp" || process.exe.glob("/usr/*/s?") || process.exe.globAny(["/opt/*"])'}
  - {name: cidr, condition: 'event.remoteAddress.inCidrAny(["10.0.0.0/8", "::1/128"]) && !event.remoteAddress.inCidr("10.9.0.0/16")'}
  - {name: string-int, condition: 'string(event.signal) == "9" || string(process.uid) in ["0"]'}
  - {name: macro-in-loop, condition: 'process.argv.exists(x, nginx_above && x != "")'}
  - {name: shadowed, condition: 'ancestors.exists(a, process.argv.exists(a, a.startsWith("")) && a.name == "nginx")'}
  - name: quotes
    condition: |-
      process.name == "a\\" + (globalThis.pwned = 1) + \\"b" || process.args.contains("\\\\\\"); globalThis.pwned = 2; //") || process.name == "sh"
  - {name: outside-size, condition: 'size(process.argv) > 2'}
  - {name: outside-matches, condition: 'process.args.matches("^sh -c")'}
  - {name: outside-math, condition: 'process.pid + 1 > 2 && event.exitCode / 0 == 1 || process.name == "sh"'}
`;

function record(pid: number, over: Partial<ProcessRecord> = {}): ProcessRecord {
  return { ...newRecord(pid, 1000 + pid, `${pid}:${1000 + pid}`, 'observed'), uids: [1000, 1000, 1000, 1000], gids: [1000, 1000, 1000, 1000], startNs: 0, ...over };
}

const nginx = record(10, { comm: 'nginx', exe: '/usr/sbin/nginx', ppid: 1, uids: [33, 33, 33, 33], cgroup: '0::/system.slice/nginx.service' });
const RECORDS: ProcessRecord[] = [
  nginx,
  record(11, { comm: 'sh', exe: '/usr/bin/sh', ppid: 10, parentKey: nginx.key, argv: ['sh', '-c', 'id'], uids: [33, 33, 33, 33] }),
  record(12, { comm: 'x', exe: '/tmp/x', ppid: 11, parentKey: '11:1011', argv: ['/tmp/x', '--flag'], uids: [0, 0, 0, 0], gids: [0, 0, 0, 0] }),
  record(13, { comm: 'bad', exe: '/usr/bin/bad (deleted)', ppid: 1, argv: ['bad', 'a b'], uids: [1000, 1000, 1000, 1000], gids: [0, 0, 0, 0] }),
  record(14, { comm: 'app', exe: '/usr/bin/app', ppid: 1, cgroup: '0::/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope' }),
  record(15, { comm: 'daemon', exe: '/usr/sbin/daemon', ppid: 1, cgroup: '0::/system.slice/daemon.service', label: 'system_u:system_r:init_t:s0' }),
  record(16, { comm: 'strace', exe: '/usr/bin/strace', ppid: 1 }),
  record(17, { comm: 'sh', exe: '/usr/bin/s2', ppid: 16, parentKey: '16:1016', argv: [] }),
];

const base = (pid: number, seq: number): { seq: number; ktimeNs: number; pid: number; tid: number; cpu: number; provenance: 'observed'; key: string } =>
  ({ seq, ktimeNs: 5e9 + seq, pid, tid: pid, cpu: 0, provenance: 'observed', key: `${pid}:${1000 + pid}` });

function exec(pid: number, seq: number, filename: string): ProcEvent {
  const r = RECORDS.find((x) => x.pid === pid)!;
  return { ...base(pid, seq), kind: 'exec', details: { comm: r.comm, exe: r.exe, argv: r.argv, argvTruncated: false, cwd: '/', ppid: r.ppid, uids: r.uids, gids: r.gids, startTicks: r.startTicks, label: r.label, cgroup: r.cgroup, filename } };
}

function socket(pid: number, seq: number, kind: 'connect' | 'accept', remoteAddress: string): ProcEvent {
  return { ...base(pid, seq), kind, family: remoteAddress.includes(':') ? 'ipv6' : 'ipv4', protocol: 'tcp', localAddress: '10.1.2.3', localPort: 22, remoteAddress, remotePort: 4444, fd: 3, result: 0, error: null, uid: 0, cgroupId: 1 };
}

/** Events with the uids the process had before them (uid events). */
const EVENTS: Array<[ProcEvent, IdQuad | null]> = [
  ...RECORDS.map((r, i): [ProcEvent, IdQuad | null] => [exec(r.pid, i + 1, i % 2 === 0 ? r.exe ?? '' : '/tmp/script'), null]),
  [{ ...base(12, 20), kind: 'uid', ruid: 0, euid: 0 }, [1000, 1000, 1000, 1000]],
  [{ ...base(11, 21), kind: 'uid', ruid: 0, euid: 0 }, null],
  [{ ...base(13, 22), kind: 'gid', rgid: 0, egid: 0 }, null],
  [{ ...base(15, 23), kind: 'exit', status: { code: null, signal: 9, coreDumped: false }, rawCode: 9, parentPid: 1 }, null],
  [{ ...base(15, 24), kind: 'exit', status: { code: 3, signal: null, coreDumped: false }, rawCode: 768, parentPid: 1 }, null],
  [{ ...base(13, 25), kind: 'exit', status: { code: 0, signal: null, coreDumped: false }, rawCode: 0, parentPid: 1 }, null],
  [{ ...base(17, 26), kind: 'ptrace', tracerPid: 16, tracerTid: 16 }, null],
  [{ ...base(12, 27), kind: 'ptrace', tracerPid: 99, tracerTid: 99 }, null],
  [socket(11, 28, 'connect', '10.9.8.7'), null],
  [socket(11, 29, 'connect', '::1'), null],
  [socket(12, 30, 'accept', '192.0.2.1'), null],
  [socket(10, 31, 'accept', '10.0.0.5'), null],
  [{ ...base(999, 32), kind: 'exec', details: { comm: null, exe: null, argv: null, argvTruncated: false, cwd: null, ppid: null, uids: null, gids: null, startTicks: null, label: null, cgroup: null } }, null],
  [{ ...base(0, 33), kind: 'lost', count: 5, reason: 'ring buffer full', key: null }, null],
];

function context(): ScopeContext {
  const byKey = new Map(RECORDS.map((r) => [r.key, r]));
  return {
    get: (k) => byKey.get(k),
    ancestors: (k) => {
      const out: ProcessRecord[] = [];
      let p = byKey.get(k)?.parentKey ?? null;
      while (p !== null) { const r = byKey.get(p); if (r === undefined) break; out.push(r); p = r.parentKey; }
      return out;
    },
    userName: (uid) => (uid === 0 ? 'root' : `u${uid}`),
    wallMs: (ns) => ns / 1e6,
    // pid 11's stdin and stdout are a TCP connection (reverse-shell), everyone else's a pipe.
    fdTarget: (r) => (r.pid === 11 ? 'tcp:10.9.8.7:4444' : 'pipe:[1]'),
    domainPeers: (r) => (r.pid === 15 ? 1 : 0),
  };
}

/** Each rule's outcome per event: true, false, or "error". */
function outcomes(set: RuleSet): Map<string, string[]> {
  const ctx = context();
  const out = new Map<string, string[]>();
  for (const rule of set.rules) {
    const results: string[] = [];
    for (const [event, previousUids] of EVENTS) {
      const scope = new set.scopeClass({ event, record: RECORDS.find((r) => r.key === event.key), ctx, previousUids });
      try {
        results.push(String(rule.matches(scope)));
      } catch {
        results.push('error');
      }
    }
    out.set(rule.name, results);
  }
  return out;
}

const load = (files: string[], pack: boolean, interpreted: boolean): Promise<RuleSet> =>
  loadRuleSet({ ...RULES_DEFAULTS, pack, files }, new Set(['log', 'kill']), [], { interpreted });

test('every condition and macro of the shipped pack is compiled to JavaScript', () => {
  const pack = parse(readFileSync(PACK_FILE, 'utf8')) as { lists: Record<string, unknown>; macros: Record<string, string>; rules: Array<{ name: string; condition: string }> };
  const lang = new RuleLanguage(Object.keys(pack.lists), Object.keys(pack.macros));
  for (const [name, text] of Object.entries(pack.macros)) assert.equal(lang.compile(text).compiled, true, `macro ${name}`);
  for (const rule of pack.rules) assert.equal(lang.compile(rule.condition).compiled, true, `rule ${rule.name}`);
});

test('conditions outside the subset run on cel-js', () => {
  const lang = new RuleLanguage([], []);
  assert.equal(lang.compile('size(process.argv) > 2').compiled, false);
  assert.equal(lang.compile('process.args.matches("^x")').compiled, false);
  assert.equal(lang.compile('process.pid + 1 > 2').compiled, false);
  assert.equal(lang.compile('process.name == "x"').compiled, true);
});

test('the shipped pack: compiled conditions give cel-js\'s result for every rule and event', async () => {
  const compiled = outcomes(await load([], true, false));
  const interpreted = outcomes(await load([], true, true));
  assert.deepEqual(compiled, interpreted);
  // The events exercise the pack: every rule fires on one of them at least.
  for (const [name, results] of compiled) assert.ok(results.includes('true'), `${name} fires on some event`);
});

test('errors, quantifiers and nesting: compiled conditions give cel-js\'s result, errors included', async () => {
  const path = join(dir, 'harder.yaml');
  writeFileSync(path, HARDER);
  const compiled = outcomes(await load([path], false, false));
  const interpreted = outcomes(await load([path], false, true));
  assert.deepEqual(compiled, interpreted);
  const on = (rule: string): string[] => compiled.get(rule)!;
  // One decided side wins over an error on the other; alone, the error is an error.
  assert.ok(on('error-or-true').includes('true') && on('error-or-true').includes('error'));
  assert.deepEqual(new Set(on('error-and-false')), new Set(['false']));
  assert.deepEqual(new Set(on('false-and-error')), new Set(['false']));
  assert.deepEqual(new Set(on('error-alone')), new Set(['error']));
  assert.deepEqual(new Set(on('not-error')), new Set(['error']));
  // exists: an element that decides wins over another's error.
  assert.ok(on('exists-error').includes('true') && on('exists-error').includes('error') && on('exists-error').includes('false'));
  assert.ok(on('nested').includes('true'));
  // Literals are data, never source: the quotes in them ran nothing.
  assert.equal((globalThis as { pwned?: unknown }).pwned, undefined);
  for (const [name, results] of compiled) if (!['error-alone', 'not-error', 'error-and-false', 'false-and-error'].includes(name)) assert.ok(results.includes('true'), `${name} is true on some event`);
});
