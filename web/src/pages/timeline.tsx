/**
 * The event timeline: live (SSE, /v1/events?follow=1) or stored history (/v1/events), with the
 * CLI's filters (kind, user, name and exe globs, pid subtree, time range), pause, and a marker
 * for every `lost` event. At a storm's rate the page keeps every event and draws at most once
 * per frame; it says how many frames it skipped and how many events were never on screen.
 */

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { getJson, openStream, type Query } from '../api.js';
import { eventName, eventSummary } from '../event-summary.js';
import { Link, processPath } from '../router.js';
import { clock, count, visible } from '../text.js';
import { NO_FILTERS, pageFilter, TimelineModel, type Filters } from '../timeline-model.js';
import type { ApiEvent } from '../types.js';
import { VirtualList } from '../virtual-list.js';

/** Suggestions for the kinds field (any kind the API knows is accepted; the API says which it does not). */
const KINDS = ['fork', 'exec', 'exit', 'uid', 'gid', 'sid', 'ptrace', 'comm', 'coredump', 'lost', 'inferred_start', 'inferred_exit', 'acct', 'connect', 'accept', 'open', 'session', 'shell', 'syscalls'];
/** The CLI's process filters (README "Filters"). */
const OPTIONAL_SERVER = ['user', 'name', 'exe', 'args', 'subtree'] as const;
/**
 * Those of them /v1/events applies itself (besides kind, pid, key and time): all of them since
 * issue 17. The page's own filtering (timeline-model.ts) applies to any left out of this set.
 */
/** How far before "now" a live timeline begins. */
const LIVE_LOOKBACK_MS = 5000;

const SERVER_FILTERS: ReadonlySet<string> = new Set<string>(['user', 'name', 'exe', 'args', 'subtree']);

interface DrawStats {
  frames: number;
  skippedFrames: number;
  notDrawn: number;
}

