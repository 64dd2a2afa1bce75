/**
 * Issue 14, item 17: the systemd unit carries the hardening that fits the daemon, and none
 * that breaks it; systemd's own tools accept it. Needs systemd-analyze (Debian package
 * systemd; .ci/run installs it), not systemd as init.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, REPO_ROOT } from '../helpers/cli.js';

const UNIT = join(REPO_ROOT, 'packaging/procwatch.service');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const skip = analyze.error === undefined ? false : 'SKIPPED: needs systemd-analyze (Debian package systemd)';
if (skip) console.error(`unit: ${skip}`);

interface Check { name: string; json_field: string; set: boolean | null; exposure: string | null }

test('systemd-analyze verify accepts the unit without a warning', { skip }, () => {
  // verify runs `man` for Documentation=man:procwatch(1): the page the package installs
  // (issue 17), generated here into a directory of its own, as MANPATH.
  const man = mkdtempSync(join(tmpdir(), 'pw-unit-man-'));
  try {
    mkdirSync(join(man, 'man1'));
    const page = spawnSync(process.execPath, [BIN, 'manpage'], { encoding: 'utf8' });
    assert.equal(page.status, 0, page.stderr);
    writeFileSync(join(man, 'man1', 'procwatch.1'), page.stdout);
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8', env: { ...process.env, MANPATH: man } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings');
  } finally {
    rmSync(man, { recursive: true, force: true });
  }
});

test('security --offline: the fitting directives are set, the breaking ones are not, exposure at most 5.4', { skip }, () => {
  const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--json=short', UNIT], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const checks = new Map((JSON.parse(r.stdout) as Check[]).map((c) => [c.json_field, c]));
  const set = (field: string): boolean | null | undefined => checks.get(field)?.set;
  for (const field of ['ProtectKernelModules', 'ProtectKernelLogs', 'ProtectClock', 'ProtectHostname', 'RestrictSUIDSGID', 'LockPersonality',
    'SystemCallArchitectures', 'RestrictNamespaces_user', 'RestrictNamespaces_net', 'RestrictAddressFamilies_AF_PACKET', 'RestrictAddressFamilies_OTHER',
    'ProtectControlGroups', 'NoNewPrivileges', 'PrivateTmp']) {
    assert.equal(set(field), true, `${field} is set`);
  }
  // What would break the daemon stays off: V8's JIT, the SCHED_FIFO reader, the proc connector, seeing every process.
  for (const field of ['MemoryDenyWriteExecute', 'RestrictRealtime', 'PrivateNetwork', 'ProtectProc']) assert.equal(set(field), false, `${field} is not set`);
  const overall = spawnSync('systemd-analyze', ['security', '--offline=yes', UNIT], { encoding: 'utf8' });
  const level = Number(/Overall exposure level for procwatch\.service: ([\d.]+)/.exec(overall.stdout)?.[1]);
  assert.ok(level <= 5.4, `exposure ${level} (README: 7.6 before issue 14, 5.4 after)`);
});
