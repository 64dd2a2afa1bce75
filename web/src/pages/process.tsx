/** A process by key, live or long gone: identity, ids, image, cgroup, exit, lifetime, events, lineage and resource plots. */

import type uPlot from 'uplot';
import { getJson } from '../api.js';
import { eventSummary } from '../event-summary.js';
import { usePoll } from '../hooks.js';
import { LineageGraph } from '../lineage-graph.js';
import { colourOf, Plot } from '../plot.js';
import { Link, processPath } from '../router.js';
import { bytes, clock, commandLine, dateTime, duration, visible } from '../text.js';
import type { ApiEvent, Lineage, StoredProcess } from '../types.js';

interface Series {
  samples: Array<{ time: string; cpuPct: number | null; rssBytes: number | null }>;
}

export function ProcessPage({ processKey }: { processKey: string }) {
  const proc = usePoll((s) => getJson<{ process: StoredProcess }>(`/v1/processes/${encodeURIComponent(processKey)}`, {}, s), 5000, [processKey]);
  const lineage = usePoll((s) => getJson<Lineage>(`/v1/lineage/${encodeURIComponent(processKey)}`, {}, s), 10_000, [processKey]);
  const events = usePoll((s) => getJson<{ events: ApiEvent[]; truncated: boolean }>('/v1/events', { key: processKey, limit: 500 }, s), 5000, [processKey]);
  const series = usePoll((s) => getJson<Series>(`/v1/resources/${encodeURIComponent(processKey)}`, { since: '24h' }, s), 15_000, [processKey]);

  if (proc.error !== null && proc.data === null) return <section><h1>Process {visible(processKey)}</h1><p class="error" role="alert">{proc.error}</p></section>;
  const p = proc.data?.process;
  if (p === undefined) return <section><h1>Process {visible(processKey)}</h1><p class="muted">loading…</p></section>;
  const live = p.exitTime === null;
  const lifetime = p.startTime === null ? null : ((p.exitTime === null ? Date.now() : Date.parse(p.exitTime)) - Date.parse(p.startTime)) / 1000;
  const samples = series.data?.samples ?? [];
  const times = samples.map((s) => Date.parse(s.time) / 1000);
  const cpu: uPlot.AlignedData = [times, samples.map((s) => s.cpuPct)];
  const rss: uPlot.AlignedData = [times, samples.map((s) => s.rssBytes)];
  return (
    <section class="process-page" data-testid="process-page">
      <h1><span data-testid="process-comm">{visible(p.comm) || '?'}</span> <span class="muted">pid {p.pid} · key {visible(p.key)}</span> <span class={`badge ${live ? 'ok' : 'gone'}`} data-testid="process-state">{live ? 'running' : 'exited'}</span></h1>
      <div class="columns">
        <dl class="facts">
          <dt>command line</dt><dd class="cmd" data-testid="process-argv">{commandLine(p.argv, p.comm)}</dd>
          <dt>executable</dt><dd data-testid="process-exe">{visible(p.exe) || '–'}</dd>
          <dt>cwd</dt><dd>{visible(p.cwd) || '–'}</dd>
          <dt>parent</dt><dd>{p.parentKey === null ? (p.ppid ?? '–') : <Link href={processPath(p.parentKey)}>{p.ppid} ({visible(p.parentKey)})</Link>}</dd>
          <dt>user</dt><dd>{visible(p.user) || '–'} (uid {ids(p.uid, p.euid, p.suid, p.fsuid)}; gid {ids(p.gid, p.egid, p.sgid, p.fsgid)})</dd>
          <dt>label</dt><dd>{visible(p.label) || '–'}</dd>
          <dt>cgroup</dt><dd>{visible(p.cgroup) || '–'}</dd>
          {p.unit != null && [<dt key="ut">unit</dt>, <dd key="ud">{visible(p.unit)}</dd>]}
          {p.container != null && [<dt key="ct">container</dt>, <dd key="cd">{visible(p.container)}{p.containerRuntime != null ? ` (${visible(p.containerRuntime)})` : ''}</dd>]}
        </dl>
        <dl class="facts">
          <dt>started</dt><dd>{dateTime(p.startTime)} ({visible(p.origin)})</dd>
          <dt>exec</dt><dd>{dateTime(p.execTime)}</dd>
          <dt>exited</dt><dd data-testid="process-exit">{live ? 'running' : `${dateTime(p.exitTime)}: ${exitText(p)}${p.exitOrigin === 'inferred' ? ' (inferred)' : ''}`}</dd>
          <dt>lifetime</dt><dd>{duration(lifetime)}{live ? ' so far' : ''}</dd>
          {p.threads !== undefined && [<dt key="tt">threads</dt>, <dd key="td">{p.threads + 1}</dd>]}
          {p.usage !== null && [<dt key="cput">CPU used</dt>, <dd key="cpud">{duration(p.usage.cpuSeconds as number | null)}</dd>, <dt key="rsst">peak RSS</dt>, <dd key="rssd">{bytes(p.usage.maxRssBytes as number | null)}</dd>]}
        </dl>
      </div>
      <h2>Lineage</h2>
      {lineage.data === null ? <p class="muted">{lineage.error ?? 'loading…'}</p> : <LineageGraph lineage={lineage.data} />}
      <h2>CPU and memory</h2>
      {series.status === 404 || (series.error !== null && series.data === null) ? <p class="muted">No resource history: {series.error}</p>
        : samples.length === 0 ? <p class="muted">No resource samples recorded for this process (yet).</p> : (
          <div class="columns">
            <Plot title="CPU %" series={[{ label: 'CPU %', stroke: colourOf('cpu') }]} data={cpu} height={180} />
            <Plot title="Resident memory" series={[{ label: 'RSS', stroke: colourOf('rss') }]} data={rss} height={180} format={(v) => bytes(v)} />
          </div>
        )}
      <h2>Events</h2>
      {events.data === null ? <p class="muted">{events.error ?? 'loading…'}</p> : (
        <table class="events-table" data-testid="process-events">
          <thead><tr><th>time</th><th>kind</th><th>details</th></tr></thead>
          <tbody>{events.data.events.map((e) => <tr key={`${e.id ?? e.seq}`}><td class="num">{clock(e.time)}</td><td><span class="kind">{visible(e.kind)}</span></td><td class="cmd">{eventSummary(e)}</td></tr>)}</tbody>
        </table>
      )}
    </section>
  );
}

function ids(...v: Array<number | null>): string {
  return v.map((x) => (x === null ? '?' : String(x))).join('/');
}

function exitText(p: StoredProcess): string {
  if (p.exitSignal !== null) return `signal ${p.exitSignal}${p.coreDumped ? ' (core dumped)' : ''}`;
  if (p.exitCode !== null) return `code ${p.exitCode}`;
  return 'status unknown';
}
