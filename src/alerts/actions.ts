/**
 * The actions an alert is handed to (README: "Actions"). Each has its own bounded queue and
 * concurrency: a slow webhook or a hung program never holds up events, other actions or other
 * alerts; what a full queue refuses is dropped and counted, and every failure is counted and
 * logged (one line, at most one per action per 10 s besides exec's exit lines).
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alertLine } from '../report/alerts.js';
import { escapeText } from '../report/text.js';
import type { Alert } from './types.js';
import type { AlertmanagerAction, ExecAction, KillAction, SyslogAction, WebhookAction } from './config.js';

export interface ActionCounters {
  /** Delivered (exec: ran and exited 0; kill: signalled). */
  sent: number;
  /** Tried and failed (after retries), or refused by a guard. */
  failed: number;
  /** Not tried: the queue was full. */
  dropped: number;
  queued: number;
}

export interface ActionRunner {
  readonly name: string;
  readonly type: string;
  readonly counters: ActionCounters;
  submit(alert: Alert): void;
  /** Stops taking alerts; waits (bounded) for what is in flight. */
  close(): Promise<void>;
}

export type Log = (line: string) => void;

const counters = (): ActionCounters => ({ sent: 0, failed: 0, dropped: 0, queued: 0 });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** Logs a failure line at most once per 10 s per action, with how many were not logged. */
class RateLimitedLog {
  private last = 0;
  private skipped = 0;
  constructor(private readonly log: Log) {}
  line(text: string): void {
    const now = Date.now();
    if (now - this.last < 10_000) { this.skipped++; return; }
    this.last = now;
    this.log(this.skipped > 0 ? `${text} (and ${this.skipped} more since the last line)` : text);
    this.skipped = 0;
  }
}

/** The alert as one JSON object: what webhooks receive and exec programs read on stdin. */
export function alertJson(alert: Alert): string {
  return JSON.stringify(alert);
}

export class LogRunner implements ActionRunner {
  readonly type = 'log';
  readonly counters = counters();
  constructor(readonly name: string, private readonly log: Log) {}
  submit(alert: Alert): void {
    this.log(`procwatch alert: ${alertLine(alert)}`);
    this.counters.sent++;
  }
  async close(): Promise<void> {}
}

/**
 * A queue with at most `concurrency` jobs at a time and at most `max` waiting; `run` never
 * throws (a job's failure is its own to count).
 */
class JobQueue {
  private readonly waiting: Alert[] = [];
  private running = 0;
  private idle: Array<() => void> = [];
  constructor(private readonly max: number, private readonly concurrency: number, private readonly c: ActionCounters, private readonly run: (a: Alert) => Promise<void>) {}
  push(alert: Alert): void {
    if (this.waiting.length >= this.max) { this.c.dropped++; return; }
    this.waiting.push(alert);
    this.c.queued = this.waiting.length;
    this.next();
  }
  private next(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const alert = this.waiting.shift()!;
      this.c.queued = this.waiting.length;
      this.running++;
      void this.run(alert).finally(() => {
        this.running--;
        this.next();
        if (this.running === 0 && this.waiting.length === 0) for (const r of this.idle.splice(0)) r();
      });
    }
  }
  /** Resolves when nothing runs or waits, or after `ms`. */
  drained(ms: number): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return Promise.race([new Promise<void>((r) => this.idle.push(r)), sleep(ms)]);
  }
}

/** Variables every exec program gets (besides the alert as JSON on stdin). */
export function alertEnvironment(alert: Alert): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    PROCWATCH_ALERT_ID: String(alert.id), PROCWATCH_SOURCE: alert.source, PROCWATCH_NAME: alert.name, PROCWATCH_SEVERITY: alert.severity,
    PROCWATCH_STATE: alert.state, PROCWATCH_TIME: alert.time, PROCWATCH_MESSAGE: alert.message, PROCWATCH_MODE: alert.mode,
    PROCWATCH_SUPPRESSED: String(alert.suppressed), PROCWATCH_BOOT_ID: alert.bootId,
  };
  if (alert.key !== null) env.PROCWATCH_KEY = alert.key;
  const p = alert.process;
  if (p !== null) {
    env.PROCWATCH_PID = String(p.pid);
    if (p.exe !== null) env.PROCWATCH_EXE = p.exe;
    if (p.comm !== null) env.PROCWATCH_COMM = p.comm;
    if (p.user !== null) env.PROCWATCH_USER = p.user;
    if (p.unit !== null) env.PROCWATCH_UNIT = p.unit;
    if (p.container !== null) env.PROCWATCH_CONTAINER = p.container;
  }
  return env;
}

