/**
 * Real NATS servers for the export tests: Debian's `nats-server` (installed by .ci/run), one
 * node or a JetStream cluster of three, on loopback ports picked at run time (below the
 * ephemeral range, checked free: other test runs may be going on), data in a temp dir. Nodes
 * can be killed, stopped and started again on the same ports and data. And a consumer that
 * reads every record back, as the fleet's own consumers would. Also used by bench/export.bench.mjs.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { lastStoredSeq, whenAvailable } from '../../src/export/reader.js';
import { which } from '../helpers/spawn.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits (generously: the machine is busy) until `probe` holds; the error shows the last value seen. */
export async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last seen ${JSON.stringify(last)}`);
    await sleep(200);
  }
}

/** Why the tests cannot run here, or null. Under CI (PROCWATCH_REQUIRE_NATIVE) a missing server is a failure. */
export function natsServerProblem(): string | null {
  if (which('nats-server') !== null) return null;
  const reason = 'needs nats-server (Debian package nats-server; .ci/run installs it)';
  if (process.env.PROCWATCH_REQUIRE_NATIVE === '1') throw new Error(reason);
  console.log(`# SKIPPED: ${reason}`);
  return reason;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

const taken = new Set<number>();

/**
 * A free loopback port below the ephemeral range (32768+): kernel-chosen ports of other
 * programs (port 0, outgoing connections) never land there, so a node that is stopped for a
 * while finds its port again when it restarts.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    if (await portFree(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free loopback port found in 20000-31999');
}

export interface NodeOptions {
  /** Extra configuration text (authorization, tls). */
  extra?: string;
}

export class NatsNode {
  proc: ChildProcess | null = null;
  log = '';
  constructor(readonly name: string, readonly port: number, readonly clusterPort: number | null, readonly configFile: string) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const proc = spawn(which('nats-server')!, ['-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      this.log = (this.log + d).slice(-20_000);
    });
    const until = Date.now() + 30_000;
    while (!/Server is ready/.test(this.log)) {
      if (proc.exitCode !== null) throw new Error(`nats-server ${this.name} exited (${proc.exitCode}): ${this.log.slice(-2000)}`);
      if (Date.now() > until) throw new Error(`nats-server ${this.name} not ready in 30 s: ${this.log.slice(-2000)}`);
      await sleep(50);
    }
  }

  /** Freezes the node (SIGSTOP) or lets it go on (SIGCONT): a replica that falls behind without a restart. */
  pause(): void {
    if (this.running) this.proc!.kill('SIGSTOP');
  }

  resume(): void {
    if (this.running) this.proc!.kill('SIGCONT');
  }

  /** SIGTERM (a clean stop) or SIGKILL; waits for the process to be gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (proc === null || !this.running) return;
    this.log = '';
    proc.kill(signal);
    const until = Date.now() + 30_000;
    while (proc.exitCode === null && proc.signalCode === null) {
      if (Date.now() > until) proc.kill('SIGKILL');
      await sleep(20);
    }
  }
}

export class NatsCluster {
  private constructor(readonly dir: string, readonly nodes: NatsNode[]) {}

  /** `size` nodes (1: no cluster block) with JetStream; `extra` is added to every node's config. */
  static async start(size: number, options: NodeOptions = {}): Promise<NatsCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'pw-nats-'));
    const ports = [];
    for (let i = 0; i < size; i++) ports.push({ client: await freePort(), cluster: size > 1 ? await freePort() : null });
    const routes = ports.map((p) => `nats-route://127.0.0.1:${p.cluster}`).join(', ');
    const nodes = ports.map((p, i) => {
      const file = join(dir, `n${i}.conf`);
      writeFileSync(file, [
        `server_name: n${i}`,
        `listen: 127.0.0.1:${p.client}`,
        `jetstream { store_dir: "${join(dir, `js${i}`)}", max_memory_store: 64MB, max_file_store: 4GB }`,
        p.cluster === null ? '' : `cluster { name: pwtest, listen: 127.0.0.1:${p.cluster}, routes: [${routes}] }`,
        options.extra ?? '',
      ].join('\n'));
      return new NatsNode(`n${i}`, p.client, p.cluster, file);
    });
    const cluster = new NatsCluster(dir, nodes);
    clusters.add(cluster);
    await Promise.all(nodes.map((n) => n.start()));
    return cluster;
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Waits until JetStream answers (a cluster has elected its meta leader). */
  async ready(connectOptions: Record<string, unknown> = {}, ms = 60_000): Promise<void> {
    const until = Date.now() + ms;
    let last: unknown = null;
    while (Date.now() < until) {
      let nc: NatsConnection | null = null;
      try {
        nc = await connect({ servers: this.urls.filter((_, i) => this.nodes[i]!.running), timeout: 3000, ...connectOptions });
        const jsm = await jetstreamManager(nc, { timeout: 3000 });
        await jsm.getAccountInfo();
        return;
      } catch (err) {
        last = err;
      } finally {
        await nc?.close().catch(() => undefined);
      }
      await sleep(200);
    }
    throw new Error(`JetStream not ready in ${ms} ms: ${(last as Error)?.message}; logs: ${this.nodes.map((n) => n.log.slice(-500)).join(' | ')}`);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.start()));
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop('SIGKILL')));
    clusters.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const clusters = new Set<NatsCluster>();

