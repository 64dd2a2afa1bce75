#!/usr/bin/env node
// Builds the optional proc connector addon (native/ -> native/build/Release/procconn.node)
// with the node-gyp that ships inside npm. The addon is optional: when the build fails this
// prints one line and exits 0, and procwatch falls back to polling /proc. Set
// PROCWATCH_REQUIRE_NATIVE=1 (CI, packagers) to make a failed build exit 1.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const required = process.env.PROCWATCH_REQUIRE_NATIVE === '1';

function finish(ok, line) {
  if (ok) {
    console.log(`build-native: ${line}`);
    process.exit(0);
  }
  console.error(`build-native: ${line}; ${required ? 'PROCWATCH_REQUIRE_NATIVE=1, failing' : 'continuing without it (the /proc poll source will be used)'}`);
  process.exit(required ? 1 : 0);
}

/** npm's own node-gyp: npm passes it in npm_config_node_gyp; otherwise look beside npm. */
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  const prefix = dirname(dirname(process.execPath)); // /usr for /usr/bin/node
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(join(prefix, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  const npmRoot = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' });
  if (npmRoot.status === 0 && npmRoot.stdout.trim() !== '') {
    candidates.push(join(npmRoot.stdout.trim(), 'npm/node_modules/node-gyp/bin/node-gyp.js'));
  }
  for (const from of [import.meta.url, join(prefix, 'lib/node_modules/npm/package.json')]) {
    try {
      candidates.push(createRequire(from).resolve('node-gyp/bin/node-gyp.js'));
    } catch {
      // not resolvable from there
    }
  }
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Headers of the running node, so node-gyp need not download them (no network here). */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

if (process.platform !== 'linux') finish(false, `skipped: the proc connector exists only on Linux (this is ${process.platform})`);
const gyp = findNodeGyp();
if (gyp === null) finish(false, 'node-gyp not found (looked in npm_config_node_gyp and beside npm)');

const result = spawnSync(process.execPath, [gyp, 'rebuild', '--release', ...nodedirArgs()], {
  cwd: nativeDir,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
});
const built = join(nativeDir, 'build/Release/procconn.node');
if (result.status === 0 && existsSync(built)) finish(true, `built ${built}`);

// One clear line; the compiler's own first error says why.
const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
const firstError = output.split('\n').find((l) => /error/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node|not ok)/.test(l));
const why = result.error ? result.error.message : (firstError?.trim() ?? `node-gyp exited ${result.status}`);
finish(false, `native addon build failed: ${why}`);