/** Runs a program (an argv, never a shell) per alert: the alert as JSON on stdin and as PROCWATCH_* variables. */
export class ExecRunner implements ActionRunner {
  readonly type = 'exec';
  readonly counters = counters();
  private readonly queue: JobQueue;
  constructor(readonly name: string, private readonly spec: ExecAction, private readonly log: Log) {
    this.queue = new JobQueue(1000, spec.maxRunning, this.counters, (a) => this.run(a));
  }
  submit(alert: Alert): void {
    this.queue.push(alert);
  }
  private run(alert: Alert): Promise<void> {
    return new Promise((resolve) => {
      const [file, ...args] = this.spec.argv;
      const what = `procwatch daemon: action ${this.name} (exec ${escapeText(file!)}) for alert ${alert.id} (${escapeText(alert.name)})`;
      let child;
      try {
        child = spawn(file!, args, { stdio: ['pipe', 'ignore', 'pipe'], env: alertEnvironment(alert), detached: true });
      } catch (err) {
        this.counters.failed++;
        this.log(`${what}: cannot start: ${(err as Error).message}`);
        resolve();
        return;
      }
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => { if (stderr.length < 2000) stderr += d.toString('utf8'); });
      child.stdin?.on('error', () => {}); // a program that does not read its stdin is not an error
      child.stdin?.end(`${alertJson(alert)}\n`);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL'); // its whole process group: what it started goes too
        } catch {
          child.kill('SIGKILL');
        }
      }, this.spec.timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        this.counters.failed++;
        this.log(`${what}: cannot start: ${err.message}`);
        resolve();
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const detail = stderr.trim() === '' ? '' : `; stderr: ${escapeText(stderr.trim().split('\n')[0]!.slice(0, 200))}`;
        if (code === 0 && !timedOut) {
          this.counters.sent++;
          this.log(`${what}: exit 0`);
        } else {
          this.counters.failed++;
          this.log(`${what}: ${timedOut ? `killed after the ${this.spec.timeoutMs / 1000}s timeout` : signal !== null ? `killed by ${signal}` : `exit ${code}`}${detail}`);
        }
        resolve();
      });
    });
  }
  close(): Promise<void> {
    return this.queue.drained(this.spec.timeoutMs + 1000);
  }
}

