// Small DOM helpers shared by the pages. Everything is built with
// createElement and textContent: no HTML strings, so nothing from the
// server or S3 (keys, error messages) can become markup.

let uid = 0;
export const nextId = (p = 'f') => `${p}-${++uid}`;

// h builds an element: h('a', {href: '#/x', class: 'y'}, 'text', child).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

// fill replaces an element's children; like h, it skips null and false
// and flattens arrays.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// announce tells screen readers about a change that has no focus.
export function announce(text) {
  const el = document.getElementById('announce');
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 50);
}

// message shows a result in words: kind is ok, warn, error or info.
// Errors are alerts; the rest are polite status messages.
export function message(kind, ...content) {
  const role = kind === 'error' ? 'alert' : 'status';
  return h('div', { class: `msg msg-${kind}`, role }, ...content);
}

// formField wraps a control with its label and help text, linked for
// assistive technology.
export function formField({ id, label, help, required, control, inline }) {
  const helpId = help ? id + '-help' : undefined;
  if (helpId) {
    const described = [control.getAttribute('aria-describedby'), helpId].filter(Boolean).join(' ');
    control.setAttribute('aria-describedby', described);
  }
  const lab = h('label', { for: id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
  const helpEl = help ? h('p', { class: 'help', id: helpId }, help) : null;
  if (inline) return h('div', { class: 'field field-inline' }, control, lab, helpEl);
  return h('div', { class: 'field' }, lab, control, helpEl);
}

export function statusBadge(status) {
  return h('span', { class: `badge st-${status || 'unknown'}` }, status || 'unknown');
}

export function formatTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

export function formatValue(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// table builds a data table with a caption; rows are arrays of cells.
export function table(caption, headers, rows, { captionHidden } = {}) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', {},
      h('caption', { class: captionHidden ? 'visually-hidden' : '' }, caption),
      h('thead', {}, h('tr', {}, headers.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', {}, c))))))));
}

// errorParts finds S3's error code and request id in an error message
// ("... NoSuchKey: The specified key does not exist. (request id 123)").
export function errorParts(text) {
  if (!text) return {};
  const req = /\(request id ([^)\s]+)\)/.exec(text);
  const code = /(?:^|[\s:(])([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)(?=:|\s\(|;|$|\s)/.exec(text);
  return { code: code ? code[1] : '', requestId: req ? req[1] : '' };
}

// errorBlock shows an error in red with S3's code and request id apart.
export function errorBlock(text, title = 'Error') {
  const { code, requestId } = errorParts(text);
  return h('div', { class: 'error-block' },
    h('p', { class: 'error-title' }, title),
    (code || requestId) ? h('dl', { class: 'error-ids' },
      code ? [h('dt', {}, 'S3 code'), h('dd', {}, h('code', {}, code))] : null,
      requestId ? [h('dt', {}, 'Request id'), h('dd', {}, h('code', {}, requestId))] : null) : null,
    h('p', { class: 'error-text' }, text));
}

// combobox is a text field with a list of suggestions (the ARIA 1.2
// combobox pattern): type freely, or open the list with the arrow keys or
// the button and pick with Enter or a click. load(text) returns the
// suggestions for what is typed (or throws; the error is shown in the list).
export function combobox({ id, name, value = '', required, placeholder, load, label }) {
  const listId = id + '-list';
  const input = h('input', {
    id, name, type: 'text', value, required, placeholder, autocomplete: 'off', spellcheck: 'false',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId,
  });
  const list = h('ul', { id: listId, role: 'listbox', class: 'combo-list', hidden: true, 'aria-label': label + ' suggestions' });
  const toggle = h('button', { type: 'button', class: 'combo-toggle', tabindex: '-1', 'aria-label': 'Show ' + label + ' suggestions' }, '▾');
  const status = h('span', { class: 'visually-hidden', 'aria-live': 'polite' });
  let options = [];
  let active = -1;
  let seq = 0;
  let timer;

  const open = () => { list.hidden = false; input.setAttribute('aria-expanded', 'true'); };
  const close = () => {
    list.hidden = true; input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant'); active = -1;
  };
  const setActive = (i) => {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute('aria-selected', String(j === i)));
    if (i >= 0 && list.children[i]) {
      input.setAttribute('aria-activedescendant', list.children[i].id);
      list.children[i].scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  };
  const choose = (v) => {
    input.value = v;
    close();
    input.dispatchEvent(new Event('change', { bubbles: true }));
    input.dispatchEvent(new CustomEvent('combo-pick', { bubbles: true }));
  };
  const render = (items, note) => {
    options = items;
    list.replaceChildren(...items.map((v, i) => h('li', {
      id: `${listId}-${i}`, role: 'option', 'aria-selected': 'false', dataset: { value: v },
      onmousedown: (e) => { e.preventDefault(); choose(v); },
    }, v)));
    if (note) list.append(h('li', { class: 'combo-note', 'aria-disabled': 'true' }, note));
    active = -1;
    status.textContent = items.length ? `${items.length} suggestions` : (note || 'no suggestions');
  };
  const refresh = async (show) => {
    const mine = ++seq;
    render([], 'Loading…');
    if (show) open();
    try {
      const items = await load(input.value);
      if (mine !== seq) return;
      render(items, items.length ? '' : 'No suggestions; type a value');
    } catch (err) {
      if (mine !== seq) return;
      render([], 'Could not load suggestions: ' + err.message + ' — type a value');
    }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => refresh(true), 200);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (list.hidden) { refresh(true); return; }
      const n = options.length;
      if (!n) return;
      setActive(e.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n);
    } else if (e.key === 'Enter' && !list.hidden && active >= 0) {
      e.preventDefault();
      choose(options[active]);
    } else if (e.key === 'Escape' && !list.hidden) {
      e.preventDefault();
      close();
    }
  });
  input.addEventListener('blur', () => setTimeout(close, 150));
  input.addEventListener('click', () => { if (list.hidden) refresh(true); });
  toggle.addEventListener('click', () => {
    if (list.hidden) { input.focus(); refresh(true); } else close();
  });
  const el = h('div', { class: 'combo' }, input, toggle, list, status);
  return { el, input, refresh };
}
