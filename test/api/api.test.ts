import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { get, startDaemon, type Harness } from './harness.js';
import { eventually, spawnGroup } from '../helpers/wait.js';

let h: Harness;
before(async () => { h = await startDaemon(); });
after(async () => { await h.stop(); });

interface Proc { key: string; pid: number; ppid: number; argv: string[] | null; user: string; exitTime: string | null; exitOrigin: string | null; children?: Proc[] }

/**
 * A `sleep` that the 100 ms poll source sees start and end, however loaded the machine: it runs
 * until the daemon lists it (as sleep, after its exec), then is ended. Its parent is a shell
 * that reaps it at once, so it never lingers as a zombie (whose image /proc no longer shows);
 * returns its pid and the shell's once the shell is gone.
 */
async function seenThenEnded(marker: string): Promise<{ pid: number; shell: number }> {
  const shell = spawn('/bin/sh', ['-c', 'sleep 600 & echo $!; wait', marker], { stdio: ['ignore', 'pipe', 'ignore'] });
  const shellExited = new Promise((r) => shell.on('exit', r));
  let out = '';
  shell.stdout.on('data', (c: Buffer) => (out += c.toString()));
  try {
    const pid = await eventually('the shell to start its sleep', () => (/^\d+\n/.test(out) ? Number(out.trim()) : undefined));
    let listed: unknown;
    await eventually(`the daemon to list ${pid} as sleep`, async () => {
      listed = (await get(h.socket, `/v1/processes?pid=${pid}`)).json<{ processes: Proc[] }>().processes;
      return (listed as Proc[]).some((p) => p.argv?.[0] === 'sleep');
    }, { seen: () => listed });
    process.kill(pid, 'SIGTERM');
    await shellExited;
    return { pid, shell: shell.pid! };
  } finally {
    shell.kill('SIGKILL');
  }
}

/** Until the daemon has stored the (inferred) exit of `pid`. */
async function exitRecorded(pid: number): Promise<void> {
  let events: unknown;
  await eventually(`the exit of ${pid} to be stored`, async () => {
    events = (await get(h.socket, `/v1/events?since=1h&pid=${pid}`)).json<{ events: Array<{ kind: string }> }>().events;
    return (events as Array<{ kind: string }>).some((e) => e.kind === 'inferred_exit');
  }, { seen: () => events });
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

test('GET /v1/processes?format=text and /v1/tree?format=text answer as the CLI prints, in the caller\'s time zone', async () => {
  const r = await get(h.socket, `/v1/processes?format=text&fields=pid,comm,stime&pid=${process.pid}&tz_offset=0`);
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain/);
  const [header, row, ...rest] = r.body.trimEnd().split('\n');
  assert.match(header!, /^\s*PID COMMAND\s+STIME$/);
  assert.deepEqual(rest, []);
  const me = (await get(h.socket, `/v1/processes/${process.pid}`)).json<{ process: Proc & { startTime: string } }>().process;
  const utc = new Date(me.startTime);
  const hhmm = (d: Date): string => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  assert.match(row!, new RegExp(`^\\s*${process.pid} node\\s+${hhmm(utc)}$`));
  // Two hours east of UTC: the same start, shown two hours later.
  const east = (await get(h.socket, `/v1/processes?format=text&fields=stime&pid=${process.pid}&tz_offset=120`)).body.trimEnd().split('\n')[1];
  assert.equal(east, hhmm(new Date(utc.getTime() + 120 * 60_000)));
  const tree = await get(h.socket, `/v1/tree?format=text&pid=${process.pid}`);
  assert.equal(tree.status, 200);
  assert.match(tree.body, new RegExp(`^${process.pid} root `));
  for (const [path, error] of [
    ['/v1/processes?format=xml', /'format' must be json or text/],
    ['/v1/processes?fields=pid', /'fields' chooses the columns of format=text/],
    ['/v1/processes?format=text&fields=pid,bogus', /unknown field 'bogus'/],
    ['/v1/processes?format=text&tz_offset=9999', /'tz_offset' must be minutes east of UTC/],
    ['/v1/tree?tz_offset=60', /'tz_offset' goes with format=text/],
  ] as const) {
    const bad = await get(h.socket, path);
    assert.equal(bad.status, 400, path);
    assert.match(bad.json<{ error: string }>().error, error);
  }
});

