/**
 * Every action against a real receiver: a local HTTP server (webhook), a unix datagram socket
 * bound by a Python receiver in a temp dir (syslog), Debian's prometheus-alertmanager started
 * on free loopback ports (its own API must show the alert), a program run with an argv (exec),
 * and kill, checked by (pid, start time). One daemon (eBPF source) holds them all; a rule
 * per action matches a process name made for it.
 */

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRulesDaemon, sourceProblem, type RulesDaemon } from '../rules/harness.js';
import { uniqueTag, which } from '../helpers/spawn.js';
import { KillRunner, startTicksOf, syslogMessage } from '../../src/alerts/actions.js';
import type { Alert } from '../../src/alerts/types.js';

const TAG = uniqueTag();
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : which('python3');
const AM = '/usr/bin/prometheus-alertmanager';
const dir = mkdtempSync(join(tmpdir(), `pw-act-${TAG}-`));
chmodSync(dir, 0o755);
const root = process.getuid?.() === 0;
// eBPF: exact names for the short-lived processes the rules match (netlink reads them from /proc, a race under load).
const skip = root ? sourceProblem('ebpf') : 'needs root';
const amMissing = existsSync(AM) ? null : `needs ${AM} (apt-get install prometheus-alertmanager; CI installs it)`;
if (amMissing !== null && process.env.CI === 'true') throw new Error(amMissing);

let daemon: RulesDaemon | null = null;
let http: Server | null = null;
const posts: Array<{ path: string; body: string; type: string }> = [];
let syslogReceiver: ChildProcess | null = null;
let syslogLines = '';
let am: ChildProcess | null = null;
let amPort = 0;
let amLog = '';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000, extra = (): string => ''): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${extra()}`);
    await sleep(100);
  }
}

/** Runs a copy of /bin/true (or sleep) named `name`: the process each rule below matches. */
function runNamed(name: string, args: string[] = [], binary = '/bin/true'): ChildProcess {
  const path = join(dir, name);
  if (!existsSync(path)) copyFileSync(binary, path);
  chmodSync(path, 0o755);
  return spawn(path, args, { stdio: 'ignore' });
}

before(async () => {
  if (skip) return;
  http = createHttp((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', body, type: String(req.headers['content-type']) });
      // The first delivery to /flaky fails: the action must retry.
      res.writeHead(req.url === '/flaky' && posts.filter((p) => p.path === '/flaky').length === 1 ? 503 : 200).end();
    });
  });
  await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
  const httpPort = (http.address() as AddressInfo).port;
  // A unix datagram socket bound in our temp dir, as a syslog daemon binds /dev/log (Node cannot bind one).
  const sock = join(dir, 'log.sock');
  syslogReceiver = spawn(PY!, ['-u', '-c', `import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sock)})\nprint("ready", flush=True)\nwhile True:\n    d = s.recv(65536)\n    sys.stdout.write(d.decode("utf-8", "replace").replace("\\n", "\\\\n") + "\\n")\n    sys.stdout.flush()\n`], { stdio: ['ignore', 'pipe', 'inherit'] });
  syslogReceiver.stdout!.setEncoding('utf8');
  syslogReceiver.stdout!.on('data', (d: string) => (syslogLines += d));
  await until('the syslog receiver', () => (syslogLines.includes('ready') ? true : undefined));
  if (amMissing === null) {
    amPort = await freePort();
    writeFileSync(join(dir, 'am.yml'), 'route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n');
    am = spawn(AM, [`--config.file=${join(dir, 'am.yml')}`, `--storage.path=${join(dir, 'am-data')}`, `--web.listen-address=127.0.0.1:${amPort}`, '--cluster.listen-address='], { stdio: ['ignore', 'ignore', 'pipe'] });
    am.stderr!.setEncoding('utf8');
    am.stderr!.on('data', (d: string) => (amLog += d));
    await until('alertmanager ready', async () => {
      try {
        return (await fetch(`http://127.0.0.1:${amPort}/-/ready`)).ok ? true : undefined;
      } catch {
        return undefined;
      }
    }, 60_000, () => `; its log: ${amLog}`);
  }
  const exec = join(dir, 'exec-out.json');
  daemon = await startRulesDaemon({
    source: 'ebpf',
    yaml: `
alerts:
  actions:
    hook: {type: webhook, url: "http://127.0.0.1:${httpPort}/hook", timeout: 5s, retries: 3}
    flaky: {type: webhook, url: "http://127.0.0.1:${httpPort}/flaky", timeout: 5s, retries: 3}
    local-syslog: {type: syslog, socket: ${sock}, facility: local3, tag: pwtest}
    ${amMissing === null ? `am: {type: alertmanager, url: "http://127.0.0.1:${amPort}", resolve_after: 10m}` : ''}
    run:
      type: exec
      timeout: 10s
      argv:
        - ${JSON.stringify(PY)}
        - "-c"
        - ${JSON.stringify(`import os, sys; open(${JSON.stringify(exec)}, 'w').write(sys.stdin.read() + os.environ['PROCWATCH_NAME'] + ' ' + os.environ['PROCWATCH_PID'] + ' ' + sys.argv[1])`)}
        - "arg with spaces; $(not a shell)"
    slow: {type: exec, argv: [/bin/sleep, '30'], timeout: 1s}
    stop-it: {type: kill, signal: SIGKILL, max_kills: 2, per: 10m}
rules:
  rules:
    - {name: t-hook, condition: 'event.kind == "exec" && process.name == "pwhook-${TAG}"', actions: [hook, flaky]}
    - {name: t-syslog, severity: critical, condition: 'event.kind == "exec" && process.name == "pwsys-${TAG}"', actions: [local-syslog]}
    ${amMissing === null ? `- {name: t-am, condition: 'event.kind == "exec" && process.name == "pwam-${TAG}"', actions: [am]}` : ''}
    - {name: t-exec, condition: 'event.kind == "exec" && process.name == "pwexec-${TAG}"', actions: [run, slow]}
    - {name: t-kill, mode: enforce, condition: 'event.kind == "exec" && process.name == "pwkill-${TAG}"', actions: [stop-it, log], rate_limit: 100/m}
`,
  });
});

