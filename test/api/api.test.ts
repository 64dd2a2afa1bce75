import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { get, startDaemon, waitFor, type Harness } from './harness.js';

let h: Harness;
before(async () => { h = await startDaemon(); });
after(async () => { await h.stop(); });

interface Proc { key: string; pid: number; ppid: number; argv: string[] | null; user: string; exitTime: string | null; exitOrigin: string | null; children?: Proc[] }

/** A process that lives long enough for the 100 ms poll source to see it start and end. */
async function shortLived(marker: string, seconds = 0.5): Promise<number> {
  const child = spawn('/bin/sh', ['-c', `sleep ${seconds}`, marker], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

test('GET /v1/health says which source runs', async () => {
  const r = await get(h.socket, '/v1/health');
  assert.equal(r.status, 200);
  assert.equal(r.json().source, 'poll');
  assert.equal(r.json().pid, process.pid);
});

test('GET /v1/processes lists the live table, with filters', async () => {
  const all = (await get(h.socket, '/v1/processes')).json<{ processes: Proc[] }>().processes;
  const me = all.find((p) => p.pid === process.pid);
  assert.ok(me, 'this test process is in the table');
  assert.equal(me.user, 'root');
  const one = (await get(h.socket, `/v1/processes?pid=${process.pid}`)).json<{ processes: Proc[] }>().processes;
  assert.deepEqual(one.map((p) => p.pid), [process.pid]);
  const byUser = (await get(h.socket, '/v1/processes?user=root&limit=5')).json<{ processes: Proc[] }>().processes;
  assert.ok(byUser.length > 0 && byUser.length <= 5);
  const noOne = (await get(h.socket, '/v1/processes?name=no-such-process-*')).json<{ processes: Proc[] }>().processes;
  assert.deepEqual(noOne, []);
});

test('GET /v1/processes/{pid|key} finds a live process', async () => {
  const byPid = (await get(h.socket, `/v1/processes/${process.pid}`)).json<{ process: Proc }>().process;
  const byKey = (await get(h.socket, `/v1/processes/${encodeURIComponent(byPid.key)}`)).json<{ process: Proc }>().process;
  assert.equal(byKey.pid, process.pid);
});

test('GET /v1/tree nests children under parents', async () => {
  const child = spawn('sleep', ['5'], { stdio: 'ignore' });
  try {
    const node = await waitFor(async () => {
      const roots = (await get(h.socket, `/v1/tree?pid=${process.pid}`)).json<{ roots: Proc[] }>().roots;
      return roots[0]?.children?.find((c) => c.pid === child.pid);
    }, 2000);
    assert.ok(node, 'the child appears under this process');
  } finally {
    child.kill();
  }
});

test('events, history and lineage answer for a process that already exited', async () => {
  const pid = await shortLived('pwapi-history');
  const exitEvent = await waitFor(async () => {
    const events = (await get(h.socket, `/v1/events?since=1m&pid=${pid}`)).json<{ events: Array<{ kind: string; key: string }> }>().events;
    return events.find((e) => e.kind === 'inferred_exit');
  }, 3000);
  assert.ok(exitEvent, 'the exit was recorded');
  const history = (await get(h.socket, `/v1/history?pid=${pid}`)).json<{ processes: Proc[] }>().processes;
  assert.deepEqual(history[0]?.argv, ['/bin/sh', '-c', 'sleep 0.5', 'pwapi-history']);
  assert.notEqual(history[0]?.exitTime, null);
  assert.equal(history[0]?.exitOrigin, 'inferred', 'the poll source infers exits, and says so');
  const lineage = (await get(h.socket, `/v1/lineage/${pid}`)).json<{ process: Proc; ancestors: Proc[]; descendants: Proc[] }>();
  assert.equal(lineage.process.pid, pid);
  assert.equal(lineage.ancestors[0]?.pid, process.pid, 'its parent was this test process');
});

test('GET /v1/events?follow=1 streams new events as NDJSON', async () => {
  const seen: Array<{ kind: string; pid: number }> = [];
  const req = request({ socketPath: h.socket, path: '/v1/events?follow=1&since=1s&kind=inferred_start' });
  const streaming = new Promise<string>((resolve) => {
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (c: string) => {
        buf += c;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          seen.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      });
      resolve(String(res.headers['content-type']));
    });
  });
  req.end();
  assert.equal(await streaming, 'application/x-ndjson');
  const child = spawn('sleep', ['0.6'], { stdio: 'ignore' });
  const found = await waitFor(() => seen.find((e) => e.pid === child.pid), 3000);
  req.destroy();
  assert.equal(found?.kind, 'inferred_start');
  assert.ok(seen.every((e) => e.kind === 'inferred_start' || e.kind === 'lost'), 'the kind filter holds on the stream');
});

test('GET /v1/stats and /metrics report counters', async () => {
  const stats = (await get(h.socket, '/v1/stats')).json<{ table: { live: number }; store: { events: number; dbBytes: number } }>();
  assert.ok(stats.table.live > 10);
  assert.ok(stats.store.dbBytes > 0);
  const metrics = await get(h.socket, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.type, /text\/plain/);
  for (const name of ['procwatch_live_processes', 'procwatch_lost_events_total', 'procwatch_store_queue_events', 'procwatch_events_total']) {
    assert.match(metrics.body, new RegExp(`^${name}`, 'm'));
  }
});

test('bad requests get a 4xx with one clear error, and the daemon keeps serving', async () => {
  const cases: Array<[string, number, RegExp, string?]> = [
    ['/v1/events?bogus=1', 400, /unknown parameter 'bogus'/],
    ['/v1/events?limit=0', 400, /'limit' must be an integer from 1 to 10000/],
    ['/v1/events?limit=99999999', 400, /'limit' must be an integer/],
    ['/v1/events?since=yesterdayish', 400, /'since' must be a time/],
    ['/v1/events?since=1m&until=2h', 400, /'since' is after 'until'/],
    ['/v1/events?kind=exec,explode', 400, /unknown value 'explode'/],
    ['/v1/events?follow=1&format=json', 400, /follow=1 streams/],
    ['/v1/events?pid=1&pid=2', 400, /more than once/],
    ['/v1/history?user=no-such-user-xyz', 400, /unknown user/],
    ['/v1/lineage/abc', 400, /neither a pid nor a process key/],
    ['/v1/lineage/4000000', 404, /no process with pid 4000000/],
    ['/v1/processes/1:999999999', 404, /no process with key/],
    ['/v1/nowhere', 404, /no such path/],
    ['/v1/events', 405, /not allowed/, 'POST'],
  ];
  for (const [path, status, message, method] of cases) {
    const r = await get(h.socket, path, method);
    assert.equal(r.status, status, path);
    assert.match(r.json<{ error: string }>().error, message, path);
    assert.ok(!r.body.includes('\n'), 'one line');
  }
  assert.equal((await get(h.socket, '/v1/health')).status, 200, 'still serving');
});
