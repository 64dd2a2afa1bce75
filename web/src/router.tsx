/** A tiny path router: the daemon serves index.html for each page path; the page picks the view. */

import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<(path: string) => void>();

export function navigate(path: string): void {
  if (path === window.location.pathname + window.location.search) return;
  window.history.pushState(null, '', path);
  for (const l of listeners) l(path);
}

window.addEventListener('popstate', () => {
  for (const l of listeners) l(window.location.pathname);
});

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const l = (): void => setPath(window.location.pathname);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return path;
}

export function processPath(key: string): string {
  return `/process/${encodeURIComponent(key)}`;
}

export function Link(props: { href: string; class?: string; title?: string; children: ComponentChildren }) {
  const click = (e: MouseEvent): void => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return <a href={props.href} class={props.class} title={props.title} onClick={click}>{props.children}</a>;
}
