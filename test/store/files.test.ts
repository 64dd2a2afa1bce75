/**
 * Issue 14, item 5: the database path has no side effects before it is known to be a
 * database, and symbolic links are refused (unless configured), so a user who can write to
 * the database's directory cannot make root create, chmod or chown a file of their choosing.
 */

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStore, StoreError } from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const mode = (p: string): number => statSync(p).mode & 0o777;
const refusal = (path: string, pattern: RegExp, options: { followSymlinks?: boolean } = {}): void => {
  assert.throws(() => new EventStore({ path, bootId: 'b', source: 'test', ...options }), (e: Error) => e instanceof StoreError && pattern.test(e.message) && !e.message.includes('\n'));
};

test('a file that is not a database is refused and keeps its mode', () => {
  const path = join(dir, 'notes.txt');
  writeFileSync(path, 'shopping list\n'.repeat(20));
  chmodSync(path, 0o644);
  refusal(path, /cannot open database .*notes.txt: file is not a database \(it does not begin with "SQLite format 3"\)/);
  assert.equal(mode(path), 0o644, 'its mode was not touched');
  assert.equal(readFileSync(path, 'utf8'), 'shopping list\n'.repeat(20));
  assert.equal(existsSync(`${path}-wal`), false);
});

test('a symbolic link as the database is refused: its target is neither changed nor created', () => {
  const victim = join(dir, 'victim.conf');
  writeFileSync(victim, 'x = 1\n');
  chmodSync(victim, 0o644);
  const link = join(dir, 'link.db');
  symlinkSync(victim, link);
  refusal(link, /link.db: .*is a symbolic link: refusing to follow it \(daemon.follow_symlinks: true allows it\)/);
  assert.equal(mode(victim), 0o644);
  assert.equal(readFileSync(victim, 'utf8'), 'x = 1\n');
  // A dangling link: its target must not be created.
  const target = join(dir, 'created-by-root');
  const dangling = join(dir, 'dangling.db');
  symlinkSync(target, dangling);
  refusal(dangling, /symbolic link/);
  assert.equal(existsSync(target), false, 'nothing created at the link target');
});

test('a symbolic link as the -wal is refused before SQLite can open it', () => {
  const path = join(dir, 'walled.db');
  new EventStore({ path, bootId: 'b', source: 'test' }).close();
  const victim = join(dir, 'wal-victim');
  writeFileSync(victim, 'keep');
  chmodSync(victim, 0o644);
  symlinkSync(victim, `${path}-wal`);
  refusal(path, /walled.db-wal is a symbolic link/);
  assert.equal(mode(victim), 0o644);
  assert.equal(readFileSync(victim, 'utf8'), 'keep');
});

test('daemon.follow_symlinks: a link to a database is used, and the database (not the link) is tightened', () => {
  const real = join(dir, 'real.db');
  new EventStore({ path: real, bootId: 'b', source: 'test' }).close();
  chmodSync(real, 0o644);
  const link = join(dir, 'via-link.db');
  symlinkSync(real, link);
  const store = new EventStore({ path: link, bootId: 'b', source: 'test', followSymlinks: true });
  store.close();
  assert.equal(mode(real), 0o600);
});

test('a new database and an existing one: created 0600, tightened to 0600', () => {
  const path = join(dir, 'fresh.db');
  new EventStore({ path, bootId: 'b', source: 'test' }).close();
  assert.equal(mode(path), 0o600);
  chmodSync(path, 0o666);
  new EventStore({ path, bootId: 'b', source: 'test' }).close();
  assert.equal(mode(path), 0o600);
  // An empty file is a new database (SQLite's own rule), so it is used and tightened.
  const empty = join(dir, 'empty.db');
  writeFileSync(empty, '');
  chmodSync(empty, 0o644);
  new EventStore({ path: empty, bootId: 'b', source: 'test' }).close();
  assert.equal(mode(empty), 0o600);
});