/** Kills every node this process started and removes their data (test files call it in `after`; the benchmark at its end). */
export async function destroyAllClusters(): Promise<void> {
  for (const c of [...clusters]) await c.destroy();
}

export interface ReadBack {
  /** Records by host, in stream order. */
  byHost: Map<string, Array<Record<string, unknown>>>;
  messages: number;
  /** The server that held the read's consumer, and what that server said was pending when it began. */
  servedBy: string | null;
  pendingAtStart: number;
}

/**
 * Every record of the stream (on `filter`), in stream order, read by an ordered consumer up to
 * the last one on `filter` the stream's leader held when the read began: what a fleet consumer sees.
 */
export async function readStream(servers: string[], stream: string, filter: string, connectOptions: Record<string, unknown> = {}): Promise<ReadBack> {
  // A cluster that just had nodes killed and restarted may still be electing its JetStream
  // meta leader, or a server catching up may not answer in time: asked again, as `fleet` does.
  return whenAvailable(() => readStreamOnce(servers, stream, filter, connectOptions));
}

async function readStreamOnce(servers: string[], stream: string, filter: string, connectOptions: Record<string, unknown>): Promise<ReadBack> {
  const nc = await connect({ servers, timeout: 10_000, ...connectOptions });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 20_000 });
    const byHost = new Map<string, Array<Record<string, unknown>>>();
    let messages = 0;
    const js = jetstream(nc, { timeout: 20_000 });
    const consumer = await js.consumers.get(stream, { filter_subjects: filter });
    // The consumer's "nothing pending" speaks for its server's copy, which may be a replica still
    // catching up after a restart: the read ends at the leader's last record, as `fleet`'s does.
    const last = await lastStoredSeq(jsm, stream, filter);
    const info = await consumer.info(true);
    const servedBy = info.cluster?.leader ?? null;
    const pendingAtStart = info.num_pending;
    if (info.delivered.stream_seq >= last) return { byHost, messages, servedBy, pendingAtStart };
    const iter = await consumer.consume({ max_messages: 2000 });
    let position = info.delivered.stream_seq;
    let lastProgress = Date.now();
    let stalled = false;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress < 60_000) return;
      stalled = true;
      void iter.stop();
    }, 1000);
    try {
      for await (const m of iter) {
        lastProgress = Date.now();
        position = m.info.streamSequence;
        messages++;
        const r = m.json<Record<string, unknown>>();
        const host = String(r.host);
        if (!byHost.has(host)) byHost.set(host, []);
        byHost.get(host)!.push({ ...r, _subject: m.subject, _msgId: m.headers?.get('Nats-Msg-Id') ?? null });
        if (position >= last) break;
      }
    } finally {
      clearInterval(watchdog);
      await iter.close();
    }
    if (stalled) throw new Error(`readStream: no message for 60 s at stream sequence ${position} of ${last}: the consumer's server never caught up with the leader`);
    return { byHost, messages, servedBy, pendingAtStart };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/**
 * Checks one host's events as read from the stream against the ids it stored: each event
 * exactly once, in id order, up to `upTo`; `lost` records may stand for ids that are gone.
 * Returns a problem description, or null.
 */
export function checkExactlyOnceInOrder(records: Array<Record<string, unknown>>, storedIds: number[], upTo: number): string | null {
  const seen = new Map<number, number>();
  let previous = 0;
  const lostRanges: Array<[number, number]> = [];
  for (const r of records) {
    if (r.type === 'lost') {
      lostRanges.push([Number(r.firstId), Number(r.lastId)]);
      continue;
    }
    const id = Number(r.id);
    seen.set(id, (seen.get(id) ?? 0) + 1);
    if (id <= previous) return `event id ${id} came after ${previous} (out of order or repeated)`;
    previous = id;
  }
  const duplicates = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  if (duplicates.length > 0) return `${duplicates.length} event(s) came more than once: ${duplicates.slice(0, 10).join(', ')}`;
  const covered = (id: number): boolean => lostRanges.some(([a, b]) => id >= a && id <= b);
  const missing = storedIds.filter((id) => id <= upTo && !seen.has(id) && !covered(id));
  if (missing.length > 0) return `${missing.length} stored event(s) never arrived: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ' ...' : ''}`;
  return null;
}
