/**
 * The live process tree: the whole table from /v1/processes?follow=1, then only its changes.
 * Collapsible, searchable (name, exe, user, command line, pid), with CPU and memory from the
 * resource room. A change redraws the visible window only, at most once per frame.
 */

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { openStream } from '../api.js';
import { Link, processPath } from '../router.js';
import { bytes, commandLine, count, visible } from '../text.js';
import { TreeModel, type VisibleRow } from '../tree-model.js';
import type { ProcessStreamMessage } from '../types.js';
import { VirtualList } from '../virtual-list.js';

export function Tree() {
  const model = useMemo(() => new TreeModel(), []);
  const [version, setVersion] = useState(0);
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<{ connected: boolean; synced: boolean; note: string | null }>({ connected: false, synced: false, note: null });
  const firstRender = useRef<number | null>(null);
  const frame = useRef(0);

  useEffect(() => {
    let close: (() => void) | null = null;
    let retry = 0;
    const redraw = (): void => {
      if (frame.current !== 0) return;
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        setVersion(model.version);
      });
    };
    const connect = (): void => {
      close = openStream<ProcessStreamMessage>('/v1/processes', { follow: 1 }, {
        message: (m) => {
          if (m.type === 'reset') model.reset();
          else if (m.type === 'upsert') model.upsert(m.processes);
          else if (m.type === 'remove') model.remove(m.keys);
          else if (m.type === 'synced') setStatus({ connected: true, synced: true, note: null });
          else if (m.type === 'stream_closed') setStatus({ connected: false, synced: false, note: visible(m.reason) });
          if (m.type !== 'synced') redraw();
        },
        state: (open, reason) => {
          if (open) return setStatus((s) => ({ ...s, connected: true }));
          setStatus({ connected: false, synced: false, note: `${reason === undefined ? 'disconnected from the daemon' : visible(reason)}; reconnecting` });
          retry = window.setTimeout(connect, 2000);
        },
      });
    };
    connect();
    return () => {
      close?.();
      window.clearTimeout(retry);
      cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [model]);

  const rows = useMemo(() => model.visible(search), [model, version, search, model.collapsed.size]);

  // Time to the first full draw after the table arrived (the benchmark reads it from the DOM).
  useEffect(() => {
    if (status.synced && firstRender.current === null) {
      requestAnimationFrame(() => {
        firstRender.current = performance.now();
        document.querySelector('[data-testid=tree]')?.setAttribute('data-first-render-ms', String(Math.round(firstRender.current)));
      });
    }
  }, [status.synced, version]);

  const toggle = (key: string): void => {
    model.toggle(key);
    setVersion(model.version);
  };

  return (
    <section class="tree-page">
      <h1>Process tree</h1>
      <div class="toolbar">
        <input type="search" placeholder="search name, exe, user, command line, pid" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} aria-label="search" data-testid="tree-search" />
        <span class="muted" data-testid="tree-count">{count(model.rows.size)} processes{search.trim() !== '' ? `, ${count(rows.filter((r) => r.match).length)} match` : ''}</span>
        <span class={`status ${status.connected ? 'ok' : 'bad'}`}>{status.connected ? (status.synced ? 'live' : 'loading…') : 'offline'}</span>
        {status.note !== null && <span class="error">{status.note}</span>}
      </div>
      <div class="tree-head row-grid"><span>process</span><span>pid</span><span>user</span><span>CPU %</span><span>RSS</span><span>command line</span></div>
      <VirtualList items={rows} class="tree" testId="tree" row={(r) => <TreeRow r={r} collapsed={model.collapsed.has(r.row.key)} toggle={toggle} />} />
    </section>
  );
}

function TreeRow({ r, collapsed, toggle }: { r: VisibleRow; collapsed: boolean; toggle: (key: string) => void }) {
  const p = r.row;
  return (
    <div class={`row-grid tree-row${r.match ? ' match' : ''}`} data-key={p.key} data-pid={p.pid}>
      <span class="name" style={{ paddingLeft: `${r.depth * 14}px` }}>
        {r.children > 0
          ? <button class="twisty" aria-label={collapsed ? 'expand' : 'collapse'} aria-expanded={!collapsed} onClick={() => toggle(p.key)}>{collapsed ? '▸' : '▾'}</button>
          : <span class="twisty" />}
        <Link href={processPath(p.key)} title={visible(p.exe)}>{visible(p.comm) || '?'}</Link>
        {collapsed && <span class="muted"> (+{r.children})</span>}
      </span>
      <span class="num">{p.pid}</span>
      <span>{visible(p.user)}</span>
      <span class="num">{p.cpuPct === null ? '–' : p.cpuPct.toFixed(1)}</span>
      <span class="num">{bytes(p.rssBytes)}</span>
      <span class="cmd" title={commandLine(p.argv)}>{commandLine(p.argv, p.comm)}</span>
    </div>
  );
}