export function Timeline() {
  const model = useMemo(() => new TimelineModel(), []);
  const [version, setVersion] = useState(0);
  const [mode, setMode] = useState<'live' | 'history'>('live');
  const [form, setForm] = useState<Filters>(NO_FILTERS);
  const [applied, setApplied] = useState<Filters>(NO_FILTERS);
  const [paused, setPaused] = useState<number | null>(null);
  const [status, setStatus] = useState<{ text: string; ok: boolean }>({ text: 'connecting…', ok: false });
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const draw = useRef<DrawStats>({ frames: 0, skippedFrames: 0, notDrawn: 0 });
  const drawnUpTo = useRef(0);

  // Fetch or stream what the filters select; the model is refilled from scratch.
  useEffect(() => {
    model.clear();
    drawnUpTo.current = 0;
    draw.current = { frames: 0, skippedFrames: 0, notDrawn: 0 };
    setError(null);
    setNote(null);
    setVersion(model.version);
    let stop: (() => void) | null = null;
    let retry = 0;
    let cancelled = false;
    void (async () => {
      const plan = await planQuery(applied, mode).catch((err: Error) => {
        setError(err.message);
        return null;
      });
      if (plan === null || cancelled) return;
      const filter = pageFilter(applied, plan.serverSide);
      if (filter !== null) {
        const inPage = OPTIONAL_SERVER.filter((k) => applied[k] !== '' && !plan.serverSide.has(k)).join(', ');
        setNote(mode === 'live' ? `${inPage}: filtered in the page as events arrive`
          : `${inPage}: filtered in the page, among the newest 10,000 stored events of the range (a stored event names its process only at exec: narrow the range for older ones)`);
      }
      if (mode === 'history') {
        setStatus({ text: 'loading history…', ok: false });
        try {
          const page = await getJson<{ events: ApiEvent[]; truncated: boolean }>('/v1/events', { ...plan.query, limit: 10_000 });
          if (cancelled) return;
          if (page.truncated) model.add({ seq: -1, time: page.events[0]?.time ?? new Date().toISOString(), kind: 'truncated', pid: 0, tid: 0, key: null, limit: 10_000 });
          for (const e of page.events) if (filter === null || filter(e)) model.add(e);
          setStatus({ text: `history: ${count(page.events.length)} events`, ok: true });
        } catch (err) {
          setError((err as Error).message);
        }
        return;
      }
      // Live from "now": the last few seconds too, so an event the daemon stamped just before the
      // stream opened (its clock offset, the reorder window, the store's flush) is not filtered out.
      let since = applied.since === '' ? String(Date.now() - LIVE_LOOKBACK_MS) : applied.since;
      // The store id of the last event received: a reconnection resumes exactly after it (Last-Event-ID).
      let lastId: string | null = null;
      const connect = (): void => {
        stop = openStream<ApiEvent>('/v1/events', { ...plan.query, since, follow: 1 }, {
          message: (e, id) => {
            if (id !== null) lastId = id;
            if (e.kind === 'stream_closed') {
              model.mark('gap', `the daemon closed the stream: ${String(e.reason ?? '')}; resuming`);
              return;
            }
            if (filter !== null && !filter(e)) return;
            if (model.add(e)) since = String(Date.parse(e.time));
          },
          state: (open, reason) => {
            if (open) return setStatus({ text: 'live', ok: true });
            if (cancelled) return;
            setStatus({ text: reason === undefined ? 'disconnected: resuming' : `${visible(reason)}: resuming`, ok: false });
            model.mark('gap', 'disconnected from the daemon; resuming from the last event shown');
            retry = window.setTimeout(connect, 1000);
          },
        }, lastId);
      };
      connect();
    })();
    return () => {
      cancelled = true;
      stop?.();
      window.clearTimeout(retry);
    };
  }, [model, mode, applied]);

  // One draw per frame at most, only when something arrived; frames the browser could not give are counted.
  useEffect(() => {
    let raf = 0;
    let last = performance.now();
    let drawnVersion = -1;
    const frame = (now: number): void => {
      const changed = model.version !== drawnVersion;
      const dt = now - last;
      last = now;
      if (changed && dt > 25) draw.current.skippedFrames += Math.max(0, Math.round(dt / 16.67) - 1);
      if (changed) {
        drawnVersion = model.version;
        draw.current.frames++;
        setVersion(model.version);
      }
      raf = requestAnimationFrame(frame);
    };
    raf = requestAnimationFrame(frame);
    return () => cancelAnimationFrame(raf);
  }, [model]);

  // Counted in positions since the stream began (trimming the oldest events shifts the list's indices).
  const onDrawn = (first: number, end: number): void => {
    const from = model.trimmed + first;
    if (from > drawnUpTo.current) draw.current.notDrawn += from - drawnUpTo.current;
    drawnUpTo.current = Math.max(drawnUpTo.current, model.trimmed + end);
  };

  const submit = (e: Event): void => {
    e.preventDefault();
    setPaused(null);
    setApplied({ ...form });
  };
  const d = draw.current;
  const shown = paused === null ? model.events.length : Math.max(0, paused - model.trimmed);
  return (
    <section class="timeline-page" data-testid="timeline" data-received={model.received} data-in-model={model.events.length} data-lost-markers={model.lostMarkers}
      data-frames={d.frames} data-skipped-frames={d.skippedFrames} data-not-drawn={d.notDrawn} data-version={version}>
      <h1>Event timeline</h1>
      <form class="filters" onSubmit={submit}>
        <fieldset class="mode">
          <label><input type="radio" name="mode" checked={mode === 'live'} onChange={() => setMode('live')} /> live</label>
          <label><input type="radio" name="mode" checked={mode === 'history'} onChange={() => setMode('history')} /> history</label>
        </fieldset>
        <label>kinds <input name="kinds" list="kinds" placeholder="exec,exit" value={form.kinds.join(',')} onInput={(e) => setForm({ ...form, kinds: splitKinds((e.target as HTMLInputElement).value) })} /></label>
        <datalist id="kinds">{KINDS.map((k) => <option key={k} value={k} />)}</datalist>
        <label>user <input name="user" value={form.user} onInput={(e) => setForm({ ...form, user: (e.target as HTMLInputElement).value })} /></label>
        <label>name <input name="name" placeholder="glob" value={form.name} onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })} /></label>
        <label>exe <input name="exe" placeholder="glob" value={form.exe} onInput={(e) => setForm({ ...form, exe: (e.target as HTMLInputElement).value })} /></label>
        <label>args <input name="args" placeholder="regex" value={form.args} onInput={(e) => setForm({ ...form, args: (e.target as HTMLInputElement).value })} /></label>
        <label>pid subtree <input name="subtree" inputMode="numeric" value={form.subtree} onInput={(e) => setForm({ ...form, subtree: (e.target as HTMLInputElement).value })} /></label>
        <label>since <input name="since" placeholder={mode === 'live' ? 'now' : '10m'} value={form.since} onInput={(e) => setForm({ ...form, since: (e.target as HTMLInputElement).value })} /></label>
        {mode === 'history' && <label>until <input name="until" placeholder="now" value={form.until} onInput={(e) => setForm({ ...form, until: (e.target as HTMLInputElement).value })} /></label>}
        <button type="submit">apply</button>
      </form>
      <div class="toolbar">
        <span class={`status ${status.ok ? 'ok' : 'bad'}`} data-testid="timeline-status">{status.text}</span>
        {mode === 'live' && <button type="button" data-testid="pause" onClick={() => setPaused(paused === null ? model.trimmed + model.events.length : null)}>{paused === null ? 'pause' : 'resume'}</button>}
        <span data-testid="timeline-counts">{count(model.received)} events{paused !== null ? `, ${count(model.trimmed + model.events.length - paused)} new while paused` : ''}</span>
        <span class={model.lostMarkers > 0 ? 'warn-text' : 'muted'}>{count(model.lostMarkers)} lost markers ({count(model.lostCount)} events lost)</span>
        <span class="muted" data-testid="draw-stats">{count(d.frames)} frames drawn, {count(d.skippedFrames)} skipped; {count(d.notDrawn)} events never on screen (all kept)</span>
        {model.trimmed > 0 && <span class="warn-text">{count(model.trimmed)} oldest events trimmed from the page (still stored)</span>}
      </div>
      {note !== null && <p class="muted">{note}</p>}
      {error !== null && <p class="error" role="alert">{error}</p>}
      <div class="event-head event-grid"><span>time</span><span>kind</span><span>pid</span><span>name</span><span>details</span></div>
      <VirtualList items={model.events} length={shown} stickToEnd testId="events" class="events" onDrawn={onDrawn} row={(e) => <EventRow e={e} />} />
    </section>
  );
}

