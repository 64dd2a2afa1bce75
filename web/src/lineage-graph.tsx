/**
 * A process's lineage as a graph: its ancestors in a chain above it, its descendants as a
 * tree below (leaves side by side, each parent centred over its children). SVG, with every
 * name put in as text. Large families are cut at MAX_NODES, and the cut is said.
 */

import { navigate, processPath } from './router.js';
import { visible } from './text.js';
import type { Lineage, StoredProcess } from './types.js';

const W = 150;
const H = 38;
const GAP_X = 14;
const GAP_Y = 26;
const MAX_NODES = 300;

interface Node {
  p: StoredProcess;
  x: number;
  y: number;
  self: boolean;
}

export function LineageGraph({ lineage }: { lineage: Lineage }) {
  const shown = lineage.descendants.slice(0, MAX_NODES);
  const children = new Map<string, StoredProcess[]>();
  const inGraph = new Set<string>([lineage.process.key, ...shown.map((d) => d.key)]);
  for (const d of shown) {
    const parent = d.parentKey !== null && inGraph.has(d.parentKey) ? d.parentKey : lineage.process.key;
    const list = children.get(parent) ?? [];
    list.push(d);
    children.set(parent, list);
  }
  const nodes: Node[] = [];
  const edges: Array<[Node, Node]> = [];
  const ancestors = [...lineage.ancestors].reverse(); // the root first
  const top = ancestors.length;
  let nextLeaf = 0;
  // Depth-first placement; a key is placed once (a cycle in bad data cannot loop).
  const placed = new Set<string>();
  const place = (p: StoredProcess, depth: number, self: boolean): Node => {
    placed.add(p.key);
    const kids = (children.get(p.key) ?? []).filter((c) => !placed.has(c.key));
    const placedKids = kids.map((c) => place(c, depth + 1, false));
    const x = placedKids.length === 0 ? nextLeaf++ * (W + GAP_X) : (placedKids[0]!.x + placedKids.at(-1)!.x) / 2;
    const node: Node = { p, x, y: (top + depth) * (H + GAP_Y), self };
    nodes.push(node);
    for (const k of placedKids) edges.push([node, k]);
    return node;
  };
  const self = place(lineage.process, 0, true);
  let below: Node = self;
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const a: Node = { p: ancestors[i]!, x: self.x, y: i * (H + GAP_Y), self: false };
    nodes.push(a);
    edges.push([a, below]);
    below = a;
  }
  const width = Math.max(...nodes.map((n) => n.x)) + W + 2;
  const height = Math.max(...nodes.map((n) => n.y)) + H + 2;
  return (
    <div class="lineage">
      <svg width={width} height={height} viewBox={`-1 -1 ${width} ${height}`} role="img" aria-label="lineage graph" data-testid="lineage-graph">
        {edges.map(([a, b], i) => <path key={`e${i}`} class="edge" d={`M${a.x + W / 2},${a.y + H} C${a.x + W / 2},${a.y + H + GAP_Y / 2} ${b.x + W / 2},${b.y - GAP_Y / 2} ${b.x + W / 2},${b.y}`} />)}
        {nodes.map((n) => (
          <g key={n.p.key} class={`node${n.self ? ' self' : ''}${n.p.exitTime === null ? ' alive' : ' gone'}`} transform={`translate(${n.x},${n.y})`}
            onClick={() => navigate(processPath(n.p.key))} data-key={n.p.key}>
            <title>{`${visible(n.p.exe ?? n.p.comm)} (${n.p.key})`}</title>
            <rect width={W} height={H} rx={5} />
            <text x={8} y={16} class="node-name">{clip(visible(n.p.comm) || '?', 18)}</text>
            <text x={8} y={31} class="node-pid">{`pid ${n.p.pid}${n.p.exitTime === null ? '' : ' · exited'}`}</text>
          </g>
        ))}
      </svg>
      {(lineage.truncated || lineage.descendants.length > MAX_NODES) && <p class="muted">Only the first {Math.min(MAX_NODES, lineage.descendants.length)} descendants are drawn (breadth first); the list below has them all.</p>}
    </div>
  );
}

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
