#!/usr/bin/env node
/**
 * `npm run bench [-- NAME...]`: runs every bench/NAME.bench.mjs scenario in turn, or only the
 * ones named. Each scenario module exports `run({ root, args })` and prints its own tables;
 * it throws (or returns false) when something is wrong, which makes this exit non-zero.
 */

import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// bin/procwatch starts Node without NODE_EXTRA_CA_CERTS (Debian's bundle costs ~40 ms per start).
// Every Node process a benchmark starts besides it (`node -e 0`, the phase scripts) must start the
// same way, or its "Node alone" baseline carries that cost and procwatch's own looks smaller
// (issue 16: the phase tables up to 2026-12-04 did).
delete process.env.NODE_EXTRA_CA_CERTS;

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const available = readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).map((f) => f.slice(0, -'.bench.mjs'.length)).sort();
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`bench: no scenario named ${unknown.join(', ')} (available: ${available.join(', ')})`);
  process.exit(2);
}

let failed = 0;
for (const name of names.length > 0 ? names : available) {
  console.log(`\n=== bench: ${name}`);
  try {
    const module = await import(pathToFileURL(join(here, `${name}.bench.mjs`)).href);
    if ((await module.run({ root, args: process.argv.slice(2) })) === false) failed++;
  } catch (err) {
    failed++;
    console.error(`bench ${name} failed: ${err.stack ?? err}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
