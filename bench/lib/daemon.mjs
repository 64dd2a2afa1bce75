/**
 * A real `procwatch daemon` for the daemon benchmarks: `./bin/procwatch daemon --database DB
 * --socket SOCK` (plus `--config FILE` when given), started as its own process, ready once its
 * stderr says "API on". A warm API client (node:http over the unix socket with a keep-alive
 * agent, so each call is one request on an open connection), and the /proc readers the
 * benchmark needs about the daemon (VmRSS, VmHWM, CPU ticks).
 *
 * Every daemon started here is SIGKILLed by an exit hook if the benchmark did not stop it,
 * even when it fails half way; `stop()` asks nicely first (SIGTERM: flush, remove the socket).
 */

import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const running = new Set();
let hooked = false;

function killAllNow() {
  for (const d of running) d.killNow();
}

/** Kills every daemon this module started that is still running (for signal handlers). */
export function killAllDaemons() {
  killAllNow();
}

export class DaemonProcess {
  #child = null;
  #stderr = '';
  #exit = null;
  #agent = new Agent({ keepAlive: true, maxSockets: 1 });

  /**
   * @param root repository root (bin/procwatch lives there)
   * @param database SQLite file; socket: unix socket path; config: optional YAML file
   * @param nodeArgs extra node options (e.g. --cpu-prof); then `node bin/procwatch` is spawned
   */
  constructor({ root, database, socket, config = null, source = null, nodeArgs = [], cwd = undefined }) {
    this.root = root;
    this.database = database;
    this.socket = socket;
    this.config = config;
    this.source = source;
    this.nodeArgs = nodeArgs;
    this.cwd = cwd;
  }

  get pid() { return this.#child?.pid; }

  stderr() { return this.#stderr; }

  alive() { return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null; }

  /** Spawns the daemon and resolves once it answers on its socket ("API on" on stderr). */
  async start({ timeoutMs = 60_000 } = {}) {
    const args = ['daemon', '--database', this.database, '--socket', this.socket];
    if (this.config !== null) args.push('--config', this.config);
    if (this.source !== null) args.push('--source', this.source);
    const bin = join(this.root, 'bin/procwatch');
    const argv = [...this.nodeArgs, bin, ...args];
    if (!hooked) {
      process.on('exit', killAllNow);
      hooked = true;
    }
    this.#child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: this.cwd });
    running.add(this);
    this.#exit = new Promise((resolve) => {
      this.#child.once('error', (error) => resolve({ code: null, signal: null, error }));
      this.#child.once('exit', (code, signal) => { running.delete(this); resolve({ code, signal, error: null }); });
    });
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (d) => { this.#stderr += d; });
    const deadline = Date.now() + timeoutMs;
    while (!this.#stderr.includes('API on ')) {
      if (!this.alive()) throw new Error(`procwatch daemon exited before it was ready: ${this.#stderr.trim()}`);
      if (Date.now() > deadline) {
        this.killNow();
        throw new Error(`procwatch daemon not ready within ${timeoutMs / 1000} s: ${this.#stderr.trim()}`);
      }
      await delay(20);
    }
    return this;
  }

  /**
   * One GET on the warm connection. Resolves with the status, the body text and the time from
   * sending the request to the last byte of the answer (ms). Never parses: callers do, untimed.
   */
  get(path, retried = false) {
    return new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = request({ socketPath: this.socket, path, method: 'GET', agent: this.#agent }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), ms });
        });
        res.on('error', reject);
      });
      req.on('error', (err) => {
        // The daemon closes a connection idle for 5 s (Node's keep-alive timeout); a request
        // written on it just as it closed fails: sent again once, as Node's documentation advises.
        if (!retried && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) this.get(path, true).then(resolve, reject);
        else reject(err);
      });
      req.end();
    });
  }

  /** GET that must answer 200 with JSON; returns the parsed body. */
  async json(path) {
    const r = await this.get(path);
    if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text);
  }

  /**
   * GET /v1/stats without the stored-row counts: counting them scans the events table (11–22 ms
   * of the daemon's CPU per call after a storm or two), which the storm benchmarks' polls would
   * charge to the daemon. No benchmark reads the counts.
   */
  stats() { return this.json('/v1/stats?counts=0'); }

  /** VmRSS and VmHWM (peak) of the daemon, in MiB; null when it is gone. */
  memory() {
    return memoryOf(this.pid);
  }

  /** SIGTERM (the daemon flushes and removes its socket), then the exit status; SIGKILL after timeoutMs. */
  async stop({ timeoutMs = 60_000 } = {}) {
    this.#agent.destroy();
    if (this.#child === null) return null;
    if (this.alive()) this.#child.kill('SIGTERM');
    const result = await Promise.race([this.#exit, delay(timeoutMs).then(() => null)]);
    if (result !== null) return result;
    this.#child.kill('SIGKILL');
    return { ...(await this.#exit), killed: true };
  }

  killNow() {
    this.#agent.destroy();
    if (this.alive()) this.#child.kill('SIGKILL');
  }
}

/** VmRSS, VmHWM (peak), RssAnon and RssFile of a process in MiB (/proc/PID/status); null when it is gone. */
export function memoryOf(pid) {
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return null;
  }
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  // RssFile is mostly the node binary's own pages (shared with every other node process).
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024, anonMiB: kb('RssAnon') / 1024, fileMiB: kb('RssFile') / 1024 };
}

/**
 * Waits until `predicate(stats)` holds (polling /v1/stats every `everyMs`); returns the last
 * stats. Throws after `timeoutMs` with `what` in the message.
 */
export async function waitForStats(daemon, predicate, { what, timeoutMs = 120_000, everyMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await daemon.stats();
    if (predicate(s)) return s;
    if (Date.now() > deadline) throw new Error(`daemon: timed out waiting for ${what} (last stats: table ${JSON.stringify(s.table)}, store queued ${s.store.queued}, written ${s.store.written})`);
    await delay(everyMs);
  }
}
