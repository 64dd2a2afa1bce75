/**
 * Rules on the behaviour-capture events (issue 18): a shell line that writes into cron, a
 * shell that sent more than 10 MB out in one TCP session, a program whose syscall profile has
 * a syscall it should never make; fields of other kinds read as unknown.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alert } from '../../src/alerts/types.js';
import type { ProcEvent } from '../../src/events/types.js';
import { RuleEngine } from '../../src/rules/engine.js';
import { loadRuleSet, RULES_DEFAULTS } from '../../src/rules/ruleset.js';
import type { ScopeContext } from '../../src/rules/scope.js';
import { newRecord, type ProcessRecord } from '../../src/table/record.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-caprules-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('rules see shell lines, TCP sessions and syscall profiles', async () => {
  const path = join(dir, 'capture.yaml');
  writeFileSync(path, `
rules:
  - name: cron-write
    condition: event.kind == "shell" && event.line.contains("/etc/cron") && event.line.contains(">")
    output: '{process.name} wrote into cron from {event.cwd} on {event.tty}: {event.line}'
  - name: shell-exfil
    condition: event.kind == "session" && event.direction == "connect" && process.name in ["bash", "sh"] && event.bytesSent > 10485760
    output: '{process.name} sent {event.bytesSent} bytes to {event.remoteAddress}:{event.remotePort}'
  - name: nginx-ptrace
    condition: event.kind == "syscalls" && process.name == "nginx" && "ptrace" in event.syscalls
`);
  const set = await loadRuleSet({ ...RULES_DEFAULTS, pack: false, files: [path] }, new Set(['log']));
  const rec = (pid: number, comm: string): ProcessRecord => ({ ...newRecord(pid, 100 + pid, `${pid}:${100 + pid}`, 'observed'), comm, exe: `/usr/bin/${comm}`, uids: [0, 0, 0, 0], gids: [0, 0, 0, 0], startNs: 0 });
  const bash = rec(10, 'bash');
  const nginx = rec(11, 'nginx');
  const byKey = new Map([bash, nginx].map((r) => [r.key, r]));
  const ctx: ScopeContext = { get: (k) => byKey.get(k), ancestors: () => [], userName: (uid) => (uid === 0 ? 'root' : `u${uid}`), wallMs: (ns) => ns / 1e6 };
  const alerts: Alert[] = [];
  const engine = new RuleEngine({ ctx, bootId: 'b', maxQueue: 10, onAlert: (a) => alerts.push(a) });
  engine.setRuleSet(set);
  const run = (e: ProcEvent): Alert[] => {
    alerts.length = 0;
    engine.evaluate(e, e.key ? byKey.get(e.key) : undefined);
    return [...alerts];
  };
  const base = (seq: number, r: ProcessRecord) => ({ seq, ktimeNs: seq * 1e9, pid: r.pid, tid: r.pid, cpu: 0, provenance: 'observed' as const, key: r.key });
  const shell = (seq: number, line: string): ProcEvent => ({ ...base(seq, bash), kind: 'shell', line, lineTruncated: false, redacted: false, startTicks: 110, uid: 0, euid: 0,
    loginUid: 1000, sessionId: 3, tty: 'pts/1', cwd: '/root' });
  const fired = run(shell(1, 'echo "* * * * * root sh" > /etc/cron.d/x'));
  assert.deepEqual(fired.map((a) => a.name), ['cron-write']);
  assert.equal(fired[0]!.message, 'bash wrote into cron from /root on pts/1: echo "* * * * * root sh" > /etc/cron.d/x');
  assert.deepEqual(run(shell(2, 'cat /etc/crontab')).map((a) => a.name), [], 'reading is not writing');
  const session = (seq: number, bytesSent: number): ProcEvent => ({ ...base(seq, bash), kind: 'session', direction: 'connect', startTicks: 110, family: 'ipv4', protocol: 'tcp',
    localAddress: '10.0.0.5', localPort: 40000, remoteAddress: '203.0.113.9', remotePort: 443, establishedNs: 0, durationNs: 5e9, bytesSent, bytesReceived: 100,
    bytesRetransmitted: 0, retransmits: 0, closedFrom: 'FIN_WAIT2', uid: 0, cgroupId: 1 });
  assert.deepEqual(run(session(3, 1_000_000)).map((a) => a.name), [], '1 MB is under the limit');
  const exfil = run(session(4, 50_000_000));
  assert.deepEqual(exfil.map((a) => a.name), ['shell-exfil']);
  assert.equal(exfil[0]!.message, 'bash sent 50000000 bytes to 203.0.113.9:443');
  const profile = (seq: number, counts: Record<string, number>): ProcEvent => ({ ...base(seq, nginx), kind: 'syscalls', startTicks: 111, final: true,
    total: Object.values(counts).reduce((a, b) => a + b, 0), counts });
  assert.deepEqual(run(profile(5, { read: 10, epoll_wait: 5 })).map((a) => a.name), []);
  assert.deepEqual(run(profile(6, { read: 10, ptrace: 1 })).map((a) => a.name), ['nginx-ptrace']);
});
