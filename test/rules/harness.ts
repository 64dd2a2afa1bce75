/**
 * A real `procwatch daemon` for rule, check and action tests: its own process, a config made
 * for the test (temp database and socket), the alerts read back through the API as users do.
 */

import { after } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from '../api/harness.js';
import { BIN } from '../helpers/cli.js';
import { procConnectorAvailability } from '../../src/sources/native.js';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import type { Alert } from '../../src/alerts/types.js';

export type Source = 'netlink' | 'ebpf';

/** Why a source cannot be used here, or null. Under CI (PROCWATCH_REQUIRE_*) a missing source is a failure, not a skip. */
export function sourceProblem(source: Source): string | null {
  const a = source === 'netlink' ? procConnectorAvailability() : ebpfAvailability({ network: true, files: false });
  if (a.available) return null;
  const reason = `needs the ${source} source (${a.reason})`;
  if (process.env[source === 'netlink' ? 'PROCWATCH_REQUIRE_NATIVE' : 'PROCWATCH_REQUIRE_BPF'] === '1') throw new Error(reason);
  console.log(`# SKIPPED: ${reason}`);
  return reason;
}

export interface RulesDaemon {
  proc: ChildProcess;
  dir: string;
  socket: string;
  db: string;
  config: string;
  log(): string;
  alerts(query?: string): Promise<Alert[]>;
  /** Waits (generously: the machine is busy) for an alert matching `pred`; the error lists what came. */
  waitAlert(what: string, pred: (a: Alert) => boolean, ms?: number): Promise<Alert>;
  /** Waits for the log to match. */
  waitLog(what: string, re: RegExp, ms?: number): Promise<string>;
  stop(): Promise<number | null>;
}

export interface DaemonOptions {
  source: Source | 'poll';
  /** YAML appended after the daemon section (rules:, alerts:, checks:, lists...). */
  yaml?: string;
  /** Extra keys of the daemon section (indented two spaces). */
  daemonYaml?: string;
  dir?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Daemons a failed test left running are killed when the file's tests end (else the file would never exit). */
const started = new Set<ChildProcess>();
after(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export async function startRulesDaemon(options: DaemonOptions): Promise<RulesDaemon> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'pw-rules-'));
  const socket = join(dir, 'api.sock');
  const db = join(dir, 'events.db');
  const config = join(dir, 'procwatch.yaml');
  writeFileSync(config, `daemon:\n  source: ${options.source}\n  database: ${db}\n  socket: ${socket}\n  flush_interval_ms: 50\n${options.daemonYaml ?? ''}${options.yaml ?? ''}`);
  let log = '';
  const proc = spawn(process.execPath, [BIN, 'daemon', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.add(proc);
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => (log += d));
  const until = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited with ${proc.exitCode}: ${log}`);
    if (existsSync(socket) && /API on/.test(log)) break;
    if (Date.now() > until) { proc.kill('SIGKILL'); throw new Error(`the daemon did not start in 60 s: ${log}`); }
    await sleep(50);
  }
  const alerts = async (query = 'since=1d&limit=10000'): Promise<Alert[]> => {
    const r = await get(socket, `/v1/alerts?${query}`);
    if (r.status !== 200) throw new Error(`GET /v1/alerts: ${r.status} ${r.body}`);
    return r.json<{ alerts: Alert[] }>().alerts;
  };
  return {
    proc, dir, socket, db, config,
    log: () => log,
    alerts,
    async waitAlert(what, pred, ms = 30_000) {
      const end = Date.now() + ms;
      let seen: Alert[] = [];
      for (;;) {
        seen = await alerts();
        const hit = seen.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > end) throw new Error(`no alert for ${what} within ${ms} ms; alerts: ${JSON.stringify(seen.map((a) => [a.name, a.message]))}; log: ${log}`);
        await sleep(100);
      }
    },
    async waitLog(what, re, ms = 30_000) {
      const end = Date.now() + ms;
      for (;;) {
        const m = re.exec(log);
        if (m !== null) return m[0];
        if (Date.now() > end) throw new Error(`no log line for ${what} within ${ms} ms; log: ${log}`);
        await sleep(50);
      }
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        const end = Date.now() + 30_000;
        while (proc.exitCode === null && Date.now() < end) await sleep(50);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
      return proc.exitCode;
    },
  };
}
