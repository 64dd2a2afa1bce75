/**
 * Issue 14, items 2 and 3: the daemon under API abuse, with its limits (the defaults of
 * daemon.api) and, as the peer in the same run, with the limits lifted (what the daemon did
 * before them). Every scenario runs on a fresh daemon, so its VmHWM is that scenario's peak.
 *
 * 1. heavy: N clients each ask for /v1/events?limit=10000 and never read (the store holds
 *    20,000 events). Peak RSS, RSS 10 s after they went, answers refused (503 / dropped).
 * 2. streams: M clients follow the event stream and never read, while an exec storm (10,000) makes
 *    events. Peak RSS, streams refused, streams cut for being too slow.
 * 3. idle TCP: K connections to the TCP listener that send nothing, during which an exec storm
 *    runs (netlink source: it opens /proc files at each exec) and the unix socket is asked /v1/health. Peak descriptors, health answers, and how
 *    many storm execs were stored without a name (the source could not open /proc files).
 *
 * Goal (issue 14): peak RSS under 200 MB whatever the clients do.
 * `npm run bench -- abuse`; BENCH_ABUSE_HEAVY, BENCH_ABUSE_STREAMS, BENCH_ABUSE_IDLE set N, M, K;
 * BENCH_ABUSE_ONLY=heavy,streams,idle picks scenarios.
 * Needs root (the daemon's eBPF or netlink source) and a C compiler (the storm).
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { DaemonProcess, memoryOf } from './lib/daemon.mjs';
import { machineLine, markdownTable, ratio } from './lib/report.mjs';
import { buildStorm, runStorm } from './lib/storm.mjs';

const HEAVY = Number(process.env.BENCH_ABUSE_HEAVY ?? 3000);
/** Without limits each client costs megabytes: the peer gets fewer, and the figure per client says the rest. */
const HEAVY_UNBOUNDED = Math.min(HEAVY, Number(process.env.BENCH_ABUSE_HEAVY_UNBOUNDED ?? 300));
const STREAMS = Number(process.env.BENCH_ABUSE_STREAMS ?? 100);
const IDLE = Number(process.env.BENCH_ABUSE_IDLE ?? 15_000);
const STORE_EVENTS = 20_000;
const TOKEN = 'bench-abuse-token-0123456789';
const UNBOUNDED = { max_connections: 100_000, max_unauthenticated: 100_000, max_heavy_queries: 10_000, max_streams: 100_000, stream_buffer: '8MiB', first_request_timeout: '10m' };

const fds = (pid) => { try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return null; } };
const mib = (m) => (m === null ? '—' : m.toFixed(1));

