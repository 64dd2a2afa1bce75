/** The rule engine's stream side: the uids it remembers per process, for `event.previousEuid`. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { loadRuleSet, RULES_DEFAULTS } from '../../src/rules/ruleset.js';
import { RuleEngine } from '../../src/rules/engine.js';
import type { IdQuad, ProcEvent, ProcessUsage } from '../../src/events/types.js';
import { newRecord, type ProcessRecord } from '../../src/table/record.js';
import type { Alert } from '../../src/alerts/types.js';
import type { ScopeContext } from '../../src/rules/scope.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-engine-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const RULES = `
rules:
  - name: became-root
    description: a process whose effective uid was 1000 became root
    severity: critical
    condition: event.kind == "uid" && event.euid == 0 && event.previousEuid == 1000
    output: '{process.name} became root'
`;

async function engineWithRule(): Promise<{ engine: RuleEngine; alerts: Alert[] }> {
  const path = join(dir, 'rules.yaml');
  writeFileSync(path, RULES);
  const set = await loadRuleSet({ ...RULES_DEFAULTS, pack: false, files: [path] }, new Set(['log']));
  const ctx: ScopeContext = { get: () => undefined, ancestors: () => [], userName: (uid) => `u${uid}`, wallMs: (ns) => ns / 1e6 };
  const alerts: Alert[] = [];
  const engine = new RuleEngine({ ctx, bootId: 'b', maxQueue: 100_000, onAlert: (a) => alerts.push(a) });
  engine.setRuleSet(set);
  return { engine, alerts };
}

const USER: IdQuad = [1000, 1000, 1000, 1000];
const ROOT: IdQuad = [0, 0, 0, 0];
const USAGE = { cpuSeconds: 0, userSeconds: 0, systemSeconds: 0, cpuResolution: 'ns', maxRssBytes: 0 } as ProcessUsage;

/** One process's life as the table releases it: each event with the record right after it. */
function life(pid: number, becomesRoot: boolean): Array<[ProcEvent, ProcessRecord]> {
  const key = `${pid}:${5000 + pid}`;
  const base = { pid, tid: pid, cpu: 0, provenance: 'observed' as const, key };
  const started: ProcessRecord = { ...newRecord(pid, 5000 + pid, key, 'observed'), comm: 'worker', uids: USER, gids: USER, startNs: 1e9 };
  const root: ProcessRecord = { ...started, uids: ROOT };
  const last = becomesRoot ? root : started;
  const exited: ProcessRecord = { ...last, exitNs: 3e9, exit: { code: 0, signal: null, coreDumped: false }, exitOrigin: 'observed' };
  const out: Array<[ProcEvent, ProcessRecord]> = [
    [{ ...base, seq: 1, ktimeNs: 1e9, kind: 'fork', parentPid: 1, parentTid: 1, thread: false }, started],
  ];
  if (becomesRoot) out.push([{ ...base, seq: 2, ktimeNs: 2e9, kind: 'uid', ruid: 0, euid: 0 }, root]);
  out.push([{ ...base, seq: 3, ktimeNs: 3e9, kind: 'exit', status: { code: 0, signal: null, coreDumped: false }, rawCode: 0, parentPid: 1 }, exited]);
  // The exit accounting comes after the exit; the table still holds the exited record.
  out.push([{ ...base, seq: 4, ktimeNs: 3.1e9, kind: 'acct', startTicks: 5000 + pid, usage: USAGE }, exited]);
  return out;
}

function push(engine: RuleEngine, steps: Array<[ProcEvent, ProcessRecord]>): void {
  const records = new Map(steps.map(([e, r]) => [e, r]));
  engine.push(steps.map(([e]) => e), (e) => records.get(e));
}

test('a uid event sees the uids before it (event.previousEuid), and the rule fires on them', async () => {
  const { engine, alerts } = await engineWithRule();
  push(engine, life(700, true));
  await nextTurn();
  assert.equal(alerts.length, 1, `one alert, got ${alerts.map((a) => a.name).join(', ')}`);
  assert.equal(alerts[0]!.name, 'became-root');
  assert.equal(alerts[0]!.process?.pid, 700);
});

test('an ended process is forgotten: the exit accounting that follows its exit does not bring it back', async () => {
  const { engine } = await engineWithRule();
  // Seeded processes are remembered until they end.
  engine.seedUids([{ ...newRecord(1, 10, '1:10', 'seeded'), uids: ROOT }]);
  assert.equal(engine.trackedProcesses, 1);
  for (let pid = 1000; pid < 3000; pid++) push(engine, life(pid, pid % 2 === 0));
  await nextTurn();
  assert.equal(engine.trackedProcesses, 1, 'only the live seeded process; before, every acct re-added its ended process (up to 200,000)');
});

test('a live process stays remembered across its events, so a later uid change still knows the uids before it', async () => {
  const { engine, alerts } = await engineWithRule();
  const steps = life(800, true);
  // Fork (remembered as uid 1000), then the uid change in a later batch.
  push(engine, steps.slice(0, 1));
  assert.equal(engine.trackedProcesses, 1);
  push(engine, steps.slice(1, 2));
  await nextTurn();
  assert.equal(alerts.length, 1);
  push(engine, steps.slice(2));
  assert.equal(engine.trackedProcesses, 0);
});
