/** Polling with back-off on errors; stops when the view goes away. */

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export interface Polled<T> {
  data: T | null;
  error: string | null;
  /** HTTP status of the last failure (404: that room of the daemon is not running). */
  status: number | null;
}

export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, everyMs: number, deps: unknown[] = []): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ data: null, error: null, status: null });
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    const abort = new AbortController();
    let timer = 0;
    const run = async (): Promise<void> => {
      try {
        const data = await loader.current(abort.signal);
        if (!abort.signal.aborted) setState({ data, error: null, status: null });
      } catch (err) {
        if (abort.signal.aborted) return;
        setState((s) => ({ data: s.data, error: (err as Error).message, status: err instanceof ApiError ? err.status : null }));
      }
      if (!abort.signal.aborted && everyMs > 0) timer = window.setTimeout(() => void run(), everyMs);
    };
    void run();
    return () => {
      abort.abort();
      window.clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}
