/**
 * Shell capture's user-space half: redaction patterns (groups replaced, names kept, bad
 * patterns refused in one line), the ELF symbol lookup (the offset a uprobe attaches to,
 * checked against binutils' own reading of the binary; a binary without the symbol or not
 * ELF reported), and finding the binaries of running shells.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/errors.js';
import {
  DEFAULT_SHELL_REDACT, compileRedaction, fileId, findShellBinaries, functionOffset, redactLine,
} from '../../src/sources/shell.js';
import { waitFor } from '../helpers/spawn.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('redaction: capture groups are replaced and the rest kept; no group: the whole match', () => {
  const patterns = compileRedaction(['/(?:password|token)=(\\S+)/i', 'sk-[a-z0-9]{8,}']);
  assert.deepEqual(redactLine('export PASSWORD=p4ss TOKEN=t0k other=1', patterns), { line: 'export PASSWORD=[REDACTED] TOKEN=[REDACTED] other=1', redacted: true });
  assert.deepEqual(redactLine('curl -H "key: sk-abcdef123456"', patterns), { line: 'curl -H "key: [REDACTED]"', redacted: true });
  assert.deepEqual(redactLine('ls -la /etc', patterns), { line: 'ls -la /etc', redacted: false });
  // Every pattern applies, again and again on one line; the global flag is not the caller's business.
  assert.equal(redactLine('password=a password=b', patterns).line, 'password=[REDACTED] password=[REDACTED]');
  assert.equal(redactLine('password=a password=b', patterns).line, 'password=[REDACTED] password=[REDACTED]', 'no state left between lines');
});

test('redaction: the default patterns hide common secrets and nothing else', () => {
  const d = compileRedaction(DEFAULT_SHELL_REDACT);
  const cases: Array<[string, string]> = [
    ['export PASSWORD=hunter2', 'export PASSWORD=[REDACTED]'],
    ['MYSQL_PWD=x mysql -u root', 'MYSQL_PWD=[REDACTED] mysql -u root'],
    ['AWS_SECRET_ACCESS_KEY=abc aws s3 ls', 'AWS_SECRET_ACCESS_KEY=[REDACTED] aws s3 ls'],
    ['GITHUB_TOKEN=ghp_1 gh pr list', 'GITHUB_TOKEN=[REDACTED] gh pr list'],
    ['app --password=s3cret --user bob', 'app --password=[REDACTED] --user bob'],
    ['app --token s3cret', 'app --token [REDACTED]'],
    ['mysql -u root -ps3cret db', 'mysql -u root -p[REDACTED] db'],
    ['ls -la /etc/passwd', 'ls -la /etc/passwd'],
    ['cd /root && make -j4', 'cd /root && make -j4'],
    ['grep -p pattern file', 'grep -p pattern file'],
  ];
  for (const [line, want] of cases) assert.equal(redactLine(line, d).line, want, line);
});

test('redaction: a bad pattern is one clear InputError naming it; one that matches an empty line is refused', () => {
  assert.throws(() => compileRedaction(['(unclosed']), (e: unknown) => e instanceof InputError && /'\(unclosed' is not a regular expression/.test(e.message));
  assert.throws(() => compileRedaction(['/x/g']), (e: unknown) => e instanceof InputError && /flags other than i, m, s and u/.test(e.message));
  assert.throws(() => compileRedaction(['a*']), (e: unknown) => e instanceof InputError && /matches an empty line/.test(e.message));
  assert.throws(() => compileRedaction(['']), (e: unknown) => e instanceof InputError && /empty/.test(e.message));
});

test('ELF: the readline offset of this bash is the one binutils reads from its dynamic symbols', { skip: spawnSync('nm', ['--version']).status === 0 ? false : 'SKIPPED: nm (binutils) not installed' }, () => {
  const nm = spawnSync('nm', ['-D', '--defined-only', '/bin/bash'], { encoding: 'utf8' });
  const line = nm.stdout.split('\n').find((l) => / T readline$/.test(l));
  assert.ok(line, 'Debian\'s bash exports readline');
  const vaddr = parseInt(line.split(' ')[0]!, 16);
  // The offset in the file: vaddr minus its executable segment's vaddr, plus that segment's file offset.
  const phdrs = spawnSync('readelf', ['-lW', '/bin/bash'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /^\s+LOAD\s/.test(l) && /R E/.test(l));
  const [off, va, , filesz] = phdrs[0]!.trim().split(/\s+/).slice(1, 5).map((h) => parseInt(h, 16));
  assert.ok(vaddr >= va! && vaddr < va! + filesz!);
  assert.deepEqual(functionOffset('/bin/bash', 'readline'), { offset: vaddr - va! + off! });
});

test('ELF: a binary without the symbol, a file that is not ELF, a missing file: each a problem, never an offset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pwshell-'));
  dirs.push(dir);
  const script = join(dir, 'bash');
  writeFileSync(script, '#!/bin/sh\necho not a bash\n');
  const lookups = [functionOffset('/bin/true', 'readline'), functionOffset(script, 'readline'), functionOffset(join(dir, 'none'), 'readline')];
  assert.match('problem' in lookups[0]! ? lookups[0].problem : '', /\/bin\/true has no readline symbol/);
  assert.match('problem' in lookups[1]! ? lookups[1].problem : '', /is not an ELF file/);
  assert.match('problem' in lookups[2]! ? lookups[2].problem : '', /cannot open/);
});

test('binaries: configured paths and running shells, one per file; a replaced binary still found through its process', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pwshell-'));
  dirs.push(dir);
  const copy = join(dir, 'bash');
  copyFileSync('/bin/bash', copy);
  const child = spawn(copy, ['-c', 'read x'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    await waitFor('the copy running', () => fileId(`/proc/${child.pid}/exe`) !== null && fileId(`/proc/${child.pid}/exe`) === fileId(copy));
    const id = fileId(copy)!;
    unlinkSync(copy); // an upgrade replaces the file; the running shell keeps the old one
    const found = findShellBinaries(['/bin/bash', '/usr/bin/bash', join(dir, 'gone')]);
    assert.deepEqual(found.problems, [`shell binary ${join(dir, 'gone')} not found: not watched`]);
    const ids = found.binaries.map((b) => b.id);
    assert.equal(new Set(ids).size, ids.length, 'one entry per file');
    assert.equal(found.binaries.filter((b) => b.id === fileId('/bin/bash')).length, 1, '/bin/bash and /usr/bin/bash are one file');
    const replaced = found.binaries.find((b) => b.id === id);
    assert.ok(replaced, 'the deleted copy is found through the running process');
    assert.match(replaced.path, /\(deleted\)$/);
    assert.match(replaced.open, /^\/proc\/\d+\/exe$/);
    assert.ok('offset' in functionOffset(replaced.open, 'readline'), 'and its symbols are read through /proc');
  } finally {
    child.kill('SIGKILL');
  }
});
