#!/usr/bin/env node
// The web console's build (issue 13): type-check web/ (strict), bundle it with esbuild into
// dist/web/assets with content-hashed names, and write dist/web/index.html naming them.
// The daemon serves dist/web: hashed files immutable, index.html revalidated (src/web/assets.ts).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'web');

const tsc = spawnSync(process.execPath, [join(here, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('web build: type errors in web/ (above)');
  process.exit(1);
}

// Only what this build writes: tsc puts the unit-tested modules of web/src under dist/web/src.
rmSync(join(out, 'assets'), { recursive: true, force: true });
rmSync(join(out, 'index.html'), { force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const result = await build({
  entryPoints: { app: join(here, 'src', 'main.tsx'), login: join(here, 'src', 'login.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const appJs = outputs.find((f) => /^app-\w+\.js$/.test(f));
const appCss = outputs.find((f) => /^app-\w+\.css$/.test(f));
if (appJs === undefined || appCss === undefined || !outputs.some((f) => /^login-\w+\.css$/.test(f))) {
  console.error(`web build: expected app .js/.css and login .css, got ${outputs.join(', ')}`);
  process.exit(1);
}
writeFileSync(join(out, 'index.html'), `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>procwatch</title>
<link rel="stylesheet" href="/assets/${appCss}">
<script type="module" src="/assets/${appJs}"></script>
</head>
<body><div id="app"></div></body>
</html>
`);
console.log(`web build: dist/web/assets/${appJs}, ${appCss}`);