test('GET /v1/processes/{pid|key} finds a live process', async () => {
  const byPid = (await get(h.socket, `/v1/processes/${process.pid}`)).json<{ process: Proc }>().process;
  const byKey = (await get(h.socket, `/v1/processes/${encodeURIComponent(byPid.key)}`)).json<{ process: Proc }>().process;
  assert.equal(byKey.pid, process.pid);
});

test('GET /v1/tree nests children under parents', async () => {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    let roots: Proc[] = [];
    await eventually('the child under this process', async () => {
      roots = (await get(h.socket, `/v1/tree?pid=${process.pid}`)).json<{ roots: Proc[] }>().roots;
      return roots[0]?.children?.find((c) => c.pid === child.pid);
    }, { seen: () => roots[0]?.children?.map((c) => c.pid) });
  } finally {
    child.kill();
  }
});

test('events, history and lineage answer for a process that already exited', async () => {
  const { pid, shell } = await seenThenEnded('pwapi-history');
  await exitRecorded(pid);
  const history = (await get(h.socket, `/v1/history?pid=${pid}`)).json<{ processes: Proc[] }>().processes;
  assert.deepEqual(history[0]?.argv, ['sleep', '600']);
  assert.notEqual(history[0]?.exitTime, null);
  assert.equal(history[0]?.exitOrigin, 'inferred', 'the poll source infers exits, and says so');
  const lineage = (await get(h.socket, `/v1/lineage/${pid}`)).json<{ process: Proc; ancestors: Proc[]; descendants: Proc[] }>();
  assert.equal(lineage.process.pid, pid);
  assert.deepEqual(lineage.ancestors.slice(0, 2).map((a) => a.pid), [shell, process.pid], 'its parent, the shell, and the shell\'s: this test process');
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
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  const found = await eventually(`the start of ${child.pid} on the stream`, () => seen.find((e) => e.pid === child.pid), { seen: () => seen.slice(-20) })
    .finally(() => { child.kill(); req.destroy(); });
  assert.equal(found.kind, 'inferred_start');
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
    ['/v1/events?args=(a%2B)%2B%24', 400, /parameter 'args': a quantified group that holds a quantifier, such as \(a\+\)\+, is refused/],
    ['/v1/history?args=%5B', 400, /parameter 'args' is not a valid regular expression/],
    ['/v1/history?name=%5B', 400, /parameter 'name' is not a valid glob/],
    ['/v1/processes?subtree=0', 400, /'subtree' must be an integer from 1/],
    ['/v1/events?limit=0', 400, /'limit' must be an integer from 1 to 10000/],
    ['/v1/events?limit=99999999', 400, /'limit' must be an integer/],
    ['/v1/events?since=yesterdayish', 400, /'since' must be a time/],
    ['/v1/events?since=1m&until=2h', 400, /parameter 'since' is after parameter 'until'/],
    ['/v1/events?since=99999999999999999999d', 400, /parameter 'since' is out of range/],
    [`/v1/events?since=${'9'.repeat(400)}d`, 400, /parameter 'since' is out of range/],
    [`/v1/events?until=1${'0'.repeat(399)}`, 400, /parameter 'until' is out of range/],
    ['/v1/events?follow=1&until=1m', 400, /parameter 'until' cannot be used with parameter 'follow'/],
    ['/v1/events?pid=2147483648', 400, /'pid' must be an integer from 0 to 2147483647/],
    ['/v1/processes?pid=0', 400, /'pid' must be an integer from 1 to 2147483647/],
    ['/v1/processes?name=%5B', 400, /parameter 'name' is not a valid glob/],
    ['/v1/history?exe=%5Bab', 400, /parameter 'exe' is not a valid glob/],
    ['/v1/history?since=1m&until=1h', 400, /parameter 'since' is after parameter 'until'/],
    ['/v1/processes/%ZZ', 400, /malformed percent-encoding/],
    ['/v1/lineage/%ZZ', 400, /malformed percent-encoding/],
    ['/v1/lineage/1?boot=not%20a%20boot', 400, /parameter 'boot' must be a boot id/],
    ['/v1/lineage/1?boot=0000-no-such-boot', 404, /no process with pid 1 is known in boot 0000-no-such-boot/],
    ['/v1/events?since=%0Aevil', 400, /must be a time/],
    ['//v1/x', 404, /^no such path \/\/v1\/x /],
    ['//v1/health', 404, /^no such path \/\/v1\/health /],
    ['/v1/events?kind=exec,explode', 400, /unknown value 'explode'/],
    ['/v1/events?follow=1&format=json', 400, /parameter 'follow' streams/],
    ['/v1/events?pid=1&pid=2', 400, /more than once/],
    ['/v1/history?user=no-such-user-xyz', 400, /unknown user/],
    ['/v1/lineage/abc', 400, /neither a pid nor a process key/],
    ['/v1/lineage/4000000', 404, /no process with pid 4000000/],
    ['/v1/processes/1:999999999', 404, /no process with key/],
    ['/v1/nowhere', 404, /no such path/],
    ['/v1/events', 405, /not allowed/, 'POST'],
    ['/v1/health', 405, /not allowed/, 'DELETE'],
  ];
  for (const [path, status, message, method] of cases) {
    const r = await get(h.socket, path, method);
    assert.equal(r.status, status, path);
    assert.match(r.json<{ error: string }>().error, message, path);
    assert.ok(!r.body.includes('\n'), 'one line');
  }
  const head = await get(h.socket, '/v1/health', 'HEAD');
  assert.equal(head.status, 405, 'HEAD is not GET: the API answers GET only');
  assert.equal((await get(h.socket, '/v1/health')).status, 200, 'still serving');
  const stats = (await get(h.socket, '/v1/stats')).json<{ api: { badRequests: number; internal: number } }>();
  assert.ok(stats.api.badRequests >= cases.length, 'counted');
  assert.equal(stats.api.internal, 0, 'no request was a 500');
});

