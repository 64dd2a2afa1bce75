/** daemon.export.nats: every key, the defaults, and one clear line per mistake. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDaemonConfig } from '../../src/config/daemon.js';
import { subjectMatches } from '../../src/export/index.js';

const parse = (text: string) => parseDaemonConfig(text, 'test.yaml');
const dir = mkdtempSync(join(tmpdir(), 'pw-export-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const seed = join(dir, 'host.nk');
writeFileSync(seed, 'SUAEXAMPLE\n');

test('no export section: export is off', async () => {
  assert.equal((await parse('daemon: {}\n')).exportNats, null);
  assert.equal((await parse('daemon:\n  export: {}\n')).exportNats, null);
});

test('the defaults with only servers', async () => {
  const c = (await parse('daemon:\n  export:\n    nats:\n      servers: nats://nats1:4222\n      host: web1.example.com\n')).exportNats!;
  assert.deepEqual(c.servers, ['nats://nats1:4222']);
  assert.equal(c.host, 'web1.example.com');
  assert.equal(c.hostToken, 'web1_example_com');
  assert.equal(c.subjectPrefix, 'procwatch');
  assert.equal(c.stream, 'PROCWATCH');
  assert.equal(c.createStream, true);
  assert.equal(c.replicas, 1);
  assert.equal(c.maxAgeMs, 30 * 86_400_000);
  assert.equal(c.maxBytes, null);
  assert.equal(c.duplicateWindowMs, 120_000);
  assert.deepEqual(c.auth, { kind: 'none' });
  assert.equal(c.tls, null);
  assert.equal(c.inboxPrefix, '_INBOX.web1_example_com');
});

test('every key', async () => {
  const c = (await parse(`
daemon:
  export:
    nats:
      servers: [tls://nats1:4222, "nats2:4222"]
      host: db-7
      subject_prefix: corp.procwatch
      stream: FLEET_EVENTS
      create_stream: false
      replicas: 3
      max_age: 7d
      max_bytes: 50GiB
      duplicate_window: 5m
      nkey: ${seed}
      tls: { ca: ${seed} }
      inbox_prefix: _INBOX.db7
`)).exportNats!;
  assert.deepEqual(c.servers, ['tls://nats1:4222', 'nats2:4222']);
  assert.deepEqual([c.host, c.subjectPrefix, c.stream, c.createStream, c.replicas], ['db-7', 'corp.procwatch', 'FLEET_EVENTS', false, 3]);
  assert.deepEqual([c.maxAgeMs, c.maxBytes, c.duplicateWindowMs], [7 * 86_400_000, 50 * 1024 ** 3, 300_000]);
  assert.deepEqual(c.auth, { kind: 'nkey', seedFile: seed });
  assert.deepEqual(c.tls, { caFile: seed, certFile: null, keyFile: null });
  assert.equal(c.inboxPrefix, '_INBOX.db7');
  const u = (await parse('daemon:\n  export:\n    nats: { servers: [n:4222], user: web, password: pw, max_age: none, tls: true }\n')).exportNats!;
  assert.deepEqual(u.auth, { kind: 'user', user: 'web', password: 'pw' });
  assert.equal(u.maxAgeMs, null);
  assert.deepEqual(u.tls, { caFile: null, certFile: null, keyFile: null });
  assert.deepEqual((await parse('daemon:\n  export:\n    nats: { servers: [n:4222], token: t0k3n }\n')).exportNats!.auth, { kind: 'token', token: 't0k3n' });
});

test('mistakes: one line naming the key', async () => {
  const cases: Array<[string, RegExp]> = [
    ['nats: {}', /daemon\.export\.nats\.servers: required/],
    ['nats: { servers: [] }', /servers: expected at least one/],
    ['nats: { servers: ["http://x:1"] }', /servers\[0\]: expected nats:\/\/HOST:PORT/],
    ['nats: { servers: ["nats://u:p@x:4222"] }', /servers\[0\]: put credentials in user\/password/],
    ['nats: { servers: ["x:99999"] }', /servers\[0\]/],
    ['nats: { servers: [x], host: "a b" }', /\.host: expected a host name/],
    ['nats: { servers: [x], subject_prefix: "a.*" }', /subject_prefix: .*no wildcards/],
    ['nats: { servers: [x], stream: "A.B" }', /\.stream: expected a stream name/],
    ['nats: { servers: [x], replicas: 7 }', /\.replicas: expected an integer ≥ 1 and ≤ 5/],
    ['nats: { servers: [x], max_age: soon }', /\.max_age: expected a duration/],
    ['nats: { servers: [x], max_bytes: lots }', /\.max_bytes: expected a size/],
    ['nats: { servers: [x], token: a, user: b, password: c }', /give one of token, user\/password, nkey or credentials/],
    ['nats: { servers: [x], user: b }', /\.user: needs password/],
    ['nats: { servers: [x], password: b }', /\.password: needs user/],
    ['nats: { servers: [x], credentials: /nonexistent/x.creds }', /\.credentials: cannot read \/nonexistent\/x\.creds: ENOENT/],
    ['nats: { servers: [x], tls: { cert: /etc/hostname } }', /\.tls: cert and key go together/],
    ['nats: { servers: [x], tls: { ca: /etc/hostname, crl: x } }', /\.tls: unknown key 'crl'/],
    ['nats: { servers: [x], colour: blue }', /daemon\.export\.nats: unknown key 'colour'/],
    ['kafka: {}', /daemon\.export: unknown key 'kafka'/],
  ];
  for (const [yaml, re] of cases) {
    await assert.rejects(parse(`daemon:\n  export:\n    ${yaml}\n`), (err: Error) => {
      assert.equal(err.name, 'InputError', yaml);
      assert.match(err.message, /^config test\.yaml: /);
      assert.match(err.message, re, yaml);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    });
  }
});

test('NATS subject matching (the stream must take this host\'s subjects)', () => {
  assert.ok(subjectMatches('procwatch.>', 'procwatch.web1.events.exec'));
  assert.ok(subjectMatches('procwatch.*.events.*', 'procwatch.web1.events.exec'));
  assert.ok(!subjectMatches('procwatch.*.alerts', 'procwatch.web1.events.exec'));
  assert.ok(!subjectMatches('procwatch.web2.>', 'procwatch.web1.alerts'));
  assert.ok(!subjectMatches('procwatch.>', 'procwatch'));
  assert.ok(subjectMatches('procwatch.web1.alerts', 'procwatch.web1.alerts'));
});
