/**
 * The contract every event source passes (hono's shared router suite, for sources):
 * a real process started while the source runs is seen starting and ending, with the right
 * pid and arguments; sequence numbers increase; stop is idempotent and final. Sources that
 * can lose events show the loss (a `lost` event, the counter) and go on; sources that can die
 * say so (a last `lost` event naming why, and a fatal problem). Sources that report the proc
 * connector's other events report each uid, gid, sid, ptrace, comm and coredump change of a real
 * process once, with the same pids and fields, and nothing for a call that changed nothing.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProcEvent } from '../../src/events/types.js';
import type { EventSource, SourceProblem } from '../../src/sources/index.js';
import { CHANGE_KINDS, changeView, expectedChanges, runChanges } from './changes.js';

export interface ContractOptions {
  name: string;
  /** Returns the source, or a reason it cannot run here (the suite then skips loudly). */
  create: () => EventSource | string;
  /** How long a short test process lives (the lossy part); the main one lives until it is seen. */
  lifetimeSeconds: number;
  /** Kinds that mean "started" and "ended" for this source. */
  startKinds: ProcEvent['kind'][];
  endKinds: ProcEvent['kind'][];
  /**
   * A source made to lose events under a burst (a tiny buffer, a stalled reader); null when
   * the source cannot lose events by design (then the suite checks it never claims it did).
   */
  lossy?: (() => EventSource | string) | null;
  /** A source whose reader fails after a moment (`failReason`: what its lost event must say). */
  failing?: () => EventSource | string;
  failReason?: RegExp;
  /** The source reports uid, gid, sid, ptrace, comm and coredump events (the proc connector's set). */
  changes?: boolean;
}

/** Starts `count` short processes at once and waits for them all. */
async function burst(count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, () => new Promise((r) => spawn('/bin/true', [], { stdio: 'ignore' }).on('exit', r))));
}

/** Generous: a polling source on a loaded machine scans late, a reader thread runs late. */
const PATIENCE_MS = 30_000;

const waitFor = async (check: () => boolean, ms: number): Promise<boolean> => {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
};

