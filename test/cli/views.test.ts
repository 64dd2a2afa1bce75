/**
 * The CLI as a ps/pstree/journalctl user meets it (issue 17): usage with no command, procps
 * argument forms, procps column headers, events/history/lineage in watch's columns and words,
 * local time and --utc, one set of filters (-u -n -e -a, -p the subtree) everywhere, exe paths
 * through merged-/usr symlinks, terminal width and colours, thread counts with eBPF, clear
 * messages. Against a real daemon (eBPF source) and real processes.
 */

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENT_KINDS } from '../../src/events/types.js';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { BIN, check, procwatch, show } from '../helpers/cli.js';
import { uniqueTag } from '../helpers/spawn.js';
import { eventually, spawnGroup, type Group } from '../helpers/wait.js';

const ebpf = ebpfAvailability();
const skip = ebpf.available ? false : `SKIPPED: needs the eBPF source (${ebpf.reason})`;
if (skip) console.error(`views tests: ${skip}`);
if (skip && process.env.PROCWATCH_REQUIRE_BPF === '1') test('the eBPF source is required here (PROCWATCH_REQUIRE_BPF=1)', () => assert.fail(String(skip)));

const dir = mkdtempSync(join(tmpdir(), 'pw-views-'));
const socket = join(dir, 'api.sock');
const tag = uniqueTag();
const children: ChildProcess[] = [];
const groups: Group[] = [];
let daemon: ChildProcess | null = null;
let log = '';
/** A shell (marker pwv-TAG) that starts a child shell, which runs a long sleep: a subtree of three. */
let tree: Group;
let ids = { shell: 0, inner: 0, sleep: 0 };