test('headers over 16 KiB get a JSON 431, not an empty reply', async () => {
  const r = await get(h.socket, '/v1/health', { headers: { 'x-padding': 'x'.repeat(20_000) } });
  assert.equal(r.status, 431);
  assert.equal(r.type, 'application/json');
  assert.match(r.json<{ error: string }>().error, /request headers too large: at most 16 KiB/);
  assert.equal((await get(h.socket, '/v1/health')).status, 200, 'still serving');
});

test('GET /v1/processes?limit=N gives the N lowest pids (sorted, then cut)', async () => {
  // The table keeps processes in arrival order; put the lowest pid last to tell the two apart.
  const live = h.daemon.tracker.table.live;
  const lowest = Math.min(...live.keys());
  const record = live.get(lowest)!;
  live.delete(lowest);
  live.set(lowest, record);
  const all = (await get(h.socket, '/v1/processes')).json<{ processes: Proc[] }>().processes.map((p) => p.pid);
  const three = (await get(h.socket, '/v1/processes?limit=3')).json<{ processes: Proc[] }>().processes.map((p) => p.pid);
  assert.deepEqual(three, [...all].sort((a, b) => a - b).slice(0, 3));
});

test('GET /v1/events?format=sse, and a followed SSE stream', async () => {
  const { pid } = await seenThenEnded('pwapi-sse');
  await exitRecorded(pid);
  const stored = await get(h.socket, `/v1/events?since=1m&pid=${pid}&format=sse`);
  assert.equal(stored.type, 'text/event-stream');
  const frames = stored.body.split('\n\n').filter(Boolean);
  assert.ok(frames.length >= 2, stored.body);
  // Issue 14: each stored event has its id and kind as SSE fields (the `truncated` line would have no id).
  for (const f of frames) assert.match(f, /^id: \d+\nevent: [a-z_]+\ndata: \{.*\}$/);
  const data = (f: string): { kind: string; id: number } => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as { kind: string; id: number };
  for (const f of frames) assert.equal(f.split('\n')[0], `id: ${data(f).id}`);
  for (const f of frames) assert.equal(f.split('\n')[1], `event: ${data(f).kind}`);
  const kinds = frames.map((f) => data(f).kind);
  assert.equal(kinds[0], 'inferred_start', kinds.join());
  assert.equal(kinds.at(-1), 'inferred_exit', kinds.join());

  const live: Array<{ kind: string; pid: number; process?: unknown; id?: number; run?: number }> = [];
  const req = request({ socketPath: h.socket, path: '/v1/events?follow=1&since=1s&kind=inferred_start', headers: { accept: 'text/event-stream' } });
  const type = new Promise<string>((resolve) => {
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (c: string) => {
        buf += c;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, end);
          if (!frame.startsWith(':')) live.push(JSON.parse(frame.slice(frame.indexOf('data: ') + 6)));
          buf = buf.slice(end + 2);
        }
      });
      resolve(String(res.headers['content-type']));
    });
  });
  req.end();
  assert.equal(await type, 'text/event-stream');
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  const found = await eventually(`the start of ${child.pid} on the SSE stream`, () => live.find((e) => e.pid === child.pid), { seen: () => live.slice(-20) })
    .finally(() => { child.kill(); req.destroy(); });
  assert.equal(found.kind, 'inferred_start');
  // Issue 14: an SSE stream follows the store, so its new events have their store id too.
  assert.equal(typeof found.id, 'number', 'SSE events are sent once stored, with their id');
  assert.equal(found.run, h.daemon.store.run);
});

