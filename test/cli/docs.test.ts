/**
 * Completion scripts and the man page come from the same Commander definitions as --help: every
 * command, option and choice --help knows is in them, and the scripts work in their shells.
 * A new option added to a command shows up here without anyone editing a completion file.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { bashCompletion, manPage, zshCompletion } from '../../src/cli/docs.js';
import { loadCommands, programWith } from '../../src/cli/program.js';
import { procwatch } from '../helpers/cli.js';

const program = programWith(await loadCommands([]));
const commands = program.commands.filter((c: Command) => !['completion', 'manpage'].includes(c.name()));

test('every command, option and choice of --help is in the bash and zsh completions and the man page', () => {
  const bash = bashCompletion(program);
  const zsh = zshCompletion(program);
  const man = manPage(program).replace(/\\-/g, '-');
  assert.ok(commands.length >= 9, commands.map((c) => c.name()).join());
  for (const c of commands) {
    const help = c.helpInformation();
    for (const text of [bash, zsh, man]) assert.ok(text.includes(c.name()), `${c.name()} listed`);
    for (const o of c.options) {
      for (const flag of [o.long, o.short].filter((f): f is string => f !== undefined)) {
        assert.ok(help.includes(flag), `${c.name()} --help shows ${flag}`);
        assert.ok(bash.includes(flag), `bash completes ${c.name()} ${flag}`);
        assert.ok(zsh.includes(flag), `zsh completes ${c.name()} ${flag}`);
        assert.ok(man.includes(flag), `the man page documents ${c.name()} ${flag}`);
      }
      for (const choice of o.argChoices ?? []) assert.ok(bash.includes(choice) && zsh.includes(choice), `${c.name()} ${o.long} ${choice}`);
    }
  }
  assert.match(man, /Spec grammar/, 'help text added after the options (check\'s spec grammar) is in the man page too');
});

test('the CLI prints the same scripts and page; bash completes commands, options and choices', async () => {
  const printed = await procwatch(['completion', 'bash']);
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(printed.stdout, bashCompletion(program));
  assert.equal((await procwatch(['completion', 'zsh'])).stdout, zshCompletion(program));
  const bad = await procwatch(['completion', 'fish']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, "procwatch: completion: unknown shell 'fish' (known: bash, zsh)\n");

  const dir = mkdtempSync(join(tmpdir(), 'pw-completion-'));
  try {
    writeFileSync(join(dir, 'procwatch.bash'), printed.stdout);
    const complete = (words: string[]): string => {
      const script = `source ${join(dir, 'procwatch.bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _procwatch; echo "\${COMPREPLY[*]}"`;
      const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.equal(complete(['procwatch', 'hi']), 'history');
    assert.equal(complete(['procwatch', 'events', '--ut']), '--utc');
    assert.equal(complete(['procwatch', 'check', '-f', '']), 'mon nagios nagios-plain json');
    assert.equal(complete(['procwatch', 'watch', '--source', 'e']), 'ebpf');
    assert.equal(complete(['procwatch', 'completion', '']), 'bash zsh');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('zsh reads the zsh script; groff reads the man page without a warning', { skip: spawnSync('zsh', ['--version']).status !== 0 ? 'SKIPPED: zsh not installed (CI installs it)' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pw-zsh-'));
  try {
    writeFileSync(join(dir, '_procwatch'), zshCompletion(program));
    const syntax = spawnSync('zsh', ['-n', join(dir, '_procwatch')], { encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
    // Loaded through compinit as zsh does from $fpath: the function is defined for procwatch.
    const loaded = spawnSync('zsh', ['-f', '-c', `fpath=(${dir} $fpath); autoload -Uz compinit; compinit -u -d ${dir}/zcompdump; print -r -- \${_comps[procwatch]}`], { encoding: 'utf8' });
    assert.equal(loaded.stdout.trim(), '_procwatch', loaded.stderr);
    writeFileSync(join(dir, 'procwatch.1'), manPage(program));
    const groff = spawnSync('groff', ['-man', '-ww', '-z', join(dir, 'procwatch.1')], { encoding: 'utf8' });
    assert.equal(groff.status, 0, groff.stderr);
    assert.equal(groff.stderr, '', 'no roff warning');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
