// The flow editor: a flow file as forms (inputs, trigger, a chain of step
// cards made from the module declarations) and as text (the YAML tab). The
// file stays the source of truth: it is read with GET .../source, and the
// browser never reads or writes YAML itself. POST /api/flows/draft turns
// the text into the form's JSON, and the form's edits (PATCH operations on
// the saved text, or a whole new flow) into the text a save writes, with
// the server parser's problems; so the YAML tab shows, comments and all,
// exactly what Save will write.
import { api, ApiError } from './api.js';
import { h, fill, message, formField, table, formatTime, errorBlock, combobox, announce, statusBadge } from './ui.js';
import { fieldControl, suggestions } from './modules.js';

const INPUT_TYPES = ['string', 'integer', 'number', 'boolean', 'time', 'list', 'map'];
const ON_ERROR = [
  ['stop', 'Stop the run (default)'], ['retry', 'Retry'], ['ignore', 'Ignore: drop the bundle'],
  ['resume', 'Resume with an output'], ['break', 'Break: stop this bundle'], ['rollback', 'Roll back: stop the run at once'],
];
const TOP_KEYS = ['name', 'description', 'max_concurrent_runs', 'history_detail', 'trigger', 'inputs'];
const live = (s) => s === 'queued' || s === 'running';
const outName = (o) => o.Name ?? o.name;
const outType = (o) => o.Type ?? o.type ?? '';

// The palette's groups, in the registry's order (module.Groups); each
// module declares its own.
const GROUPS = ['S3 objects', 'S3 buckets', 'Flow control', 'Local files', 'Data', 'Other'];
const moduleGroup = (m) => (GROUPS.includes(m.group) ? m.group : 'Other');

