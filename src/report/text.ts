/**
 * Process-controlled text (shell lines, names, paths) as it may go to a terminal: control
 * characters (C0, DEL, C1) and the Unicode controls that reorder or hide text (bidi
 * embeddings and isolates, zero-width marks) become visible escapes, and a backslash is
 * doubled so that an escape in the output cannot be forged by the input. Printable text,
 * spaces and non-ASCII letters are kept as they are.
 */

const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g;
const NAMED: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function escapeText(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? (c.charCodeAt(0) < 0x100 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u{${c.charCodeAt(0).toString(16)}}`));
}
