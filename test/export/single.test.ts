/**
 * Fleet export against a single real nats-server: bad configurations (unreachable server, bad
 * credentials, a missing stream the daemon may not create) give one clear line while the
 * daemon goes on storing and retries; server-side permissions that limit a host to its own
 * subjects are enough to export (and stop it from writing or reading another host's); nkey
 * authentication; TLS (and no clear-text fallback); a kill -9 after the stream's duplicate
 * window has passed still gives no duplicate (the exporter reads back what was stored);
 * events that local retention deletes before they are exported become a `lost` record.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, nkeys } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { EventStore } from '../../src/store/index.js';
import { readBootId } from '../../src/daemon/daemon.js';
import { get } from '../api/harness.js';
import { which } from '../helpers/spawn.js';
import { startRulesDaemon, type RulesDaemon } from '../rules/harness.js';
import { exec, exit } from '../table/events.js';
import { checkExactlyOnceInOrder, freePort, NatsCluster, destroyAllClusters, natsServerProblem, readStream, until } from './nats-harness.js';

after(destroyAllClusters);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ExportStats {
  connected: boolean;
  cursor: { events: number; alerts: number };
  lagEvents: number;
  failures: number;
  published: { events: number; lost: number };
  lostEvents: number;
  skippedStored: number;
  lastError: string | null;
}

async function stats(d: RulesDaemon): Promise<{ export: ExportStats; store: { written: number; retentionDeletedUnexported: number } }> {
  const r = await get(d.socket, '/v1/stats');
  assert.equal(r.status, 200, r.body);
  return r.json();
}

const exportLines = (d: RulesDaemon): string[] => d.log().split('\n').filter((l) => /^procwatch export: /.test(l));

function natsYaml(fields: Record<string, string>): string {
  return `  export:\n    nats:\n${Object.entries(fields).map(([k, v]) => `      ${k}: ${v}\n`).join('')}`;
}

/** Permissions that let host HOST export to STREAM and nothing more (README "Server-side permissions"). */
function hostPermissions(host: string, stream: string): string {
  return `permissions: { publish: { allow: ["procwatch.${host}.>", "$JS.API.STREAM.INFO.${stream}", "$JS.API.DIRECT.GET.${stream}.procwatch.${host}.>"] }, subscribe: { allow: ["_INBOX.${host}.>"] } }`;
}

