/** Overview: events per second by kind (live), losses, the table, the store, alerts and checks, the source and its limits. */

import { useEffect, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import { getJson } from '../api.js';
import { usePoll } from '../hooks.js';
import { colourOf, Plot } from '../plot.js';
import { Link } from '../router.js';
import { bytes, count, duration, visible } from '../text.js';
import type { Alert, CheckState, Health, Stats } from '../types.js';

/** Points kept on the plot: two minutes at one a second. */
const WINDOW = 120;

interface RateHistory {
  times: number[];
  byKind: Map<string, Array<number | null>>;
  last: { at: number; counts: Record<string, number> } | null;
}

export function Overview() {
  const health = usePoll((s) => getJson<Health>('/v1/health', {}, s), 0);
  const [stats, setStats] = useState<Stats | null>(null);
  const [error, setError] = useState<string | null>(null);
  const history = useRef<RateHistory>({ times: [], byKind: new Map(), last: null });
  const [data, setData] = useState<uPlot.AlignedData>([[]]);
  const [kinds, setKinds] = useState<string[]>([]);

  useEffect(() => {
    const abort = new AbortController();
    let timer = 0;
    const tick = async (): Promise<void> => {
      try {
        const s = await getJson<Stats>('/v1/stats', { counts: 0 }, abort.signal);
        setStats(s);
        setError(null);
        record(history.current, s.eventsByKind, Date.now());
        const h = history.current;
        const names = [...h.byKind.keys()].sort();
        setKinds((old) => (old.join() === names.join() ? old : names));
        setData([h.times.slice(), ...names.map((k) => h.byKind.get(k)!.slice())] as uPlot.AlignedData);
      } catch (err) {
        if (!abort.signal.aborted) setError((err as Error).message);
      }
      if (!abort.signal.aborted) timer = window.setTimeout(() => void tick(), 1000);
    };
    void tick();
    return () => {
      abort.abort();
      window.clearTimeout(timer);
    };
  }, []);

  const checks = usePoll((s) => getJson<{ checks: CheckState[] }>('/v1/checks', {}, s), 5000);
  const alerts = usePoll((s) => getJson<{ alerts: Alert[] }>('/v1/alerts', { since: '1h', limit: 1000 }, s), 5000);
  const failing = checks.data?.checks.filter((c) => c.state !== 'ok') ?? [];
  const firing = alerts.data?.alerts.filter((a) => a.state === 'firing') ?? [];
  const rulesOff = checks.status === 404;

  const sc = stats?.sourceCounters;
  const st = stats?.store;
  return (
    <section class="overview">
      <h1>Overview</h1>
      {error !== null && <p class="error" role="alert">{error}</p>}
      <div class="cards">
        <Card title="Events / s" value={count(Math.round(lastRate(history.current)))} />
        <Card title="Lost events" value={count(sc?.lost)} warn={(sc?.lost ?? 0) > 0} note={sc === undefined ? '' : 'reported by the source, never hidden'} />
        <Card title="Live processes" value={count(stats?.table.live)} note={stats === null ? '' : `${count(stats.table.exited)} recently exited kept`} />
        <Card title="Store size" value={bytes(st?.dbBytes as number | undefined)} note={st === undefined ? '' : `${count(st.written as number)} written, ${count(st.dropped as number)} dropped`} warn={(st?.dropped as number) > 0} />
        <Card title="Store lag" value={duration(st === undefined ? null : (st.lagMs as number) / 1000)} note={st === undefined ? '' : `${count(st.queued as number)} queued`} />
        <Card title="Firing alerts" value={rulesOff ? 'off' : count(alerts.data === null ? null : firing.length)} warn={firing.length > 0} note="last hour" link="/alerts" />
        <Card title="Failing checks" value={rulesOff ? 'off' : count(checks.data === null ? null : failing.length)} warn={failing.length > 0} link="/checks" />
      </div>
      <Plot title="Events per second by kind" series={kinds.map((k) => ({ label: k, stroke: colourOf(k) }))} data={data} yLabel="events/s" />
      <div class="columns">
        <div>
          <h2>Event source</h2>
          <dl class="facts">
            <dt>Source</dt><dd data-testid="source">{stats?.source ?? health.data?.source ?? '–'}</dd>
            <dt>Why</dt><dd>{visible(health.data?.sourceWhy)}</dd>
            <dt>Uptime</dt><dd>{duration(stats?.uptimeSeconds)}</dd>
            {stats !== null && Object.entries(stats.limits).filter(([, v]) => v !== null).map(([k, v]) => [<dt key={`${k}t`}>{limitName(k)}</dt>, <dd key={`${k}d`}>{limitValue(k, v!)}</dd>])}
            {sc !== undefined && Object.entries(sc).map(([k, v]) => [<dt key={`${k}t`}>{k}</dt>, <dd key={`${k}d`}>{count(v)}</dd>])}
          </dl>
        </div>
        <div>
          <h2>Failing checks</h2>
          {rulesOff ? <p class="muted">The rules room is not running.</p> : failing.length === 0 ? <p class="muted">None.</p> : (
            <ul class="plain">{failing.map((c) => <li key={c.name}><span class={`badge ${c.status}`}>{c.status}</span> {visible(c.name)}: {visible(c.detail)}</li>)}</ul>
          )}
          <h2>Firing alerts (last hour)</h2>
          {rulesOff ? <p class="muted">The rules room is not running.</p> : firing.length === 0 ? <p class="muted">None.</p> : (
            <ul class="plain">{firing.slice(-10).reverse().map((a) => <li key={a.id}><span class={`badge ${a.severity}`}>{a.severity}</span> {visible(a.name)}: {visible(a.message)}</li>)}</ul>
          )}
        </div>
      </div>
    </section>
  );
}

function Card(props: { title: string; value: string; note?: string; warn?: boolean; link?: string }) {
  const body = <><div class="card-title">{props.title}</div><div class="card-value">{props.value}</div>{props.note && <div class="card-note">{props.note}</div>}</>;
  return <div class={`card${props.warn ? ' warn' : ''}`} data-testid={`card-${props.title}`}>{props.link === undefined ? body : <Link href={props.link}>{body}</Link>}</div>;
}

function record(h: RateHistory, counts: Record<string, number>, now: number): void {
  const at = now / 1000;
  if (h.last !== null) {
    const dt = at - h.last.at;
    if (dt > 0) {
      h.times.push(at);
      for (const k of Object.keys(counts)) if (!h.byKind.has(k)) h.byKind.set(k, h.times.slice(0, -1).map(() => null));
      for (const [k, series] of h.byKind) series.push(Math.max(0, ((counts[k] ?? 0) - (h.last.counts[k] ?? 0)) / dt));
      if (h.times.length > WINDOW) {
        h.times.shift();
        for (const series of h.byKind.values()) series.shift();
      }
    }
  }
  h.last = { at, counts: { ...counts } };
}

function lastRate(h: RateHistory): number {
  let sum = 0;
  for (const s of h.byKind.values()) sum += s.at(-1) ?? 0;
  return sum;
}

const LIMIT_NAMES: Record<string, string> = {
  ringBufferBytes: 'eBPF ring buffer', rcvbufBytes: 'netlink receive buffer', pollIntervalMs: 'poll interval', holdMs: 'reorder hold',
  maxQueue: 'store queue (max)', maxExited: 'exited kept (max)', retentionMaxAgeSeconds: 'retention age', retentionMaxBytes: 'retention size',
};
function limitName(k: string): string {
  return LIMIT_NAMES[k] ?? k;
}
function limitValue(k: string, v: number): string {
  if (k.endsWith('Bytes')) return bytes(v);
  if (k.endsWith('Ms')) return `${v} ms`;
  if (k.endsWith('Seconds')) return duration(v);
  return count(v);
}
