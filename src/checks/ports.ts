/**
 * Port checks. `listen` reads the kernel's socket tables (no connection is made) and can
 * require the socket to be held by a process matching selectors; `banner` connects and
 * compares the first line the service sends (port 22 answers `SSH-2.0-OpenSSH_...`).
 */

import { connect } from 'node:net';
import { InputError } from '../errors.js';
import { escapeText } from '../report/text.js';
import { canonicalAddress, isListening, parseNetSockets, type SocketEntry, type SocketProtocol } from '../procfs/index.js';
import { compileSelectors, type Predicate } from './match.js';
import { brief } from './count.js';
import { parseSelectors, type Selector } from './spec.js';
import { emptyResult, MAX_WAIT_SECONDS, type Check, type CheckEnv, type Round } from './check.js';
import type { CheckResult } from './types.js';

export interface ListenSpec {
  text: string;
  /** In canonicalAddress() form; null is any address. */
  address: string | null;
  port: number;
  protocol: 'tcp' | 'udp';
  owner: Selector[] | null;
}

function parsePort(text: string, what: string): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InputError(`bad port '${text}' in ${what} (expected 1-65535)`);
  return port;
}

/** Splits `[ADDR:]PORT`, with IPv6 addresses in brackets: `[::1]:22`. */
function splitHostPort(text: string, what: string): [string | null, number] {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]:|([^:[\]]+):)?([^:]+)$/.exec(text);
  if (m === null) throw new InputError(`bad address '${text}' in ${what} (expected [ADDR:]PORT, IPv6 as [ADDR]:PORT)`);
  return [m[1] ?? m[2] ?? null, parsePort(m[3] ?? '', what)];
}

/** `[ADDR:]PORT[/tcp|/udp][@SELECTOR,...]`, e.g. `25/tcp@exe=/usr/lib/postfix/sbin/master`. */
export function parseListenSpec(text: string): ListenSpec {
  const what = `listen check '${text}'`;
  const at = text.indexOf('@');
  const endpoint = at < 0 ? text : text.slice(0, at);
  const [where, proto = 'tcp'] = endpoint.split('/');
  if (proto !== 'tcp' && proto !== 'udp') throw new InputError(`bad protocol '${proto}' in ${what} (expected tcp or udp)`);
  const [host, port] = splitHostPort(where ?? '', what);
  const address = host === null ? null : canonicalAddress(host);
  if (host !== null && address === null) throw new InputError(`bad address '${host}' in ${what} (expected an IP address such as 127.0.0.1 or [::1])`);
  let owner: Selector[] | null = null;
  if (at >= 0) {
    const ownerText = text.slice(at + 1);
    if (ownerText === '') throw new InputError(`empty owner after '@' in ${what}`);
    owner = parseSelectors(ownerText, text);
  }
  return { text, address, port, protocol: proto, owner };
}

/**
 * Whether a socket bound on `bound` accepts traffic to `wanted` (both canonical). `0.0.0.0`
 * serves every IPv4 address; `::` every IPv6 address and, unless net.ipv6.bindv6only is set,
 * every IPv4 address too (a socket's own IPV6_V6ONLY is not visible in /proc/net).
 */
function serves(bound: string, wanted: string, v6Only: boolean): boolean {
  if (bound === wanted) return true;
  if (bound === '0.0.0.0') return !wanted.includes(':');
  return bound === '::' && (wanted.includes(':') || !v6Only);
}

export class ListenCheck implements Check {
  readonly kind = 'listen' as const;
  readonly id: string;
  private ownerMatches: Predicate | null = null;

  constructor(readonly spec: ListenSpec, id?: string) {
    this.id = id ?? `listen ${spec.text}`;
  }

  prepare(env: CheckEnv): void {
    if (this.spec.owner !== null) this.ownerMatches = compileSelectors(this.spec.owner, env);
  }

  private sockets(round: Round): SocketEntry[] {
    const files: SocketProtocol[] = this.spec.protocol === 'tcp' ? ['tcp', 'tcp6'] : ['udp', 'udp6'];
    const found: SocketEntry[] = [];
    for (const file of files) {
      const text = round.reader.file(`net/${file}`);
      if (text !== null) found.push(...parseNetSockets(text, file));
    }
    const wanted = this.spec.address;
    const v6Only = round.reader.file('sys/net/ipv6/bindv6only')?.trim() === '1';
    return found.filter(
      (s) => isListening(s) && s.localPort === this.spec.port &&
        (wanted === null || serves(canonicalAddress(s.localAddress) ?? s.localAddress, wanted, v6Only)),
    );
  }

