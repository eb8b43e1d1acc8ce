/**
 * ackscope's web page, a workbench: the session list with a live capture form and file
 * import (#/), one session live or correlated (#/sessions/ID), and sessions side by side
 * (#/compare?ids=...). Bundled by scripts/build.sh (esbuild) into dist/web/, served by
 * service/routes/web.ts.
 */
import './style.css';
import { h } from './dom.js';
import { compareView } from './view-compare.js';
import { endView, errorBox } from './view-kit.js';
import { listView } from './view-list.js';
import { sessionView } from './view-session.js';

const app = document.getElementById('app')!;
/** Counts navigations, so a slow view that finishes after the user moved on changes nothing. */
let navigation = 0;

window.addEventListener('hashchange', () => void route());
void route();

async function route(): Promise<void> {
  const current = ++navigation;
  endView();
  // each view draws into its own element: a stale one keeps writing into a detached node
  const view = h('div');
  app.replaceChildren(view);
  document.body.dataset.ready = 'false';
  const hash = location.hash;
  const session = /^#\/sessions\/(\d+)/.exec(hash);
  const viewName = session ? 'session' : hash.startsWith('#/compare') ? 'compare' : 'list';
  document.body.dataset.view = viewName;
  try {
    if (session) await sessionView(view, Number(session[1]), () => void route());
    else if (viewName === 'compare') await compareView(view, hash);
    else await listView(view);
  } catch (err) {
    view.append(errorBox(err));
  } finally {
    if (current === navigation) document.body.dataset.ready = 'true'; // the browser test waits for this
  }
}
