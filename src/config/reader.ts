/** Shared validation helpers for YAML config files: every error names the file and the key path. */

import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';

export type Plain = Record<string, unknown>;

export function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ConfigReader {
  constructor(readonly file: string) {}

  fail(path: string, message: string): never {
    throw new InputError(`config ${this.file}: ${path}: ${message}`);
  }

  keys(obj: Plain, path: string, allowed: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) this.fail(path, `unknown key '${key}' (expected one of: ${allowed.join(', ')})`);
    }
  }

  string(v: unknown, path: string): string {
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string' || v === '') this.fail(path, 'expected a non-empty string');
    return v;
  }

  /** A number ≥ min; with `max`, at most that; with `integer`, a whole number. */
  number(v: unknown, path: string, min = 0, limits: { max?: number; integer?: boolean } = {}): number {
    const { max = Infinity, integer = false } = limits;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      this.fail(path, `expected ${integer ? 'an integer' : 'a number'} ≥ ${min}${max === Infinity ? '' : ` and ≤ ${max}`}`);
    }
    return v;
  }

  strings(v: unknown, path: string): string[] {
    if (!Array.isArray(v)) this.fail(path, 'expected a list');
    return v.map((item, i) => this.string(item, `${path}[${i}]`));
  }

  boolean(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'expected true or false');
    return v;
  }

  /** InputErrors from spec parsers get the config path in front. */
  wrap<T>(path: string, build: () => T): T {
    try {
      return build();
    } catch (err) {
      if (err instanceof InputError) this.fail(path, err.message);
      throw err;
    }
  }
}

/** Parses YAML text into a plain mapping, or fails with one line. */
export async function parseYamlMapping(r: ConfigReader, text: string): Promise<Plain> {
  const { parse } = await import('yaml'); // loaded only when a config is used: it costs startup time
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    // The yaml library's first line ends in ':' before a multi-line excerpt that is left out here.
    return r.fail('YAML', (err as Error).message.split('\n')[0]?.replace(/:$/, '') ?? 'cannot parse');
  }
  if (doc === null || doc === undefined) r.fail('top level', 'the file is empty');
  if (!isPlain(doc)) r.fail('top level', 'expected a mapping');
  return doc;
}

export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`config ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