  async evaluate(round: Round): Promise<CheckResult> {
    if (this.spec.owner !== null && this.ownerMatches === null) this.prepare(round);
    const result = emptyResult(this.id, 'listen');
    const sockets = this.sockets(round);
    const where = `${this.spec.protocol} port ${this.spec.port}${this.spec.address ? ` on ${this.spec.address}` : ''}`;
    result.data = { sockets: sockets.map((s) => ({ protocol: s.protocol, address: s.localAddress, port: s.localPort, inode: s.inode, uid: s.uid })) };
    if (sockets.length === 0) {
      result.status = 'critical';
      result.summary = `${this.spec.protocol}/${this.spec.port}:closed`;
      result.details.push(`nothing listens on ${where}`);
    } else if (this.spec.owner !== null) {
      const snapshot = round.snapshot();
      const inodes = new Set(sockets.map((s) => s.inode));
      const holders = snapshot.processes.filter((p) => round.reader.socketInodes(p.pid).some((i) => inodes.has(i)));
      const owners = holders.filter((p) => this.ownerMatches!(p, snapshot) === true);
      result.processes = holders.map((p) => brief(p, round));
      if (owners.length === 0) {
        result.status = 'critical';
        result.summary = `${this.spec.protocol}/${this.spec.port}:wrong-owner`;
        const held = result.processes.map((p) => `${p.name}[${p.pid}]`).join(', ') || 'no readable process';
        result.details.push(`${where} is listening, but not held by a process matching ${this.spec.owner.map((s) => `${s.key}${s.op}${s.value}`).join(',')} (held by ${held})`);
      }
    }
    result.perf.push({ label: `${this.spec.protocol}_${this.spec.port}_listeners`, value: sockets.length, unit: '', warn: '', crit: '1:', min: 0, max: null });
    return result;
  }
}

export interface BannerSpec {
  text: string;
  host: string;
  port: number;
  expect: string;
  timeoutSeconds: number;
}

/** `[HOST:]PORT=PREFIX`, e.g. `22=SSH-2.0-OpenSSH_`; the host defaults to 127.0.0.1. */
export function parseBannerSpec(text: string, timeoutSeconds: number): BannerSpec {
  if (!(timeoutSeconds > 0 && timeoutSeconds <= MAX_WAIT_SECONDS)) {
    throw new InputError(`the banner timeout (${timeoutSeconds}s) must be above 0 and at most ${MAX_WAIT_SECONDS}s`);
  }
  const eq = text.indexOf('=');
  if (eq < 0) throw new InputError(`bad banner check '${text}' (expected [HOST:]PORT=PREFIX, e.g. 22=SSH-2.0-OpenSSH_)`);
  const [host, port] = splitHostPort(text.slice(0, eq), `banner check '${text}'`);
  const expect = text.slice(eq + 1);
  if (expect === '') throw new InputError(`banner check '${text}' expects an empty prefix; give the text the service must send`);
  return { text, host: host ?? '127.0.0.1', port, expect, timeoutSeconds };
}

/** What a service sent, as a detail line shows it: long answers cut, escaped as every text output is. */
function printable(text: string): string {
  return escapeText(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

/** Connects and reads up to the first newline (or 1 KiB), within the timeout. */
export function readBanner(host: string, port: number, timeoutMs: number): Promise<{ line: string | null; error: string | null; seconds: number }> {
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  return new Promise((resolve) => {
    let received = '';
    let done = false;
    const socket = connect({ host, port });
    const finish = (line: string | null, error: string | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ line, error, seconds: elapsed() });
    };
    const timer = setTimeout(() => finish(received === '' ? null : received, received === '' ? `no banner within ${timeoutMs / 1000}s` : null), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const nl = received.indexOf('\n');
      if (nl >= 0 || received.length >= 1024) finish(received.slice(0, nl >= 0 ? nl : 1024).replace(/\r$/, ''), null);
    });
    socket.on('error', (err) => finish(null, err.message));
    socket.on('end', () => finish(received === '' ? null : received.replace(/\r?\n?$/, ''), received === '' ? 'connection closed without a banner' : null));
  });
}

export class BannerCheck implements Check {
  readonly kind = 'banner' as const;
  readonly id: string;

  constructor(readonly spec: BannerSpec, id?: string) {
    this.id = id ?? `banner ${spec.text}`;
  }

  prepare(): void {
    // Nothing to resolve: the spec was checked when it was parsed.
  }

  async evaluate(): Promise<CheckResult> {
    const { host, port, expect, timeoutSeconds } = this.spec;
    const answer = await readBanner(host, port, timeoutSeconds * 1000);
    const result = emptyResult(this.id, 'banner');
    result.data = { host, port, expect, received: answer.line, error: answer.error, seconds: answer.seconds };
    result.perf.push({ label: `${port}_time`, value: Number(answer.seconds.toFixed(6)), unit: 's', warn: '', crit: String(timeoutSeconds), min: 0, max: null });
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    if (answer.line === null || !answer.line.startsWith(expect)) {
      result.status = 'critical';
      result.summary = `${target}:${answer.line === null ? 'no-banner' : 'wrong-banner'}`;
      result.details.push(answer.line === null
        ? `${target}: ${answer.error ?? 'no answer'} (expected '${printable(expect)}')`
        : `${target} answered '${printable(answer.line)}', expected it to start with '${printable(expect)}'`);
    }
    return result;
  }
}