/** POSTs JSON with retries and backoff; `body` builds what to send. */
abstract class HttpRunner implements ActionRunner {
  abstract readonly type: string;
  readonly counters = counters();
  protected readonly queue: JobQueue;
  protected readonly failures: RateLimitedLog;
  private closed = false;
  constructor(readonly name: string, protected readonly target: { url: string; timeoutMs: number; retries: number; maxQueue: number }, log: Log, private readonly headers: Record<string, string> = {}) {
    this.failures = new RateLimitedLog(log);
    this.queue = new JobQueue(target.maxQueue, 2, this.counters, (a) => this.send(a));
  }
  protected abstract url(): string;
  protected abstract body(alert: Alert): string;
  submit(alert: Alert): void {
    if (!this.closed) this.queue.push(alert);
  }
  protected async send(alert: Alert): Promise<void> {
    const body = this.body(alert);
    let last = '';
    for (let attempt = 0; attempt <= this.target.retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(30_000, 250 * 2 ** (attempt - 1)));
      if (this.closed && attempt > 0) break;
      try {
        const res = await fetch(this.url(), {
          method: 'POST', body, headers: { 'content-type': 'application/json', 'user-agent': 'procwatch', ...this.headers },
          signal: AbortSignal.timeout(this.target.timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) { this.counters.sent++; return; }
        last = `HTTP ${res.status}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 429) break; // the receiver refuses it: retrying will not help
      } catch (err) {
        last = (err as Error).name === 'TimeoutError' ? `no answer in ${this.target.timeoutMs / 1000}s` : ((err as { cause?: Error }).cause?.message ?? (err as Error).message);
      }
    }
    this.counters.failed++;
    this.failures.line(`procwatch daemon: action ${this.name} (${this.type} ${this.url()}) failed for alert ${alert.id} (${escapeText(alert.name)}): ${escapeText(last)}`);
  }
  async close(): Promise<void> {
    this.closed = true;
    await this.queue.drained(this.target.timeoutMs + 1000);
  }
}

export class WebhookRunner extends HttpRunner {
  readonly type = 'webhook';
  constructor(name: string, spec: WebhookAction, log: Log) {
    super(name, spec, log, spec.headers);
  }
  protected url(): string { return this.target.url; }
  protected body(alert: Alert): string { return alertJson(alert); }
}

/**
 * The Prometheus Alertmanager v2 API (`POST /api/v2/alerts`): Alertmanager deduplicates,
 * groups, silences and routes. A rule's alert ends `resolve_after` after it fired; a check's
 * alert is sent again every minute while it fires and ends when the check passes.
 */
export class AlertmanagerRunner extends HttpRunner {
  readonly type = 'alertmanager';
  private readonly host = hostname();
  private readonly firing = new Map<string, Alert>();
  private readonly refresh: NodeJS.Timeout;
  constructor(name: string, private readonly spec: AlertmanagerAction, log: Log) {
    super(name, spec, log);
    this.refresh = setInterval(() => { for (const a of this.firing.values()) this.queue.push(a); }, 60_000);
    this.refresh.unref();
  }
  override submit(alert: Alert): void {
    if (alert.source === 'check') {
      if (alert.state === 'firing') this.firing.set(alert.name, alert);
      else this.firing.delete(alert.name);
    }
    super.submit(alert);
  }
  protected url(): string { return `${this.spec.url}/api/v2/alerts`; }
  protected body(alert: Alert): string {
    const labels: Record<string, string> = { alertname: alert.name, severity: alert.severity, source: alert.source, instance: this.host, job: 'procwatch' };
    if (alert.key !== null) labels.key = alert.key;
    if (alert.process?.unit) labels.unit = alert.process.unit;
    if (alert.process?.container) labels.container = alert.process.container;
    const starts = Date.parse(alert.time);
    const ends = alert.state === 'resolved' ? Date.parse(alert.resolvedTime ?? new Date().toISOString())
      : alert.source === 'rule' ? starts + this.spec.resolveAfterMs : null;
    const annotations: Record<string, string> = { summary: alert.message, origin: alert.origin };
    if (alert.process !== null) annotations.process = JSON.stringify(alert.process);
    if (alert.suppressed > 0) annotations.suppressed = String(alert.suppressed);
    return JSON.stringify([{ labels, annotations, startsAt: new Date(starts).toISOString(), ...(ends === null ? {} : { endsAt: new Date(ends).toISOString() }) }]);
  }
  override async close(): Promise<void> {
    clearInterval(this.refresh);
    await super.close();
  }
}

type DgramSend = (path: string, data: Buffer) => void;
let dgramSend: DgramSend | null | undefined;

/** The native datagram sender (native/unixdgram.c), or null with the reason logged by the caller. */
function loadDgram(): DgramSend | null {
  if (dgramSend !== undefined) return dgramSend;
  const root = join(fileURLToPath(new URL('.', import.meta.url)), '../../..');
  try {
    const mod = createRequire(import.meta.url)(join(root, 'native/build/Release/unixdgram.node')) as { send: DgramSend };
    dgramSend = mod.send;
  } catch {
    dgramSend = null;
  }
  return dgramSend;
}

const SYSLOG_SEVERITY: Record<string, number> = { critical: 2, error: 3, warning: 4, notice: 5, info: 6 };
/** SD-PARAM values escape `"`, `\` and `]` (RFC 5424 §6.3.3). */
const sdValue = (s: string): string => escapeText(s).replace(/["\\\]]/g, (c) => `\\${c}`);
/** HOSTNAME, APP-NAME, MSGID: printable US-ASCII without spaces, or "-". */
const header = (s: string, max: number): string => s.replace(/[^!-~]/g, '_').slice(0, max) || '-';

/** One RFC 5424 message (README: "syslog action"). */
export function syslogMessage(alert: Alert, facility: number, tag: string, host: string, pid: number): string {
  const pri = facility * 8 + (alert.state === 'resolved' ? 5 : SYSLOG_SEVERITY[alert.severity] ?? 4);
  const sd = [`source="${alert.source}"`, `name="${sdValue(alert.name)}"`, `severity="${alert.severity}"`, `state="${alert.state}"`];
  if (alert.key !== null) sd.push(`key="${sdValue(alert.key)}"`);
  if (alert.id !== 0) sd.push(`id="${alert.id}"`);
  const text = alert.state === 'resolved' ? `RESOLVED ${alert.name}: ${alert.message}` : `${alert.name}: ${alert.message}`;
  return `<${pri}>1 ${alert.state === 'resolved' ? alert.resolvedTime ?? alert.time : alert.time} ${header(host, 255)} ${header(tag, 48)} ${pid} ${header(alert.name, 32)} [procwatch@32473 ${sd.join(' ')}] ${escapeText(text)}`;
}

export class SyslogRunner implements ActionRunner {
  readonly type = 'syslog';
  readonly counters = counters();
  private readonly failures: RateLimitedLog;
  private readonly host = hostname();
  constructor(readonly name: string, private readonly spec: SyslogAction, log: Log) {
    this.failures = new RateLimitedLog(log);
  }
  submit(alert: Alert): void {
    const send = loadDgram();
    if (send === null) {
      this.counters.failed++;
      this.failures.line(`procwatch daemon: action ${this.name} (syslog) failed: the native datagram sender is not built (npm run build:native)`);
      return;
    }
    try {
      send(this.spec.socket, Buffer.from(syslogMessage(alert, this.spec.facility, this.spec.tag, this.host, process.pid), 'utf8'));
      this.counters.sent++;
    } catch (err) {
      this.counters.failed++;
      this.failures.line(`procwatch daemon: action ${this.name} (syslog ${this.spec.socket}) failed for alert ${alert.id}: ${(err as Error).message}`);
    }
  }
  async close(): Promise<void> {}
}

/** The start time (field 22 of /proc/PID/stat), or null when the pid is gone. */
export function startTicksOf(pid: number, procRoot = '/proc'): number | null {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return null;
  }
}

/**
 * Signals the alert's process instance (enforce-mode rules only): only if the pid still has
 * the alert's start time, so a reused pid is never hit. A flap guard stops after `max_kills`
 * in `per` for one rule: then it raises an alert instead (a rule that kills in a loop is a
 * rule to fix, or an attacker restarting something).
 */
export class KillRunner implements ActionRunner {
  readonly type = 'kill';
  readonly counters = counters();
  private readonly kills = new Map<string, number[]>();
  private readonly guarded = new Set<string>();
  constructor(readonly name: string, private readonly spec: KillAction, private readonly log: Log, private readonly raise: (alert: Alert) => void, private readonly procRoot = '/proc') {}
  submit(alert: Alert): void {
    const p = alert.process;
    if (alert.source !== 'rule' || alert.mode !== 'enforce' || alert.state !== 'firing' || p === null) return;
    const now = Date.now();
    const recent = (this.kills.get(alert.name) ?? []).filter((t) => now - t < this.spec.perMs);
    if (recent.length >= this.spec.maxKills) {
      this.counters.failed++;
      this.log(`procwatch daemon: action ${this.name}: flap guard: ${recent.length} kill(s) for rule ${escapeText(alert.name)} in ${this.spec.perMs / 60_000} min; not killing pid ${p.pid}`);
      if (!this.guarded.has(alert.name)) {
        this.guarded.add(alert.name);
        this.raise({
          ...alert, id: 0, name: `${alert.name}:kill-guard`, severity: 'critical', mode: 'monitor', actions: alert.actions.filter((a) => a !== this.name),
          message: `kill flap guard: rule ${alert.name} killed ${recent.length} process(es) in ${this.spec.perMs / 60_000} min; no more kills until that falls below ${this.spec.maxKills}; latest: ${alert.message}`,
        });
      }
      return;
    }
    this.guarded.delete(alert.name);
    if (p.startTicks === null || startTicksOf(p.pid, this.procRoot) !== p.startTicks) {
      this.counters.failed++;
      this.log(`procwatch daemon: action ${this.name}: pid ${p.pid} is no longer process ${escapeText(p.key)} (gone, or its pid was reused): not signalled`);
      return;
    }
    try {
      process.kill(p.pid, this.spec.signal);
      recent.push(now);
      this.kills.set(alert.name, recent);
      this.counters.sent++;
      this.log(`procwatch daemon: action ${this.name}: sent ${this.spec.signal} to pid ${p.pid} (${escapeText(p.key)}, ${escapeText(p.exe ?? p.comm ?? '?')}) for rule ${escapeText(alert.name)}`);
    } catch (err) {
      this.counters.failed++;
      this.log(`procwatch daemon: action ${this.name}: cannot signal pid ${p.pid}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  async close(): Promise<void> {}
}
