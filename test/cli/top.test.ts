/**
 * `procwatch top` (issue 12) as users run it: batch mode from the daemon (header, a busy
 * process, control characters in a command line shown escaped), JSON, without a daemon (it
 * says so and reads /proc), the history (`--at`, `--since`), bad input; and the interactive
 * screen in a real terminal (tmux: send-keys, capture-pane): sorting, the / filter, tree view,
 * pause, resize and quit.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { RESOURCES_DEFAULTS } from '../../src/config/resources.js';
import { BIN, procwatch, show } from '../helpers/cli.js';
import { sleep, uniqueTag } from '../helpers/spawn.js';
import { startDaemon, type Harness } from '../api/harness.js';

const TAG = uniqueTag();
const tmux = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
// CI (PROCWATCH_REQUIRE_NATIVE=1) installs it: there a missing tmux fails instead of skipping.
const skipNoTmux = tmux.error === undefined || process.env.PROCWATCH_REQUIRE_NATIVE === '1' ? false : 'SKIPPED: tmux not installed (CI installs it)';
if (skipNoTmux) console.warn(`top.test: ${skipNoTmux}`);

let h: Harness;
const children: ChildProcess[] = [];
let busy: ChildProcess;
let odd: ChildProcess;

before(async () => {
  h = await startDaemon({ resources: { ...RESOURCES_DEFAULTS, intervalMs: 250, historyIntervalMs: 300, historyKeyframeMs: 2000 } });
  busy = spawn('/bin/sh', ['-c', `while :; do :; done # pwtop-busy-${TAG}`], { stdio: 'ignore' });
  // A command line written to attack a terminal: an escape sequence and a newline in argv[0].
  odd = spawn('sleep', ['60'], { stdio: 'ignore', argv0: `pwtop\x1b[31mRED\nX-${TAG}` });
  children.push(busy, odd);
  await sleep(1200); // a few snapshots: the busy loop has a CPU %
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await h?.stop();
});

test('batch: -n 2 -d 0.3 prints two refreshes with the header, sorted by CPU, the busy process among them', { timeout: 30_000 }, async () => {
  const r = await procwatch(['top', '-b', '-n', '2', '-d', '0.3', '--socket', h.socket, '-w', '200']);
  assert.equal(r.code, 0, show(r));
  const refreshes = r.stdout.split(/\n(?=procwatch top - )/);
  assert.equal(refreshes.length, 2, show(r));
  for (const text of refreshes) {
    const lines = text.trimEnd().split('\n');
    assert.match(lines[0]!, /^procwatch top - \d\d:\d\d:\d\d up .*load average: .*CPUs {2}\[daemon, (ebpf|proc)\]$/);
    assert.match(lines[1]!, /^Tasks: \d+ total, \d+ running/);
    assert.match(lines[2]!, /^MiB Mem: /);
    assert.match(lines[3]!, /^Events: \d+ total, [\d.?]+\/s, \d+ lost$/);
    assert.match(lines[4]!, /^Since last refresh: \d+ started, \d+ ended/);
    assert.match(lines[6]!, /^ +PID USER +S +THR +%CPU +%MEM +RES +VIRT +TIME\+ COMMAND/);
  }
  const second = refreshes[1]!.split('\n');
  const busyLine = second.find((l) => l.includes(`pwtop-busy-${TAG}`));
  assert.ok(busyLine !== undefined, show(r));
  // How much CPU it gets depends on the machine's load: some, in state R (or runnable-waiting).
  assert.match(busyLine, new RegExp(`^ *${busy.pid} root +[RS] +1 +\\d+(\\.\\d)? `));
  const cpu = second.slice(7).filter((l) => l.trim() !== '').map((l) => l.trim().split(/\s+/)[4]!).filter((v) => v !== '-').map(Number);
  for (let i = 1; i < cpu.length; i++) assert.ok(cpu[i - 1]! >= cpu[i]!, `sorted by %CPU: ${cpu.slice(0, 10).join(' ')}`);
});

test('batch: a command line is shown escaped, never sent to the terminal as written', async () => {
  const r = await procwatch(['top', '-b', '-n', '3', '-d', '1', '--socket', h.socket, '--filter', `X-${TAG}`]);
  assert.equal(r.code, 0, show(r));
  assert.ok(!r.stdout.includes('\x1b'), 'no escape character reaches the output');
  assert.ok(r.stdout.includes(`pwtop\\e[31mRED\\nX-${TAG} 60`), show(r));
  // The filter also finds this very top, whose command line holds the text: by the last refresh
  // the daemon has its exec (the first may come before, on a busy machine).
  const found = [...r.stdout.matchAll(/filter "X-\w+": (\d+) of \d+/g)].map((m) => Number(m[1]));
  assert.equal(found.length, 3, show(r));
  assert.equal(found[2], 2, show(r));
});

test('batch --json: one /v1/resources answer per refresh', async () => {
  const r = await procwatch(['top', '-b', '--json', '-n', '2', '-d', '0.2', '--socket', h.socket, '--filter', `pwtop-busy-${TAG}`]);
  assert.equal(r.code, 0, show(r));
  const answers = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { processes: Array<{ pid: number; cpuPct: number }>; tasks: { total: number } });
  assert.equal(answers.length, 2);
  assert.equal(answers[1]!.processes[0]!.pid, busy.pid);
});

test('without a daemon: says so on stderr and reads /proc itself', { timeout: 30_000 }, async () => {
  const r = await procwatch(['top', '-b', '-n', '1', '--socket', `${h.dir}/no-such.sock`, '-w', '200']);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stderr, /sampling \/proc itself/);
  assert.match(r.stdout, /\[no daemon: \/proc, proc\]/);
  assert.match(r.stdout, /Events: not counted \(no daemon\)/);
  assert.ok(r.stdout.includes(`pwtop-busy-${TAG}`), 'the busy loop, from /proc');
  const forced = await procwatch(['top', '-b', '-n', '1', '--no-daemon', '--socket', h.socket, '-o', 'pid']);
  assert.equal(forced.code, 0, show(forced));
  assert.match(forced.stdout, /\[--no-daemon: \/proc, proc\]/);
});

test('history: --at and --since show what ran then, from the daemon', { timeout: 30_000 }, async () => {
  await sleep(1000); // history rows every 300 ms
  const at = await procwatch(['top', '--at', String(Date.now() - 200), '--socket', h.socket, '--filter', `pwtop-busy-${TAG}`]);
  assert.equal(at.code, 0, show(at));
  assert.match(at.stdout, /^procwatch top at .* \(history\): 1 processes alive then/);
  assert.ok(at.stdout.includes(`pwtop-busy-${TAG}`));
  const since = await procwatch(['top', '--since', '1m', '--socket', h.socket, '--filter', `pwtop-busy-${TAG}`, '--json']);
  assert.equal(since.code, 0, show(since));
  const answer = JSON.parse(since.stdout) as { processes: Array<{ pid: number; cpuSeconds: number }> };
  assert.ok(answer.processes[0]!.cpuSeconds > 0.2, since.stdout);
});

test('bad input: one line and exit 2', async () => {
  for (const [args, pattern] of [
    [['-d', '0'], /--delay must be seconds/], [['-n', 'x'], /--iterations must be/], [['-o', 'bogus'], /--sort must be one of/],
    [['--at', 'yesterday'], /--at must be a time/], [['--at', '1h', '--since', '2h'], /--at cannot go with/], [['-w', '3'], /--width/],
    [['--at', '1h', '--no-daemon'], /cannot go with --no-daemon/], [['--name', '['], /--name is not a valid glob/],
  ] as const) {
    const r = await procwatch(['top', '-b', '-n', '1', '--socket', h.socket, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  const r = await procwatch(['top', '--socket', h.socket]);
  assert.equal(r.code, 2, 'no terminal: interactive mode refuses');
  assert.match(r.stderr, /needs a terminal .* use -b/);
});

// ---- the interactive screen, in tmux -------------------------------------------------------------

class Tmux {
  private readonly server = `pwtop-${TAG}-${process.pid}`;
  constructor(readonly session = 'top') {}
  run(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.server, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  screen(colors = false): string {
    return this.run('capture-pane', '-p', ...(colors ? ['-e'] : []), '-t', this.session);
  }
  keys(...keys: string[]): void {
    this.run('send-keys', '-t', this.session, ...keys);
  }
  async until(what: string, test: (screen: string) => boolean, ms = 15_000): Promise<string> {
    const end = Date.now() + ms;
    let screen = '';
    while (Date.now() < end) {
      screen = this.screen();
      if (test(screen)) return screen;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}; the screen was:\n${screen}`);
  }
  kill(): void {
    spawnSync('tmux', ['-L', this.server, 'kill-server']);
  }
}

test('interactive: sort keys, / filter, tree, pause, resize and q, in a real terminal', { skip: skipNoTmux, timeout: 90_000 }, async () => {
  const t = new Tmux();
  try {
    t.run('new-session', '-d', '-s', t.session, '-x', '160', '-y', '40', '-e', 'TERM=xterm-256color',
      `${process.execPath} ${BIN} top -d 0.3 --socket ${h.socket}; echo "top exited $?"; sleep 60`);
    let screen = await t.until('the first screen', (s) => s.includes('procwatch top - ') && s.includes('COMMAND'));
    assert.match(screen, /sort cpu/);
    const colored = t.screen(true);
    assert.ok(colored.includes('\x1b[7m'), 'the column header in reverse video on a colour terminal');
    assert.ok(!screen.includes('\x1b'));

    t.keys('M');
    screen = await t.until('sort by memory', (s) => s.includes('sort mem'));
    t.keys('/');
    await t.until('the filter prompt', (s) => s.includes('filter: _'));
    t.keys(`pwtop-busy-${TAG}`, 'Enter');
    screen = await t.until('the filtered list', (s) => /filter "pwtop-busy-\w+": 1 of \d+/.test(s));
    const rows = screen.split('\n').filter((l) => /^ *\d+ \S+ +[A-Z]/.test(l));
    assert.deepEqual(rows.map((l) => Number(l.trim().split(/\s+/)[0])), [busy.pid], screen);

    t.keys('/', 'Enter'); // an empty filter clears it
    await t.until('the filter cleared', (s) => !s.includes('filter "'));
    t.keys('t');
    screen = await t.until('tree view, children drawn under their parents', (s) => s.includes(', tree') && s.includes('\\_ '));

    t.keys('p');
    screen = await t.until('paused', (s) => s.includes('PAUSED'));
    const frozen = screen.split('\n')[0];
    await sleep(900);
    assert.equal(t.screen().split('\n')[0], frozen, 'no refresh while paused (the clock in the header stays)');
    t.keys('p');
    await t.until('resumed', (s) => !s.includes('PAUSED'));

    t.run('resize-window', '-t', t.session, '-x', '90', '-y', '20');
    screen = await t.until('the narrower screen', (s) => s.split('\n').every((l) => l.length <= 90) && s.split('\n').filter((l) => l.trim() !== '').length <= 20);
    assert.ok(screen.includes('COMMAND'));

    t.keys('q');
    screen = await t.until('top to quit', (s) => s.includes('top exited 0'));
    assert.ok(!screen.includes('COMMAND'), 'the alternate screen is left: the shell\'s screen is back');
  } finally {
    t.kill();
  }
});
