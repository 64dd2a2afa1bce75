/**
 * Shell capture, the user-space half: which bash binaries get a uprobe on readline(), at
 * which file offset (read from each binary's own ELF symbol table, never guessed), and the
 * redaction of what users typed before anything else sees it.
 *
 * A uprobe belongs to a file (an inode), so every bash process running that file is covered,
 * including ones started later. The binaries are the configured paths (default /bin/bash)
 * and the executables of the bash processes running at start (through /proc/PID/exe, which
 * still opens a binary replaced by an upgrade since); the eBPF source adds any new one it
 * sees exec'd later.
 */

import { closeSync, openSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from '../errors.js';

export const DEFAULT_SHELL_BINARIES: readonly string[] = ['/bin/bash'];
/** The function whose return value is the line a user entered. */
export const READLINE_SYMBOL = 'readline';

/** What `[REDACTED]` replaces: the capture groups of a match, or the whole match when it has none. */
export const REDACTED = '[REDACTED]';

/**
 * Default redaction: values of variables and options whose name says secret (PASSWORD=...,
 * MYSQL_PWD=..., api_key=..., --password=...), and the password of a mysql -pSECRET. Case
 * does not matter. `daemon.ebpf.shell_redact` replaces the list (an empty list: none).
 */
export const DEFAULT_SHELL_REDACT: readonly string[] = [
  '/(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|credentials?)[A-Za-z0-9_]*=(\\S+)/i',
  '/(?:^|\\s)--?(?:password|passwd|token|secret)[= ](\\S+)/i',
  '/(?:^|\\s)mysql(?:dump)?\\b.*?\\s-p(\\S+)/',
];

/**
 * Compiles redaction patterns: a JavaScript regular expression as text, optionally written
 * `/source/flags` (flags from i, m, s, u). Throws an InputError naming the bad one.
 */
export function compileRedaction(patterns: readonly string[]): RegExp[] {
  return patterns.map((p) => {
    const m = /^\/(.*)\/([a-z]*)$/s.exec(p);
    if (m !== null && /[^imsu]/.test(m[2]!)) throw new InputError(`the shell redaction pattern '${p}' has flags other than i, m, s and u`);
    const source = m === null ? p : m[1]!;
    // g: every match; d: where each group is, so exactly the groups are replaced.
    const flags = `${m === null ? '' : m[2]!}gd`;
    if (source === '') throw new InputError('a shell redaction pattern is empty');
    try {
      const re = new RegExp(source, flags);
      if (re.test('')) throw new InputError(`the shell redaction pattern '${p}' matches an empty line: it would redact nothing useful`);
      return re;
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`the shell redaction pattern '${p}' is not a regular expression: ${(err as Error).message}`);
    }
  });
}

/**
 * The line with every match of every pattern redacted: a pattern's capture groups are
 * replaced (the name before `=` stays readable), or the whole match when it has none.
 */
export function redactLine(line: string, patterns: readonly RegExp[]): { line: string; redacted: boolean } {
  let out = line;
  for (const re of patterns) {
    // The spans to replace: each match's groups (by their indices), or the match itself.
    const spans: Array<[number, number]> = [];
    re.lastIndex = 0;
    for (let m = re.exec(out); m !== null; m = re.exec(out)) {
      if (m[0] === '') re.lastIndex++; // an empty match would match here forever
      const groups = (m.indices ?? []).slice(1).filter((g): g is [number, number] => g !== undefined && g[1] > g[0]);
      if (m.length > 1) spans.push(...groups);
      else if (m[0] !== '') spans.push([m.index, m.index + m[0].length]);
    }
    for (const [start, end] of spans.sort((a, b) => b[0] - a[0])) out = out.slice(0, start) + REDACTED + out.slice(end);
  }
  return { line: out, redacted: out !== line };
}

// ---- ELF: the file offset of a function symbol ---------------------------------------------------

export type SymbolLookup = { offset: number } | { problem: string };

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const PT_LOAD = 1;
const PF_X = 1;

/** Reads `len` bytes at `pos` of an open file. */
function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) throw new Error(`unexpected end of file at ${pos + got}`);
    got += n;
  }
  return buf;
}

/**
 * The file offset (what a uprobe attaches to) of the function `name` in the 64-bit
 * little-endian ELF file at `path`, from its .symtab or, stripped, its .dynsym. A binary
 * without the symbol, or not such an ELF file, gives a problem instead: never a guess.
 */
