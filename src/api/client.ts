/** The client side of the API, used by the CLI: the same paths outside users call. */

import { lstatSync } from 'node:fs';
import { request } from 'node:http';
import { InputError } from '../errors.js';
import { own } from '../util/own.js';

export const DEFAULT_SOCKET = process.env.PROCWATCH_SOCKET ?? '/run/procwatch/procwatch.sock';

/** The daemon is not running, or its socket cannot be opened. */
export class DaemonUnavailable extends Error {
  override readonly name = 'DaemonUnavailable';
}

/** The daemon answered "no such thing" (HTTP 404). */
export class NotFound extends Error {
  override readonly name = 'NotFound';
}

function url(path: string, query: Record<string, string | number | boolean | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== false) params.set(k, String(v));
  const qs = params.toString();
  return qs === '' ? path : `${path}?${qs}`;
}

/** How long the daemon may stay silent before the CLI gives up (a hung or stopped daemon). */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface CallOptions {
  /** Silence, in ms, after which the call fails with DaemonUnavailable (default 30 s). */
  timeoutMs?: number;
  /** API parameter → the CLI option that set it: errors then name what the user typed. */
  optionNames?: Record<string, string>;
}

/** "parameter 'since' must be a time" → "--since must be a time", for the options the command maps. */
function renamed(message: string, names: Record<string, string> | undefined): string {
  if (names === undefined) return message;
  return message.replace(/parameter '(\w+)'/g, (whole, key: string) => own(names, key) ?? whole);
}

function failure(status: number, text: string, names?: Record<string, string>): Error {
  let message = text;
  try {
    message = (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    // not JSON: keep the text
  }
  message = renamed(message, names);
  if (status === 404) return new NotFound(message);
  if (status >= 400 && status < 500) return new InputError(message);
  return new Error(`daemon error ${status}: ${message}`);
}

/** What is at the socket path, in words, when it is not a socket (null when it is one, or nothing is there). */
function notASocket(path: string): string | null {
  try {
    const st = lstatSync(path);
    if (st.isSocket()) return null;
    return st.isFile() ? 'a regular file' : st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : 'not a socket';
  } catch {
    return null;
  }
}

function unavailable(socket: string, err: NodeJS.ErrnoException): DaemonUnavailable {
  const what = err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK' ? notASocket(socket) : null;
  const why = what !== null ? `it is ${what}, not the daemon's socket: check --socket or PROCWATCH_SOCKET`
    : err.code === 'ENOENT' ? 'no such socket: is the daemon running? start it with `procwatch daemon` (or `systemctl start procwatch`)'
      : err.code === 'ECONNREFUSED' ? 'nothing listens on it: the daemon has stopped (start it with `procwatch daemon`)'
        : err.code === 'EACCES' ? 'permission denied: run as root or as a member of the socket group'
          : err.message;
  return new DaemonUnavailable(`cannot reach the daemon at ${socket}: ${why}`);
}

function timedOut(socket: string, ms: number): DaemonUnavailable {
  return new DaemonUnavailable(`the daemon at ${socket} did not answer within ${ms / 1000} s: is it hung or stopped (kill -STOP)?`);
}

/** GET a path; resolves with the body of a 200 answer, rejects with a one-line error otherwise. */
export async function apiGetText(socket: string, path: string, query: Record<string, string | number | boolean | undefined> = {}, options: CallOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    // agent: false, one connection per request: a kept-alive one that the daemon closes for idleness
    // (5 s) just as `top` sends its next refresh on it would fail with ECONNRESET.
    const req = request({ socketPath: socket, path: url(path, query), method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => reject(new DaemonUnavailable(`the daemon at ${socket} closed the connection mid-answer`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(failure(res.statusCode ?? 0, text, options.optionNames));
        else resolve(text);
      });
    });
    // An idle timeout: a long answer that keeps arriving is fine, silence is not.
    req.setTimeout(timeoutMs, () => req.destroy(timedOut(socket, timeoutMs)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof DaemonUnavailable ? err : unavailable(socket, err)));
    req.end();
  });
}

export async function apiGet<T>(socket: string, path: string, query: Record<string, string | number | boolean | undefined> = {}, options: CallOptions = {}): Promise<T> {
  const text = await apiGetText(socket, path, query, options);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error('daemon sent a malformed answer');
  }
}

/** Streams NDJSON lines until the daemon closes the stream or `signal` aborts. */
export async function apiStream(socket: string, path: string, query: Record<string, string | number | boolean | undefined>, onObject: (obj: Record<string, unknown>) => void, signal: AbortSignal, options: CallOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: url(path, { ...query, format: 'ndjson' }), method: 'GET', signal, agent: false }, (res) => {
      req.setTimeout(0); // streaming: a quiet machine sends nothing for a long time, and that is fine
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(failure(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), options.optionNames)));
        return;
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line !== '') onObject(JSON.parse(line) as Record<string, unknown>);
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.setTimeout(timeoutMs, () => req.destroy(timedOut(socket, timeoutMs))); // until the answer starts
    req.on('error', (err: NodeJS.ErrnoException) => (err.name === 'AbortError' ? resolve() : reject(err instanceof DaemonUnavailable ? err : unavailable(socket, err))));
    req.end();
  });
}
