/** The client side of the API, used by the CLI: the same paths outside users call. */

import { request } from 'node:http';
import { InputError } from '../errors.js';

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

function failure(status: number, text: string): Error {
  let message = text;
  try {
    message = (JSON.parse(text) as { error?: string }).error ?? text;
  } catch {
    // not JSON: keep the text
  }
  if (status === 404) return new NotFound(message);
  if (status >= 400 && status < 500) return new InputError(message);
  return new Error(`daemon error ${status}: ${message}`);
}

function unavailable(socket: string, err: NodeJS.ErrnoException): DaemonUnavailable {
  const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'is the daemon running? start it with `procwatch daemon`'
    : err.code === 'EACCES' ? 'permission denied: run as root or as a member of the socket group' : err.message;
  return new DaemonUnavailable(`cannot reach the daemon at ${socket}: ${why}`);
}

export async function apiGet<T>(socket: string, path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: url(path, query), method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(failure(res.statusCode ?? 0, text));
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(new Error('daemon sent a malformed answer'));
        }
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(unavailable(socket, err)));
    req.end();
  });
}

/** Streams NDJSON lines until the daemon closes the stream or `signal` aborts. */
export async function apiStream(socket: string, path: string, query: Record<string, string | number | boolean | undefined>, onObject: (obj: Record<string, unknown>) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: url(path, { ...query, format: 'ndjson' }), method: 'GET', signal }, (res) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => reject(failure(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
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
    req.on('error', (err: NodeJS.ErrnoException) => (err.name === 'AbortError' ? resolve() : reject(unavailable(socket, err))));
    req.end();
  });
}
