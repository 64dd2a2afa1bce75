#!/usr/bin/env node
// The commands people run by hand or from a monitor every few seconds pay Node's module loading
// at every start (issue 16): `check` loaded ~40 ES modules and Commander, ~30 ms over Node's own
// start. This build puts each such command's modules and Commander into one CommonJS file,
// dist/src/cli/NAME.cjs, and saves V8's compiled code for it beside it (NAME.cjs.cache):
// bin/procwatch runs those commands from them, so neither Node's module loader nor the parser
// runs. Every other command (the daemon first) keeps the ES modules.
//
// Run after tsc (npm run build). It bundles what tsc wrote, so the two cannot drift; a file's
// first line names a hash of its text, and its cache starts with the same hash: a cache from
// another build is never used. A cache V8 rejects (another Node version) only costs the parse.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli');

/**
 * name: the bundle (bin/procwatch maps command names to it); module: the command module of
 * cli/program.js it holds; trial: a run of it whose compiled code the cache keeps (read-only).
 */
const BUNDLES = [
  { name: 'check', module: './check.js', trial: ['check', 'procwatch-build:0-', 'init:0-'] },
  { name: 'ps', module: './ps.js', trial: ['ps', '--no-daemon', '-p', '1'] },
];

/** The file runs in a vm.Script: see the comments inside for what that excludes. */
function onlyCommand(module) {
  return {
    name: 'only-command',
    setup(b) {
      // An import() there would need Node's experimental loader hook (and is refused with a code
      // cache): none may remain. program.js imports each command on demand; only this bundle's
      // goes in, the others are never reached by its commands and become an error saying so.
      // A package imported on demand (yaml, for --config) is required instead: all are CommonJS.
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind !== 'dynamic-import' || args.path === module) return undefined;
        return { path: args.path, namespace: args.path.startsWith('.') ? 'elsewhere' : 'required' };
      });
      b.onLoad({ filter: /.*/, namespace: 'elsewhere' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`${args.path} is not in this bundle (scripts/build-bundles.mjs)`)});`,
        loader: 'js',
      }));
      b.onLoad({ filter: /.*/, namespace: 'required' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js', resolveDir: cli }));
      b.onResolve({ filter: /.*/, namespace: 'required' }, (args) => ({ path: args.path, external: true }));
      // cli/commander.js requires Commander through createRequire, which a bundler cannot follow.
      b.onLoad({ filter: /[/\\]dist[/\\]src[/\\]cli[/\\]commander\.js$/ }, () => ({ contents: "export { Command, Option, CommanderError } from 'commander';", resolveDir: cli }));
      // Commander needs child_process only to run external subcommands, which procwatch has none
      // of: loading it costs ~3 ms of every start, so it is loaded on first use.
      b.onResolve({ filter: /^(node:)?child_process$/ }, (args) => (args.importer.includes('node_modules/commander/') ? { path: 'child_process', namespace: 'lazy' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
        contents: "let loaded; module.exports = new Proxy({}, { get: (_, name) => (loaded ??= require('node:child_process'))[name] });",
        loader: 'js',
      }));
    },
  };
}

const manifest = {};
for (const { name, module, trial } of BUNDLES) {
  const out = join(cli, `${name}.cjs`);
  const cache = `${out}.cache`;
  rmSync(cache, { force: true });
  const result = await build({
    entryPoints: [join(cli, 'run.js')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    outfile: out,
    metafile: true,
    logLevel: 'warning',
    plugins: [onlyCommand(module)],
    // Every module of ours sits in a folder of dist/src, as this file does: URLs made relative
    // to import.meta.url (package.json) resolve the same from here.
    define: { 'import.meta.url': '__bundleUrl' },
    banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  const text = result.outputFiles[0].text;
  if (/\bimport\(/.test(text.replace(/\/\/.*|\/\*[^]*?\*\//g, ''))) {
    console.error(`${name} bundle: an import() is left in it, which the launcher cannot run (see onlyCommand)`);
    process.exit(1);
  }
  const id = createHash('sha256').update(text).digest('hex').slice(0, 16);
  writeFileSync(`${out}.tmp`, `// procwatch-bundle ${id}\n${text}`);
  renameSync(`${out}.tmp`, out);
  // Which modules went in, for test/cli/startup.test.ts (check must not hold the store, rules, ...).
  const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes(':')).map((p) => p.replace(/^.*?dist\/src\//, 'dist/src/'));
  manifest[name] = { id, bytes: Buffer.byteLength(text), inputs };

  // The code cache: V8 saves what it compiled while the launcher ran the trial (it writes it when
  // PROCWATCH_BUILD_CODE_CACHE names a file), so a later start deserialises instead of parsing.
  const env = { ...process.env, PROCWATCH_BUILD_CODE_CACHE: `${cache}.tmp` };
  delete env.NODE_OPTIONS; // V8 refuses a cache made under other flags
  const run = spawnSync(process.execPath, [join(root, 'bin', 'procwatch'), ...trial], { env, encoding: 'utf8' });
  const size = `${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB, ${inputs.length} modules`;
  if (run.status !== 0 || !existsSync(`${cache}.tmp`)) {
    // Only speed is lost (the launcher parses the file instead): say so, and do not fail the build.
    rmSync(`${cache}.tmp`, { force: true });
    console.error(`${name} bundle: ${size}; no code cache: procwatch ${trial.join(' ')} exited ${run.status}: ${(run.stderr.trim() || run.stdout.trim()).split('\n')[0]}`);
  } else {
    renameSync(`${cache}.tmp`, cache);
    console.log(`${name} bundle: ${size}, code cache ${(readFileSync(cache).length / 1024).toFixed(0)} KiB`);
  }
}
writeFileSync(join(root, 'dist', 'bundles.json'), `${JSON.stringify(manifest, null, 2)}\n`);