after(() => {
  for (const g of groups) g.stop();
  for (const c of [...children, ...(daemon ? [daemon] : [])]) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

type Proc = { pid: number; ppid: number; argv: string[] | null; comm: string | null; threads: number };
const processes = async (): Promise<Proc[]> => (JSON.parse((await procwatch(['ps', '--socket', socket, '--json'])).stdout) as { processes: Proc[] }).processes;

before(async () => {
  if (skip) return;
  daemon = spawn(process.execPath, [BIN, 'daemon', '--database', join(dir, 'events.db'), '--socket', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  daemon.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const d = daemon;
  await eventually('the daemon to listen', () => log.includes('API on') || d.exitCode !== null, { timeoutMs: 60_000, seen: () => log });
  assert.equal(d.exitCode, null, log);
  tree = spawnGroup(`/bin/sh -c 'sleep 600; exit 0' pwv-inner-${tag}; exit 0`, `pwv-${tag}`);
  groups.push(tree);
  let seen: Proc[] = [];
  await eventually('the subtree in the daemon\'s table', async () => {
    seen = await processes();
    const inner = seen.find((p) => p.ppid === tree.pid && p.argv?.includes(`pwv-inner-${tag}`));
    const sleep = inner && seen.find((p) => p.ppid === inner.pid && p.argv?.[0] === 'sleep');
    if (inner === undefined || sleep === undefined) return false;
    ids = { shell: tree.pid, inner: inner.pid, sleep: sleep.pid };
    return true;
  }, { seen: () => seen.filter((p) => p.pid === tree.pid || p.ppid === tree.pid) });
});

test('no command: the usage on stderr and exit 2, not "(outputHelp)"', async () => {
  const r = await procwatch([]);
  assert.equal(r.code, 2, show(r));
  assert.match(r.stderr, /^Usage: procwatch \[options\] \[command\]/);
  assert.match(r.stderr, /^ {2}events \[options\]/m);
  assert.doesNotMatch(r.stdout + r.stderr, /outputHelp/);
});

test('--help: no "(default: [])", no default said twice, README sections that exist', async () => {
  const readme = readFileSync(join(BIN, '..', '..', 'README.md'), 'utf8');
  const headings = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.replace(/`/g, '').trim()));
  for (const command of ['check', 'watch', 'daemon', 'ps', 'tree', 'events', 'history', 'lineage', 'stats', 'completion', 'manpage']) {
    const r = await procwatch([command, '--help']);
    assert.equal(r.code, 0, show(r));
    const help = r.stdout.replace(/\n\s+/g, ' ');
    assert.doesNotMatch(help, /\(default: \[\]\)/, `${command}: an empty list as a default`);
    assert.doesNotMatch(help, /\(default [^)]*\) \(default: /, `${command}: a default said twice`);
    for (const [, section] of help.matchAll(/README: ((?:"[^"]+"(?: and )?)+)/g)) {
      for (const [, name] of section!.matchAll(/"([^"]+)"/g)) {
        assert.ok([...headings].some((h) => h === name || h.startsWith(`${name} `) || h.startsWith(`procwatch ${name}`)), `${command} --help points to README "${name}", which exists`);
      }
    }
  }
});

test('ps as procps users type it: -ef, -e -o, -eo, aux, -C; refusals with a hint, never an empty answer', { skip }, async () => {
  const row = (out: string, pid: number): string | undefined => out.split('\n').find((l) => new RegExp(`(^|\\s)${pid}\\s`).test(l));
  const ef = await procwatch(['ps', '-ef', '--socket', socket]);
  assert.equal(ef.code, 0, show(ef));
  assert.match(ef.stdout.split('\n')[0]!, /^USER +PID +PPID STIME CMD$/);
  assert.ok(row(ef.stdout, ids.sleep)?.endsWith('sleep 600'), ef.stdout.slice(0, 2000));
  for (const args of [['-e', '-o', 'pid,comm'], ['-eo', 'pid,comm'], ['-A', '-o', 'pid,comm'], ['--format', 'pid,comm']]) {
    const r = await procwatch(['ps', ...args, '--socket', socket]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${show(r)}`);
    assert.match(r.stdout.split('\n')[0]!, /^ *PID COMMAND$/, args.join(' '));
    assert.match(row(r.stdout, ids.sleep) ?? '', /^ *\d+ sleep$/, args.join(' '));
  }
  const aux = await procwatch(['ps', 'aux', '--socket', socket]);
  assert.equal(aux.code, 0, show(aux));
  assert.match(aux.stderr, /^procwatch: 'aux': every process, in procwatch's columns \(it has no %CPU/);
  assert.ok(row(aux.stdout, ids.sleep), 'aux lists every process');
  const byName = await procwatch(['ps', '-C', 'sleep', '-o', 'pid', '--socket', socket]);
  assert.ok(byName.stdout.split('\n').some((l) => l.trim() === String(ids.sleep)), show(byName));
  const headers = await procwatch(['ps', '-o', 'user,uid,ruid,gid,pid,ppid,stime,start,etime,comm,args,cmd,nlwp,thcount', '-p', String(ids.sleep), '--socket', socket]);
  assert.deepEqual(headers.stdout.split('\n')[0]!.trim().split(/ +/), ['USER', 'UID', 'RUID', 'GID', 'PID', 'PPID', 'STIME', 'STARTED', 'ELAPSED', 'COMMAND', 'COMMAND', 'CMD', 'NLWP', 'THCNT'], show(headers));
  const f = await procwatch(['ps', '-e', 'f', '--socket', socket]);
  assert.equal(f.code, 2, show(f));
  assert.equal(f.stderr, "procwatch: --exe matches the whole executable path, so 'f' can never match: use '/usr/bin/f', '*/f', or --name f\n");
  const l = await procwatch(['ps', '-ely', '--socket', socket]);
  assert.equal(l.code, 2, show(l));
  assert.match(l.stderr, /^procwatch: ps: procps's -ely is not supported here: choose columns with -o/);
  const bad = await procwatch(['ps', '-o', 'pid,%cpu', '--socket', socket]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^procwatch: unknown field '%cpu' for -o \(known: user, /);
});

test('one filter set: -p is the subtree in ps, events and history; -a searches argv; -n is comm or exe basename; -u the user', { skip }, async () => {
  const pidsIn = (out: string): number[] => [...new Set(out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { pid: number }).pid))].sort((a, b) => a - b);
  const subtree = [ids.shell, ids.inner, ids.sleep].sort((a, b) => a - b);
  const ps = JSON.parse((await procwatch(['ps', '-p', String(ids.shell), '--json', '--socket', socket])).stdout) as { processes: Proc[] };
  assert.deepEqual(ps.processes.map((p) => p.pid).sort((a, b) => a - b), subtree, 'ps -p: the process and its descendants');
  const psNoDaemon = JSON.parse((await procwatch(['ps', '-p', String(ids.shell), '--json', '--no-daemon'])).stdout) as { processes: Proc[] };
  assert.deepEqual(psNoDaemon.processes.map((p) => p.pid).sort((a, b) => a - b), subtree, 'the same from /proc');
  const events = await procwatch(['events', '-p', String(ids.shell), '-k', 'exec', '--since', '1h', '--json', '--socket', socket]);
  assert.deepEqual(pidsIn(events.stdout), subtree, `events -p: ${events.stdout}`);
  const history = JSON.parse((await procwatch(['history', '-p', String(ids.shell), '--since', '1h', '--json', '--socket', socket])).stdout) as { processes: Proc[] };
  assert.deepEqual([...new Set(history.processes.map((p) => p.pid))].sort((a, b) => a - b), subtree, 'history -p');
  const byArgs = await procwatch(['events', '-a', `pwv-inner-${tag}$`, '-k', 'exec', '--since', '1h', '--json', '--socket', socket]);
  assert.deepEqual(pidsIn(byArgs.stdout), [ids.inner], `events -a: ${byArgs.stdout}`);
  const historyArgs = JSON.parse((await procwatch(['history', '-a', `^sleep 600$`, '-p', String(ids.shell), '--json', '--socket', socket])).stdout) as { processes: Proc[] };
  assert.deepEqual(historyArgs.processes.map((p) => p.pid), [ids.sleep], 'history -a');
  // -n: comm or basename of the executable (the comm of a long name is cut at 15 bytes).
  const long = join(dir, 'pwv-a-long-program-name');
  spawnSync('cp', ['/bin/sleep', long]);
  const g = spawnGroup(`exec ${long} 600`);
  groups.push(g);
  await eventually('the long-named program in the table', async () => (await processes()).some((p) => p.pid === g.pid && p.comm === 'pwv-a-long-prog'));
  for (const args of [['ps', '--json'], ['history', '--since', '1h', '--json']]) {
    const out = JSON.parse((await procwatch([...args, '-n', 'pwv-a-long-program-*', '--socket', socket])).stdout) as { processes: Proc[] };
    assert.deepEqual(out.processes.map((p) => p.pid), [g.pid], `${args[0]} -n matches the exe basename`);
  }
  const named = await procwatch(['events', '-n', 'pwv-a-long-program-name', '-k', 'exec', '--since', '1h', '--json', '--socket', socket]);
  assert.deepEqual(pidsIn(named.stdout), [g.pid], `events -n: ${named.stdout}`);
  const user = await procwatch(['events', '-u', 'nobody', '-p', String(ids.shell), '--since', '1h', '--json', '--socket', socket]);
  assert.deepEqual(pidsIn(user.stdout), [], 'none of the subtree runs as nobody');
  const root = await procwatch(['events', '-u', 'root', '-p', String(ids.shell), '-k', 'exec', '--since', '1h', '--json', '--socket', socket]);
  assert.deepEqual(pidsIn(root.stdout), subtree, 'all of it as root');
});

test('exe paths through merged-/usr symlinks: /bin/sleep finds what runs as /usr/bin/sleep, in check and in filters', { skip }, async () => {
  const real = realpathSync('/bin/sleep');
  if (real === '/bin/sleep') return; // not a merged-/usr system: nothing to resolve
  const c = await check(['-f', 'json', `exe=/bin/sleep,args~^sleep 600$,ppid=${ids.inner}:1-1`]);
  assert.equal(c.code, 0, show(c));
  const glob = await check([`exe=/bin/sle*,ppid=${ids.inner}:1-1`]);
  assert.equal(glob.code, 0, show(glob));
  const ps = JSON.parse((await procwatch(['ps', '-e', '/bin/sleep', '-p', String(ids.shell), '--json', '--socket', socket])).stdout) as { processes: Proc[] };
  assert.deepEqual(ps.processes.map((p) => p.pid), [ids.sleep]);
  const events = await procwatch(['events', '-e', '/bin/sleep', '-p', String(ids.shell), '-k', 'exec', '--since', '1h', '--json', '--socket', socket]);
  assert.equal(events.stdout.split('\n').filter(Boolean).length, 1, events.stdout);
});

test('events, history, lineage: watch\'s columns and words, the date and local time (TZ), --utc marked Z, a DURATION', { skip }, async () => {
  const env = (tz: string): NodeJS.ProcessEnv => ({ ...process.env, TZ: tz });
  const events = await procwatch(['events', '-p', String(ids.shell), '--since', '1h', '--socket', socket], { env: env('UTC') });
  const lines = events.stdout.split('\n').filter(Boolean);
  assert.match(lines[0]!, /^TIME +EVENT +PID +PPID USER +WHAT$/);
  const exec = lines.find((l) => new RegExp(` exec +${ids.sleep} +${ids.inner} root +sleep 600$`).test(l));
  assert.ok(exec, events.stdout);
  const fork = lines.find((l) => new RegExp(` fork +${ids.inner} +${ids.shell} root +forked by ${ids.shell}$`).test(l));
  assert.ok(fork, `a fork in watch's words: ${events.stdout}`);
  const tokyo = await procwatch(['events', '-p', String(ids.shell), '--since', '1h', '--socket', socket], { env: env('Asia/Tokyo') });
  const utc = await procwatch(['events', '-p', String(ids.shell), '--since', '1h', '--utc', '--socket', socket], { env: env('Asia/Tokyo') });
  const time = (out: string): number => {
    const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})(Z?) exec/m.exec(out);
    assert.ok(m, out);
    return Date.parse(`${m[1]!.replace(' ', 'T')}Z`);
  };
  assert.equal(time(tokyo.stdout) - time(utc.stdout), 9 * 3600_000, 'TZ=Asia/Tokyo is 9 hours ahead of --utc');
  assert.match(utc.stdout, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z exec/m, '--utc times are marked Z');

  // An ended process: its exit names it, with its lifetime and the signal's name.
  const ended = spawnGroup('exec sleep 600');
  groups.push(ended);
  await eventually('the sleep in the table', async () => (await processes()).some((p) => p.pid === ended.pid && p.argv?.[0] === 'sleep'));
  process.kill(ended.pid, 'SIGTERM');
  await ended.exited;
  const lifetime = await eventually('its exit stored', async () => {
    const r = await procwatch(['events', '-p', String(ended.pid), '-k', 'exit', '--since', '1h', '--socket', socket]);
    // -p is every instance of the pid: an exec storm beside this test may have reused it already.
    return r.stdout.split('\n').find((l) => / exit .* sleep /.test(l));
  });
  assert.match(lifetime, new RegExp(` exit +${ended.pid} +\\d+ root +sleep killed by SIGTERM, lived [\\d.]+(ms|s|m\\d\\ds)$`));
  const history = await procwatch(['history', '-p', String(ended.pid), '--since', '1h', '--socket', socket], { env: env('UTC') });
  assert.match(history.stdout.split('\n')[0]!, /^START +END +DURATION USER +PID +PPID STATUS +CMD$/);
  assert.match(history.stdout, new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d [\\d.]+(ms|s|m\\d\\ds) +root +${ended.pid} .* killed by SIGTERM +sleep 600$`, 'm'));
  const lineage = await procwatch(['lineage', String(ids.sleep), '--socket', socket]);
  assert.match(lineage.stdout, new RegExp(`\\* ${ids.sleep} root sleep 600 {2}\\[started \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d, running for `));
  assert.match(lineage.stdout, new RegExp(`^ +${ids.inner} root /bin/sh -c 'sleep 600; exit 0' pwv-inner-${tag} {2}\\[`, 'm'), 'argv quoted where a word has spaces');
});

test('stats: rounded figures, human uptime, kinds in order', { skip }, async () => {
  const r = await procwatch(['stats', '--socket', socket]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^source {10}ebpf, up (\d+s|\d+m \d+s|\d+h \d+m)$/m);
  const kinds = /^events {10}(.*)$/m.exec(r.stdout)?.[1]?.split(', ').map((k) => k.split(' ')[0] ?? '') ?? [];
  const order: readonly string[] = EVENT_KINDS;
  assert.ok(kinds.every((k) => order.includes(k)), r.stdout);
  assert.deepEqual(kinds, [...kinds].sort((a, b) => order.indexOf(a) - order.indexOf(b)), r.stdout);
  assert.match(r.stdout, /lag \d+ ms/);
  assert.doesNotMatch(r.stdout, /\d\.\d{3,}/, 'no long fractions');
});

test('threads with the eBPF source: NLWP and the API count them as /proc does; /metrics counts thread events', { skip }, async () => {
  const threaded = spawn(process.execPath, ['-e', "const { Worker } = require('worker_threads'); for (let i = 0; i < 6; i++) new Worker('setInterval(() => {}, 1000)', { eval: true }); setInterval(() => {}, 1000);"], { stdio: 'ignore' });
  children.push(threaded);
  try {
    const fromProc = (): number => Number(readFileSync(`/proc/${threaded.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[17]);
    let seen: { ps?: string; api?: number; proc?: number } = {};
    await eventually('the daemon\'s thread count to equal /proc\'s (6 workers and Node\'s own)', async () => {
      const proc = fromProc();
      const ps = (await procwatch(['ps', '-o', 'pid,nlwp', '--socket', socket])).stdout.split('\n').find((l) => new RegExp(`^ *${threaded.pid} `).test(l));
      const api = (await processes()).find((p) => p.pid === threaded.pid)?.threads;
      seen = { ps, api, proc };
      return proc > 7 && ps?.trim() === `${threaded.pid} ${proc}` && api === proc - 1;
    }, { seen: () => seen });
    const metrics = await new Promise<string>((resolve, reject) => {
      request({ socketPath: socket, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      }).on('error', reject).end();
    });
    assert.match(metrics, /^procwatch_thread_events_total [1-9]\d*$/m);
  } finally {
    threaded.kill();
  }
});

test('a socket path that is a regular file is said to be one', async () => {
  const file = join(dir, 'not-a-socket');
  writeFileSync(file, 'x');
  const r = await procwatch(['events', '--socket', file]);
  assert.equal(r.code, 4);
  assert.equal(r.stderr, `procwatch: cannot reach the daemon at ${file}: it is a regular file, not the daemon's socket: check --socket or PROCWATCH_SOCKET\n`);
  const missing = await procwatch(['events', '--socket', join(dir, 'nothing-here.sock')]);
  assert.match(missing.stderr, /: no such socket: is the daemon running\? start it with `procwatch daemon`/);
});

/** Runs `procwatch ARGS` on a pseudo-terminal of `cols` columns (util-linux script), with `env`. */
function onTerminal(args: string[], cols: number, env: NodeJS.ProcessEnv = {}): string {
  const command = `stty cols ${cols} rows 50; ${[process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')}`;
  const r = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm', ...env }, timeout: 60_000 });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout.replace(/\r\n/g, '\n');
}

test('on a terminal: lines cut to its width (-w: whole), colours unless NO_COLOR; into a pipe: neither', { skip }, async () => {
  const visible = (line: string): number => [...line.replace(/\x1b\[[0-9;]*m/g, '')].length;
  const cut = onTerminal(['ps', '-o', 'pid,args', '--socket', socket], 40, { NO_COLOR: '' });
  const lines = cut.split('\n').filter(Boolean);
  assert.ok(lines.length > 5 && lines.every((l) => visible(l) <= 40), `every line within 40 columns:\n${cut}`);
  assert.match(cut, /\x1b\[1m/, 'a bold header on a terminal');
  const wide = onTerminal(['ps', '-w', '-o', 'pid,args', '--socket', socket], 40, { NO_COLOR: '' });
  assert.ok(wide.split('\n').some((l) => visible(l) > 40), '-w prints whole lines');
  const plain = onTerminal(['events', '-p', String(ids.shell), '--since', '1h', '--socket', socket], 200, { NO_COLOR: '1' });
  assert.doesNotMatch(plain, /\x1b/, 'NO_COLOR: no escape sequence at all');
  const colored = onTerminal(['events', '-p', String(ids.shell), '--since', '1h', '--socket', socket], 200);
  assert.match(colored, /\x1b\[32mexec/, 'exec in green');
  const piped = await procwatch(['events', '-p', String(ids.shell), '--since', '1h', '--socket', socket]);
  assert.doesNotMatch(piped.stdout, /\x1b/, 'no colour into a pipe');
  assert.ok(piped.stdout.split('\n').some((l) => l.length > 60), 'and whole lines');
});
