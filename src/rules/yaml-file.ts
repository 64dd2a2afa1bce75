/**
 * A YAML file read with the line of every value, so an error in a rule file names
 * `file:line` (a config path alone is hard to find in a 500-line rules directory).
 */

import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';

export type Path = ReadonlyArray<string | number>;

export interface LocatedYaml {
  file: string;
  value: unknown;
  /** 1-based line of the value at `path`, or of its nearest ancestor that exists. */
  lineOf(path: Path): number;
  /** 1-based line of the first `needle` in the source of the value at `path` (a folded scalar's text is not its source), else lineOf. */
  lineOfText(path: Path, needle: string): number;
}

/** The one error of a rule file: `file:line: what`. */
export class RuleFileError extends InputError {
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

export async function parseLocatedYaml(text: string, file: string): Promise<LocatedYaml> {
  const { parseDocument, LineCounter } = await import('yaml');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0]?.line ?? lines.linePos(first.pos[0]).line;
    throw new RuleFileError(file, line, `YAML: ${first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? 'cannot parse'}`);
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const located: LocatedYaml = {
    file,
    value,
    lineOf(path: Path): number {
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
        if (node !== undefined && node !== null && typeof node === 'object' && node.range !== undefined) return lines.linePos(node.range[0]).line;
      }
      return 1;
    },
    lineOfText(path: Path, needle: string): number {
      const self = located;
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      if (node === undefined || node === null || typeof node !== 'object' || node.range === undefined || needle === '') return self.lineOf(path);
      const at = text.slice(node.range[0], node.range[1]).indexOf(needle);
      return at < 0 ? self.lineOf(path) : lines.linePos(node.range[0] + at).line;
    },
  };
  return located;
}

export async function readLocatedYaml(file: string): Promise<LocatedYaml> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RuleFileError(file, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseLocatedYaml(text, file);
}
