/** Alerts (rules and checks) and the checks' current states: what the rules room says, read-only. */

import { useState } from 'preact/hooks';
import { getJson } from '../api.js';
import { usePoll } from '../hooks.js';
import { Link, processPath } from '../router.js';
import { commandLine, count, dateTime, visible } from '../text.js';
import type { Alert, CheckState } from '../types.js';

const OFF = 'The rules room is not running in this daemon (no rules, alerts or checks).';

export function Alerts() {
  const [since, setSince] = useState('24h');
  const alerts = usePoll((s) => getJson<{ alerts: Alert[] }>('/v1/alerts', { since, limit: 1000 }, s), 5000, [since]);
  if (alerts.status === 404) return <section><h1>Alerts</h1><p class="muted">{OFF}</p></section>;
  const list = [...(alerts.data?.alerts ?? [])].reverse();
  return (
    <section data-testid="alerts-page">
      <h1>Alerts</h1>
      <div class="toolbar">
        <label>since <select value={since} onChange={(e) => setSince((e.target as HTMLSelectElement).value)}>{['1h', '24h', '7d', '30d'].map((v) => <option key={v} value={v}>{v}</option>)}</select></label>
        <span class="muted">{count(list.length)} alerts, {count(list.filter((a) => a.state === 'firing').length)} firing</span>
      </div>
      {alerts.error !== null && <p class="error" role="alert">{alerts.error}</p>}
      <table class="grid-table">
        <thead><tr><th>time</th><th>severity</th><th>source</th><th>name</th><th>state</th><th>message</th><th>process</th><th>suppressed</th></tr></thead>
        <tbody>
          {list.map((a) => (
            <tr key={a.id} class={a.state}>
              <td class="num">{dateTime(a.time)}</td>
              <td><span class={`badge ${a.severity}`}>{visible(a.severity)}</span></td>
              <td>{a.source}</td>
              <td>{visible(a.name)}</td>
              <td>{a.state}{a.resolvedTime !== null ? ` ${dateTime(a.resolvedTime)}` : ''}</td>
              <td class="cmd">{visible(a.message)}</td>
              <td class="cmd">{a.process === null ? '–' : <Link href={processPath(a.process.key)}>{a.process.pid} {commandLine(a.process.argv, a.process.comm)}</Link>}</td>
              <td class="num">{a.suppressed}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface RuleInfo {
  name: string;
  severity: string;
  enabled: boolean;
  mode: string;
  origin: string;
  condition: string;
  matches?: number;
}

export function Checks() {
  const checks = usePoll((s) => getJson<{ checks: CheckState[] }>('/v1/checks', {}, s), 3000);
  const rules = usePoll((s) => getJson<{ rules: RuleInfo[] }>('/v1/rules', {}, s), 15_000);
  if (checks.status === 404) return <section><h1>Checks</h1><p class="muted">{OFF}</p></section>;
  return (
    <section data-testid="checks-page">
      <h1>Continuous checks</h1>
      {checks.error !== null && <p class="error" role="alert">{checks.error}</p>}
      {checks.data !== null && checks.data.checks.length === 0 && <p class="muted">No continuous checks are configured (checks: in the config file).</p>}
      <table class="grid-table">
        <thead><tr><th>check</th><th>kind</th><th>status</th><th>state</th><th>since</th><th>matching</th><th>detail</th></tr></thead>
        <tbody>
          {(checks.data?.checks ?? []).map((c) => (
            <tr key={c.name} class={c.state}>
              <td>{visible(c.name)}</td><td>{c.kind}</td><td><span class={`badge ${c.status}`}>{c.status}</span></td><td>{c.state}</td>
              <td class="num">{dateTime(c.since)}</td><td class="num">{c.count === null ? '–' : c.count}</td><td class="cmd">{visible(c.detail)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Rules</h2>
      <table class="grid-table">
        <thead><tr><th>rule</th><th>severity</th><th>enabled</th><th>mode</th><th>condition</th><th>from</th></tr></thead>
        <tbody>
          {(rules.data?.rules ?? []).map((r) => (
            <tr key={r.name}><td>{visible(r.name)}</td><td><span class={`badge ${r.severity}`}>{r.severity}</span></td><td>{r.enabled ? 'yes' : 'no'}</td><td>{r.mode}</td><td class="cmd">{visible(r.condition)}</td><td>{visible(r.origin)}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
