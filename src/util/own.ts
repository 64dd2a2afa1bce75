/**
 * Lookups by a name that came from outside (a URL, a command line, a config file): only the
 * table's own entries count. `table[name]` would also find what every object inherits
 * (`constructor`, `toString`, `__proto__`), which once turned `ps -o __proto__` into an
 * internal error and a glob class `[[:constructor:]]` into a function's source text.
 */
export function own<V>(table: Readonly<Record<string, V>>, name: string): V | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}
