/** Starts a real daemon in this process (poll source, temp database and socket) for API tests. */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { DAEMON_DEFAULTS, type DaemonConfig } from '../../src/config/daemon.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { ApiServer, type ApiOptions } from '../../src/api/server.js';

export interface Harness {
  daemon: Daemon;
  api: ApiServer;
  socket: string;
  dir: string;
  /** Stops the daemon; the directory (and its database) stays when `keep` is set. */
  stop(keep?: boolean): Promise<void>;
}

export interface HarnessOptions {
  /** Reuse this directory (and the database in it): a restart of the daemon. */
  dir?: string;
  api?: ApiOptions;
  /** Also listen on loopback TCP with this token (port chosen by the kernel). */
  tcpToken?: string;
  log?: (line: string) => void;
}

export async function startDaemon(over: Partial<DaemonConfig> = {}, options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'pw-api-'));
  const socket = join(dir, 'api.sock');
  const config: DaemonConfig = { ...DAEMON_DEFAULTS, source: 'poll', pollIntervalMs: 100, database: join(dir, 'events.db'), socket, flushIntervalMs: 50, ...over };
  const daemon = await Daemon.start(config, options.log ?? (() => {}));
  const api = new ApiServer(daemon, { log: options.log, ...options.api });
  await api.listenUnix(socket, null);
  if (options.tcpToken !== undefined) await api.listenTcp('127.0.0.1:0', options.tcpToken);
  return {
    daemon, api, socket, dir,
    async stop(keep = false) {
      await api.close();
      await daemon.stop();
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  body: string;
  type: string;
  json<T = Record<string, unknown>>(): T;
}

export interface GetOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Loopback TCP on this port instead of the unix socket. */
  port?: number;
}

export function get(socket: string, path: string, method: string | GetOptions = 'GET'): Promise<Reply> {
  const o: GetOptions = typeof method === 'string' ? { method } : method;
  const where = o.port === undefined ? { socketPath: socket } : { host: '127.0.0.1', port: o.port };
  return new Promise((resolve, reject) => {
    // One connection per request (agent: false): Node 20's global agent keeps connections alive,
    // and a request sent on one just as the server closes it for idleness (5 s) fails with
    // ECONNRESET, a race a loaded machine makes likely. The CLI makes one request per connection too.
    const req = request({ ...where, path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']), json: <T>() => JSON.parse(body) as T }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, ms: number): Promise<T | undefined> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  return probe();
}
