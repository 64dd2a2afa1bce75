/**
 * The fleet exporter (issue 15) against a local 3-node JetStream cluster (Debian's nats-server on
 * free loopback ports, stream with 3 replicas), in the same run as its peers:
 *
 * 1. backlog: a store filled with BENCH_EXPORT_BACKLOG (1,000,000) synthetic events (fork, exec,
 *    exit of short commands, as in an exec storm) through the store API, a daemon started on it
 *    while every NATS node is down (the outage), then the cluster started: the time from the
 *    cluster answering to the last event acknowledged (the drain), events/s, and the daemon's CPU
 *    per 1,000 exported events. Peer: the NATS client alone (@nats-io/jetstream `publish`, the
 *    same bodies and message ids prepared in memory, in windows of 1,000 like the exporter's, and
 *    of 10,000) publishing BENCH_EXPORT_PEER (200,000) to the same cluster: what the
 *    library and the servers allow on this machine, without the store or procwatch. The same
 *    drain and peer again with a 1-replica stream on the same cluster, and with one standalone
 *    server (no cluster): which part of the drain time is the servers'.
 * 2. storm: a daemon (netlink) during an exec storm of BENCH_STORM (10,000) `/bin/true` from two
 *    workers (bench/storm/storm.c: the machine's maximum exec rate), with export on and off,
 *    alternated BENCH_EXPORT_ROUNDS (2) times: the daemon's CPU time for the storm, the CPU the
 *    export adds (per storm, and per stored event: the storm's events include every other
 *    process of the shared machine), and the export lag when the storm ends and how long it
 *    takes to reach zero. BENCH_EXPORT_PROF=DIR: `node --cpu-prof` profiles of the daemons with
 *    export on (their CPU figures then include the profiler).
 *
 * `npm run bench -- export [--only=backlog,storm]`. Needs root (the proc connector) and
 * nats-server. Goals (issue 15): export keeps up with the maximum exec rate with under 10% added
 * daemon CPU; a 1,000,000-event backlog drains in under 60 s. Every daemon and server is
 * stopped at the end, temp files removed.
 */

import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DaemonProcess, killAllDaemons, waitForStats } from './lib/daemon.mjs';
import { machineLine, markdownTable, ratio } from './lib/report.mjs';
import { CLK_TCK, buildStorm, cpuTicks, runStorm } from './lib/storm.mjs';

const env = process.env;
const BACKLOG = positiveInt(env.BENCH_EXPORT_BACKLOG, 1_000_000);
const PEER = positiveInt(env.BENCH_EXPORT_PEER, 200_000);
const STORM = positiveInt(env.BENCH_STORM, 10_000);
const ROUNDS = positiveInt(env.BENCH_EXPORT_ROUNDS, 2);
const PARTS = ['backlog', 'storm'];
/** A directory for `node --cpu-prof` profiles of the storm daemons with export on (BENCH_EXPORT_PROF=DIR). */
const PROF = env.BENCH_EXPORT_PROF ?? null;

function positiveInt(text, fallback) {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${text}'`);
  return n;
}

