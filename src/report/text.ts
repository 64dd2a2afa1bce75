/**
 * The one place where text that a process controls becomes safe to print. A process chooses its
 * own comm, argv and (for a script) its name, and any local user can run one: raw, a newline
 * forges an output row, an ESC or OSC sequence drives the reader's terminal (clears the screen,
 * writes the clipboard with OSC 52), a bidi override reorders what is shown. Every text renderer
 * passes such strings through `escapeText` (names, paths, labels, reasons) or `commandLine`
 * (argv); JSON output never does, it is exact and its encoder escapes for it.
 *
 * The rules (README "Escaping"): C0 controls, DEL and C1 controls print as `\n`, `\t`, `\r`, `\e`
 * or `\xNN`; invisible formatting characters (bidi overrides and isolates, zero-width characters,
 * line and paragraph separators, BOM) as `\u{NNNN}`. A backslash is left alone in names and paths,
 * so escaping is idempotent: a line may be escaped again as a whole (mon and Nagios output are).
 * In a command line a word with any of these, with a space, a quote or a shell metacharacter, or
 * an empty word, is quoted as `printf %q` would: `'two words'`, `$'legit\n12:34'`, `''`.
 */

/** Everything that is escaped; `u` so that astral characters are single code points. */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff]/gu;
const UNSAFE_ONE = new RegExp(UNSAFE.source, 'u');

const NAMED: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\x1b': '\\e' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.codePointAt(0)!;
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A string a process controls, safe to print on a terminal line: see the rules above. */
export function escapeText(text: string): string {
  return UNSAFE_ONE.test(text) ? text.replace(UNSAFE, escapeChar) : text;
}

/** `escapeText`, with null (unknown) shown as `fallback`. */
export function escapeOr(text: string | null | undefined, fallback: string): string {
  return text === null || text === undefined ? fallback : escapeText(text);
}

/** Characters that make a word need quotes: whitespace of any kind, quotes, shell syntax. */
const NEEDS_QUOTES = /[\s'"\\$`;&|<>()*?[\]{}!]|^[#~]/u;

/** One argv word as `printf %q` would show it: bare when it can be, else quoted. */
export function shellWord(word: string): string {
  if (word === '') return "''";
  if (UNSAFE_ONE.test(word)) {
    // ANSI-C quoting: the only form in which a control character can be written back.
    return `$'${word.replace(/[\\']/g, (c) => `\\${c}`).replace(UNSAFE, escapeChar)}'`;
  }
  if (!NEEDS_QUOTES.test(word)) return word;
  return `'${word.replace(/'/g, "'\\''")}'`;
}

/**
 * A command line as the process gave it, one line, each word quoted where it must be: what was
 * one argument stays visibly one (`sh -c 'sleep 1'`), and an empty word is visible.
 */
export function commandLine(argv: readonly string[]): string {
  let out = '';
  for (let i = 0; i < argv.length; i++) out += (i === 0 ? '' : ' ') + shellWord(argv[i]!);
  return out;
}
