/**
 * The web console's server side without a browser (issue 13): config keys, logins and sessions,
 * what is refused without a session, caching and security headers, the login links on the unix
 * socket, and the API additions the page uses (/v1/processes?follow=1, /v1/stats?counts=0).
 * A real daemon (poll source, no root needed) in this process.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parseDaemonConfig } from '../../src/config/daemon.js';
import { WebSessions, MAX_FAILED_LOGINS_PER_MINUTE } from '../../src/web/sessions.js';
import { get, startDaemon, type Harness } from '../api/harness.js';
import { procwatch } from '../helpers/cli.js';
import { startConsole, type ConsoleHarness } from './harness.js';

const parse = (text: string) => parseDaemonConfig(text, 'test.yaml');

describe('daemon.web config', () => {
  it('is off by default and takes listen, token, session_max_age, link_max_age', async () => {
    assert.equal((await parse('daemon: {}\n')).web.listen, null);
    const c = await parse('daemon:\n  web:\n    listen: 127.0.0.1:9466\n    token: abcdefghijklmnopq\n    session_max_age: 2h\n    link_max_age: 5m\n');
    assert.deepEqual(c.web, { listen: '127.0.0.1:9466', token: 'abcdefghijklmnopq', sessionMaxAgeMs: 7_200_000, linkMaxAgeMs: 300_000 });
    assert.equal((await parse('daemon:\n  web: {listen: "[::1]:0"}\n')).web.listen, '[::1]:0');
  });

  for (const [text, message] of [
    ['daemon:\n  web: {listen: 0.0.0.0:9466}\n', /daemon\.web\.listen: expected a loopback address/],
    ['daemon:\n  web: {listen: 192.168.1.2:80}\n', /daemon\.web\.listen/],
    ['daemon:\n  web: {listen: 127.0.0.1:70000}\n', /daemon\.web\.listen/],
    ['daemon:\n  web: {listen: 127.0.0.1:1, token: short}\n', /daemon\.web\.token: expected at least 16 characters/],
    ['daemon:\n  web: {listen: 127.0.0.1:1, tokn: x}\n', /daemon\.web.*tokn/],
    ['daemon:\n  web: {token: abcdefghijklmnopq}\n', /daemon\.web\.listen/],
    ['daemon:\n  web: {listen: 127.0.0.1:1, session_max_age: 1s}\n', /daemon\.web\.session_max_age: expected between/],
    ['daemon:\n  web: yes\n', /daemon\.web: expected a mapping/],
  ] as const) {
    it(`refuses ${JSON.stringify(text.slice(15, 70))} with one line`, async () => {
      await assert.rejects(parse(text), (err: Error) => {
        assert.match(err.message, message);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    });
  }
});

describe('web sessions', () => {
  it('a link logs in once, and not after it expired', () => {
    let now = 1_000_000;
    const s = new WebSessions({ token: null, sessionMaxAgeMs: 60_000, linkMaxAgeMs: 10_000, now: () => now });
    const a = s.mintLink();
    const session = s.redeemLink(a.secret);
    assert.ok(session !== null && s.valid(session));
    assert.equal(s.redeemLink(a.secret), null, 'a used link is refused');
    const b = s.mintLink();
    now += 10_001;
    assert.equal(s.redeemLink(b.secret), null, 'an expired link is refused');
    assert.equal(s.valid(session), true);
    now += 60_000;
    assert.equal(s.valid(session), false, 'sessions expire');
    assert.equal(s.loginWithToken('anything'), 'off');
  });

  it('a wrong token is counted and guessing is throttled', () => {
    let now = 0;
    const s = new WebSessions({ token: 'right-token-123456', sessionMaxAgeMs: 60_000, linkMaxAgeMs: 10_000, now: () => now });
    for (let i = 0; i < MAX_FAILED_LOGINS_PER_MINUTE; i++) assert.equal(s.loginWithToken(`wrong${i}`), 'wrong');
    assert.equal(s.loginWithToken('right-token-123456'), 'throttled', 'even the right token waits out the minute');
    now += 61_000;
    const id = s.loginWithToken('right-token-123456');
    assert.ok(typeof id === 'string' && s.valid(id));
    s.close(id);
    assert.equal(s.valid(id), false);
  });
});

interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function http(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('web console server', () => {
  let h: ConsoleHarness;
  let port: number;
  let cookie: string;

  before(async () => {
    h = await startConsole({ source: 'poll' });
    port = Number(new URL(h.origin).port);
    const login = await http(port, new URL(h.link()).pathname + new URL(h.link()).search);
    assert.equal(login.status, 303);
    const set = String(login.headers['set-cookie']);
    assert.match(set, /^procwatch_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    cookie = set.split(';')[0]!;
  });
  after(async () => h?.stop());

  it('serves nothing but the login page and its stylesheet without a session', async () => {
    for (const path of ['/', '/tree', '/timeline', '/process/1:2']) assert.equal((await http(port, path)).status, 303, path);
    for (const path of ['/v1/health', '/metrics', '/v1/events?follow=1']) assert.equal((await http(port, path)).status, 401, path);
    const index = (await http(port, '/', { headers: { cookie } })).body.toString();
    const script = /src="(\/assets\/app-\w+\.js)"/.exec(index)![1]!;
    assert.equal((await http(port, script)).status, 401, 'the app is not served before login');
    const login = await http(port, '/login');
    assert.equal(login.status, 200);
    const css = /href="(\/assets\/login-\w+\.css)"/.exec(login.body.toString())![1]!;
    assert.equal((await http(port, css)).status, 200);
    assert.equal((await http(port, '/v1/health', { headers: { cookie: 'procwatch_session=forged' } })).status, 401);
  });

  it('caches hashed files for a year (immutable) and revalidates index.html; gzip; 304 on a matching ETag', async () => {
    const index = await http(port, '/tree', { headers: { cookie } });
    assert.equal(index.headers['cache-control'], 'no-cache');
    assert.ok(index.headers.etag);
    assert.equal((await http(port, '/', { headers: { cookie, 'if-none-match': String(index.headers.etag) } })).status, 304);
    const script = /src="(\/assets\/app-\w+\.js)"/.exec(index.body.toString())![1]!;
    const js = await http(port, script, { headers: { cookie, 'accept-encoding': 'gzip, br' } });
    assert.equal(js.status, 200);
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.headers['content-encoding'], 'gzip');
    assert.match(js.headers['content-type'] as string, /^text\/javascript/);
    assert.ok(gunzipSync(js.body).length > js.body.length);
    assert.equal((await http(port, '/assets/app-NOSUCH.js', { headers: { cookie } })).status, 404);
  });

  it('sends a strict CSP and the other security headers on every answer', async () => {
    for (const path of ['/login', '/', '/v1/health']) {
      const r = await http(port, path, { headers: { cookie } });
      const csp = String(r.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /style-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.match(csp, /trusted-types 'none'/, path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['x-frame-options'], 'DENY');
    }
  });

  it('is read-only, answers only its own host names, and refuses cross-site posts', async () => {
    assert.equal((await http(port, '/v1/health', { method: 'POST', headers: { cookie } })).status, 405);
    assert.equal((await http(port, '/v1/web/login-links', { method: 'POST', headers: { cookie } })).status, 405);
    assert.equal((await http(port, '/', { headers: { cookie, host: `attacker.example:${port}` } })).status, 421);
    assert.equal((await http(port, '/', { headers: { cookie, host: `localhost:${port}` } })).status, 200);
    const cross = await http(port, '/login', { method: 'POST', headers: { origin: 'http://attacker.example', 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${h.token}` });
    assert.equal(cross.status, 403);
    const form = await http(port, '/login', { method: 'POST', headers: { origin: h.origin, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${h.token}` });
    assert.equal(form.status, 303);
    const wrong = await http(port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=%3Cimg%20src%3Dx%3E' });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(wrong.body.toString(), /<img/);
  });

  it('serves /v1 to a logged-in browser from the same handler as the socket', async () => {
    const viaWeb = JSON.parse((await http(port, '/v1/health', { headers: { cookie } })).body.toString()) as { pid: number; bootId: string };
    const viaSocket = (await get(h.socket, '/v1/health')).json<{ pid: number; bootId: string }>();
    assert.deepEqual(viaWeb, viaSocket);
    const bad = await http(port, '/v1/events?kind=nonsense', { headers: { cookie } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /"error":/);
  });

  it('mints one-time links on the unix socket only (POST /v1/web/login-links)', async () => {
    const r = await get(h.socket, '/v1/web/login-links', 'POST');
    assert.equal(r.status, 200);
    const { url, expiresAt } = r.json<{ url: string; expiresAt: string }>();
    assert.match(url, new RegExp(`^${h.origin}/login\\?t=[\\w-]{43}$`));
    assert.ok(Date.parse(expiresAt) > Date.now());
    assert.equal((await get('', '/v1/web/login-links', { method: 'POST', port })).status, 401, 'not through the console');
  });

  it('procwatch web prints a link that logs in once', async () => {
    const r = await procwatch(['web', '--socket', h.socket]);
    assert.equal(r.code, 0, r.stderr);
    const url = new URL(r.stdout.trim());
    assert.equal(url.origin, h.origin);
    assert.match(r.stderr, /one-time link, valid until/);
    assert.equal((await http(port, url.pathname + url.search)).status, 303);
    assert.equal((await http(port, url.pathname + url.search)).status, 401);
    const json = await procwatch(['web', '--json', '--socket', h.socket]);
    assert.deepEqual(Object.keys(JSON.parse(json.stdout) as object).sort(), ['expiresAt', 'url']);
  });
});

describe('API additions for the console', () => {
  let h: Harness;
  before(async () => { h = await startDaemon({ source: 'poll' }); });
  after(async () => h?.stop());

  it('POST /v1/web/login-links says the console is off when it is', async () => {
    const r = await get(h.socket, '/v1/web/login-links', 'POST');
    assert.equal(r.status, 404);
    assert.match(r.json<{ error: string }>().error, /the web console is off: set daemon\.web\.listen/);
    assert.equal((await get(h.socket, '/v1/web/login-links')).status, 404, 'a GET is no way to mint one');
    const off = await procwatch(['web', '--socket', h.socket]);
    assert.equal(off.code, 1);
    assert.equal(off.stderr, 'procwatch: the web console is off: set daemon.web.listen in the config (README: "Web console")\n');
    const gone = await procwatch(['web', '--socket', `${h.dir}/nothing.sock`]);
    assert.equal(gone.code, 4);
    assert.match(gone.stderr, /^procwatch: cannot reach the daemon/);
  });

  it('GET /v1/stats?counts=0 skips the row counts and shows the source limits', async () => {
    const light = (await get(h.socket, '/v1/stats?counts=0')).json<{ store: Record<string, unknown>; limits: Record<string, unknown> }>();
    assert.equal(light.store.events, undefined);
    assert.equal(typeof light.store.dbBytes, 'number');
    assert.equal(light.limits.pollIntervalMs, 100);
    assert.equal(light.limits.ringBufferBytes, null);
    const full = (await get(h.socket, '/v1/stats')).json<{ store: Record<string, unknown> }>();
    assert.equal(typeof full.store.events, 'number');
    assert.equal((await get(h.socket, '/v1/stats?counts=maybe')).status, 400);
  });

  it('GET /v1/processes?follow=1 sends the table, then a new process, then its removal', async () => {
    assert.equal((await get(h.socket, '/v1/processes?follow=1&format=json')).status, 400);
    assert.equal((await get(h.socket, '/v1/processes?follow=1&user=root')).status, 400);
    const messages: Array<{ type: string; processes?: Array<{ pid: number; key: string; argv: string[] | null }>; keys?: string[] }> = [];
    let buffer = '';
    const req = request({ socketPath: h.socket, path: '/v1/processes?follow=1' }, (res) => {
      assert.equal(res.headers['content-type'], 'application/x-ndjson');
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buffer += c;
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          messages.push(JSON.parse(buffer.slice(0, nl)));
          buffer = buffer.slice(nl + 1);
        }
      });
    });
    req.on('error', () => {});
    req.end();
    const until = (what: string, ok: () => boolean) => waitUntil(what, ok, 30_000, () => JSON.stringify(messages.map((m) => m.type)));
    try {
      await until('the table', () => messages.some((m) => m.type === 'synced'));
      assert.equal(messages[0]!.type, 'reset');
      const initial = messages.filter((m) => m.type === 'upsert').flatMap((m) => m.processes!);
      assert.ok(initial.some((p) => p.pid === process.pid), 'this process is in the table');
      const child = spawn('/bin/sleep', ['37'], { stdio: 'ignore' });
      let key = '';
      await until(`sleep ${child.pid} upserted`, () => {
        const row = messages.flatMap((m) => (m.type === 'upsert' ? m.processes! : [])).find((p) => p.pid === child.pid && p.argv?.[1] === '37');
        key = row?.key ?? '';
        return row !== undefined;
      });
      child.kill('SIGKILL');
      await until(`sleep ${child.pid} removed`, () => messages.some((m) => m.type === 'remove' && m.keys!.includes(key)));
    } finally {
      req.destroy();
    }
  });
});

describe('the processes stream and the API limits (issue 14)', () => {
  it('is a stream (counted in max_streams), never a heavy slot: open tree pages leave large answers free', async () => {
    const lim = await startDaemon({ source: 'poll' }, { api: { limits: { maxHeavy: 1, maxStreams: 2 } } });
    const open: Array<ReturnType<typeof request>> = [];
    const stats = async () => (await get(lim.socket, '/v1/stats?counts=0')).json<{ api: { streamClients: number; heavyInFlight: number } }>().api;
    const follow = (): void => {
      const req = request({ socketPath: lim.socket, path: '/v1/processes?follow=1' }, (res) => res.resume());
      req.on('error', () => {});
      req.end();
      open.push(req);
    };
    try {
      follow();
      follow();
      let seen = await stats();
      for (const until = Date.now() + 30_000; seen.streamClients !== 2 && Date.now() < until;) seen = await stats();
      assert.equal(seen.streamClients, 2, JSON.stringify(seen));
      assert.equal(seen.heavyInFlight, 0, 'the streams hold no heavy slot');
      assert.equal((await get(lim.socket, '/v1/processes?limit=5')).status, 200, 'the one heavy slot is free for a large answer');
      const third = await get(lim.socket, '/v1/processes?follow=1');
      assert.equal(third.status, 503);
      assert.match(third.json<{ error: string }>().error, /^busy: 2 event streams are open \(the most allowed\); retry in \d+ s$/);
      assert.equal((await get(lim.socket, '/v1/events?follow=1&format=sse')).status, 503, 'events and processes streams share the bound');
      open.shift()!.destroy();
      for (const until = Date.now() + 30_000; seen.streamClients !== 1 && Date.now() < until;) seen = await stats();
      assert.equal(seen.streamClients, 1, JSON.stringify(seen));
    } finally {
      for (const r of open) r.destroy();
      await lim.stop();
    }
  });
});

async function waitUntil(what: string, ok: () => boolean, ms: number, seen: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}; seen: ${seen().slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
