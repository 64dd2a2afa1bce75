/**
 * Process-controlled text (comm, argv, paths, messages) as the console shows it. It is always
 * put in the page as text (Preact text nodes; the CSP forbids markup from strings besides), and
 * its invisible characters are made visible the way the CLI shows them: a terminal escape
 * cannot hide, a newline cannot forge a row, a bidi override cannot reorder what is read.
 */

// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\\\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

export function visible(text: string | null | undefined): string {
  if (text === null || text === undefined) return '';
  INVISIBLE.lastIndex = 0;
  if (!INVISIBLE.test(text)) return text;
  return text.replace(INVISIBLE, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\x1b') return '\\e';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A command line as one line: arguments joined by spaces, each made visible. */
export function commandLine(argv: readonly string[] | null | undefined, fallback?: string | null): string {
  if (argv === null || argv === undefined || argv.length === 0) return fallback === null || fallback === undefined ? '' : `[${visible(fallback)}]`;
  return argv.map((a) => visible(a)).join(' ');
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${Math.round(seconds % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}

export function count(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : n.toLocaleString('en-US');
}

/** Local wall time of an ISO timestamp, with milliseconds. */
export function clock(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return visible(iso);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function dateTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return visible(iso);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock(iso)}`;
}
