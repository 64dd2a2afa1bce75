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
  message(m: T): void;
  /** The stream opened (true) or broke (false: the page reconnects itself when it wants). */
  state(open: boolean): void;
}

/**
 * An SSE stream (EventSource; the cookie goes along). EventSource would reconnect on its own
 * and replay from the same URL; instead the stream is closed on error and the caller decides
 * how to resume (from the last event it has), so nothing is shown twice or silently skipped.
 */
export function openStream<T>(path: string, query: Query, h: StreamHandlers<T>): () => void {
  const source = new EventSource(apiUrl(path, { ...query, format: 'sse' }));
  source.onopen = () => h.state(true);
  source.onmessage = (e: MessageEvent<string>) => h.message(JSON.parse(e.data) as T);
  source.onerror = () => {
    source.close();
    h.state(false);
  };
  return () => source.close();
}
