/**
 * Rules benchmark (issue 11), `npm run bench -- rules`:
 *  1. The daemon in the exec storm (bench/storm/storm.c, 2 workers, as fast as the machine
 *     goes) with 0 rules, the shipped pack, and 200 rules (the pack + 189 more of the same
 *     kinds): events per second, events lost (source, store, rule engine), and daemon CPU per
 *     1,000 events. Rounds alternate the configurations (the machine is shared and busy:
 *     compare within the run). Ratios are against 0 rules.
 *  2. Each pack rule's evaluation time per event (the engine's profiler, in this process, on
 *     an exec and an exit of every live process).
 *  3. Latency from the exec of a /tmp binary to the webhook request (a local HTTP server):
 *     median and p90 over sequential execs.
 * BENCH_RULES_TOTAL (default 10000) sets the storm size, BENCH_RULES_ROUNDS (default 2) the rounds.
 */

import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DaemonProcess } from './lib/daemon.mjs';
import { buildStorm, runStorm, cpuTicks, CLK_TCK } from './lib/storm.mjs';
import { markdownTable, machineLine } from './lib/report.mjs';
import { liveRecords } from './lib/live-records.mjs';

const TOTAL = Number(process.env.BENCH_RULES_TOTAL ?? 10_000);
const ROUNDS = Number(process.env.BENCH_RULES_ROUNDS ?? 2);

/** 189 rules shaped like the pack's (exec name/exe/ancestor tests, exits, connects), none of which the storm matches. */
function extraRules(n) {
  const rules = [];
  for (let i = 0; i < n; i++) {
    const shape = i % 6;
    const c = [
      `event.kind == "exec" && process.name == "nomatch-${i}"`,
      `event.kind == "exec" && process.exe.glob("/opt/nomatch-${i}/*")`,
      `event.kind == "exec" && process.name in shell_binaries && ancestors.exists(a, a.name == "nomatch-${i}")`,
      `event.kind == "exit" && process.name == "nomatch-${i}" && event.exitCode > 0`,
      `event.kind == "exec" && process.argv.exists(a, a == "--nomatch-${i}")`,
      `event.kind == "connect" && event.remotePort == ${10000 + i}`,
    ][shape];
    rules.push(`    - {name: extra-${i}, condition: '${c}'}`);
  }
  return rules.join('\n');
}

const CONFIGS = [
  { name: '0 rules', yaml: 'rules:\n  pack: false\n' },
  { name: 'shipped pack (11 rules)', yaml: '' },
  { name: '200 rules (pack + 189)', yaml: `rules:\n  rules:\n${extraRules(189)}\n` },
];

function sum(obj) {
  return Object.values(obj ?? {}).reduce((s, n) => s + n, 0);
}

async function storm(root, dir, storm, config, round) {
  const cfg = join(dir, `c${round}-${CONFIGS.indexOf(config)}.yaml`);
  writeFileSync(cfg, config.yaml || 'rules: {}\n');
  const d = new DaemonProcess({ root, database: join(dir, `e${round}-${CONFIGS.indexOf(config)}.db`), socket: join(dir, `s${round}.sock`), config: cfg });
  await d.start();
  try {
    await delay(1500); // the start's own work (seed, reconcile, first retention) settles
    const before = await d.stats();
    const cpu0 = cpuTicks(d.pid);
    const r = await runStorm(storm.bin, { total: TOTAL, workers: 2, pidfile: join(dir, `pids${round}`) });
    // Wait for the daemon to release, store and evaluate everything.
    let after;
    for (let i = 0; i < 600; i++) {
      after = await d.stats();
      const evaluated = after.rules ? after.rules.evaluated : null;
      const released = sum(after.eventsByKind);
      if (after.store.queued === 0 && (evaluated === null || after.rules.queued === 0) && released - sum(before.eventsByKind) >= TOTAL * 2) break;
      await delay(100);
    }
    await delay(300);
    after = await d.stats();
    const cpu1 = cpuTicks(d.pid);
    const events = sum(after.eventsByKind) - sum(before.eventsByKind);
    const cpuMs = ((cpu1 - cpu0) * 1000) / CLK_TCK;
    return {
      events, wallMs: r.wallMs, execsPerSec: (TOTAL * 1000) / r.wallMs, cpuMsPer1000: (cpuMs * 1000) / events,
      lost: after.sourceCounters.lost - before.sourceCounters.lost, storeDropped: after.store.dropped - before.store.dropped,
      ruleDropped: after.rules ? after.rules.dropped - (before.rules?.dropped ?? 0) : 0, alerts: after.rules?.alerts ?? 0,
    };
  } finally {
    await d.stop();
  }
}

