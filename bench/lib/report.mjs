/** Tables and machine facts for benchmark output: Markdown, so a run pastes into BENCHMARKS.md. */

import { availableParallelism, cpus, release, totalmem } from 'node:os';

/** A Markdown table; columns align in a terminal too. `align` holds 'l' or 'r' per column. */
export function markdownTable(header, rows, align = header.map(() => 'l')) {
  const cells = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const pad = (text, i) => (align[i] === 'r' ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (r) => `| ${r.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

export const ms = (value) => value.toFixed(1);

/** "1.23×", or "—" when there is nothing to compare with. */
export function ratio(value, base) {
  return base === undefined || base === 0 ? '—' : `${(value / base).toFixed(2)}×`;
}

export function machine() {
  const model = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: availableParallelism(),
    cpu: model,
    memGiB: (totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    node: process.version,
  };
}

export function machineLine(m = machine()) {
  return `${m.date} · ${m.nproc} CPUs (${m.cpu}) · ${m.memGiB} GiB · Linux ${m.kernel} · Node ${m.node}`;
}