function config(dir, name, api, port, source = 'auto') {
  const file = join(dir, `${name}.yaml`);
  const lines = ['daemon:', `  source: ${source}`];
  if (Object.keys(api).length > 0) lines.push('  api:', ...Object.entries(api).map(([k, v]) => `    ${k}: ${v}`));
  if (port !== undefined) lines.push('  http:', `    listen: 127.0.0.1:${port}`, `    token: "${TOKEN}"`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A client that sends one request and never reads (its socket is paused at once). */
function deafClient(where, path) {
  return new Promise((resolve) => {
    const s = 'port' in where ? connect(where.port, '127.0.0.1') : connect(where.path);
    s.on('error', () => resolve(s));
    s.on('connect', () => {
      if (path !== null) s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n${'port' in where ? `authorization: Bearer ${TOKEN}\r\n` : ''}\r\n`);
      s.pause();
      resolve(s);
    });
  });
}

async function openMany(n, make) {
  const out = [];
  for (let i = 0; i < n; i += 200) out.push(...(await Promise.all(Array.from({ length: Math.min(200, n - i) }, make))));
  return out;
}

function freePort() {
  return new Promise((resolve) => {
    const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
const require = createRequire(import.meta.url);

function prefill(root, db) {
  const Database = require(join(root, 'node_modules/better-sqlite3'));
  const d = new Database(db);
  const boot = d.prepare('SELECT boot FROM boots LIMIT 1').get().boot;
  const insert = d.prepare("INSERT INTO events (boot, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data) VALUES (?, 1, ?, ?, 0, 'exec', ?, ?, ?, 'observed', ?)");
  const now = Date.now();
  d.transaction(() => {
    for (let i = 0; i < STORE_EVENTS; i++) {
      const pid = 100_000 + i;
      insert.run(boot, i, now - (STORE_EVENTS - i), pid, pid, `${pid}:${i}`, JSON.stringify({ cpu: 0, details: { comm: 'bench', exe: '/usr/bin/bench', filename: '/usr/bin/bench', argv: ['/usr/bin/bench', '--scenario', `abuse-${i}`, 'x'.repeat(120)], cwd: '/', ppid: 1 } }));
    }
  })();
  d.close();
}

/** GET /v1/health on the unix socket, counting failures instead of throwing. */
async function health(d, tries) {
  let ok = 0;
  for (let i = 0; i < tries; i++) {
    try { if ((await d.get('/v1/health')).status === 200) ok++; } catch { /* refused: counted */ }
  }
  return `${ok}/${tries} ok`;
}

/** Runs `body` on a fresh daemon (TCP listener with the token); the clients it returns are closed whatever happens. */
async function scenario(root, dir, db, label, api, body, source = 'auto') {
  const port = await freePort();
  const d = new DaemonProcess({ root, database: db, socket: join(dir, `${label}.sock`), config: config(dir, label, api, port, source) });
  await d.start();
  const sockets = [];
  try {
    return await body(d, port, sockets);
  } finally {
    for (const s of sockets) s.destroy();
    await d.stop();
  }
}

/** Clients with the token, over TCP: the unix socket is the root's, and must keep answering. */
function heavy(root, dir, db, label, api, clients) {
  return scenario(root, dir, db, label, api, async (d, port, sockets) => {
    const before = d.memory();
    sockets.push(...(await openMany(clients, () => deafClient({ port }, '/v1/events?since=1h&limit=10000'))));
    let peakFds = 0;
    for (let i = 0; i < 20; i++) { peakFds = Math.max(peakFds, fds(d.pid) ?? 0); await delay(250); }
    const ok = await health(d, 10);
    const during = d.memory();
    const stats = await d.stats();
    for (const s of sockets.splice(0)) s.destroy();
    await delay(10_000);
    const after = d.memory();
    return { label, clients, before, during, after, peakFds, health: ok, busy: stats.api.busy, refused: stats.api.refusedConnections, heavy: stats.api.heavyInFlight };
  });
}

function streams(root, dir, db, label, api, clients, stormBin) {
  return scenario(root, dir, db, label, api, async (d, port, sockets) => {
    sockets.push(...(await openMany(clients, () => deafClient({ port }, '/v1/events?follow=1'))));
    await delay(500);
    const open = (await d.stats()).api.streamClients;
    await runStorm(stormBin, { total: 10_000, workers: 2, pidfile: join(dir, `${label}.pids`) });
    await delay(2000);
    const ok = await health(d, 10);
    const during = d.memory();
    const stats = await d.stats();
    for (const s of sockets.splice(0)) s.destroy();
    await delay(10_000);
    const after = d.memory();
    return { label, clients, open, during, after, busy: stats.api.busy, health: ok };
  });
}

/** Connections that send nothing (no token needed for that), and an exec storm meanwhile. */
function idle(root, dir, db, label, api, clients, stormBin) {
  return scenario(root, dir, db, label, api, async (d, port, sockets) => {
    sockets.push(...(await openMany(clients, () => deafClient({ port }, null))));
    await delay(1000);
    const peakFds = fds(d.pid);
    const ok = await health(d, 10);
    const storm = await runStorm(stormBin, { total: 2000, workers: 2, pidfile: join(dir, `${label}.pids`) });
    await delay(2000);
    let nameless;
    try {
      const found = (await d.json('/v1/events?since=2m&kind=exec&limit=10000')).events.filter((e) => storm.made.has(e.pid));
      nameless = { total: storm.made.size, seen: found.length, withoutArgv: found.filter((e) => e.details?.argv === null).length };
    } catch (err) {
      nameless = { error: err.message };
    }
    const during = d.memory();
    const stats = await d.stats().catch(() => null);
    return { label, clients, peakFds, health: ok, nameless, during, refused: stats?.api.refusedConnections ?? null };
  }, 'netlink'); // the source that reads /proc at each exec, as in the issue
}

export async function run({ root }) {
  if (process.getuid?.() !== 0) throw new Error('the abuse benchmark needs root (the daemon\'s kernel source, a storm it must name)');
  const dir = mkdtempSync(join(tmpdir(), 'pwbench-abuse-'));
  const storm = buildStorm(root);
  try {
    console.log(machineLine());
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const db = join(dir, 'abuse.db');
    const first = new DaemonProcess({ root, database: db, socket: join(dir, 'init.sock') });
    await first.start();
    await first.stop();
    prefill(root, db);

    const only = (process.env.BENCH_ABUSE_ONLY ?? 'heavy,streams,idle').split(',');
    const rows = [];
    const notes = [];
    const peaks = [];
    if (only.includes('heavy')) {
      const h1 = await heavy(root, dir, db, 'heavy-unbounded', UNBOUNDED, HEAVY_UNBOUNDED);
      const h2 = await heavy(root, dir, db, 'heavy-limited', {}, HEAVY);
      for (const h of [h1, h2]) {
        rows.push([`${h.clients} × events?limit=10000, not reading`, h.label.endsWith('limited') ? 'defaults' : 'lifted', mib(h.during?.hwmMiB), mib(h.after?.rssMiB),
          `${h.busy} 503, ${h.refused} dropped`, h.peakFds, h.health]);
      }
      const perClient = (h1.during.hwmMiB - h1.before.rssMiB) / h1.clients;
      notes.push(`heavy: lifted limits cost ${perClient.toFixed(2)} MiB per non-reading client (${HEAVY} would take ~${(perClient * HEAVY).toFixed(0)} MiB); with the defaults the peak is ${ratio(h2.during.hwmMiB, h1.during.hwmMiB)} of the lifted run's, with ${HEAVY / HEAVY_UNBOUNDED}× the clients`);
      peaks.push(h2.during.hwmMiB);
    }
    if (only.includes('streams')) {
      const s1 = await streams(root, dir, db, 'streams-unbounded', UNBOUNDED, STREAMS, storm.bin);
      const s2 = await streams(root, dir, db, 'streams-limited', {}, STREAMS, storm.bin);
      for (const s of [s1, s2]) {
        rows.push([`${s.clients} streams not reading, 10,000-exec storm`, s.label.endsWith('limited') ? 'defaults' : 'lifted', mib(s.during?.hwmMiB), mib(s.after?.rssMiB),
          `${s.open} open, ${s.busy} 503`, '', s.health]);
      }
      notes.push(`streams: peak ${mib(s2.during.hwmMiB)} MiB with the defaults vs ${mib(s1.during.hwmMiB)} MiB lifted (${ratio(s2.during.hwmMiB, s1.during.hwmMiB)})`);
      peaks.push(s2.during.hwmMiB);
    }
    if (only.includes('idle')) {
      const i1 = await idle(root, dir, db, 'idle-unbounded', UNBOUNDED, IDLE, storm.bin);
      const i2 = await idle(root, dir, db, 'idle-limited', {}, IDLE, storm.bin);
      for (const i of [i1, i2]) {
        const n = i.nameless;
        rows.push([`${i.clients} idle TCP connections, 2,000-exec storm (netlink)`, i.label.endsWith('limited') ? 'defaults' : 'lifted', mib(i.during?.hwmMiB), '',
          `${i.refused ?? '?'} refused; exec argv unknown ${n.error ?? `${n.withoutArgv}/${n.seen} of ${n.total}`}`, i.peakFds, i.health]);
      }
      peaks.push(i2.during?.hwmMiB ?? 0);
    }
    console.log(markdownTable(['abuse', 'limits', 'peak RSS MiB', 'RSS 10 s after, MiB', 'refused', 'daemon fds', 'unix /v1/health'], rows, ['l', 'l', 'r', 'r', 'l', 'r', 'l']));
    console.log('');
    for (const n of notes) console.log(n);
    const worst = Math.max(...peaks);
    console.log(`goal: peak RSS under 200 MB (190.7 MiB) with the defaults: worst ${worst.toFixed(1)} MiB — ${worst < 190.7 ? 'met' : 'NOT met'}`);
    console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    return worst < 190.7;
  } finally {
    storm.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
