/** Shell-style globs (`*`, `?`, `[...]`) as anchored regular expressions. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
}

export function hasGlob(text: string): boolean {
  return /[*?[]/.test(text);
}