const int = (n) => Math.round(n).toLocaleString('en-US');
const verdict = (ok) => (ok ? 'MET ' : 'MISS');
const loadavg = async () => (await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function exportYaml(urls, host, stream, replicas = 3, prefix = 'procwatch') {
  return `  export:\n    nats:\n      servers: [${urls.join(', ')}]\n      host: ${host}\n      stream: ${stream}\n      subject_prefix: ${prefix}\n      replicas: ${replicas}\n      max_age: 1h\n`;
}

/** A store of `n` events: fork + exec + exit of short commands with the argv an exec storm has. */
async function fillStore(root, path, n) {
  const { EventStore } = await import(join(root, 'dist/src/store/index.js'));
  const { readBootId } = await import(join(root, 'dist/src/daemon/daemon.js'));
  const store = new EventStore({ path, bootId: readBootId(), source: 'bench', maxQueue: 50_000 });
  const base = Date.now() - 3_600_000;
  const wall = (ns) => base + ns / 1e6;
  let made = 0;
  for (let p = 0; made < n; p++) {
    const pid = 10_000 + (p % 4_000_000);
    const t = p * 400_000;
    const key = `${pid}:${p}`;
    const common = { pid, tid: pid, cpu: p % 2, provenance: 'observed', key };
    const batch = [
      { ...common, seq: made + 1, ktimeNs: t, kind: 'fork', parentPid: 1234, parentTid: 1234, thread: false, startTicks: p },
      { ...common, seq: made + 2, ktimeNs: t + 100_000, kind: 'exec', details: { comm: 'true', exe: '/usr/bin/true', argv: ['/bin/true', `storm-0-${p}`], argvTruncated: false, cwd: '/root', ppid: 1234, uids: [0, 0, 0, 0], gids: [0, 0, 0, 0], startTicks: p, label: null, cgroup: '/user.slice/user-0.slice/session-1.scope', cgroupId: 4242, filename: '/bin/true' } },
      { ...common, seq: made + 3, ktimeNs: t + 300_000, kind: 'exit', status: { code: 0, signal: null, coreDumped: false }, rawCode: 0, parentPid: 1234, comm: 'true' },
    ].slice(0, n - made);
    store.enqueue(batch, () => undefined, wall);
    made += batch.length;
    if (made % 30_000 === 0 || made >= n) store.flush();
  }
  store.close();
}

// ---- 1. backlog drain after an outage, and the client alone ---------------------------------------

/** A copy of the filled store (closed, so the WAL is checkpointed) for a second drain. */
function copyStore(from, to) {
  copyFileSync(from, to);
  for (const suffix of ['-wal', '-shm']) if (existsSync(from + suffix)) copyFileSync(from + suffix, to + suffix);
}

async function backlog(root, cluster, dir, db, replicas, name = `r${replicas}`) {
  await cluster.stopAll(); // the outage
  const config = join(dir, `backlog-${name}.yaml`);
  writeFileSync(config, `daemon:\n  source: poll\n  poll_interval_ms: 5000\n${exportYaml(cluster.urls, `bench-backlog-${name}`, `BENCHBACKLOG${name.toUpperCase()}`, replicas, `backlog-${name}`)}`);
  const d = new DaemonProcess({ root, database: db, socket: join(dir, `backlog-${name}.sock`), config, nodeArgs: PROF === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROF}`] });
  await d.start();
  await waitForStats(d, (s) => s.export.failures >= 1, { what: 'the exporter to find the cluster down' });
  await cluster.startAll();
  await cluster.ready();
  const ready = performance.now();
  const ticks0 = cpuTicks(d.pid);
  const s = await waitForStats(d, (x) => x.export.cursor.events >= BACKLOG, { what: `the backlog of ${BACKLOG} to drain`, timeoutMs: 900_000, everyMs: 250 });
  const drain = (performance.now() - ready) / 1000;
  const cpu = (cpuTicks(d.pid) - ticks0) / CLK_TCK;
  const exit = await d.stop();
  if (exit?.code !== 0) throw new Error(`backlog daemon ended badly: ${JSON.stringify(exit)} ${d.stderr()}`);
  return { drain, rate: BACKLOG / drain, cpu, cpuPerK: (cpu * 1000) / BACKLOG, published: s.export.published.events, duplicates: s.export.duplicates };
}

/** The NATS client alone: the same kind of bodies and ids, from memory, in windows of `window` (all acknowledged before the next). */
async function clientAlone(cluster, n, window, replicas = 3) {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: cluster.urls });
  const stream = `BENCHPEER${window}R${replicas}`;
  await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`peer${window}r${replicas}.>`], num_replicas: replicas, max_age: 3_600e9 });
  const js = jetstream(nc, { timeout: 30_000 });
  const subject = `peer${window}r${replicas}.bench.events.exec`;
  const body = (i) => `{"type":"event","host":"bench","store":"0123456789abcdef","id":${i},"bootId":"9a3c8d5e-2f1b-4c7a-8e6d-5b4a3c2d1e0f","run":1,"seq":${i},"time":"2026-12-04T12:00:00.000Z","ktimeNs":${i * 1000},"kind":"exec","pid":${i},"tid":${i},"key":"${i}:${i}","provenance":"observed","user":"root","cpu":0,"details":{"comm":"true","exe":"/usr/bin/true","argv":["/bin/true","storm-0-${i}"],"argvTruncated":false,"cwd":"/root","ppid":1234,"uids":[0,0,0,0],"gids":[0,0,0,0],"startTicks":${i},"label":null,"cgroup":"/user.slice/user-0.slice/session-1.scope","cgroupId":4242,"filename":"/bin/true"}}`;
  const bodies = Array.from({ length: n }, (_, i) => body(i + 1));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const step = window;
  for (let i = 0; i < n; i += step) {
    const acks = [];
    for (let j = i; j < Math.min(n, i + step); j++) acks.push(js.publish(subject, bodies[j], { msgID: `bench:0123456789abcdef:e${j + 1}` }));
    await Promise.all(acks);
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await nc.close();
  return { rate: n / wall, cpuPerK: ((cpu.user + cpu.system) / 1e6 * 1000) / n };
}

// ---- 2. the daemon's CPU in an exec storm, export on and off ------------------------------------------

async function stormRound(root, dir, storm, cluster, withExport, round) {
  const config = join(dir, `storm-${withExport}-${round}.yaml`);
  writeFileSync(config, `daemon:\n  source: netlink\n${withExport ? exportYaml(cluster.urls, `bench-storm-${round}`, 'BENCHSTORM') : ''}`);
  const nodeArgs = PROF !== null && withExport ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`] : [];
  const d = new DaemonProcess({ root, database: join(dir, `storm-${withExport}-${round}.db`), socket: join(dir, `storm-${withExport}-${round}.sock`), config, nodeArgs });
  await d.start();
  if (withExport) {
    try {
      await waitForStats(d, (s) => s.export.connected && s.export.lagEvents < 1000, { what: 'the exporter to connect and catch up with the start' });
    } catch (err) {
      throw new Error(`${err.message}; export: ${JSON.stringify((await d.stats()).export)}; log: ${d.stderr().split('\n').filter((l) => / export/.test(l)).join(' | ')}`);
    }
  }
  await delay(1000);
  const s0 = await d.stats();
  const t0 = cpuTicks(d.pid);
  const r = await runStorm(storm.bin, { total: STORM, workers: 2, pidfile: join(dir, `storm-${withExport}-${round}`) });
  const stormEnd = performance.now();
  const stored = await waitForStats(d, (s) => (s.eventsByKind.exec ?? 0) - (s0.eventsByKind.exec ?? 0) + s.sourceCounters.lost - s0.sourceCounters.lost >= STORM && s.store.queued === 0, { what: 'the storm stored', everyMs: 100 });
  let lagAtEnd = null;
  let catchUp = null;
  let s1 = stored;
  if (withExport) {
    lagAtEnd = stored.export.lagEvents;
    s1 = await waitForStats(d, (s) => s.export.cursor.events >= stored.export.cursor.events + stored.export.lagEvents, { what: 'the export to catch up', everyMs: 50 });
    catchUp = (performance.now() - stormEnd) / 1000;
  }
  const cpu = (cpuTicks(d.pid) - t0) / CLK_TCK;
  const events = Object.values(s1.eventsByKind).reduce((a, b) => a + b, 0) - Object.values(s0.eventsByKind).reduce((a, b) => a + b, 0);
  const exit = await d.stop();
  if (exit?.code !== 0) throw new Error(`storm daemon ended badly: ${JSON.stringify(exit)} ${d.stderr()}`);
  return { withExport, rate: STORM / (r.wallMs / 1000), cpu, events, lagAtEnd, catchUp, exported: withExport ? s1.export.published.events - s0.export.published.events : 0 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

export async function run({ root, args }) {
  const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? PARTS;
  const want = (p) => only.includes(p);
  const { NatsCluster, destroyAllClusters } = await import(join(root, 'dist/test/export/nats-harness.js'));
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-export-'));
  const stop = () => { killAllDaemons(); void destroyAllClusters(); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let storm = null;
  try {
    console.log(machineLine());
    console.log(`load average at start: ${await loadavg()}`);
    let cluster = await NatsCluster.start(3);
    await cluster.ready();
    console.log(`3-node JetStream cluster on ${cluster.urls.join(', ')} (nats-server ${(await import('node:child_process')).execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).trim()})`);
    const goals = [];
    if (want('backlog')) {
      console.log(`\n## Backlog of ${int(BACKLOG)} events drained after an outage (stream with 3 replicas; then with 1, same cluster; then one standalone server)`);
      const db = join(dir, 'backlog-r3.db');
      const t0 = performance.now();
      await fillStore(root, db, BACKLOG);
      copyStore(db, join(dir, 'backlog-r1.db'));
      copyStore(db, join(dir, 'backlog-single.db'));
      console.log(`  store filled with ${int(BACKLOG)} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const rows = [];
      for (const replicas of [3, 1]) {
        const b = await backlog(root, cluster, dir, join(dir, `backlog-r${replicas}.db`), replicas);
        console.log(`  ${replicas} replica(s): drain ${b.drain.toFixed(1)} s from the cluster answering to the last acknowledgement: ${int(b.rate)} events/s, daemon CPU ${b.cpu.toFixed(1)} s (${b.cpuPerK.toFixed(3)} s per 1,000); ${b.duplicates} duplicate acks`);
        const peer = await clientAlone(cluster, PEER, 1000, replicas);
        const peerBig = await clientAlone(cluster, PEER, 10_000, replicas);
        rows.push(
          [`procwatch daemon (store → JetStream, windows of 1,000), R${replicas}`, int(BACKLOG), `${b.drain.toFixed(1)} s`, int(b.rate), b.cpuPerK.toFixed(3), ratio(b.rate, peer.rate)],
          [`NATS client alone, windows of 1,000, R${replicas}`, int(PEER), '—', int(peer.rate), peer.cpuPerK.toFixed(3), '1.00×'],
          [`NATS client alone, windows of 10,000, R${replicas}`, int(PEER), '—', int(peerBig.rate), peerBig.cpuPerK.toFixed(3), ratio(peerBig.rate, peer.rate)],
        );
        goals.push(`${verdict(b.drain < 60)} a ${int(BACKLOG)}-event backlog drains in under 60 s (stream R${replicas}): ${b.drain.toFixed(1)} s`);
      }
      // The same drain to one standalone server (no cluster, no replication), started for it and stopped
      // after: what the exporter does when the servers are not the bound on this machine.
      const single = await NatsCluster.start(1);
      try {
        await single.ready();
        const b = await backlog(root, single, dir, join(dir, 'backlog-single.db'), 1, 'single');
        console.log(`  one standalone server: drain ${b.drain.toFixed(1)} s: ${int(b.rate)} events/s, daemon CPU ${b.cpu.toFixed(1)} s (${b.cpuPerK.toFixed(3)} s per 1,000)`);
        const peer = await clientAlone(single, PEER, 1000, 1);
        rows.push(
          ['procwatch daemon (store → JetStream, windows of 1,000), one standalone server', int(BACKLOG), `${b.drain.toFixed(1)} s`, int(b.rate), b.cpuPerK.toFixed(3), ratio(b.rate, peer.rate)],
          ['NATS client alone, windows of 1,000, one standalone server', int(PEER), '—', int(peer.rate), peer.cpuPerK.toFixed(3), '1.00×'],
        );
        goals.push(`${verdict(b.drain < 60)} a ${int(BACKLOG)}-event backlog drains in under 60 s (one standalone server): ${b.drain.toFixed(1)} s`);
      } finally {
        await single.stopAll();
      }
      console.log(markdownTable(['publisher', 'events', 'drain', 'events/s', 'CPU s per 1,000 events', 'vs client alone (windows of 1,000, same servers and replicas)'], rows, ['l', 'r', 'r', 'r', 'r', 'r']));
    }
    if (want('storm')) {
      // A fresh cluster: the backlog's million messages (three copies) are not the storm's business.
      await destroyAllClusters();
      cluster = await NatsCluster.start(3);
      await cluster.ready();
      storm = buildStorm(root);
      console.log(`\n## Daemon CPU in an exec storm of ${int(STORM)} × /bin/true from 2 workers, export on and off (${ROUNDS} rounds each, alternated)`);
      const rows = [];
      for (let round = 0; round < ROUNDS; round++) {
        for (const withExport of [false, true]) rows.push(await stormRound(root, dir, storm, cluster, withExport, round));
      }
      const off = rows.filter((r) => !r.withExport);
      const on = rows.filter((r) => r.withExport);
      console.log(markdownTable(['export', 'round', 'execs/s', 'events', 'daemon CPU s', 'µs per event', 'exported', 'lag at storm end', 'caught up after'], rows.map((r, i) => [
        r.withExport ? 'on' : 'off', String(Math.floor(i / 2) + 1), int(r.rate), int(r.events), r.cpu.toFixed(2), (r.cpu / r.events * 1e6).toFixed(0), r.withExport ? int(r.exported) : '—',
        r.lagAtEnd === null ? '—' : `${int(r.lagAtEnd)} events`, r.catchUp === null ? '—' : `${r.catchUp.toFixed(2)} s`,
      ]), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
      const added = median(on.map((r) => r.cpu)) / median(off.map((r) => r.cpu)) - 1;
      // The storm's events include every other process on the (shared) machine: per event is the fairer comparison.
      const perEvent = (xs) => median(xs.map((r) => r.cpu / r.events)) * 1e6;
      const addedPerEvent = perEvent(on) / perEvent(off) - 1;
      console.log(`median daemon CPU: off ${median(off.map((r) => r.cpu)).toFixed(2)} s, on ${median(on.map((r) => r.cpu)).toFixed(2)} s: export adds ${(added * 100).toFixed(0)}%`);
      console.log(`median daemon CPU per event: off ${perEvent(off).toFixed(0)} µs, on ${perEvent(on).toFixed(0)} µs: export adds ${(addedPerEvent * 100).toFixed(0)}%`);
      goals.push(`${verdict(added < 0.10 && addedPerEvent < 0.10)} export adds under 10% daemon CPU at the maximum exec rate: ${(added * 100).toFixed(0)}% (median CPU per storm), ${(addedPerEvent * 100).toFixed(0)}% (median CPU per event)`);
      goals.push(`${verdict(on.every((r) => r.catchUp !== null && r.catchUp < 5))} export keeps up (caught up within 5 s of the storm's end): ${on.map((r) => `${r.catchUp.toFixed(2)} s`).join(', ')}`);
    }
    console.log(`\nload average at end: ${await loadavg()}`);
    console.log(goals.join('\n'));
  } finally {
    storm?.cleanup();
    killAllDaemons();
    await destroyAllClusters();
    rmSync(dir, { recursive: true, force: true });
  }
}
