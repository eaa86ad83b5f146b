// Flows: the list with triggers, enabled switches and last runs; a flow's
// page with its steps as a chain and "Run now".
import { api } from './api.js';
import { h, message, formField, table, statusBadge, formatTime, announce } from './ui.js';

// triggerText says in words what starts a flow: the server's description
// of each trigger, made from the trigger's declaration.
export function triggerText(f) {
  const triggers = (f && f.triggers) || [];
  if (!triggers.length) return 'manual only';
  return triggers.map((t) => `${t.title}: ${t.description}`).join('; ');
}

function enableSwitch(f, onChange) {
  const btn = h('button', {
    type: 'button', role: 'switch', class: 'switch', 'aria-checked': String(f.enabled),
    'aria-label': `${f.name} enabled`,
  }, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', { class: 'switch-text' }, f.enabled ? 'On' : 'Off'));
  btn.addEventListener('click', async () => {
    const want = btn.getAttribute('aria-checked') !== 'true';
    btn.disabled = true;
    try {
      await api('POST', `/api/flows/${encodeURIComponent(f.name)}/${want ? 'enable' : 'disable'}`);
      btn.setAttribute('aria-checked', String(want));
      btn.querySelector('.switch-text').textContent = want ? 'On' : 'Off';
      announce(`${f.name} ${want ? 'enabled' : 'disabled'}`);
      onChange?.(want);
    } catch (err) {
      btn.after(message('error', err.message));
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}

function lastRun(r) {
  if (!r) return h('span', { class: 'muted' }, 'never');
  return h('a', { href: '#/runs/' + r.id }, statusBadge(r.status), ' ', formatTime(r.startedAt));
}

export async function flowsPage(main) {
  const area = h('div');
  const status = h('div');
  const reload = h('button', { type: 'button' }, 'Reload flows');
  const show = async () => area.replaceChildren(...flowsList(await api('GET', '/api/flows')));
  reload.addEventListener('click', async () => {
    reload.disabled = true;
    try {
      const res = await api('POST', '/api/flows/reload');
      await show();
      status.replaceChildren(message('ok', res.changed ? 'Flows reloaded.' : 'Flows read again: nothing changed.'));
    } catch (err) {
      status.replaceChildren(message('error', 'The flows were not reloaded: ' + err.message));
    } finally {
      reload.disabled = false;
    }
  });
  main.append(h('h1', {}, 'Flows'),
    h('p', { class: 'lead' }, 'Flows are the YAML files in the server\'s flows folder; edit them here (New flow, Edit) or in the folder, and the server reloads them when a file changes. Switching a flow off stops its triggers; "Run now" still works.'),
    h('div', { class: 'actions' }, h('a', { href: '#/flows/new', class: 'button primary' }, 'New flow'), reload), status, area);
  await show();
}

// flowsList shows the flows that loaded, then the files that did not, with
// their problems (they do not run until fixed).
function flowsList(flows) {
  const loaded = flows.filter((f) => !f.problems?.length);
  const broken = flows.filter((f) => f.problems?.length);
  const out = [];
  if (loaded.length) {
    out.push(table('Flows', ['Name', 'Description', 'Trigger', 'Enabled', 'Last run'], loaded.map((f) => [
      h('a', { href: '#/flows/' + encodeURIComponent(f.name) }, f.name),
      f.description || '',
      triggerText(f),
      enableSwitch(f),
      lastRun(f.lastRun),
    ]), { captionHidden: true }));
  } else {
    out.push(message('info', broken.length ? 'No flows loaded: every file has problems (below).' : 'No flows loaded. Put *.yaml files in the folder given to s3flow server --flows.'));
  }
  if (broken.length) {
    out.push(h('section', { 'aria-labelledby': 'broken-title' },
      h('h2', { id: 'broken-title' }, 'Files with problems'),
      h('p', { class: 'muted' }, 'These files are not loaded and do not run until they are fixed.'),
      broken.map((f) => h('div', { class: 'msg msg-warn' },
        h('code', {}, f.file),
        h('ul', { class: 'problems' }, f.problems.map((p) => h('li', {},
          p.line ? h('span', { class: 'pos' }, `line ${p.line}, column ${p.column}: `) : null,
          p.message)))))));
  }
  return out;
}

export async function flowPage(main, { args }) {
  const name = args[0];
  const f = await api('GET', '/api/flows/' + encodeURIComponent(name));
  const mods = await api('GET', '/api/modules').catch(() => []);
  const title = (m) => (mods.find((x) => x.name === m) || {}).title || m;
  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/flows' }, 'Flows'), ' / ', f.name),
    h('h1', {}, f.name),
    h('div', { class: 'actions' }, h('a', { href: `#/flows/${encodeURIComponent(f.name)}/edit`, class: 'button' }, 'Edit')),
    f.description ? h('p', { class: 'lead' }, f.description) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'File'), h('dd', {}, h('code', {}, f.file)),
      h('dt', {}, 'Trigger'), h('dd', {}, triggerText(f)),
      h('dt', {}, 'Enabled'), h('dd', {}, enableSwitch(f)),
      h('dt', {}, 'Last run'), h('dd', {}, lastRun(f.lastRun))),
    h('section', { 'aria-labelledby': 'steps-title' },
      h('h2', { id: 'steps-title' }, 'Steps'),
      h('ol', { class: 'chain' }, (f.steps || []).map((s, i) => h('li', { class: 'step' },
        h('span', { class: 'step-n' }, `Step ${i + 1}`),
        h('span', { class: 'step-id' }, s.id),
        h('span', { class: 'step-mod' }, s.title || title(s.module)),
        h('code', { class: 'step-name' }, s.module))))),
    runNow(f),
    h('section', { 'aria-labelledby': 'recent-title' }, h('h2', { id: 'recent-title' }, 'Recent runs'), await recentRuns(f.name)));
}

async function recentRuns(flow) {
  const rs = await api('GET', `/api/runs?flow=${encodeURIComponent(flow)}&limit=10`).catch(() => []);
  if (!rs.length) return h('p', { class: 'muted' }, 'No runs yet.');
  return h('ul', { class: 'plain' }, rs.map((r) => h('li', {}, h('a', { href: '#/runs/' + r.id }, statusBadge(r.status), ' ', formatTime(r.startedAt), ' — ', r.id))));
}

function runNow(f) {
  const inputs = f.inputs || [];
  const controls = {};
  // flow.Input has no JSON names yet (Name, Type...); accept both spellings.
  const fields = inputs.map((raw) => {
    const inp = { Name: raw.Name ?? raw.name, Type: raw.Type ?? raw.type, Required: raw.Required ?? raw.required,
      Default: raw.Default ?? raw.default, Description: raw.Description ?? raw.description };
    const id = 'run-in-' + inp.Name;
    const type = inp.Type || 'string';
    let control;
    if (type === 'boolean') {
      control = h('input', { id, name: inp.Name, type: 'checkbox', checked: inp.Default === true });
      controls[inp.Name] = () => control.checked;
      return formField({ id, label: inp.Name, help: inp.Description, control, inline: true });
    }
    control = h('input', {
      id, name: inp.Name, type: type === 'integer' || type === 'number' ? 'number' : 'text', step: type === 'number' ? 'any' : '1',
      required: inp.Required, value: inp.Default !== undefined && inp.Default !== null ? String(inp.Default) : '', spellcheck: 'false',
    });
    controls[inp.Name] = () => (control.value === '' ? undefined : type === 'integer' || type === 'number' ? Number(control.value) : control.value);
    return formField({ id, label: inp.Name, help: [inp.Description, inp.Default !== undefined && inp.Default !== null ? `default: ${inp.Default}` : ''].filter(Boolean).join(' — '), required: inp.Required, control });
  });
  const out = h('div', { class: 'form-result' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Run now');
  const form = h('form', { class: 'card', 'aria-labelledby': 'run-now-title' },
    h('h2', { id: 'run-now-title' }, 'Run now'),
    fields.length ? h('div', { class: 'grid' }, fields) : h('p', { class: 'muted' }, 'This flow takes no inputs.'),
    h('div', { class: 'actions' }, submit), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    const values = {};
    for (const [k, get] of Object.entries(controls)) {
      const v = get();
      if (v !== undefined) values[k] = v;
    }
    submit.disabled = true;
    try {
      const res = await api('POST', `/api/flows/${encodeURIComponent(f.name)}/run`, { inputs: values });
      location.hash = '#/runs/' + res.run;
    } catch (err) {
      out.replaceChildren(message('error', 'The run was not started: ' + err.message));
      submit.disabled = false;
    }
  });
  return form;
}
