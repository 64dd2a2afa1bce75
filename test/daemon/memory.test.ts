/**
 * The daemon's memory settings as users get them: `procwatch daemon` started from bin/, its
 * eBPF ring buffer as /v1/stats reports it (the daemon's 2 MiB default, or the config's).
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ebpfAvailability } from '../../src/sources/ebpf.js';
import { DAEMON_RING_BYTES } from '../../src/config/daemon.js';
import { BIN } from '../helpers/cli.js';
import { waitFor } from '../helpers/spawn.js';

const ebpf = ebpfAvailability();
const skip = ebpf.available ? false : `SKIPPED: needs the eBPF source (${ebpf.reason})`;
if (skip) console.error(`daemon memory: ${skip}`);
if (skip && process.env.PROCWATCH_REQUIRE_BPF === '1') {
  test('the eBPF source is required here (PROCWATCH_REQUIRE_BPF=1)', () => assert.fail(skip));
}

const dir = mkdtempSync(join(tmpdir(), 'pw-mem-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function getJson(socket: string, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Starts `procwatch daemon --source ebpf` (with the config text, if any); returns its ring size and stops it. */
async function ringBytesOf(name: string, configText: string | null): Promise<number> {
  const socket = join(dir, `${name}.sock`);
  const args = [BIN, 'daemon', '--source', 'ebpf', '--database', join(dir, `${name}.db`), '--socket', socket];
  if (configText !== null) {
    writeFileSync(join(dir, `${name}.yaml`), configText);
    args.push('--config', join(dir, `${name}.yaml`));
  }
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  await waitFor(`the daemon to listen (${log})`, () => log.includes('API on ') || proc.exitCode !== null, 60_000, 50);
  assert.equal(proc.exitCode, null, log);
  const stats = await getJson(socket, '/v1/stats');
  proc.kill('SIGTERM');
  await new Promise((resolve) => proc.once('exit', resolve));
  return (stats.sourceCounters as { ringBytes: number }).ringBytes;
}

test('the daemon\'s eBPF ring buffer is 2 MiB unless the config says otherwise', { skip, timeout: 60_000 }, async () => {
  assert.equal(DAEMON_RING_BYTES, 2 * 1024 ** 2);
  assert.equal(await ringBytesOf('default', null), DAEMON_RING_BYTES);
  assert.equal(await ringBytesOf('other-capture', 'daemon:\n  ebpf:\n    network: true\n'), DAEMON_RING_BYTES, 'other ebpf keys keep the default ring');
  assert.equal(await ringBytesOf('configured', 'daemon:\n  ebpf:\n    ring_buffer: 1MiB\n'), 1024 ** 2);
});