export async function editorPage(main, { args }) {
  const isNew = !args.length || args[0] === undefined;
  const [mods, kinds, conns] = await Promise.all([
    api('GET', '/api/modules'), api('GET', '/api/triggers'), api('GET', '/api/connections').catch(() => []),
  ]);
  const modOf = (name) => mods.find((m) => m.name === name);
  const st = {
    name: isNew ? '' : args[0],
    version: null, // the version on disk this edit started from
    baseText: null, baseDoc: null, // the saved file and its form (null: a new flow)
    doc: { name: '', description: '', steps: [] },
    text: '',
    source: 'form', // which view was edited last: what Save sends
    readable: true, // the form can show the text
    dirty: false,
    problems: [],
    sample: { steps: {}, trigger: null, inputs: null },
    runEvents: null,
  };
  let timer = null;
  let pollTimer = null;
  let stopped = false;
  let palette = null; // {at} while the palette is open
  let runUpTo = null; // runs the saved flow up to a step (set by runOnce)

  const h1 = h('h1', {}, isNew ? 'New flow' : `Edit ${st.name}`);
  const status = h('div', { class: 'editor-status', 'aria-live': 'polite' });
  const tabForm = h('button', { type: 'button', role: 'tab', id: 'tab-form', 'aria-controls': 'panel-form', 'aria-selected': 'true' }, 'Form');
  const tabYaml = h('button', { type: 'button', role: 'tab', id: 'tab-yaml', 'aria-controls': 'panel-yaml', 'aria-selected': 'false', tabindex: '-1' }, 'YAML');
  const panelForm = h('div', { role: 'tabpanel', id: 'panel-form', 'aria-labelledby': 'tab-form' });
  const yamlBox = h('textarea', { id: 'flow-yaml', name: 'yaml', rows: 24, spellcheck: 'false', class: 'yaml-text' });
  const panelYaml = h('div', { role: 'tabpanel', id: 'panel-yaml', 'aria-labelledby': 'tab-yaml', hidden: true },
    formField({ id: 'flow-yaml', label: 'Flow file (YAML)', control: yamlBox,
      help: 'The file as it is saved. Edit it here or in the form: both stay in step, and the same checks apply.' }));
  const problemsEl = h('section', { class: 'problems-panel', 'aria-labelledby': 'problems-title' });
  const saveBtn = h('button', { type: 'button', class: 'primary' }, 'Save');
  const saveOut = h('div', { class: 'form-result', id: 'save-result' });
  const runArea = h('section', { 'aria-labelledby': 'runonce-title' });
  const versionsArea = h('section', { 'aria-labelledby': 'versions-title' });
  const deleteArea = h('div');

  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/flows' }, 'Flows'), ' / ',
      isNew ? 'new' : h('a', { href: '#/flows/' + encodeURIComponent(st.name) }, st.name), isNew ? null : ' / edit'),
    h1,
    h('p', { class: 'lead' }, 'Build the flow from modules; map values from earlier steps, the trigger and the inputs. The YAML tab shows the file this makes.'),
    h('div', { role: 'tablist', 'aria-label': 'Editor views', class: 'tabs' }, tabForm, tabYaml),
    panelForm, panelYaml, problemsEl,
    h('div', { class: 'actions sticky-actions' }, saveBtn, status), saveOut,
    runArea, versionsArea, deleteArea);

  // --- Loading ---------------------------------------------------------
  async function load() {
    clearTimeout(timer);
    if (isNew) {
      st.doc = { name: '', description: '', steps: [] };
      st.version = null;
      st.source = 'form';
      took(await api('POST', '/api/flows/draft', { doc: st.doc }), 'form');
    } else {
      const src = await api('GET', `/api/flows/${encodeURIComponent(st.name)}/source`);
      st.version = src.version;
      st.baseText = src.yaml;
      st.text = src.yaml;
      took(await api('POST', '/api/flows/draft', { yaml: src.yaml }), 'text');
      st.baseDoc = st.readable ? structuredClone(st.doc) : null;
      st.source = 'form';
      loadSample();
    }
    st.dirty = false;
    yamlBox.value = st.text;
    renderForm();
    runOnce();
    deleteControls();
  }

  // took takes a draft's answer: the text a save writes, and the flow as
  // the form shows it (from the text, when the text was edited), and the
  // server's problems.
  function took(out, from) {
    // Text as typed stays as typed (more may have been typed since).
    if (from === 'form') st.text = out.yaml;
    if (from === 'text') {
      const d = out.doc;
      if (d === null || typeof d !== 'object' || Array.isArray(d)) {
        st.readable = false;
        st.readError = out.doc_error || 'a flow file is a map (name:, steps:, ...)';
      } else if (d.steps != null && !Array.isArray(d.steps)) {
        st.readable = false;
        st.readError = 'steps: is a list';
      } else {
        d.steps = (d.steps || []).map((s) => (s && typeof s === 'object' ? s : {}));
        st.doc = d;
        st.readable = true;
        st.readError = '';
      }
    } else {
      yamlBox.value = out.yaml;
    }
    st.problems = out.details || (out.problems || []).map((m) => ({ message: m }));
    showProblems();
  }

  // The last run's values are the samples the mapping picker shows.
  async function loadSample() {
    try {
      const rs = await api('GET', `/api/runs?flow=${encodeURIComponent(st.name)}&limit=1`);
      if (!rs.length) return;
      const { run, events } = await api('GET', '/api/runs/' + encodeURIComponent(rs[0].id));
      takeSample(run, events);
    } catch { /* no sample: the picker shows names and types */ }
  }
  // A run up to a step keeps the samples of the steps after it.
  function takeSample(run, events) {
    const steps = run.until ? { ...st.sample.steps } : {};
    const seen = new Set();
    for (const ev of events) {
      if (ev.output && !seen.has(ev.step)) { steps[ev.step] = ev.output; seen.add(ev.step); }
    }
    st.sample = { steps, trigger: run.trigger || null, inputs: run.inputs || null };
  }

  // --- Changes ---------------------------------------------------------
  // changed is called after every form edit: the text follows the form.
  function changed({ rerender } = {}) {
    st.source = 'form';
    markDirty();
    if (rerender) renderForm();
    draftSoon();
  }
  function markDirty() {
    st.dirty = true;
    fill(status, h('span', { class: 'muted' }, 'Unsaved changes'));
  }
  yamlBox.addEventListener('input', () => {
    st.text = yamlBox.value;
    st.source = 'text';
    markDirty();
    draftSoon();
  });

  function selectTab(which) {
    const yaml = which === 'yaml';
    tabForm.setAttribute('aria-selected', String(!yaml));
    tabYaml.setAttribute('aria-selected', String(yaml));
    tabForm.tabIndex = yaml ? -1 : 0;
    tabYaml.tabIndex = yaml ? 0 : -1;
    panelForm.hidden = yaml;
    panelYaml.hidden = !yaml;
    if (!yaml) flush().then(renderForm);
  }
  tabForm.addEventListener('click', () => selectTab('form'));
  tabYaml.addEventListener('click', () => selectTab('yaml'));
  for (const t of [tabForm, tabYaml]) {
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        e.preventDefault();
        const other = t === tabForm ? tabYaml : tabForm;
        other.click();
        other.focus();
      }
    });
  }

  // --- Drafts: the text, the form and the problems --------------------
  // Each change is sent to POST /api/flows/draft after a pause in typing;
  // only the latest answer counts. flush sends a waiting change at once
  // and resolves when the latest answer is in (before a save, or when the
  // form is shown again after the YAML tab).
  let dseq = 0;
  let pending = Promise.resolve();
  function draftSoon(ms = 400) {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; pending = refresh(); }, ms);
  }
  function flush() {
    if (timer) {
      clearTimeout(timer);
      timer = null;
      pending = refresh();
    }
    return pending;
  }
  // draftBody is what the current edit is, for the server: the text as
  // typed, the form's edits as operations on the saved text (what a save
  // PATCHes), or the whole form (a new flow, or edits no operation makes).
  function draftBody() {
    if (st.source === 'text' || !st.readable) return { from: 'text', body: { yaml: st.text } };
    const patch = st.baseText !== null ? ops() : null;
    return { from: 'form', body: patch ? { base: st.baseText, ops: patch } : { doc: st.doc } };
  }
  async function refresh() {
    const mine = ++dseq;
    const { from, body } = draftBody();
    let out;
    try {
      out = await api('POST', '/api/flows/draft', body);
    } catch (err) {
      if (mine !== dseq || stopped) return;
      st.problems = [{ message: err.message }];
      showProblems();
      return;
    }
    if (mine !== dseq || stopped) return;
    took(out, from);
  }

  function showProblems() {
    for (const el of panelForm.querySelectorAll('.field-problem')) el.remove();
    for (const el of panelForm.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const items = st.problems.map((p) => {
      const m = /step "([^"]+)"(?::\s*with\.([A-Za-z0-9_-]+))?/.exec(p.message || '');
      const where = p.line ? `line ${p.line}${p.column ? ', column ' + p.column : ''}: ` : '';
      let target = null;
      if (m) {
        const card = [...panelForm.querySelectorAll('[data-step-id]')].find((c) => c.dataset.stepId === m[1]);
        const field = card && m[2] ? card.querySelector(`[data-field="${CSS.escape(m[2])}"]`) : null;
        const host = field || (card && card.querySelector('.step-problems'));
        if (host) {
          host.append(h('p', { class: 'field-problem' }, where + p.message));
          const ctl = field && field.querySelector('input, select, textarea');
          if (ctl) { ctl.setAttribute('aria-invalid', 'true'); target = ctl; } else target = card.querySelector('h3');
        }
      }
      const goto = () => {
        if (target && !panelForm.hidden) { target.focus(); return; }
        selectTab('yaml');
        yamlBox.focus();
        if (p.line) {
          const lines = yamlBox.value.split('\n');
          const at = lines.slice(0, p.line - 1).reduce((a, l) => a + l.length + 1, 0) + Math.max(0, (p.column || 1) - 1);
          yamlBox.setSelectionRange(at, at);
        }
      };
      return h('li', {}, where ? h('button', { type: 'button', class: 'link', onclick: goto }, where.replace(/: $/, '')) : null, where ? ': ' : '', p.message);
    });
    fill(problemsEl,
      h('h2', { id: 'problems-title' }, st.problems.length ? `Problems (${st.problems.length})` : 'Problems'),
      st.problems.length ? h('ul', { class: 'problems' }, items) : message('ok', 'The server reads this flow without problems.'));
  }

  // --- The form --------------------------------------------------------
  function renderForm() {
    if (!st.readable) {
      fill(panelForm, message('warn', 'The form cannot show this text: ', st.readError, '. Edit it in the YAML tab; the server\'s checks below still apply.'));
      return;
    }
    const d = st.doc;
    fill(panelForm, flowCard(d), inputsCard(d), triggerCard(d), stepsSection(d));
    showProblems();
  }

  function flowCard(d) {
    const name = h('input', { id: 'flow-name', type: 'text', value: d.name ?? '', required: true, spellcheck: 'false', readOnly: !isNew, autocomplete: 'off' });
    name.addEventListener('input', () => { d.name = name.value; changed(); });
    const desc = h('input', { id: 'flow-description', type: 'text', value: d.description ?? '' });
    desc.addEventListener('input', () => { if (desc.value) d.description = desc.value; else delete d.description; changed(); });
    return h('section', { class: 'card', 'aria-labelledby': 'flow-card-title' },
      h('h2', { id: 'flow-card-title' }, 'Flow'),
      h('div', { class: 'grid' },
        formField({ id: 'flow-name', label: 'Flow name', required: true, control: name,
          help: isNew ? 'Letters, digits, _ and -; the file is NAME.yaml.' : 'A saved flow keeps its name (its file and runs use it).' }),
        formField({ id: 'flow-description', label: 'Description', control: desc })));
  }

  function inputsCard(d) {
    const list = Object.entries(d.inputs || {}).map(([n, v]) => ({ name: n, ...(v && typeof v === 'object' ? v : {}) }));
    const write = () => {
      const out = {};
      for (const it of list) {
        if (!it.name) continue;
        const { name, ...rest } = it;
        for (const k of Object.keys(rest)) if (rest[k] === undefined || rest[k] === '') delete rest[k];
        out[name] = rest;
      }
      if (Object.keys(out).length) d.inputs = out; else delete d.inputs;
      changed();
    };
    const rows = list.map((it, i) => {
      const p = `input-${i}-`;
      const nm = h('input', { id: p + 'name', type: 'text', value: it.name, spellcheck: 'false' });
      nm.addEventListener('input', () => { it.name = nm.value.trim(); write(); });
      const ty = h('select', { id: p + 'type' }, INPUT_TYPES.map((t) => h('option', { value: t }, t)));
      ty.value = it.type || 'string';
      ty.addEventListener('change', () => { it.type = ty.value; write(); });
      const rq = h('input', { id: p + 'required', type: 'checkbox', checked: it.required === true });
      rq.addEventListener('change', () => { it.required = rq.checked || undefined; write(); });
      const df = h('input', { id: p + 'default', type: 'text', value: it.default ?? '', spellcheck: 'false' });
      df.addEventListener('input', () => {
        const v = df.value;
        it.default = v === '' ? undefined : (it.type === 'integer' || it.type === 'number') && !isNaN(Number(v)) ? Number(v) : it.type === 'boolean' ? v === 'true' : v;
        write();
      });
      const ds = h('input', { id: p + 'description', type: 'text', value: it.description ?? '' });
      ds.addEventListener('input', () => { it.description = ds.value || undefined; write(); });
      const rm = h('button', { type: 'button', 'aria-label': `Remove input ${it.name || i + 1}` }, 'Remove');
      rm.addEventListener('click', () => { list.splice(i, 1); write(); renderForm(); document.getElementById('add-input')?.focus(); });
      return h('fieldset', { class: 'input-row' }, h('legend', {}, `Input ${i + 1}`),
        formField({ id: p + 'name', label: 'Name', control: nm }),
        formField({ id: p + 'type', label: 'Type', control: ty }),
        formField({ id: p + 'default', label: 'Default', control: df }),
        formField({ id: p + 'description', label: 'Description', control: ds }),
        formField({ id: p + 'required', label: 'Required', control: rq, inline: true }),
        rm);
    });
    const add = h('button', { type: 'button', id: 'add-input' }, 'Add input');
    add.addEventListener('click', () => {
      let n = list.length + 1;
      while (list.some((x) => x.name === `input${n}`)) n++;
      list.push({ name: `input${n}`, type: 'string' });
      write();
      renderForm();
      document.getElementById(`input-${list.length - 1}-name`)?.focus();
    });
    return h('section', { class: 'card', 'aria-labelledby': 'inputs-title' },
      h('h2', { id: 'inputs-title' }, 'Inputs'),
      h('p', { class: 'help' }, 'Values given to each run (Run now, the API, the CLI); map them into steps as inputs.NAME.'),
      rows, h('div', { class: 'actions' }, add));
  }

  function triggerCard(d) {
    const t = d.trigger && typeof d.trigger === 'object' ? d.trigger : null;
    const kind = t ? Object.keys(t)[0] : '';
    const sel = h('select', { id: 'trigger-kind' }, h('option', { value: '' }, 'None: runs start by hand or by the API'),
      kinds.map((k) => h('option', { value: k.name }, k.title)));
    sel.value = kind || '';
    sel.addEventListener('change', () => {
      if (sel.value) d.trigger = { [sel.value]: {} }; else delete d.trigger;
      changed({ rerender: true });
      document.getElementById('trigger-kind')?.focus();
    });
    const k = kinds.find((x) => x.name === kind);
    const cfg = t && t[kind] && typeof t[kind] === 'object' ? t[kind] : {};
    const fields = k ? (k.fields || []).map((f) => {
      const id = `trigger-${f.name}`;
      const v = cfg[f.name];
      let ctl;
      const set = (val) => { if (val === undefined || val === '') delete cfg[f.name]; else cfg[f.name] = val; d.trigger[kind] = cfg; changed(); };
      if (f.type === 'boolean') {
        ctl = h('input', { id, type: 'checkbox', checked: v === true });
        ctl.addEventListener('change', () => set(ctl.checked || undefined));
        return formField({ id, label: f.name, help: f.help, control: ctl, inline: true });
      }
      if (f.type === 'list') {
        ctl = h('textarea', { id, rows: 2, spellcheck: 'false', placeholder: 'One item per line' }, Array.isArray(v) ? v.join('\n') : v ?? '');
        ctl.addEventListener('input', () => { const l = ctl.value.split('\n').map((x) => x.trim()).filter(Boolean); set(l.length ? l : undefined); });
      } else if (f.type === 'mapping') {
        // A mapping (watch_files' after) is edited as JSON, which is YAML too.
        ctl = h('textarea', { id, rows: 2, spellcheck: 'false', placeholder: '{"success": {"move_to": "done/"}}' }, v && typeof v === 'object' ? JSON.stringify(v) : v ?? '');
        ctl.addEventListener('input', () => {
          try { set(ctl.value.trim() ? JSON.parse(ctl.value) : undefined); ctl.setCustomValidity(''); } catch { ctl.setCustomValidity('Write it as JSON, e.g. {"success": "delete"}'); }
        });
      } else {
        ctl = h('input', { id, type: 'text', value: v ?? '', spellcheck: 'false', placeholder: f.example || '', inputmode: f.type === 'integer' ? 'numeric' : undefined });
        ctl.addEventListener('input', () => set(f.type === 'integer' && /^[0-9]+$/.test(ctl.value) ? Number(ctl.value) : ctl.value));
      }
      return formField({ id, label: f.name, help: [f.help, f.example ? `e.g. ${f.example}` : ''].filter(Boolean).join(' — '), required: f.required, control: ctl });
    }) : [];
    return h('section', { class: 'card', 'aria-labelledby': 'trigger-title' },
      h('h2', { id: 'trigger-title' }, 'Trigger'),
      formField({ id: 'trigger-kind', label: 'What starts this flow', control: sel, help: k ? k.help : undefined }),
      fields.length ? h('div', { class: 'grid' }, fields) : null,
      k && k.payload && k.payload.length ? h('p', { class: 'help' }, 'Its data, to map into steps: ', k.payload.map((p) => `trigger.${p.name} (${p.type})`).join(', ')) : null);
  }

  function stepsSection(d) {
    const items = [];
    d.steps.forEach((s, i) => {
      items.push(slot(i));
      items.push(stepCard(d, s, i));
    });
    items.push(slot(d.steps.length));
    return h('section', { 'aria-labelledby': 'steps-edit-title' },
      h('h2', { id: 'steps-edit-title' }, `Steps (${d.steps.length})`),
      d.steps.length ? null : h('p', { class: 'muted' }, 'No steps yet: add the first one.'),
      h('ol', { class: 'editor-chain' }, items));
  }

  // slot is the place between two steps: a button that opens the palette
  // there, or the palette itself.
  function slot(at) {
    const last = at === st.doc.steps.length;
    if (palette && palette.at === at) return h('li', { class: 'slot open' }, paletteEl(at));
    const prev = st.doc.steps[at - 1];
    const label = last ? 'Add a step' : at === 0 ? 'Insert a step at the start' : `Insert a step after ${prev.id}`;
    const btn = h('button', { type: 'button', class: last ? '' : 'insert', id: `slot-${at}` }, last ? 'Add a step' : '+', last ? null : h('span', { class: 'visually-hidden' }, ' ' + label));
    if (!last) btn.setAttribute('aria-label', label);
    btn.addEventListener('click', () => { palette = { at }; renderForm(); document.getElementById('palette-search')?.focus(); });
    return h('li', { class: 'slot' + (last ? ' slot-end' : '') }, btn);
  }

  function paletteEl(at) {
    const search = h('input', { id: 'palette-search', type: 'search', placeholder: 'Search modules', autocomplete: 'off' });
    const results = h('div', { class: 'palette-groups' });
    const show = () => {
      const q = search.value.trim().toLowerCase();
      const hit = mods.filter((m) => !q || [m.name, m.title, m.help].join(' ').toLowerCase().includes(q));
      const groups = GROUPS.map((g) => [g, hit.filter((m) => moduleGroup(m) === g)]).filter(([, ms]) => ms.length);
      fill(results, groups.length ? groups.map(([g, ms]) => h('section', { class: 'palette-group', 'aria-label': g },
        h('h3', {}, g),
        h('ul', { class: 'plain' }, ms.map((m) => h('li', {}, h('button', { type: 'button', class: 'palette-item', onclick: () => addStep(at, m) },
          h('span', { class: 'mod-title' }, m.title), ' ', h('code', { class: 'mod-name' }, m.name),
          h('span', { class: 'help' }, m.help))))))) : h('p', { class: 'muted' }, 'No module matches.'));
    };
    search.addEventListener('input', show);
    const close = h('button', { type: 'button' }, 'Close');
    const done = () => { palette = null; renderForm(); document.getElementById(`slot-${at}`)?.focus(); };
    close.addEventListener('click', done);
    const el = h('div', { class: 'palette card', role: 'group', 'aria-label': 'Module palette' },
      h('div', { class: 'palette-head' }, formField({ id: 'palette-search', label: 'Find a module', control: search }), close), results);
    el.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); done(); } });
    show();
    return el;
  }

  function addStep(at, m) {
    const d = st.doc;
    const base = m.name.split('.').pop();
    let id = base;
    for (let n = 2; d.steps.some((s) => s.id === id); n++) id = `${base}_${n}`;
    const s = { id, module: m.name };
    if (m.needsConnection) {
      const prev = [...d.steps.slice(0, at)].reverse().find((x) => x.connection);
      // As the Modules page: the connection last used there, else the
      // first with keys.
      const used = sessionStorage.getItem('s3flow.connection');
      const conn = prev ? prev.connection : conns.some((c) => c.name === used) ? used : (conns.find((c) => c.kind === 'keys') || conns[0] || {}).name;
      if (conn) s.connection = conn;
    }
    s.with = {};
    if (m.control === 'aggregate') {
      // It collects the bundles of the nearest step before it that emits
      // many.
      const opener = [...d.steps.slice(0, at)].reverse().find((x) => (modOf(x.module) || {}).many) || d.steps[at - 1];
      if (opener && opener.id) s.with.from = opener.id;
    }
    d.steps.splice(at, 0, s);
    palette = null;
    changed({ rerender: true });
    announce(`${m.title} added as step ${at + 1}`);
    document.getElementById(`step-${at}-title`)?.focus();
  }

  function move(from, to) {
    const d = st.doc;
    if (to < 0 || to >= d.steps.length || from === to) return;
    const [s] = d.steps.splice(from, 1);
    d.steps.splice(to, 0, s);
    changed({ rerender: true });
    announce(`${s.id} is now step ${to + 1}`);
  }

  // loopsOf says, for each step, the id of the step whose bundles it runs
  // once for (null: it runs once), as the engine plans it from the
  // declarations: a step that emits many bundles opens a loop for the
  // steps after it; an aggregate closes the loop of the nearest such step
  // at or before its source, and runs once for the loop around it.
  function loopsOf(d) {
    const open = []; // indexes of the steps whose loops are open
    return d.steps.map((s, i) => {
      const m = modOf(s.module) || {};
      if (m.control === 'aggregate') {
        const f = d.steps.findIndex((x) => x.id === (s.with || {}).from);
        const j = Math.max(-1, ...open.filter((x) => f >= 0 && x <= f));
        if (j >= 0) open.splice(open.indexOf(j));
      }
      const loop = open.length ? d.steps[open[open.length - 1]].id ?? null : null;
      if (m.many) open.push(i);
      return loop;
    });
  }

  // stepCard is one step: its id, connection, the fields of its module's
  // declaration, on_error, and the last run-once's counts. A filter is the
  // same card drawn as the link between its neighbours; a step that emits
  // many bundles (a listing, an iterator) says that the steps after it run
  // once for each, and an aggregate says what it collects; the steps of a
  // loop are drawn inside it.
  function stepCard(d, s, i) {
    const m = modOf(s.module);
    const filter = m && m.control === 'filter';
    const aggregate = m && m.control === 'aggregate';
    const loop = loopsOf(d)[i];
    const p = `step-${i}-`;
    if (!s.with || typeof s.with !== 'object') s.with = {};
    const idBox = h('input', { id: p + 'id', type: 'text', value: s.id ?? '', spellcheck: 'false', autocomplete: 'off' });
    idBox.addEventListener('change', () => { s.id = idBox.value.trim(); changed({ rerender: true }); document.getElementById(p + 'id')?.focus(); });
    const controls = {};
    let connBox = null;
    const connField = [];
    if (m && m.needsConnection) {
      const cb = combobox({ id: p + 'connection', name: 'connection', value: s.connection ?? '', label: 'Connection',
        load: async (t) => { const ns = conns.map((c) => c.name); return ns.includes(t) ? ns : ns.filter((n) => n.toLowerCase().includes(t.toLowerCase())); } });
      connBox = cb.input;
      const set = () => { if (connBox.value.trim()) s.connection = connBox.value.trim(); else delete s.connection; changed(); };
      connBox.addEventListener('input', set);
      connBox.addEventListener('change', set);
      connField.push(mappable(formField({ id: p + 'connection', label: 'Connection', help: 'A connection name, or mapped from an input.', control: cb.el }), connBox, 'Connection', i));
    }
    // Suggestions ask S3 on the step's connection when it is a name, or
    // on the default of the input it is mapped from.
    const connName = () => {
      const c = s.connection || '';
      const mi = /^\{\{\s*inputs\.([A-Za-z0-9_]+)\s*\}\}$/.exec(c);
      if (mi) return String(((d.inputs || {})[mi[1]] || {}).default ?? '');
      return c.includes('{{') ? '' : c;
    };
    const { buckets, entries } = suggestions({ connection: connName, bucketOf: () => (controls.bucket ? controls.bucket.get() : '') });
    const fields = m ? (m.fields || []).map((f) => {
      const el = fieldControl(f, { buckets, entries, mod: m, controls, idPrefix: p + 'with-', value: s.with[f.name], textual: true,
        steps: d.steps.slice(0, i).map((x) => x.id).filter(Boolean) });
      el.dataset.field = f.name;
      const c = controls[f.name];
      const ctl = c.control;
      const update = () => {
        let v;
        try { v = c.get(); } catch { v = ctl.value; }
        if (v === undefined || v === false && f.default !== true) delete s.with[f.name]; else s.with[f.name] = v;
        // Another source step changes the loops the cards are drawn in.
        changed({ rerender: f.kind === 'stepId' });
      };
      ctl.addEventListener(ctl.type === 'checkbox' || ctl.tagName === 'SELECT' ? 'change' : 'input', update);
      if (ctl.getAttribute('role') === 'combobox') ctl.addEventListener('change', update);
      if ((ctl.tagName === 'INPUT' && ctl.type === 'text') || ctl.tagName === 'TEXTAREA') return mappable(el, ctl, f.label, i);
      return el;
    }) : [message('error', `No module named ${s.module}.`)];

    const up = h('button', { type: 'button', disabled: i === 0, 'aria-label': `Move ${s.id} up` }, 'Move up');
    const down = h('button', { type: 'button', disabled: i === d.steps.length - 1, 'aria-label': `Move ${s.id} down` }, 'Move down');
    const rm = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove step ${s.id}` }, 'Remove');
    up.addEventListener('click', () => { move(i, i - 1); focusLater(`step-${i - 1}-up`, `step-${i - 1}-down`); });
    down.addEventListener('click', () => { move(i, i + 1); focusLater(`step-${i + 1}-down`, `step-${i + 1}-up`); });
    up.id = p + 'up';
    down.id = p + 'down';
    rm.addEventListener('click', () => {
      d.steps.splice(i, 1);
      changed({ rerender: true });
      announce(`Step ${s.id} removed`);
      document.getElementById(`slot-${Math.min(i, d.steps.length)}`)?.focus();
    });
    const handle = h('span', { class: 'drag-handle', draggable: 'true', title: 'Drag to move this step', 'aria-hidden': 'true' }, '⠿');
    const title = h('h3', { id: p + 'title', tabindex: '-1' },
      filter ? 'Only go on when' : `${i + 1}. ${m ? m.title : s.module}`, ' ', h('code', { class: 'step-name' }, s.module));
    const kind = filter ? ' filter-link' : aggregate ? ' aggregate-card' : m && m.many ? ' loop-card' : '';
    const outs = m ? (m.outputs || []).map(outName).join(', ') : '';
    const shape = aggregate && s.with.from
      ? h('p', { class: 'card-shape' }, 'Collects each bundle of ', h('code', {}, s.with.from), ' into one: ', h('code', {}, outs), '. The steps after it run once.')
      : m && m.many ? h('p', { class: 'card-shape' }, 'Emits many bundles: the steps after it run once for each',
        outs ? [' (', h('code', {}, outs), ')'] : null, ', until an aggregate collects them.') : null;
    const card = h('li', { class: 'step-card' + kind + (loop ? ' in-loop' : ''), dataset: { stepId: s.id ?? '', index: String(i), loop: loop ?? '' }, 'aria-labelledby': p + 'title' },
      h('div', { class: 'step-head' }, handle, title),
      loop && !filter ? h('p', { class: 'loop-note' }, 'Runs once for each bundle of ', h('code', {}, loop), '.') : null,
      m && !filter ? h('p', { class: 'help' }, m.help) : null,
      shape,
      h('div', { class: 'grid' }, formField({ id: p + 'id', label: 'Step id', control: idBox, help: 'Later steps map its outputs as steps.ID.FIELD.' }), connField, fields),
      filter ? null : onErrorForm(s, p),
      h('div', { class: 'step-problems' }),
      runBubble(s),
      h('div', { class: 'actions step-actions' }, up, down, rm,
        isNew || !s.id ? null : h('button', { type: 'button', 'aria-label': `Run up to ${s.id}`, onclick: () => runUpTo && runUpTo(s.id) }, 'Run up to here')));
    handle.addEventListener('dragstart', (e) => { e.dataTransfer.setData('text/x-s3flow-step', String(i)); e.dataTransfer.effectAllowed = 'move'; card.classList.add('dragging'); });
    handle.addEventListener('dragend', () => card.classList.remove('dragging'));
    card.addEventListener('dragover', (e) => { if (e.dataTransfer.types.includes('text/x-s3flow-step')) { e.preventDefault(); card.classList.add('drop-here'); } });
    card.addEventListener('dragleave', () => card.classList.remove('drop-here'));
    card.addEventListener('drop', (e) => {
      e.preventDefault();
      const from = Number(e.dataTransfer.getData('text/x-s3flow-step'));
      if (!isNaN(from)) move(from, i);
    });
    return card;
  }

  function focusLater(...ids) {
    for (const id of ids) {
      const el = document.getElementById(id);
      if (el && !el.disabled) { el.focus(); return; }
    }
  }

  function onErrorForm(s, p) {
    const oe = s.on_error;
    const action = !oe ? 'stop' : typeof oe === 'string' ? oe : Object.keys(oe)[0];
    const body = oe && typeof oe === 'object' ? oe[action] || {} : {};
    const sel = h('select', { id: p + 'onerror' }, ON_ERROR.map(([v, t]) => h('option', { value: v }, t)));
    sel.value = action;
    const extra = h('div', { class: 'grid' });
    const write = () => {
      const a = sel.value;
      if (a === 'stop') delete s.on_error;
      else if (a === 'retry') {
        const r = {};
        if (attempts.value.trim()) r.attempts = /^[0-9]+$/.test(attempts.value.trim()) ? Number(attempts.value.trim()) : attempts.value.trim();
        if (backoff.value.trim()) r.backoff = backoff.value.trim();
        if (then.value) r.then = then.value;
        s.on_error = { retry: r };
      } else if (a === 'resume') {
        const out = {};
        for (const line of output.value.split('\n')) {
          const j = line.indexOf(':');
          if (j > 0) out[line.slice(0, j).trim()] = line.slice(j + 1).trim();
        }
        s.on_error = { resume: { output: out } };
      } else s.on_error = a;
      changed();
    };
    const attempts = h('input', { id: p + 'attempts', type: 'text', inputmode: 'numeric', value: body.attempts ?? '' });
    const backoff = h('input', { id: p + 'backoff', type: 'text', value: body.backoff ?? '', placeholder: '2s' });
    const then = h('select', { id: p + 'then' }, h('option', { value: '' }, 'stop (default)'), ['ignore', 'break', 'rollback'].map((v) => h('option', { value: v }, v)));
    then.value = body.then || '';
    const output = h('textarea', { id: p + 'output', rows: 2, spellcheck: 'false', placeholder: 'One per line: name: value' },
      Object.entries(body.output || {}).map(([k, v]) => `${k}: ${v}`).join('\n'));
    const showExtra = () => fill(extra,
      sel.value === 'retry' ? [
        formField({ id: p + 'attempts', label: 'Attempts', control: attempts, help: 'More tries after the first.' }),
        formField({ id: p + 'backoff', label: 'Backoff', control: backoff, help: 'Wait before a try, doubling: 2s, 500ms.' }),
        formField({ id: p + 'then', label: 'Then', control: then, help: 'When the tries run out.' })] : null,
      sel.value === 'resume' ? formField({ id: p + 'output', label: 'Output instead', control: output, help: 'The outputs the next steps get.' }) : null);
    sel.addEventListener('change', () => { showExtra(); write(); });
    for (const el of [attempts, backoff, output]) el.addEventListener('input', write);
    then.addEventListener('change', write);
    showExtra();
    return h('details', { class: 'on-error', open: action !== 'stop' },
      h('summary', {}, `On error: ${action}`),
      formField({ id: p + 'onerror', label: 'When this step fails', control: sel }), extra);
  }

  // --- Mapping ---------------------------------------------------------
  // mappable adds a "Map" button to a text field: it lists what the field
  // can take at this step (earlier steps' outputs with their types, the
  // trigger's data, the inputs) and inserts the expression at the cursor.
  function mappable(fieldEl, ctl, label, index) {
    const btn = h('button', { type: 'button', class: 'map-btn', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-label': `Map a value into ${label}` }, 'Map');
    let sel = [ctl.value.length, ctl.value.length];
    const keep = () => { sel = [ctl.selectionStart ?? ctl.value.length, ctl.selectionEnd ?? ctl.value.length]; };
    ctl.addEventListener('keyup', keep);
    ctl.addEventListener('mouseup', keep);
    ctl.addEventListener('blur', keep);
    let box = null;
    const close = (focus) => {
      if (!box) return;
      box.remove();
      box = null;
      btn.setAttribute('aria-expanded', 'false');
      if (focus) btn.focus();
    };
    btn.addEventListener('click', () => {
      if (box) { close(true); return; }
      box = picker(index, label, (expr) => {
        const v = ctl.value;
        ctl.value = v.slice(0, sel[0]) + expr + v.slice(sel[1]);
        const at = sel[0] + expr.length;
        close(false);
        ctl.focus();
        ctl.setSelectionRange(at, at);
        sel = [at, at];
        ctl.dispatchEvent(new Event('input', { bubbles: true }));
        ctl.dispatchEvent(new Event('change', { bubbles: true }));
        announce(`${expr} inserted into ${label}`);
      }, () => close(true));
      btn.setAttribute('aria-expanded', 'true');
      fieldEl.append(box);
      box.querySelector('button')?.focus();
    });
    fieldEl.append(btn);
    fieldEl.classList.add('mappable');
    return fieldEl;
  }

  function picker(index, label, pick, cancel) {
    const d = st.doc;
    const sample = (v) => (v === undefined || v === null ? null : h('span', { class: 'sample' }, '= ' + short(v)));
    const groups = [];
    const earlier = d.steps.slice(0, index).filter((s) => s.id);
    for (const s of earlier) {
      const m = modOf(s.module);
      const outs = (m && m.outputs) || [];
      if (!outs.length) continue;
      const smp = st.sample.steps[s.id] || {};
      groups.push([`Step ${s.id} (${m.title})`, outs.map((o) => [`steps.${s.id}.${outName(o)}`, outType(o), smp[outName(o)], o.Help ?? o.help])]);
    }
    const kind = d.trigger && typeof d.trigger === 'object' ? kinds.find((k) => k.name === Object.keys(d.trigger)[0]) : null;
    if (kind && kind.payload && kind.payload.length) {
      const ts = st.sample.trigger || {};
      groups.push([`Trigger (${kind.title})`, kind.payload.map((p) => [`trigger.${p.name}`, p.type, ts[p.name] ?? (ts.data || {})[p.name] ?? p.example, p.help])]);
    }
    const ins = Object.entries(d.inputs || {});
    if (ins.length) {
      const is = st.sample.inputs || {};
      groups.push(['Inputs', ins.map(([n, v]) => [`inputs.${n}`, (v && v.type) || 'string', is[n] ?? (v && v.default), v && v.description])]);
    }
    const close = h('button', { type: 'button' }, 'Close');
    close.addEventListener('click', cancel);
    const box = h('div', { class: 'picker', role: 'group', 'aria-label': `Values to map into ${label}` },
      groups.length ? groups.map(([g, rows]) => h('section', { class: 'picker-group' },
        h('h4', {}, g),
        h('ul', { class: 'plain' }, rows.map(([expr, type, smp, help]) => h('li', {},
          h('button', { type: 'button', class: 'pick', title: help || '', onclick: () => pick(`{{ ${expr} }}`) },
            h('code', {}, expr), ' ', h('span', { class: 'type' }, type), ' ', sample(smp))))))) :
        h('p', { class: 'muted' }, 'Nothing to map yet: add inputs, a trigger or earlier steps.'),
      close);
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); cancel(); }
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        const bs = [...box.querySelectorAll('button')];
        const j = bs.indexOf(document.activeElement);
        e.preventDefault();
        bs[(j + (e.key === 'ArrowDown' ? 1 : bs.length - 1)) % bs.length]?.focus();
      }
    });
    return box;
  }

  // --- Saving ----------------------------------------------------------
  function currentText() {
    return st.text;
  }

  // ops are the PATCH operations that make the saved file's steps and
  // keys into the form's, or null when only a whole save will do.
  function ops() {
    const a = st.baseDoc;
    const b = st.doc;
    if (!a || st.source !== 'form') return null;
    const ids = (x) => x.steps.map((s) => s.id);
    const uniq = (l) => l.every((v) => typeof v === 'string' && v) && new Set(l).size === l.length;
    if (!uniq(ids(a)) || !uniq(ids(b))) return null;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (k !== 'steps' && !TOP_KEYS.includes(k) && JSON.stringify(a[k]) !== JSON.stringify(b[k])) return null;
    }
    const out = [];
    for (const k of TOP_KEYS) {
      if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push({ op: 'set', key: k, value: b[k] === undefined || b[k] === '' ? null : b[k] });
    }
    const work = ids(a).filter((id) => ids(b).includes(id));
    for (const id of ids(a)) if (!work.includes(id)) out.push({ op: 'remove_step', id });
    b.steps.forEach((s, i) => {
      const at = work.indexOf(s.id);
      if (at < 0) {
        out.push({ op: 'insert_step', at: i, value: s });
        work.splice(i, 0, s.id);
        return;
      }
      if (at !== i) {
        out.push({ op: 'move_step', id: s.id, at: i });
        work.splice(at, 1);
        work.splice(i, 0, s.id);
      }
      const old = a.steps.find((x) => x.id === s.id);
      if (JSON.stringify(old) !== JSON.stringify(s)) out.push({ op: 'set_step', id: s.id, value: s });
    });
    return out;
  }

  async function save({ overwrite } = {}) {
    await flush();
    const name = isNew ? (st.readable ? String(st.doc.name || '').trim() : (/^name:\s*(\S+)/m.exec(st.text) || [])[1] || '') : st.name;
    if (!name) {
      fill(saveOut, message('error', 'Give the flow a name first (Flow name).'));
      document.getElementById('flow-name')?.focus();
      return;
    }
    saveBtn.disabled = true;
    fill(saveOut, message('info', 'Saving…'));
    const path = `/api/flows/${encodeURIComponent(name)}`;
    try {
      let res;
      const patch = !overwrite && st.version ? ops() : null;
      if (patch && patch.length === 0 && !st.dirty) {
        fill(saveOut, message('info', 'Nothing to save: the file is as on disk.'));
        return;
      }
      if (patch) res = await api('PATCH', path, { base_version: st.version, ops: patch });
      else res = await api('PUT', path, { yaml: currentText(), ...(overwrite || st.version ? { base_version: overwrite || st.version } : {}) });
      st.dirty = false;
      const how = patch ? 'only the edited steps and keys were rewritten' : 'the whole file was written';
      if (isNew) {
        sessionStorage.setItem('s3flow.saved', `Saved ${res.file} (version ${res.version.slice(0, 12)}).`);
        location.hash = `#/flows/${encodeURIComponent(name)}/edit`;
        return;
      }
      await load();
      fill(saveOut, message(res.loaded === false ? 'warn' : 'ok',
        `Saved ${res.file} (version ${res.version.slice(0, 12)}); ${how}.`, res.loaded === false ? ' The server did not load it: see the problems.' : ''));
      announce('Flow saved');
      await showVersions();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.data) showConflict(err.data);
      else if (err instanceof ApiError && err.status === 422 && err.data) {
        st.problems = err.data.problems || [];
        showProblems();
        fill(saveOut, message('error', 'Not saved: ' + err.message));
      } else fill(saveOut, message('error', 'Not saved: ' + err.message));
    } finally {
      saveBtn.disabled = false;
    }
  }
  saveBtn.addEventListener('click', () => save());

  // showConflict shows the file on disk beside this edit: reload drops
  // the edit; overwrite saves it over the disk's version knowingly.
  function showConflict(data) {
    const mine = currentText();
    const disk = data.disk;
    const reload = h('button', { type: 'button' }, 'Load the version on disk');
    const over = h('button', { type: 'button', class: 'danger' }, 'Overwrite with mine');
    reload.addEventListener('click', async () => { fill(saveOut); await load(); fill(saveOut, message('info', 'Loaded the version on disk; your changes were dropped.')); });
    over.addEventListener('click', () => save({ overwrite: disk ? disk.version : undefined }));
    fill(saveOut, h('section', { class: 'conflict', role: 'alert', 'aria-labelledby': 'conflict-title' },
      h('h2', { id: 'conflict-title' }, 'The file changed on disk since you opened it'),
      h('p', {}, err409(data)),
      h('div', { class: 'side-by-side' },
        h('div', {}, h('h3', {}, disk ? `On disk (version ${disk.version.slice(0, 12)})` : 'On disk: deleted'),
          h('pre', { class: 'yaml', tabindex: '0', 'aria-label': 'The file on disk' }, disk ? disk.yaml : '')),
        h('div', {}, h('h3', {}, 'Yours (not saved)'),
          h('pre', { class: 'yaml', tabindex: '0', 'aria-label': 'Your version' }, mine))),
      h('div', { class: 'actions' }, reload, over)));
    document.getElementById('conflict-title').setAttribute('tabindex', '-1');
    document.getElementById('conflict-title').focus();
  }
  const err409 = (data) => data.error || 'Someone else saved the file.';

  // --- Versions, diff, restore, delete ----------------------------------
  async function showVersions() {
    if (isNew) return;
    let vs = [];
    try {
      vs = (await api('GET', `/api/flows/${encodeURIComponent(st.name)}/versions?limit=50`)).versions || [];
    } catch (err) {
      fill(versionsArea, h('h2', { id: 'versions-title' }, 'Versions'), message('error', err.message));
      return;
    }
    const from = h('select', { id: 'diff-from' }, vs.map((v) => h('option', { value: v.hash }, label(v))));
    const to = h('select', { id: 'diff-to' }, vs.map((v) => h('option', { value: v.hash }, label(v))));
    if (vs.length > 1) from.value = vs[1].hash;
    const out = h('div', { id: 'diff-out' });
    const diffBtn = h('button', { type: 'button' }, 'Show the diff');
    diffBtn.addEventListener('click', async () => {
      try {
        const { diff } = await api('GET', `/api/flows/${encodeURIComponent(st.name)}/diff?from=${from.value}&to=${to.value}`);
        fill(out, diff ? h('pre', { class: 'diff', tabindex: '0', 'aria-label': 'Differences' },
          diff.split('\n').map((l) => h('span', { class: l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : '' }, l + '\n'))) : message('info', 'The two versions are the same.'));
      } catch (err) {
        fill(out, message('error', err.message));
      }
    });
    const rows = vs.map((v) => {
      const restore = h('button', { type: 'button', 'aria-label': `Restore version ${v.hash.slice(0, 12)}`, disabled: v.hash === st.version }, 'Restore');
      restore.addEventListener('click', async () => {
        try {
          await api('POST', `/api/flows/${encodeURIComponent(st.name)}/versions/${v.hash}/restore`, { base_version: st.version });
          await load();
          await showVersions();
          fill(saveOut, message('ok', `Version ${v.hash.slice(0, 12)} restored.`));
        } catch (err) {
          if (err instanceof ApiError && err.status === 409 && err.data) showConflict(err.data);
          else fill(saveOut, message('error', 'Not restored: ' + err.message));
        }
      });
      return [h('code', {}, v.hash.slice(0, 12)), v.action, v.savedBy || '', formatTime(v.savedAt), v.hash === st.version ? 'on disk' : restore];
    });
    fill(versionsArea, h('h2', { id: 'versions-title' }, 'Versions'),
      vs.length ? table('Saved versions', ['Version', 'Action', 'Saved by', 'When', ''], rows, { captionHidden: true }) : h('p', { class: 'muted' }, 'No saved versions yet.'),
      vs.length > 1 ? h('div', { class: 'card' }, h('div', { class: 'grid' },
        formField({ id: 'diff-from', label: 'From', control: from }), formField({ id: 'diff-to', label: 'To', control: to })),
      h('div', { class: 'actions' }, diffBtn), out) : null);
  }
  const label = (v) => `${v.hash.slice(0, 12)} — ${v.action} ${formatTime(v.savedAt)}`;

  function deleteControls() {
    if (isNew) return;
    const ask = h('button', { type: 'button', class: 'danger' }, 'Delete this flow');
    const out = h('div');
    ask.addEventListener('click', () => {
      const yes = h('button', { type: 'button', class: 'danger' }, `Yes, delete ${st.name}`);
      const no = h('button', { type: 'button' }, 'Keep it');
      no.addEventListener('click', () => { fill(out); ask.focus(); });
      yes.addEventListener('click', async () => {
        try {
          await api('DELETE', `/api/flows/${encodeURIComponent(st.name)}`, { base_version: st.version });
          location.hash = '#/flows';
        } catch (err) {
          if (err instanceof ApiError && err.status === 409 && err.data) showConflict(err.data);
          else fill(out, message('error', 'Not deleted: ' + err.message));
        }
      });
      fill(out, message('warn', 'The file is removed from the flows folder; its versions stay and can be restored. ', yes, ' ', no));
      yes.focus();
    });
    fill(deleteArea, h('h2', {}, 'Delete'), h('div', { class: 'actions' }, ask), out);
  }

  // --- Run once --------------------------------------------------------
  function runOnce() {
    if (isNew) return;
    const inputs = Object.entries(st.doc.inputs || {});
    const ctl = {};
    const fields = inputs.map(([n, v]) => {
      const id = 'once-' + n;
      const c = h('input', { id, type: 'text', spellcheck: 'false', value: v && v.default !== undefined ? String(v.default) : '' });
      ctl[n] = () => (c.value === '' ? undefined : (v && (v.type === 'integer' || v.type === 'number')) ? Number(c.value) : v && v.type === 'boolean' ? c.value === 'true' : c.value);
      return formField({ id, label: n, control: c, required: v && v.required, help: v && v.description });
    });
    const hasTrigger = st.doc.trigger && typeof st.doc.trigger === 'object';
    const useSample = h('input', { id: 'once-sample', type: 'checkbox' });
    const data = h('textarea', { id: 'once-trigger', rows: 3, spellcheck: 'false', placeholder: '{"key": "reports/x.csv"}' });
    const go = h('button', { type: 'button', class: 'primary' }, 'Run once');
    const out = h('div', { id: 'runonce-result' });
    // start runs the saved flow, whole or up to a step (the cards' "Run
    // up to here", as n8n's "Execute step": the steps before it run too).
    const start = async (until) => {
      if (st.dirty) { fill(out, message('warn', 'Save first: Run once runs the saved flow.')); return; }
      const body = { inputs: {} };
      if (until) body.until = until;
      for (const [n, get] of Object.entries(ctl)) { const v = get(); if (v !== undefined) body.inputs[n] = v; }
      if (hasTrigger && useSample.checked) body.sampleTrigger = true;
      if (hasTrigger && data.value.trim()) {
        try { body.trigger = JSON.parse(data.value); } catch (err) { fill(out, message('error', 'Trigger data is not JSON: ' + err.message)); return; }
      }
      go.disabled = true;
      try {
        const { run } = await api('POST', `/api/flows/${encodeURIComponent(st.name)}/run`, body);
        fill(out, message('info', until ? `Running up to ${until}… ` : 'Running… '), h('a', { href: '#/runs/' + encodeURIComponent(run) }, 'open the run'));
        await follow(run, out);
      } catch (err) {
        fill(out, message('error', 'The run was not started: ' + err.message));
      } finally {
        go.disabled = false;
      }
    };
    go.addEventListener('click', () => start());
    runUpTo = (id) => { runArea.scrollIntoView({ block: 'nearest' }); return start(id); };
    fill(runArea, h('h2', { id: 'runonce-title' }, 'Run once'),
      h('div', { class: 'card' },
        h('p', { class: 'help' }, 'Runs the saved flow now, as a normal recorded run; each step\'s bundles show on its card.'),
        fields.length ? h('div', { class: 'grid' }, fields) : null,
        hasTrigger ? [formField({ id: 'once-sample', label: 'Use the trigger\'s sample data', control: useSample, inline: true }),
          formField({ id: 'once-trigger', label: 'Trigger data (JSON)', control: data, help: 'Keys given here replace the sample\'s.' })] : null,
        h('div', { class: 'actions' }, go), out));
  }

  async function follow(id, out) {
    for (;;) {
      if (stopped) return;
      const data = await api('GET', '/api/runs/' + encodeURIComponent(id));
      if (!live(data.run.status)) {
        st.runEvents = data.events;
        st.runUntil = data.run.until || '';
        takeSample(data.run, data.events);
        renderForm();
        fill(out, h('p', {}, 'Run ', h('a', { href: '#/runs/' + encodeURIComponent(id) }, id), ': ', statusBadge(data.run.status)),
          data.run.error ? errorBlock(data.run.error, 'The run failed') : null);
        announce(`Run ${data.run.status}`);
        return;
      }
      await new Promise((r) => { pollTimer = setTimeout(r, 1000); });
    }
  }

  // after says whether step id comes after step until in the flow.
  const after = (id, until) => {
    const ids = st.doc.steps.map((x) => x.id);
    return !!until && ids.indexOf(id) > ids.indexOf(until) && ids.includes(until);
  };
  function runBubble(s) {
    if (!st.runEvents) return null;
    const evs = st.runEvents.filter((e) => e.step === s.id);
    if (!evs.length) return h('p', { class: 'bubble muted' }, after(s.id, st.runUntil) ? `Not run: the last run went up to ${st.runUntil} only.` : 'Not reached in the last run.');
    const by = {};
    for (const e of evs) by[e.status] = (by[e.status] || 0) + 1;
    const err = evs.find((e) => e.error);
    return h('div', { class: 'bubble' + (err ? ' failed' : '') },
      h('p', {}, h('strong', {}, `${evs.length} ${evs.length === 1 ? 'bundle' : 'bundles'}`), ': ',
        Object.entries(by).map(([k, n]) => `${n} ${k}`).join(', ')),
      err ? errorBlock(err.error, `${s.id} failed`) : null);
  }

  await load();
  const note = sessionStorage.getItem('s3flow.saved');
  if (note) { sessionStorage.removeItem('s3flow.saved'); fill(saveOut, message('ok', note)); }
  await showVersions();
  return () => { stopped = true; clearTimeout(timer); clearTimeout(pollTimer); };
}

const short = (v) => {
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return s.length > 60 ? s.slice(0, 57) + '…' : s;
};