after(async () => {
  await daemon?.stop();
  http?.close();
  syslogReceiver?.kill('SIGKILL');
  // Alertmanager writes its data directory as it stops: wait for it to be gone before removing it.
  if (am && am.exitCode === null && am.signalCode === null) {
    const gone = new Promise((r) => am!.once('exit', r));
    am.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 30_000))]);
    if (am.exitCode === null && am.signalCode === null) am.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

const t = skip ? { skip } : {};

test('webhook: the alert as JSON in a POST; a 503 is retried', t, async () => {
  const p = runNamed(`pwhook-${TAG}`);
  const post = await until('the webhook POST', () => posts.find((x) => x.path === '/hook'), 30_000, () => `; log: ${daemon!.log()}`);
  assert.equal(post.type, 'application/json');
  const alert = JSON.parse(post.body) as Alert;
  assert.equal(alert.name, 't-hook');
  assert.equal(alert.process?.pid, p.pid);
  assert.equal(alert.source, 'rule');
  assert.ok(alert.id > 0, 'stored before delivery: it has its id');
  await until('the retried POST', () => (posts.filter((x) => x.path === '/flaky').length >= 2 ? true : undefined));
});

test('syslog: one RFC 5424 datagram on the configured socket', t, async () => {
  const p = runNamed(`pwsys-${TAG}`);
  const line = await until('the syslog datagram', () => syslogLines.split('\n').find((l) => l.includes(`pwsys-${TAG}`) && l.includes(`pid ${p.pid}`)), 30_000, () => `; got: ${syslogLines}; log: ${daemon!.log()}`);
  // <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG; local3 (19) * 8 + critical (2) = 154.
  assert.match(line, /^<154>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ pwtest \d+ t-syslog \[procwatch@32473 source="rule" name="t-syslog" severity="critical" state="firing" key="\d+:\d+" id="\d+"\] t-syslog: /);
});