async function perRule(root) {
  const { loadRuleSet, RULES_DEFAULTS } = await import(`${root}/dist/src/rules/ruleset.js`);
  const { RuleEngine } = await import(`${root}/dist/src/rules/engine.js`);
  const { byKey, ctx, events } = await liveRecords(root);
  const set = await loadRuleSet({ ...RULES_DEFAULTS }, new Set(['log', 'kill']));
  const engine = new RuleEngine({ ctx, bootId: 'b', maxQueue: 1, onAlert: () => {}, profile: true });
  engine.setRuleSet(set);
  const rounds = Math.ceil(100_000 / events.length);
  for (let i = 0; i < rounds; i++) for (const e of events) engine.evaluate(e, byKey.get(e.key));
  return set.rules.map((r) => ({ name: r.name, kinds: r.kinds === null ? 'any' : [...r.kinds].join(','), ...engine.perRule.get(r.name) }));
}

async function latency(root, dir) {
  const arrivals = new Map();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const t = process.hrtime.bigint();
      try {
        const a = JSON.parse(body);
        const arg = a.process?.argv?.[1];
        if (arg) arrivals.set(arg, t);
      } catch { /* not ours */ }
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const cfg = join(dir, 'lat.yaml');
  writeFileSync(cfg, `alerts:\n  actions:\n    hook: {type: webhook, url: "http://127.0.0.1:${port}/"}\n  default_actions: [hook]\nrules:\n  rate_limit: 1000/m\n`);
  const d = new DaemonProcess({ root, database: join(dir, 'lat.db'), socket: join(dir, 'lat.sock'), config: cfg });
  await d.start();
  const bin = join(mkdtempSync(join('/tmp', 'pwbench-lat-')), 'pwlat');
  copyFileSync('/bin/true', bin);
  chmodSync(bin, 0o755);
  const samples = [];
  try {
    await delay(1500);
    for (let i = 0; i < 40; i++) {
      const tag = `lat-${i}`;
      const t0 = process.hrtime.bigint();
      spawn(bin, [tag], { stdio: 'ignore' });
      for (let w = 0; w < 200 && !arrivals.has(tag); w++) await delay(5);
      if (arrivals.has(tag)) samples.push(Number(arrivals.get(tag) - t0) / 1e6);
      await delay(50);
    }
  } finally {
    await d.stop();
    server.close();
    rmSync(join(bin, '..'), { recursive: true, force: true });
  }
  samples.sort((a, b) => a - b);
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  return { n: samples.length, median: q(0.5), p90: q(0.9), min: samples[0], max: samples.at(-1) };
}

export async function run({ root }) {
  console.log(`${machineLine()} · load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-rules-'));
  const stormBin = buildStorm(root);
  try {
    const results = new Map(CONFIGS.map((c) => [c.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? CONFIGS : [...CONFIGS].reverse();
      for (const c of order) {
        const r = await storm(root, dir, stormBin, c, round);
        results.get(c.name).push(r);
        console.log(`round ${round + 1}, ${c.name}: ${r.events} events, ${r.execsPerSec.toFixed(0)} execs/s, ${r.cpuMsPer1000.toFixed(1)} ms CPU per 1000 events, lost ${r.lost}/${r.storeDropped}/${r.ruleDropped}`);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const base = median(results.get(CONFIGS[0].name).map((r) => r.cpuMsPer1000));
    const rows = CONFIGS.map((c) => {
      const rs = results.get(c.name);
      const cpu = median(rs.map((r) => r.cpuMsPer1000));
      const evps = median(rs.map((r) => (r.events * 1000) / r.wallMs));
      const lost = rs.reduce((s, r) => s + r.lost + r.storeDropped + r.ruleDropped, 0);
      return [c.name, String(rs.length), evps.toFixed(0), median(rs.map((r) => r.execsPerSec)).toFixed(0), String(lost), cpu.toFixed(1), `${((cpu / base - 1) * 100).toFixed(1)}%`];
    });
    console.log(`\nExec storm: ${TOTAL} execs from 2 workers per run, eBPF source (auto), median of ${ROUNDS} round(s)\n`);
    console.log(markdownTable(['rules', 'runs', 'events/s', 'execs/s', 'lost (source+store+rules)', 'daemon CPU ms / 1000 events', 'vs 0 rules'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']));

    const per = await perRule(root);
    console.log('\nPer-rule evaluation time (shipped pack; engine profiler; exec + exit of every live process, ~100k evaluations)\n');
    console.log(markdownTable(['rule', 'kinds', 'evaluations', 'mean ns / evaluation'], per.map((p) => [p.name, p.kinds, String(p.evaluations), p.evaluations ? (p.timeNs / p.evaluations).toFixed(0) : '—']), ['l', 'l', 'r', 'r']));

    const lat = await latency(root, dir);
    console.log(`\nExec of a /tmp binary → webhook request (local HTTP server), ${lat.n} sequential execs: median ${lat.median.toFixed(1)} ms, p90 ${lat.p90.toFixed(1)} ms, min ${lat.min.toFixed(1)}, max ${lat.max.toFixed(1)} ms`);
    return lat.n > 0;
  } finally {
    stormBin.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
