// The Studio's router: the URL fragment names the page (#/runs/ID), so the
// server serves one page and reloads keep the place.
import { api, token, setToken, ApiError } from './api.js';
import { h, message, formField } from './ui.js';
import { connectionsPage } from './connections.js';
import { modulesPage } from './modules.js';
import { flowsPage, flowPage } from './flows.js';
import { runsPage, runPage } from './runs.js';
import { editorPage } from './editor.js';

const main = document.getElementById('main');
let cleanup = null;

const routes = [
  [/^\/login$/, loginPage, 'Sign in'],
  [/^\/connections$/, connectionsPage, 'Connections'],
  [/^\/modules(?:\/([^/]+))?$/, modulesPage, 'Modules'],
  [/^\/flows$/, flowsPage, 'Flows'],
  [/^\/flows\/new$/, editorPage, 'New flow'],
  [/^\/flows\/([^/]+)\/edit$/, editorPage, 'Edit flow'],
  [/^\/flows\/([^/]+)$/, flowPage, 'Flow'],
  [/^\/runs$/, runsPage, 'Runs'],
  [/^\/runs\/([^/]+)$/, runPage, 'Run'],
];

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/connections';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const { path, params } = parseHash();
  const signedIn = !!token();
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('logout').hidden = !signedIn;
  if (!signedIn && path !== '/login') {
    location.replace('#/login?next=' + encodeURIComponent(path + (params.toString() ? '?' + params : '')));
    return;
  }
  const section = path.split('/')[1];
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [re, page, title] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    const args = m.slice(1).map((x) => (x === undefined ? undefined : decodeURIComponent(x)));
    document.title = `${title} — s3flow Studio`;
    main.replaceChildren();
    try {
      cleanup = (await page(main, { args, params })) || null;
    } catch (err) {
      main.replaceChildren(h('h1', { tabindex: '-1' }, title), message('error', err.message));
    }
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      // After a move within the Studio, focus goes to the new page's
      // heading (as a page load would take a screen reader to the top);
      // on the first load it stays at the top, before the skip link.
      if (routeChangedByUser) h1.focus();
    }
    routeChangedByUser = false;
    return;
  }
  main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '#/connections' }, 'Go to the connections')));
}

let routeChangedByUser = false;
window.addEventListener('hashchange', () => { routeChangedByUser = true; route(); });
window.addEventListener('s3flow:signed-out', () => {
  if (parseHash().path !== '/login') location.hash = '#/login?expired=1';
});
// The skip link must not change the fragment, which names the page.
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  (main.querySelector('h1') || main).focus();
});
document.getElementById('logout').addEventListener('click', () => {
  setToken('');
  location.hash = '#/login';
});

function loginPage(main, { params }) {
  const id = 'token';
  const input = h('input', { id, name: 'token', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' });
  const out = h('div', { class: 'form-result' });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'login-title' },
    formField({ id, label: 'API token', control: input,
      help: 'Create one on the server with: s3flow token create NAME. It is kept in this browser tab only and sent with each request.' }),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = input.value.trim();
    out.replaceChildren(message('info', 'Checking the token…'));
    try {
      await api('GET', '/api/flows', undefined, { token: t });
    } catch (err) {
      const text = err instanceof ApiError && err.status === 401 ? 'That token is not valid. Check it or create a new one.' : err.message;
      out.replaceChildren(message('error', text));
      input.focus();
      return;
    }
    setToken(t);
    location.hash = params.get('next') || '#/connections';
  });
  main.append(
    h('h1', { id: 'login-title' }, 'Sign in to s3flow Studio'),
    params.get('expired') ? message('warn', 'Your token was refused; sign in again.') : null,
    form);
  input.focus();
}

route();
