#!/usr/bin/env node
// Builds the Debian package from this repository: `npm run package:deb` (after `npm run build`
// and the native addons). Writes dist-deb/procwatch_VERSION_ARCH.deb, or to --out DIR.
//
// Layout: /usr/lib/procwatch (the launcher, compiled JavaScript, the addons, the shipped rule pack
// and the production node_modules), /usr/bin/procwatch (a link to the launcher), the systemd unit, the default config
// /etc/procwatch/procwatch.yaml (a conffile), bash and zsh completion and the man page, generated
// by the built CLI itself from its --help definitions. postinst adds the `procwatch` system group
// (the config's socket_group); nothing is enabled or started: `systemctl enable --now procwatch`.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

function fail(message) {
  process.stderr.write(`package-deb: ${message}\n`);
  process.exit(1);
}

const outIndex = process.argv.indexOf('--out');
const outDir = resolve(outIndex > 0 ? process.argv[outIndex + 1] ?? fail('--out needs a directory') : join(ROOT, 'dist-deb'));

if (spawnSync('dpkg-deb', ['--version']).status !== 0) fail('dpkg-deb not found (apt-get install dpkg)');
// The proc connector reader, the syslog action's datagram sender and the daemon's malloc set-up
// (built with it), the eBPF reader.
const ADDONS = ['native/build/Release/procconn.node', 'native/build/Release/unixdgram.node', 'native/build/Release/malloctune.node', 'native/bpf/build/Release/procbpf.node'];
for (const needed of ['dist/src/cli/main.js', 'dist/src/cli/check.cjs', 'dist/src/cli/ps.cjs', 'dist/web/index.html', ...ADDONS]) {
  // A package without an addon would silently lose its event source: refuse instead.
  if (!existsSync(join(ROOT, needed))) fail(`${needed} is missing: run npm run build and npm run build:native first (the package ships every addon)`);
}

const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
const version = `${pkg.version}-1`;
const stage = mkdtempSync(join(tmpdir(), 'procwatch-deb-'));
const LIB = 'usr/lib/procwatch';
const at = (path) => join(stage, path);
const copy = (from, to, filter) => cpSync(join(ROOT, from), at(to), { recursive: true, filter, dereference: true });