function EventRow({ e }: { e: ApiEvent }) {
  const marker = e.kind === 'lost' || e.kind === 'gap' || e.kind === 'truncated';
  return (
    <div class={`event-grid event-row kind-${e.kind.replace(/[^a-z_]/g, '')}${marker ? ' marker' : ''}`} data-kind={e.kind}>
      <span class="num">{clock(e.time)}</span>
      <span><span class="kind">{visible(e.kind)}</span></span>
      <span class="num">{e.key === null ? (e.pid === 0 ? '' : e.pid) : <Link href={processPath(e.key)}>{e.pid}</Link>}</span>
      <span class="name">{eventName(e)}</span>
      <span class="cmd">{eventSummary(e)}</span>
    </div>
  );
}

function splitKinds(text: string): string[] {
  return text.split(/[\s,]+/).filter((k) => k !== '');
}

/**
 * The query for the daemon: what /v1/events filters itself (kind, time range, and the names in
 * SERVER_FILTERS); the rest the page applies to what arrives. A probe of one event checks the
 * parameters first, so a bad value (an unknown time form) is shown as the daemon's one-line error
 * instead of a stream that cannot say why it failed.
 */
async function planQuery(f: Filters, mode: 'live' | 'history'): Promise<{ query: Query; serverSide: Set<string> }> {
  // process=1: stored events (history, and the SSE stream, which reads the store) carry their process, as live ones do.
  const query: Query = { process: 1, kind: f.kinds.length > 0 ? f.kinds.join(',') : undefined, since: f.since === '' ? (mode === 'history' ? '10m' : undefined) : f.since, until: mode === 'history' && f.until !== '' ? f.until : undefined };
  for (const k of OPTIONAL_SERVER) if (f[k] !== '' && SERVER_FILTERS.has(k)) query[k] = f[k];
  await getJson('/v1/events', { ...query, since: query.since ?? String(Date.now()), limit: 1 });
  return { query, serverSide: new Set(OPTIONAL_SERVER.filter((k) => query[k] !== undefined)) };
}