test('syslog message: process-written text cannot forge fields or lines', () => {
  const alert = { id: 3, source: 'rule', name: 'x', severity: 'warning', message: 'evil\n<13>1 forged "]', time: '2026-01-01T00:00:00.000Z', state: 'firing', resolvedTime: null, key: 'a"b]c', process: null, eventKind: 'exec', eventSeq: 1, mode: 'monitor', actions: [], suppressed: 0, tags: [], bootId: 'b', origin: 'f:1' } as Alert;
  const m = syslogMessage(alert, 4, 'procwatch', 'host', 1);
  assert.doesNotMatch(m, /\n/);
  assert.match(m, /key="a\\"b\\]c"/);
  assert.match(m, /x: evil\\n<13>1 forged "\]$/);
});

test('alertmanager: the alert is in Alertmanager\'s own API', { ...t, ...(amMissing !== null ? { skip: amMissing } : {}) }, async () => {
  const p = runNamed(`pwam-${TAG}`);
  const got = await until('the alert in Alertmanager', async () => {
    const list = (await (await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts`)).json()) as Array<{ labels: Record<string, string>; annotations: Record<string, string>; status: { state: string } }>;
    return list.find((a) => a.labels.alertname === 't-am');
  }, 30_000, () => `; daemon log: ${daemon!.log()}`);
  assert.equal(got.labels.severity, 'warning');
  assert.equal(got.labels.source, 'rule');
  assert.match(got.labels.key ?? '', new RegExp(`^${p.pid}:`));
  assert.match(got.annotations.summary ?? '', new RegExp(`pwam-${TAG}`));
  assert.equal(got.status.state, 'active');
});

test('exec: an argv (no shell), the alert as JSON on stdin and PROCWATCH_* variables; a hung one is killed at its timeout', t, async () => {
  const p = runNamed(`pwexec-${TAG}`);
  const out = join(dir, 'exec-out.json');
  // The action creates its file, then writes it: read it once the action has exited (exit 0).
  await daemon!.waitLog('the exec exit status', /action run \(exec [^)]+\) for alert \d+ \(t-exec\): exit 0/);
  assert.ok(existsSync(out), `the exec action wrote ${out}; log: ${daemon!.log()}`);
  const [json, env] = readFileSync(out, 'utf8').split('\n');
  assert.equal((JSON.parse(json!) as Alert).name, 't-exec');
  assert.equal(env, `t-exec ${p.pid} arg with spaces; $(not a shell)`);
  await daemon!.waitLog('the timeout', /action slow \(exec \/bin\/sleep\) for alert \d+ \(t-exec\): killed after the 1s timeout/);
});

test('kill (enforce): the matching process instance is killed; after max_kills the flap guard alerts instead', t, async () => {
  const victims = [0, 1, 2].map(() => runNamed(`pwkill-${TAG}`, ['30'], '/bin/sleep'));
  const ends = await Promise.all(victims.slice(0, 2).map((v) => new Promise<string | null>((r) => v.on('exit', (_c, s) => r(s)))));
  assert.deepEqual(ends, ['SIGKILL', 'SIGKILL']);
  await daemon!.waitAlert('the flap guard', (a) => a.name === 't-kill:kill-guard');
  assert.equal(victims[2]!.exitCode, null, 'the third is not killed');
  assert.equal(victims[2]!.signalCode, null);
  victims[2]!.kill('SIGKILL');
});

test('kill never hits a reused pid: the start time must match', async () => {
  const live = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  try {
    const lines: string[] = [];
    const runner = new KillRunner('k', { type: 'kill', signal: 'SIGKILL', maxKills: 5, perMs: 60_000 }, (l) => lines.push(l), () => {});
    const ticks = await until('its start time', () => startTicksOf(live.pid!) ?? undefined);
    const alert = { id: 1, source: 'rule', name: 'r', severity: 'warning', message: 'm', time: '', state: 'firing', resolvedTime: null, key: `${live.pid}:${ticks + 1}`,
      process: { key: `${live.pid}:${ticks + 1}`, pid: live.pid!, ppid: 1, comm: 'sleep', exe: null, argv: null, user: null, uid: null, unit: null, container: null, containerRuntime: null, startTicks: ticks + 1 },
      eventKind: 'exec', eventSeq: 1, mode: 'enforce', actions: ['k'], suppressed: 0, tags: [], bootId: 'b', origin: '' } as Alert;
    runner.submit(alert);
    assert.equal(runner.counters.sent, 0);
    assert.match(lines.join('\n'), /is no longer process .*: not signalled/);
    await sleep(200);
    assert.equal(live.exitCode, null, 'still running');
    runner.submit({ ...alert, process: { ...alert.process!, startTicks: ticks, key: `${live.pid}:${ticks}` } });
    assert.equal(runner.counters.sent, 1);
    const signal = await new Promise((r) => live.on('exit', (_c, s) => r(s)));
    assert.equal(signal, 'SIGKILL');
  } finally {
    live.kill('SIGKILL');
  }
});

test('/metrics counts alerts by rule and severity, and deliveries by action', t, async () => {
  const { get } = await import('../api/harness.js');
  const text = (await get(daemon!.socket, '/metrics')).body;
  assert.match(text, /procwatch_alerts_total\{rule="t-hook",severity="warning"\} [1-9]/);
  assert.match(text, /procwatch_action_deliveries_total\{action="hook",type="webhook",result="sent"\} [1-9]/);
  assert.match(text, /procwatch_action_deliveries_total\{action="flaky",type="webhook",result="sent"\} [1-9]/);
});