try {
  // The program: launcher, compiled sources (not the tests), addons, package.json (--version reads it).
  copy('bin/procwatch', `${LIB}/bin/procwatch`);
  copy('bin/package.json', `${LIB}/bin/package.json`); // the launcher is CommonJS (issue 16)
  copy('dist/src', `${LIB}/dist/src`, (src) => !src.endsWith('.map'));
  copy('dist/web', `${LIB}/dist/web`); // the web console's built assets (src/web/assets.ts reads them beside dist/src)
  copy('package.json', `${LIB}/package.json`);
  copy('rules', `${LIB}/rules`); // the shipped rule pack (daemon rules.pack)
  for (const addon of ADDONS) copy(addon, `${LIB}/${addon}`);
  // Production dependencies, as npm resolved them; better-sqlite3 keeps its built binary only.
  const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n').map((p) => p.trim()).filter((p) => p !== '' && p !== ROOT);
  for (const dir of prod) {
    const rel = relative(ROOT, dir);
    copy(rel, `${LIB}/${rel}`, (src) => {
      const inside = relative(dir, src);
      if (basename(dir) !== 'better-sqlite3') return true;
      return !/^(deps|src)(\/|$)/.test(inside) && !(inside.startsWith('build') && inside !== 'build' && inside !== 'build/Release' && inside !== 'build/Release/better_sqlite3.node');
    });
  }
  mkdirSync(at('usr/bin'), { recursive: true });
  symlinkSync(`../lib/procwatch/bin/procwatch`, at('usr/bin/procwatch'));

  // systemd unit and default config.
  copy('packaging/procwatch.service', 'lib/systemd/system/procwatch.service');
  copy('packaging/procwatch.yaml', 'etc/procwatch/procwatch.yaml');
  chmodSync(at('etc/procwatch/procwatch.yaml'), 0o640);

  // Completion and man page, from the CLI's own definitions (the staged one: what ships).
  const cli = (args) => execFileSync(process.execPath, [at(`${LIB}/bin/procwatch`), ...args], { encoding: 'utf8' });
  mkdirSync(at('usr/share/bash-completion/completions'), { recursive: true });
  writeFileSync(at('usr/share/bash-completion/completions/procwatch'), cli(['completion', 'bash']));
  mkdirSync(at('usr/share/zsh/vendor-completions'), { recursive: true });
  writeFileSync(at('usr/share/zsh/vendor-completions/_procwatch'), cli(['completion', 'zsh']));
  mkdirSync(at('usr/share/man/man1'), { recursive: true });
  writeFileSync(at('usr/share/man/man1/procwatch.1.gz'), gzipSync(cli(['manpage']), { level: 9 }));
  mkdirSync(at('usr/share/doc/procwatch'), { recursive: true });
  copy('README.md', 'usr/share/doc/procwatch/README.md');
  writeFileSync(at('usr/share/doc/procwatch/copyright'), `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: procwatch\n\nFiles: *\nLicense: ${pkg.license}\n`);

  // Control files.
  mkdirSync(at('DEBIAN'));
  const installedKiB = Math.ceil(Number(execFileSync('du', ['-sk', '--exclude=DEBIAN', stage], { encoding: 'utf8' }).split('\t')[0]));
  const control = [
    'Package: procwatch',
    `Version: ${version}`,
    `Architecture: ${arch}`,
    'Maintainer: procwatch developers <procwatch@localhost>',
    `Installed-Size: ${installedKiB}`,
    // The addons link libbpf (eBPF) and libc; the JavaScript needs Node.js 20.
    `Depends: nodejs (>= 20), ${sharedLibraryDepends()}, adduser`,
    'Section: admin',
    'Priority: optional',
    'Homepage: https://localhost/procwatch',
    'Description: Linux process monitor: checks, kernel process events, history',
    ' procwatch checks processes like mon\'s ps.monitor and Nagios\' check_procs, streams',
    ' kernel process events (eBPF or the netlink proc connector), keeps their history in',
    ' SQLite and answers ps, tree, events, history and lineage queries over a local API.',
  ].join('\n');
  writeFileSync(at('DEBIAN/control'), `${control}\n`);
  writeFileSync(at('DEBIAN/conffiles'), '/etc/procwatch/procwatch.yaml\n');
  script('postinst', `#!/bin/sh
# The group the packaged config names as daemon.socket_group: its members may query the daemon.
set -e
if [ "$1" = configure ]; then
  if ! getent group procwatch >/dev/null; then
    addgroup --system --quiet procwatch
  fi
  chgrp procwatch /etc/procwatch/procwatch.yaml
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
  fi
fi
`);
  script('prerm', `#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop procwatch.service 2>/dev/null || echo "procwatch: the service was not running"
  systemctl disable procwatch.service 2>/dev/null || echo "procwatch: the service was not enabled"
fi
`);
  script('postrm', `#!/bin/sh
# purge also removes the event history; the procwatch group stays (files may still carry it).
set -e
if [ "$1" = purge ]; then
  rm -rf /var/lib/procwatch /run/procwatch
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
`);

  mkdirSync(outDir, { recursive: true });
  const deb = join(outDir, `procwatch_${version}_${arch}.deb`);
  const built = spawnSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb], { encoding: 'utf8' });
  if (built.status !== 0) fail(`dpkg-deb failed: ${built.stderr.trim()}`);
  process.stdout.write(`${deb}\n`);
  process.stderr.write(`package-deb: built ${deb} (${(statSync(deb).size / 1048576).toFixed(1)} MiB, ${installedKiB} KiB installed)\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

function script(name, text) {
  writeFileSync(at(`DEBIAN/${name}`), text);
  chmodSync(at(`DEBIAN/${name}`), 0o755);
}

/** The packages of the shared libraries the addons link (ldd, then dpkg -S), as Depends. */
function sharedLibraryDepends() {
  const packages = new Set();
  for (const addon of ADDONS) {
    const ldd = execFileSync('ldd', [join(ROOT, addon)], { encoding: 'utf8' });
    for (const m of ldd.matchAll(/=>\s+(\/\S+)/g)) {
      const owner = spawnSync('dpkg', ['-S', m[1]], { encoding: 'utf8' });
      // /lib and /usr/lib are one directory on merged /usr: dpkg knows one of the two names.
      const alt = owner.status === 0 ? owner : spawnSync('dpkg', ['-S', m[1].replace(/^\/lib\//, '/usr/lib/').replace(/^\/lib64\//, '/usr/lib64/')], { encoding: 'utf8' });
      if (alt.status !== 0) fail(`cannot tell which package ships ${m[1]} (needed by ${addon})`);
      packages.add(alt.stdout.split(':')[0].trim());
    }
  }
  return [...packages].sort().join(', ');
}
