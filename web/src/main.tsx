/** The procwatch web console (issue 13): one page, routed by path; every view reads the /v1 API. */

import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { Alerts, Checks } from './pages/alerts.js';
import { Overview } from './pages/overview.js';
import { ProcessPage } from './pages/process.js';
import { Timeline } from './pages/timeline.js';
import { Tree } from './pages/tree.js';
import { Link, usePath } from './router.js';

const NAV: Array<[string, string]> = [['/', 'Overview'], ['/tree', 'Process tree'], ['/timeline', 'Timeline'], ['/alerts', 'Alerts'], ['/checks', 'Checks']];

function App() {
  const path = usePath();
  const processKey = /^\/process\/([^/]+)$/.exec(path)?.[1];
  let view;
  if (processKey !== undefined) view = <ProcessPage key={processKey} processKey={decodeURIComponent(processKey)} />;
  else if (path === '/tree') view = <Tree />;
  else if (path === '/timeline') view = <Timeline />;
  else if (path === '/alerts') view = <Alerts />;
  else if (path === '/checks') view = <Checks />;
  else view = <Overview />;
  return (
    <>
      <header>
        <span class="brand">procwatch</span>
        <nav>{NAV.map(([href, label]) => <Link key={href} href={href} class={path === href || (href === '/' && path === '/overview') ? 'active' : ''}>{label}</Link>)}</nav>
        <form method="post" action="/logout" class="logout"><button type="submit">log out</button></form>
      </header>
      <main>{view}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
