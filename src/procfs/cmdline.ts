/** Parser for /proc/PID/cmdline: NUL-separated arguments, usually NUL-terminated. */

export function parseCmdline(raw: Buffer): string[] {
  if (raw.length === 0) return [];
  const end = raw[raw.length - 1] === 0 ? raw.length - 1 : raw.length;
  return raw.toString('utf8', 0, end).split('\0');
}
