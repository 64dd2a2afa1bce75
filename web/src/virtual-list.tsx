/**
 * A window onto a long list: only the rows in view (plus a few) are in the DOM, positioned in
 * a spacer as tall as the whole list. 10,000 rows cost what 60 do.
 */

import type { ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export const ROW_HEIGHT = 22;
const OVERSCAN = 10;

export interface VirtualListProps<T> {
  items: readonly T[];
  row: (item: T, index: number) => ComponentChildren;
  /** Keep the view at the end as items arrive, while the user has not scrolled away from it. */
  stickToEnd?: boolean;
  /** Draw only the first `length` items (a paused view of a growing list). */
  length?: number;
  /** Told, after each draw, which items are in the viewport: [first, end). */
  onDrawn?: (first: number, end: number) => void;
  class?: string;
  testId?: string;
}

export function VirtualList<T>(props: VirtualListProps<T>) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const atEnd = useRef(true);

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const resize = new ResizeObserver(() => setHeight(el.clientHeight));
    resize.observe(el);
    setHeight(el.clientHeight);
    return () => resize.disconnect();
  }, []);

  const length = Math.min(props.length ?? props.items.length, props.items.length);
  const total = length * ROW_HEIGHT;
  useLayoutEffect(() => {
    const el = box.current;
    if (el !== null && props.stickToEnd && atEnd.current && el.scrollTop !== total - el.clientHeight) {
      el.scrollTop = Math.max(0, total - el.clientHeight);
      if (el.scrollTop !== scrollTop) setScrollTop(el.scrollTop);
    }
  });

  const onScroll = (): void => {
    const el = box.current!;
    atEnd.current = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_HEIGHT;
    setScrollTop(el.scrollTop);
  };

  const effectiveTop = props.stickToEnd && atEnd.current ? Math.max(0, total - height) : scrollTop;
  const first = Math.max(0, Math.floor(effectiveTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(length, Math.ceil((effectiveTop + height) / ROW_HEIGHT) + OVERSCAN);
  const viewFirst = Math.min(length, Math.floor(effectiveTop / ROW_HEIGHT));
  const viewEnd = Math.min(length, Math.ceil((effectiveTop + height) / ROW_HEIGHT));
  useEffect(() => props.onDrawn?.(viewFirst, viewEnd));
  const rows: ComponentChildren[] = [];
  for (let i = first; i < last; i++) {
    rows.push(<div class="vrow" key={i} style={{ top: `${i * ROW_HEIGHT}px` }}>{props.row(props.items[i]!, i)}</div>);
  }
  return (
    <div class={`vlist ${props.class ?? ''}`} ref={box} onScroll={onScroll} data-testid={props.testId}>
      <div class="vspacer" style={{ height: `${total}px` }}>{rows}</div>
    </div>
  );
}