export function runSourceContract(options: ContractOptions): void {
  test(`${options.name} source: contract`, async (t) => {
    const made = options.create();
    if (typeof made === 'string') {
      t.skip(`SKIPPED: ${options.name} source cannot run here: ${made}`);
      return;
    }
    const source = made;
    const events: ProcEvent[] = [];
    let batches = 0;
    await source.start((batch) => {
      batches++;
      events.push(...batch);
    });
    // The process runs until the source has seen it start, then ends: however slowly a polling
    // source scans on a loaded machine, it sees both.
    const goDir = mkdtempSync(join(tmpdir(), 'pwcontract-'));
    const go = join(goDir, 'go');
    try {
      const marker = `pwcontract${process.pid}`;
      const script = `while [ ! -e ${go} ]; do sleep 0.05; done; exit 0`;
      const child = spawn('/bin/sh', ['-c', script, marker], { stdio: 'ignore' });
      const pid = child.pid!;
      const exited = new Promise((r) => child.on('exit', r));
      // The exec, not the fork: for a polling source, the first scan may see the image before or after it.
      const started = (e: ProcEvent) => e.pid === pid && options.startKinds.includes(e.kind)
        && (!('details' in e) || e.details.argv?.[0] === '/bin/sh');
      assert.ok(await waitFor(() => events.some(started), PATIENCE_MS), `${options.name}: start of pid ${pid} not seen in ${PATIENCE_MS} ms`);
      const start = events.find(started)!;
      if (start.kind === 'exec' || start.kind === 'inferred_start') {
        assert.deepEqual(start.details.argv, ['/bin/sh', '-c', script, marker]);
        assert.equal(start.details.ppid, process.pid);
      }
      writeFileSync(go, '');
      await exited;
      const ended = (e: ProcEvent) => e.pid === pid && e.tid === pid && options.endKinds.includes(e.kind);
      assert.ok(await waitFor(() => events.some(ended), PATIENCE_MS), `${options.name}: end of pid ${pid} not seen in ${PATIENCE_MS} ms`);
      const end = events.find(ended)!;
      if (end.kind === 'exit') assert.deepEqual(end.status, { code: 0, signal: null, coreDumped: false });
      assert.ok(events.indexOf(start) < events.indexOf(end), 'start is delivered before end');
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq, 'sequence numbers increase');
      const counters = source.counters();
      assert.ok(counters.events >= events.length && counters.batches >= 1, 'counters count what was delivered');
      for (const name of ['events', 'batches', 'lost', 'malformed']) assert.equal(typeof counters[name], 'number');
    } finally {
      writeFileSync(go, '');
      await source.stop();
      await source.stop(); // idempotent
      rmSync(goDir, { recursive: true, force: true });
    }
    const after = batches;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(batches, after, 'no batches after stop');
  });

  if (options.changes === true) {
    test(`${options.name} source: contract (uid, gid, sid, ptrace, comm and coredump changes)`, async (t) => {
      const made = options.create();
      if (typeof made === 'string') {
        t.skip(`SKIPPED: ${options.name} source cannot run here: ${made}`);
        return;
      }
      const events: ProcEvent[] = [];
      await made.start((batch) => events.push(...batch));
      try {
        const { run } = await runChanges();
        const pids = new Set([run.pid, run.tracee, run.aborted, run.handled, run.straced, run.dropped]);
        const expected = expectedChanges(run);
        const mine = (): ProcEvent[] => events.filter((e) => CHANGE_KINDS.has(e.kind) && pids.has(e.pid));
        await waitFor(() => mine().length >= expected.length, 5000);
        await new Promise((r) => setTimeout(r, 200)); // anything extra would have come by now
        const got = mine().sort((a, b) => a.ktimeNs - b.ktimeNs).map(changeView);
        assert.deepEqual(got, expected);
        assert.ok(!events.some((e) => e.kind === 'lost'), 'nothing lost');
      } finally {
        await made.stop();
      }
    });
  }

  if (options.lossy !== undefined) {
    const lossy = options.lossy;
    test(`${options.name} source: contract (loss is reported, never silent)`, async (t) => {
      const made = lossy === null ? options.create() : lossy();
      if (typeof made === 'string') {
        t.skip(`SKIPPED: ${options.name} source cannot run here: ${made}`);
        return;
      }
      const events: ProcEvent[] = [];
      await made.start((batch) => events.push(...batch));
      try {
        await burst(60);
        if (lossy === null) {
          await new Promise((r) => setTimeout(r, options.lifetimeSeconds * 1000 + 500));
          assert.equal(made.counters().lost, 0, `${options.name} cannot lose events, and does not claim to`);
          assert.ok(!events.some((e) => e.kind === 'lost'));
          return;
        }
        assert.ok(await waitFor(() => events.some((e) => e.kind === 'lost'), PATIENCE_MS), 'a lost event is delivered');
        const lost = events.filter((e) => e.kind === 'lost');
        const counted = lost.reduce((n, e) => n + (e.kind === 'lost' ? e.count ?? 1 : 0), 0);
        assert.equal(made.counters().lost, counted, 'the counter adds up the lost events');
        for (const e of lost) assert.ok(e.kind === 'lost' && e.reason.length > 0 && (e.count === null || e.count > 0));
        // ...and the source goes on: a process started now is seen (retried: a tiny buffer may overflow again).
        let seen = false;
        for (let attempt = 0; attempt < 10 && !seen; attempt++) {
          const child = spawn('/bin/sh', ['-c', `sleep ${options.lifetimeSeconds}`], { stdio: 'ignore' });
          await new Promise((r) => child.on('exit', r));
          seen = await waitFor(() => events.some((e) => e.pid === child.pid && options.endKinds.includes(e.kind)), 5000);
        }
        assert.ok(seen, 'events flow after the loss');
      } finally {
        await made.stop();
      }
    });
  }

  if (options.failing !== undefined) {
    const failing = options.failing;
    test(`${options.name} source: contract (a reader that dies says so)`, async (t) => {
      const made = failing();
      if (typeof made === 'string') {
        t.skip(`SKIPPED: ${options.name} source cannot run here: ${made}`);
        return;
      }
      const events: ProcEvent[] = [];
      const problems: SourceProblem[] = [];
      await made.start((batch) => events.push(...batch), (p) => problems.push(p));
      try {
        assert.ok(await waitFor(() => problems.some((p) => p.fatal), PATIENCE_MS), 'a fatal problem is reported');
        const fatal = problems.filter((p) => p.fatal);
        assert.equal(fatal.length, 1, 'once');
        assert.match(fatal[0]!.message, options.failReason ?? /./);
        const last = events.at(-1);
        assert.ok(last?.kind === 'lost', 'the last event is a lost event');
        assert.equal(last.count, null, 'how many were missed is unknown');
        assert.match(last.reason, options.failReason ?? /./);
        assert.ok(made.counters().lost >= 1);
        const delivered = events.length;
        await burst(5);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(events.length, delivered, 'nothing after the failure');
      } finally {
        await made.stop();
      }
    });
  }
}
