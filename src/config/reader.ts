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
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isSafeInteger(v))) {
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

/** Where config warnings go: one line each on stderr, naming the file. */
export type WarningSink = (line: string) => void;
export const stderrWarnings: WarningSink = (line) => void process.stderr.write(`procwatch: ${line}\n`);

/** The yaml library's first line ends in ':' before a multi-line excerpt that is left out here. */
function firstLine(message: string): string {
  return message.split('\n')[0]?.replace(/:$/, '') ?? message;
}

/**
 * Parses YAML text into a plain mapping, or fails with one line. The library's warnings (an
 * unknown tag, ...) become one line each through `warn`, never Node's multi-line
 * "(node:PID) YAMLWarning" text.
 */
export async function parseYamlMapping(r: ConfigReader, text: string, warn: WarningSink = stderrWarnings): Promise<Plain> {
  const { parseDocument } = await import('yaml'); // loaded only when a config is used: it costs startup time
  let doc: unknown;
  try {
    const parsed = parseDocument(text, { logLevel: 'silent' });
    const error = parsed.errors[0];
    if (error !== undefined) throw error;
    for (const w of parsed.warnings) warn(`config ${r.file}: YAML warning: ${firstLine(w.message)}`);
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return r.fail('YAML', firstLine((err as Error).message) || 'cannot parse');
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