test('GET /v1/processes/{key} and /v1/history filter by exe, user and time over HTTP', async () => {
  const started = Date.now();
  const { pid } = await seenThenEnded('pwapi-filters');
  let rows: Proc[] = [];
  const row = await eventually(`${pid} recorded, with its end`, async () => {
    rows = (await get(h.socket, `/v1/history?pid=${pid}`)).json<{ processes: Proc[] }>().processes;
    return rows.find((p) => p.exitTime !== null);
  }, { seen: () => rows });
  const match = async (query: string): Promise<boolean> =>
    (await get(h.socket, `/v1/history?pid=${pid}&${query}`)).json<{ processes: Proc[] }>().processes.some((p) => p.pid === pid);
  assert.equal(await match('exe=*/sleep'), true);
  assert.equal(await match('exe=*/no-such-exe'), false);
  assert.equal(await match('user=root'), true);
  assert.equal(await match('user=65534'), false);
  assert.equal(await match('since=1m'), true);
  assert.equal(await match(`until=${started - 3_600_000}`), false, 'started after until');
  assert.equal(await match(`since=${Date.now() + 60_000}`), false, 'ended before since');
  const byKey = (await get(h.socket, `/v1/processes/${encodeURIComponent(row.key)}`)).json<{ process: Proc }>().process;
  assert.equal(byKey.pid, pid);
  assert.notEqual(byKey.exitTime, null);
});

test('GET /v1/lineage: descendants with depth, cut at limit with truncated', async () => {
  const shell = spawnGroup('sleep 600 & sleep 600 & sleep 600 & wait');
  try {
    let list: Proc[] = [];
    await eventually(`the three children of ${shell.pid} in the table`, async () => {
      list = (await get(h.socket, `/v1/processes?ppid=${shell.pid}`)).json<{ processes: Proc[] }>().processes;
      return list.length === 3 && list.every((p) => p.argv?.[0] === 'sleep');
    }, { seen: () => list.map((p) => p.argv) });
    type L = { process: Proc; descendants: Array<Proc & { depth: number }>; truncated: boolean };
    const full = (await get(h.socket, `/v1/lineage/${shell.pid}`)).json<L>();
    assert.deepEqual(full.descendants.map((d) => [d.ppid, d.depth]), [[shell.pid, 1], [shell.pid, 1], [shell.pid, 1]]);
    assert.equal(full.truncated, false);
    const cut = (await get(h.socket, `/v1/lineage/${shell.pid}?limit=2`)).json<L>();
    assert.equal(cut.descendants.length, 2);
    assert.equal(cut.truncated, true);
  } finally {
    shell.stop();
  }
});
