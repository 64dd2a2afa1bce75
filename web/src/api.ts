/**
 * The console's side of the API: the same /v1 paths every client uses (README: API reference),
 * with the session cookie the browser sends by itself. Nothing here writes: the console reads.
 */

export type Query = Record<string, string | number | boolean | undefined | null>;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export function apiUrl(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '' && v !== false) params.set(k, String(v));
  const qs = params.toString();
  return qs === '' ? path : `${path}?${qs}`;
}

/** A logged-out (expired) session goes back to the login page. */
function loggedOut(): never {
  window.location.assign('/login');
  throw new ApiError(401, 'not logged in');
}

export async function getJson<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
  const res = await fetch(apiUrl(path, query), { credentials: 'same-origin', signal: signal ?? null, headers: { accept: 'application/json' } });
  if (res.status === 401) loggedOut();
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(res.status, `the daemon sent something other than JSON (HTTP ${res.status})`);
  }
  if (!res.ok) throw new ApiError(res.status, (body as { error?: string }).error ?? `HTTP ${res.status}`);
  return body as T;
}

export interface StreamHandlers<T> {
  /** A message; `id` is its SSE id (a stored event's id), null when it has none. */
  message(m: T, id: string | null): void;
  /** The stream opened (true) or broke (false: the page reconnects itself when it wants); why, when the daemon said. */
  state(open: boolean, reason?: string): void;
}

/**
 * An SSE stream, read with fetch (the cookie goes along). Not EventSource: the daemon names each
 * event's frame by its kind (`event: exec`), which EventSource hands only to a listener for that
 * very name, and any kind may come. Comment lines (the daemon's heartbeat) are skipped. On an
 * error the stream ends and the caller decides how to resume: with `lastEventId` (the id of the
 * last message it has) the daemon goes on exactly after it, so nothing is shown twice or skipped.
 */
export function openStream<T>(path: string, query: Query, h: StreamHandlers<T>, lastEventId: string | null = null): () => void {
  const abort = new AbortController();
  let ended = false;
  const end = (reason?: string): void => {
    if (ended) return;
    ended = true;
    h.state(false, reason);
  };
  void (async () => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== null) headers['last-event-id'] = lastEventId;
    const res = await fetch(apiUrl(path, { ...query, format: 'sse' }), { credentials: 'same-origin', signal: abort.signal, headers });
    if (res.status === 401) loggedOut();
    if (!res.ok || res.body === null) {
      // The daemon's one-line error (a 503 when daemon.api.max_streams streams are open).
      const error = await res.json().then((b: { error?: unknown }) => (typeof b.error === 'string' ? b.error : null), () => null);
      return end(error ?? `HTTP ${res.status}`);
    }
    h.state(true);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const frames = new SseFrames((data, id) => h.message(JSON.parse(data) as T, id));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return end();
      frames.push(value);
    }
  })().catch(() => {
    if (!abort.signal.aborted) end();
  });
  return () => {
    ended = true;
    abort.abort();
  };
}

/** Splits SSE text into frames (text/event-stream): data lines joined, the id kept, comments and event names skipped. */
export class SseFrames {
  private buffer = '';

  constructor(private readonly onFrame: (data: string, id: string | null) => void) {}

  push(text: string): void {
    this.buffer += text;
    const blank = /\r\n\r\n|\n\n|\r\r/g;
    let from = 0;
    for (let m = blank.exec(this.buffer); m !== null; m = blank.exec(this.buffer)) {
      this.frame(this.buffer.slice(from, m.index));
      from = m.index + m[0].length;
    }
    this.buffer = this.buffer.slice(from);
  }

  private frame(block: string): void {
    const data: string[] = [];
    let id: string | null = null;
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (data.length > 0) this.onFrame(data.join('\n'), id);
  }
}