test('bad configs: one clear line, the daemon keeps storing locally and retries; server-side permissions; nkey; a stream created later is used', async (t) => {
  if (natsServerProblem() !== null) return t.skip('needs nats-server');
  const nk = nkeys.createUser();
  const nkPublic = nk.getPublicKey();
  const node = await NatsCluster.start(1, {
    extra: `authorization { users: [
      { user: admin, password: adminpw }
      { user: alpha, password: alphapw, ${hostPermissions('alpha', 'SECURE')} }
      { nkey: ${nkPublic}, ${hostPermissions('nk', 'SECURE')} }
    ] }`,
  });
  const admin = { user: 'admin', pass: 'adminpw' };
  await node.ready(admin);
  const dir = mkdtempSync(join(tmpdir(), 'pw-export-bad-'));
  const seed = join(dir, 'nk.seed');
  writeFileSync(seed, `${new TextDecoder().decode(nk.getSeed())}\n`, { mode: 0o600 });
  const unused = await freePort();
  const daemons: RulesDaemon[] = [];
  try {
    const base = { stream: 'SECURE', create_stream: 'false' };
    const [unreachable, badPassword, noStream, viaNkey] = await Promise.all([
      startRulesDaemon({ source: 'poll', daemonYaml: natsYaml({ servers: `[nats://127.0.0.1:${unused}]`, host: 'nowhere', stream: 'SECURE' }) }),
      startRulesDaemon({ source: 'poll', daemonYaml: natsYaml({ servers: `[${node.urls[0]}]`, host: 'alpha', user: 'alpha', password: 'wrong', ...base }) }),
      startRulesDaemon({ source: 'poll', daemonYaml: natsYaml({ servers: `[${node.urls[0]}]`, host: 'alpha', user: 'alpha', password: 'alphapw', ...base }) }),
      startRulesDaemon({ source: 'poll', daemonYaml: natsYaml({ servers: `[${node.urls[0]}]`, host: 'nk', nkey: seed, ...base }) }),
    ]);
    daemons.push(unreachable, badPassword, noStream, viaNkey);
    const expected: Array<[RulesDaemon, RegExp]> = [
      [unreachable, new RegExp(`^procwatch export: cannot reach NATS at nats://127\\.0\\.0\\.1:${unused}: .*retries`)],
      [badPassword, /^procwatch export: NATS \(nats:\/\/127\.0\.0\.1:\d+\) refused the credentials: .*retries/],
      [noStream, /^procwatch export: stream SECURE does not exist and daemon\.export\.nats\.create_stream is false: create it on the server .*retries/],
      [viaNkey, /^procwatch export: stream SECURE does not exist/],
    ];
    for (const [d, line] of expected) {
      // Several attempts (a backoff of 0.5 s, 1 s, 2 s...), one line.
      await until('three failed attempts', () => stats(d), (s) => s.export.failures >= 3);
      const lines = exportLines(d);
      assert.equal(lines.length, 1, `one line, not one per retry: ${lines.join(' | ')}`);
      assert.match(lines[0]!, line);
      assert.equal(d.proc.exitCode, null, 'the daemon keeps running');
      // The poll source stores what changed since its seed: a process it sees start (a quiet
      // machine may start none), kept alive until it is stored.
      const marker = spawn('sleep', ['120'], { stdio: 'ignore' });
      const s = await until('the daemon stores events locally', () => stats(d), (x) => x.store.written > 0).finally(() => marker.kill());
      assert.equal(s.export.connected, false);
      assert.equal(s.export.lastError, lines[0]!.replace(/^procwatch export: /, '').replace(/; the daemon goes on.*$/, ''));
    }

    // The administrator creates the stream: the hosts limited to their own subjects export into it.
    const nc = await connect({ servers: node.urls, ...admin });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'SECURE', subjects: ['procwatch.>'], allow_direct: true });
    for (const d of [noStream, viaNkey]) await until('exporting after the stream appeared', () => stats(d), (s) => s.export.connected && s.export.published.events > 0);
    assert.match(exportLines(noStream).at(-1)!, /^procwatch export: connected to .*stream SECURE/);
    const info = await jsm.streams.info('SECURE', { subjects_filter: 'procwatch.>' });
    const subjects = Object.keys(info.state.subjects ?? {});
    assert.ok(subjects.some((s) => s.startsWith('procwatch.alpha.events.')) && subjects.some((s) => s.startsWith('procwatch.nk.events.')), subjects.join(' '));
    await nc.close();

    // What those permissions refuse: another host's subjects, to write or to read back.
    const alpha = await connect({ servers: node.urls, user: 'alpha', pass: 'alphapw', inboxPrefix: '_INBOX.alpha' });
    const refused = await new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of alpha.status()) if (s.type === 'error') resolve(String((s as { error?: Error }).error?.message ?? s.type));
      })();
      alpha.publish('procwatch.nk.events.exec', '{"type":"event","host":"forged"}');
    });
    assert.match(refused, /permission/i);
    const ajsm = await jetstreamManager(alpha, { checkAPI: false, timeout: 5000 });
    await assert.rejects(ajsm.direct.getMessage('SECURE', { last_by_subj: 'procwatch.nk.events.>' }), /permission|timeout|no responders/i);
    assert.ok(await ajsm.direct.getMessage('SECURE', { last_by_subj: 'procwatch.alpha.events.>' }), 'its own last record can be read back');
    await alpha.close();
    const forged = await readStream(node.urls, 'SECURE', 'procwatch.nk.>', admin);
    assert.ok(![...forged.byHost.keys()].includes('forged'), 'nothing was stored under another host\'s subject');

    // Still running, still retrying with the same single line.
    assert.equal(exportLines(unreachable).length, 1);
    assert.equal(exportLines(badPassword).length, 1);
  } finally {
    for (const d of daemons) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS: a CA-verified server is used; against a server without TLS nothing is sent and one line says so', async (t) => {
  if (natsServerProblem() !== null) return t.skip('needs nats-server');
  if (which('openssl') === null) {
    if (process.env.PROCWATCH_REQUIRE_NATIVE === '1') throw new Error('needs openssl (.ci/run installs it)');
    return t.skip('needs openssl');
  }
  const dir = mkdtempSync(join(tmpdir(), 'pw-export-tls-'));
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=procwatch test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem');
  const secure = await NatsCluster.start(1, { extra: `tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}" }` });
  const plain = await NatsCluster.start(1);
  await secure.ready({ tls: { caFile: join(dir, 'ca.pem') } });
  const daemons: RulesDaemon[] = [];
  try {
    const withTls = await startRulesDaemon({ source: 'poll', daemonYaml: natsYaml({ servers: `[${secure.urls[0]!.replace('nats://', 'tls://')}]`, host: 'tlshost', tls: `{ ca: ${join(dir, 'ca.pem')} }` }) });
    const noTlsServer = await startRulesDaemon({ source: 'poll', daemonYaml: natsYaml({ servers: `[${plain.urls[0]}]`, host: 'tlshost', tls: 'true' }) });
    const unknownCa = await startRulesDaemon({ source: 'poll', daemonYaml: natsYaml({ servers: `[${secure.urls[0]}]`, host: 'tlshost', tls: 'true' }) });
    daemons.push(withTls, noTlsServer, unknownCa);
    await until('exporting over TLS', () => stats(withTls), (s) => s.export.connected && s.export.published.events > 0);
    await until('refused', () => stats(noTlsServer), (s) => s.export.failures >= 2);
    const lines = exportLines(noTlsServer);
    assert.equal(lines.length, 1, lines.join(' | '));
    assert.match(lines[0]!, /TLS is configured but the server does not offer it \(nothing was sent\)/);
    await until('a server certificate from an unknown CA is refused', () => stats(unknownCa), (s) => s.export.failures >= 2);
    assert.match(exportLines(unknownCa).join('\n'), /certificate/i);
    assert.equal(unknownCa.proc.exitCode, null);
  } finally {
    for (const d of daemons) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A database with `n` stored events (exec + exit pairs) of this boot, `ageMs` old. */
function prefill(db: string, n: number, ageMs: number): void {
  const store = new EventStore({ path: db, bootId: readBootId(), source: 'test' });
  const start = Date.now() - ageMs;
  for (let i = 0; i < n; i += 2000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 2000); j += 2) batch.push(exec(100_000 + j, j * 1000, { startTicks: j, argv: ['/usr/bin/synthetic', String(j)] }), exit(100_000 + j, j * 1000 + 500));
    store.enqueue(batch, () => undefined, (ns) => start + ns / 1e6);
    store.flush();
  }
  store.close();
}

