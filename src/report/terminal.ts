/**
 * What the terminal a text renderer writes to allows: colours (only on a terminal, never with
 * NO_COLOR set or TERM=dumb) and its width (lines are cut to it on a terminal, as ps and pstree
 * do; whole with -w, or when the output is a pipe or a file).
 */

export interface TextStyle {
  color: boolean;
  /** Cut lines to this many columns; null: print them whole. */
  width: number | null;
}

/** Plain text, whole lines: pipes, files, the daemon's own renderings, tests. */
export const PLAIN: TextStyle = { color: false, width: null };

interface Terminal {
  isTTY?: boolean;
  columns?: number;
}

/** `NO_COLOR` (https://no-color.org): present and not empty means no colour. */
export function colorAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.NO_COLOR === undefined || env.NO_COLOR === '') && env.TERM !== 'dumb';
}

export function terminalStyle(stream: Terminal = process.stdout, options: { wide?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): TextStyle {
  const tty = stream.isTTY === true;
  return {
    color: tty && colorAllowed(env),
    width: tty && options.wide !== true ? Math.max(20, stream.columns ?? 80) : null,
  };
}

/** SGR codes used: few, and only where they carry meaning. */
export const SGR = { bold: '1', dim: '2', red: '31', green: '32', yellow: '33', blue: '34', magenta: '35', cyan: '36', redBold: '1;31' } as const;

export function paint(style: TextStyle, sgr: string, text: string): string {
  return style.color && text !== '' ? `\x1b[${sgr}m${text}\x1b[0m` : text;
}

/**
 * A line cut to `width` visible columns. The only escape sequences in a rendered line are the
 * renderer's own SGR colours (everything a process controls is escaped first), so they are
 * the only ones skipped when counting; a line cut inside a colour is reset at the end.
 */
export function fitLine(line: string, width: number | null): string {
  if (width === null || line.length <= width) return line;
  let visible = 0;
  let i = 0;
  let colored = false;
  while (i < line.length) {
    if (line.charCodeAt(i) === 0x1b) {
      const end = line.indexOf('m', i);
      if (end < 0) break;
      colored = line.slice(i, end + 1) !== '\x1b[0m';
      i = end + 1;
      continue;
    }
    const cp = line.codePointAt(i)!;
    if (visible === width) return line.slice(0, i) + (colored ? '\x1b[0m' : '');
    visible++;
    i += cp > 0xffff ? 2 : 1;
  }
  return line;
}

/** Every line of a text cut to the width (a no-op for whole lines). */
export function fitText(text: string, width: number | null): string {
  if (width === null) return text;
  return text.split('\n').map((l) => fitLine(l, width)).join('\n');
}
