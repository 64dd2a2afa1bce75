/**
 * Regular expressions from users (check specs, globs turned into regexes), compiled so that
 * every failure is a short reason and never the pattern itself: a 70 KB pattern once came
 * back whole inside an "internal error". V8 compiles a pattern lazily, at its first match,
 * and some limits ("Regular expression too large") only show then: one match forces it here.
 */

/** The reason a pattern was refused, without the pattern (V8 quotes it whole). */
export function regexProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^Invalid regular expression: \/[\s\S]*\/[a-z]*: /, '').slice(0, 200);
}

/** Compiles and checks a pattern now; throws an Error whose message is the short reason. */
export function compileRegExp(source: string, flags = ''): RegExp {
  try {
    const re = new RegExp(source, flags);
    re.test('');
    return re;
  } catch (err) {
    throw new Error(regexProblem(err));
  }
}

/** A value quoted in an error message, cut so that the message stays one short line. */
export function quoteShort(value: string, max = 60): string {
  return value.length <= max ? `'${value}'` : `'${value.slice(0, max)}...' (${value.length} characters)`;
}
