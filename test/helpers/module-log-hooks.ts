/** The resolve hook of module-log.ts (runs on the loader thread): logs each resolved URL. */

import { appendFileSync } from 'node:fs';

let log = '';

export function initialize(data: { log: string }): void {
  log = data.log;
}

type Resolve = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Resolve): Promise<{ url: string }> {
  const result = await next(specifier, context);
  appendFileSync(log, `${result.url}\n`);
  return result;
}
