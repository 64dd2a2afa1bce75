/**
 * The console's static files, built by `npm run build` (web/build.mjs) into dist/web and read
 * into memory once when the console starts (a few hundred KiB, gzipped once too). Hashed names
 * under /assets/ never change content: they are cached for a year, immutable; index.html is
 * revalidated on every load (no-cache with an ETag), so a new build is picked up at once.
 */

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  cacheControl: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/** dist/web, beside dist/src (this file is dist/src/web/assets.js once compiled). */
export const DEFAULT_ASSET_DIR = fileURLToPath(new URL('../../web', import.meta.url));

export const IMMUTABLE = 'public, max-age=31536000, immutable';

export class WebAssets {
  readonly index: Asset;
  /** URL path (/assets/NAME-HASH.ext) → file. */
  private readonly files = new Map<string, Asset>();
  /** The stylesheet of the login page: the one file served before login. */
  readonly loginCss: string;

  constructor(dir = DEFAULT_ASSET_DIR) {
    const indexPath = join(dir, 'index.html');
    if (!existsSync(indexPath)) throw new Error(`the web console's files are not built (no ${indexPath}): run npm run build`);
    this.index = load(readFileSync(indexPath), '.html', 'no-cache');
    let loginCss: string | null = null;
    for (const name of readdirSync(join(dir, 'assets'))) {
      const ext = extname(name);
      if (TYPES[ext] === undefined) continue;
      this.files.set(`/assets/${name}`, load(readFileSync(join(dir, 'assets', name)), ext, IMMUTABLE));
      if (/^login-[\w-]+\.css$/.test(name)) loginCss = `/assets/${name}`;
    }
    if (loginCss === null) throw new Error(`the web console's files in ${dir} are incomplete (no login stylesheet): run npm run build`);
    this.loginCss = loginCss;
  }

  get(path: string): Asset | undefined {
    return this.files.get(path);
  }
}

function load(body: Buffer, ext: string, cacheControl: string): Asset {
  const type = TYPES[ext]!;
  const compressible = ext !== '.png';
  return {
    body, type, cacheControl,
    gzip: compressible && body.length > 1024 ? gzipSync(body, { level: 9 }) : null,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
  };
}