export function functionOffset(path: string, name: string): SymbolLookup {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return { problem: `cannot open ${path}: ${(err as Error).message}` };
  }
  try {
    const eh = Buffer.alloc(64);
    if (readSync(fd, eh, 0, 64, 0) < 64 || eh.readUInt32BE(0) !== 0x7f454c46) return { problem: `${path} is not an ELF file` };
    if (eh[4] !== 2 || eh[5] !== 1) return { problem: `${path} is not a 64-bit little-endian ELF file (only those are supported)` };
    const phoff = Number(eh.readBigUInt64LE(32));
    const shoff = Number(eh.readBigUInt64LE(40));
    const phentsize = eh.readUInt16LE(54);
    const phnum = eh.readUInt16LE(56);
    const shentsize = eh.readUInt16LE(58);
    const shnum = eh.readUInt16LE(60);
    if (shoff === 0 || shnum === 0 || shentsize < 64 || phentsize < 56) return { problem: `${path} has no section headers` };
    const sh = readAt(fd, shoff, shnum * shentsize);
    const section = (i: number) => {
      const o = i * shentsize;
      return { type: sh.readUInt32LE(o + 4), offset: Number(sh.readBigUInt64LE(o + 24)), size: Number(sh.readBigUInt64LE(o + 32)), link: sh.readUInt32LE(o + 40), entsize: Number(sh.readBigUInt64LE(o + 56)) };
    };
    let vaddr: number | null = null;
    // The full symbol table first (it has local symbols too), then the dynamic one.
    for (const wanted of [SHT_SYMTAB, SHT_DYNSYM]) {
      for (let i = 0; i < shnum && vaddr === null; i++) {
        const s = section(i);
        if (s.type !== wanted || s.entsize < 24 || s.link >= shnum) continue;
        const strtab = section(s.link);
        const syms = readAt(fd, s.offset, s.size);
        const strs = readAt(fd, strtab.offset, strtab.size);
        const want = Buffer.from(`${name}\0`);
        for (let o = 0; o + 24 <= syms.length; o += s.entsize) {
          const nameOff = syms.readUInt32LE(o);
          const type = syms[o + 4]! & 0xf;
          const shndx = syms.readUInt16LE(o + 6);
          if (shndx === 0 || (type !== STT_FUNC && type !== STT_GNU_IFUNC)) continue;
          if (nameOff + want.length > strs.length || strs.compare(want, 0, want.length, nameOff, nameOff + want.length) !== 0) continue;
          vaddr = Number(syms.readBigUInt64LE(o + 8));
          break;
        }
      }
      if (vaddr !== null) break;
    }
    if (vaddr === null) return { problem: `${path} has no ${name} symbol (bash built without readline, or stripped of it): not watched` };
    const ph = readAt(fd, phoff, phnum * phentsize);
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      if (ph.readUInt32LE(o) !== PT_LOAD || (ph.readUInt32LE(o + 4) & PF_X) === 0) continue;
      const pOffset = Number(ph.readBigUInt64LE(o + 8));
      const pVaddr = Number(ph.readBigUInt64LE(o + 16));
      const pFilesz = Number(ph.readBigUInt64LE(o + 32));
      if (vaddr >= pVaddr && vaddr < pVaddr + pFilesz) return { offset: vaddr - pVaddr + pOffset };
    }
    return { problem: `${path}: ${name} (0x${vaddr.toString(16)}) lies in no executable segment` };
  } catch (err) {
    return { problem: `cannot read ${path} as ELF: ${(err as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

// ---- which binaries --------------------------------------------------------------------------

/** One bash binary: `path` to show, `open` to attach through (may be /proc/PID/exe), and its inode. */
export interface ShellBinary {
  path: string;
  open: string;
  /** `dev:ino`: one uprobe per file, however many paths lead to it. */
  id: string;
}

export function fileId(path: string): string | null {
  try {
    const st = statSync(path);
    return st.isFile() ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

/** The basenames that make an executable a shell to watch: bash, and the configured files' own names. */
export function shellNames(configured: readonly string[]): Set<string> {
  return new Set(['bash', ...configured.map((p) => basename(p))]);
}

/**
 * The configured binaries and those of running shells, one per file. Configured paths that
 * do not exist are returned as problems; a running process that vanishes is skipped.
 */
export function findShellBinaries(configured: readonly string[], procRoot = '/proc'): { binaries: ShellBinary[]; problems: string[] } {
  const seen = new Map<string, ShellBinary>();
  const problems: string[] = [];
  for (const path of configured) {
    const id = fileId(path);
    if (id === null) problems.push(`shell binary ${path} not found: not watched`);
    else if (!seen.has(id)) seen.set(id, { path, open: path, id });
  }
  const names = shellNames(configured);
  let pids: string[] = [];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    // no /proc: only the configured paths
  }
  for (const pid of pids) {
    let target: string;
    try {
      target = readlinkSync(`${procRoot}/${pid}/exe`);
    } catch {
      continue; // a kernel thread, gone, or not ours to read
    }
    const shown = target.replace(/ \(deleted\)$/, '');
    if (!names.has(basename(shown))) continue;
    const open = `${procRoot}/${pid}/exe`;
    const id = fileId(open);
    if (id !== null && !seen.has(id)) seen.set(id, { path: target, open, id });
  }
  return { binaries: [...seen.values()], problems };
}
