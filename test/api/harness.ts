/** Starts a real daemon in this process (poll source, temp database and socket) for API tests. */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { DAEMON_DEFAULTS, type DaemonConfig } from '../../src/config/daemon.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { ApiServer } from '../../src/api/server.js';

export interface Harness {
  daemon: Daemon;
  api: ApiServer;
  socket: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startDaemon(over: Partial<DaemonConfig> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-api-'));
  const socket = join(dir, 'api.sock');
  const config: DaemonConfig = { ...DAEMON_DEFAULTS, source: 'poll', pollIntervalMs: 100, database: join(dir, 'events.db'), socket, flushIntervalMs: 50, ...over };
  const daemon = await Daemon.start(config, () => {});
  const api = new ApiServer(daemon);
  await api.listenUnix(socket, null);
  return {
    daemon, api, socket, dir,
    async stop() {
      await api.close();
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  body: string;
  type: string;
  json<T = Record<string, unknown>>(): T;
}

export function get(socket: string, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method }, (res) => {
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