test('kill -9 mid-export after the duplicate window has passed: read back, no duplicate, no gap', async (t) => {
  if (natsServerProblem() !== null) return t.skip('needs nats-server');
  const node = await NatsCluster.start(1);
  await node.ready();
  const nc = await connect({ servers: node.urls });
  // A short duplicate window: the restart below comes after it, so JetStream alone would store duplicates.
  await (await jetstreamManager(nc)).streams.add({ name: 'KILLTEST', subjects: ['procwatch.>'], duplicate_window: 1_000_000_000, allow_direct: true });
  await nc.close();
  const dir = mkdtempSync(join(tmpdir(), 'pw-export-kill-'));
  prefill(join(dir, 'events.db'), 150_000, 60_000);
  const yaml = natsYaml({ servers: `[${node.urls[0]}]`, host: 'killed', stream: 'KILLTEST', create_stream: 'false' });
  let d = await startRulesDaemon({ source: 'poll', dir, daemonYaml: yaml });
  try {
    await until('part of the backlog exported', () => stats(d), (s) => s.export.cursor.events > 30_000);
    d.proc.kill('SIGKILL');
    await new Promise((r) => d.proc.once('exit', r));
    await sleep(1500); // the scenario: the stream's duplicate window (1 s) has passed since the last publish
    d = await startRulesDaemon({ source: 'poll', dir, daemonYaml: yaml });
    const s = await until('the whole backlog exported', () => stats(d), (x) => x.export.cursor.events >= 150_000 && x.export.connected);
    t.diagnostic(`after the restart: ${s.export.skippedStored} record(s) found already stored and skipped`);
    const back = await readStream(node.urls, 'KILLTEST', 'procwatch.killed.events.>');
    const records = back.byHost.get('killed') ?? [];
    const ids = Array.from({ length: 150_000 }, (_, i) => i + 1);
    assert.equal(checkExactlyOnceInOrder(records, ids, 150_000), null);
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('events retention deletes before export are counted, logged and exported as a lost record in their place', async (t) => {
  if (natsServerProblem() !== null) return t.skip('needs nats-server');
  const node = await NatsCluster.start(1);
  await node.ready();
  await node.nodes[0]!.stop(); // the link is down while retention runs
  const dir = mkdtempSync(join(tmpdir(), 'pw-export-lost-'));
  prefill(join(dir, 'events.db'), 20_000, 3 * 86_400_000); // three days old
  const yaml = natsYaml({ servers: `[${node.urls[0]}]`, host: 'forgetful', stream: 'LOSTTEST' }) + '  retention: { max_age: 1d, interval: 1s }\n';
  const d = await startRulesDaemon({ source: 'poll', dir, daemonYaml: yaml });
  try {
    const s = await until('retention deleted unexported events', () => stats(d), (x) => x.store.retentionDeletedUnexported >= 20_000);
    assert.equal(s.store.retentionDeletedUnexported, 20_000);
    assert.match(d.log(), /retention deleted \d+ event\(s\) not yet exported/);
    const metrics = await get(d.socket, '/metrics');
    assert.match(metrics.body, /^procwatch_export_lost_events_total 20000$/m);
    await node.nodes[0]!.start();
    const after = await until('exported after the link came back', () => stats(d), (x) => x.export.connected && x.export.published.lost >= 1 && x.export.lagEvents === 0);
    assert.equal(after.export.lostEvents, 20_000);
    const back = await readStream(node.urls, 'LOSTTEST', 'procwatch.forgetful.events.>');
    const records = back.byHost.get('forgetful') ?? [];
    const lost = records.filter((r) => r.type === 'lost');
    assert.equal(lost.length, 1, JSON.stringify(lost));
    assert.deepEqual([lost[0]!.firstId, lost[0]!.lastId, lost[0]!.count, lost[0]!._subject], [1, 20_000, 20_000, 'procwatch.forgetful.events.lost']);
    assert.match(String(lost[0]!.reason), /deleted from the local store before they could be exported/);
    assert.equal(records[0]!.type, 'lost', 'the lost record comes first: in the place of the ids it stands for');
    assert.ok(records.slice(1).every((r) => Number(r.id) > 20_000));
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
