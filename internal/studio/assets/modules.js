// Modules: pick an S3 module and run it. The form is made from the module's
// declaration (GET /api/modules): labels, help, types, required fields and
// defaults are the server's, described once in Go.
import { api, runModule, token } from './api.js';
import { h, fill, message, formField, table, formatValue, errorBlock, combobox, formatDuration, announce } from './ui.js';
import { regionSelect } from './regions.js';

const CONN_KEY = 's3flow.connection';

// Fields the Studio leaves out: local paths on the server, which the API
// refuses (Get a file sends the data to the browser instead).
const serverPath = (f) => f.kind === 'localPath' || f.kind === 'localPathOrStdout';

export async function modulesPage(main, { args }) {
  const [mods, conns] = await Promise.all([api('GET', '/api/modules'), api('GET', '/api/connections')]);
  // Modules that touch the server's disk or output never run over the API.
  const s3mods = mods.filter((m) => m.name.startsWith('s3.') && !(m.reaches || []).length);
  const current = args[0] ? s3mods.find((m) => m.name === args[0]) : null;
  const picker = h('nav', { class: 'module-list', 'aria-label': 'S3 modules' },
    h('ul', {}, s3mods.map((m) => h('li', {},
      h('a', { href: '#/modules/' + m.name, 'aria-current': m === current ? 'page' : null },
        h('span', { class: 'mod-title' }, m.title), h('span', { class: 'mod-name' }, m.name))))));
  const body = h('div', { class: 'module-body' });
  main.append(h('h1', {}, current ? current.title : 'Modules'), h('div', { class: 'two-col' }, picker, body));
  if (!current) {
    body.append(h('p', { class: 'lead' }, 'Pick a module to try it on one of your connections. Flows run the same modules with the same inputs.'));
    if (args[0]) body.prepend(message('error', `No S3 module named ${args[0]}.`));
    return;
  }
  body.append(moduleForm(current, conns));
}

function moduleForm(mod, conns) {
  const controls = {}; // field name → {get(), field}
  const cache = new Map();
  const saved = sessionStorage.getItem(CONN_KEY);
  const usable = conns.filter((c) => c.kind !== 'env' || true);
  const connSel = h('select', { id: 'mod-connection', name: 'connection', required: true },
    usable.map((c) => h('option', { value: c.name }, c.endpoint ? `${c.name} (${c.endpoint})` : `${c.name} (${c.kind})`)));
  connSel.value = usable.some((c) => c.name === saved) ? saved : (usable.find((c) => c.kind === 'keys') || usable[0] || {}).name || '';
  const connOf = () => conns.find((c) => c.name === connSel.value) || {};
  const regionOf = () => (controls.region ? controls.region.get() : undefined);
  const bucketOf = () => (controls.bucket ? controls.bucket.get() : '');

  const { buckets, entries } = suggestions({ connection: () => connSel.value, regionOf, bucketOf, cache });

  // A file field is sent from the browser only by Upload a file.
  const fields = mod.fields.filter((f) => !serverPath(f) && !(f.type === 'file' && mod.name !== 's3.upload_file'));
  const fieldEls = fields.map((f) => fieldControl(f, { buckets, entries, mod, controls }));
  connSel.addEventListener('change', () => {
    sessionStorage.setItem(CONN_KEY, connSel.value);
    if (controls.region) controls.region.setDefault(connOf().region);
  });
  if (controls.region) controls.region.setDefault(connOf().region);

  const result = h('section', { class: 'result', 'aria-labelledby': 'result-title', hidden: true });
  // What the form does comes from the declaration: a module that moves a
  // file's bytes downloads or uploads it through the browser.
  const isGet = mod.moves === 'download';
  const isUpload = mod.moves === 'upload';
  const submit = h('button', { type: 'submit', class: 'primary' }, isGet ? 'Download' : isUpload ? 'Upload' : 'Run');
  const form = h('form', { class: 'card', 'aria-describedby': 'mod-help' },
    h('p', { id: 'mod-help', class: 'lead' }, mod.help, ' ', h('code', {}, mod.name)),
    mod.needsConnection ? formField({ id: 'mod-connection', label: 'Connection', required: true, control: connSel,
      help: conns.length ? 'The keys to use.' : 'No connections yet: create one first.' }) : null,
    h('div', { class: 'grid' }, fieldEls),
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    const inputs = {};
    try {
      for (const [name, c] of Object.entries(controls)) {
        const v = c.get();
        if (v !== undefined && c.field.type !== 'file') inputs[name] = v;
      }
    } catch (err) {
      showResult(result, mod, { error: err.message });
      return;
    }
    submit.disabled = true;
    const started = performance.now();
    result.hidden = false;
    result.replaceChildren(message('info', isUpload ? 'Uploading…' : 'Running…'));
    try {
      if (isGet) {
        await download(connSel.value, inputs, result, mod, started);
      } else if (isUpload) {
        const fd = new FormData();
        fd.append('request', JSON.stringify({ connection: connSel.value, inputs }));
        fd.append('file', controls.file.get());
        const out = await api('POST', '/api/files/upload', fd);
        showResult(result, mod, { bundles: out.bundles, ms: performance.now() - started });
      } else {
        const bundles = await runModule(mod.name, connSel.value, inputs);
        showResult(result, mod, { bundles, ms: performance.now() - started });
      }
    } catch (err) {
      showResult(result, mod, { error: err.message });
    } finally {
      submit.disabled = false;
    }
  });
  return h('div', {}, form, result);
}

// download asks the server for a short-lived link to the object and lets
// the browser follow it: the data streams from S3 through the server to
// disk, and the link works without the token (it names this object only).
// A link works once, so "again" asks for a new one.
async function download(connection, inputs, result, mod, started) {
  const name = (inputs.path || 'download').split('/').pop();
  const url = await follow(connection, inputs, name);
  const link = h('a', { href: url, download: name, class: 'button' }, `Download ${name} again`);
  link.addEventListener('click', async (ev) => {
    ev.preventDefault();
    try {
      await follow(connection, inputs, name);
    } catch (err) {
      link.after(message('error', err.message));
    }
  });
  let info = null;
  try {
    const bi = { bucket: inputs.bucket, path: inputs.path };
    if (inputs.region) bi.region = inputs.region;
    info = await runModule('s3.get_file_info', connection, bi);
  } catch { /* the download itself will say what is wrong */ }
  showResult(result, mod, { bundles: info || [], ms: performance.now() - started,
    note: [h('p', {}, `The download of ${name} has started. A link works once, for 5 minutes. `), link] });
}

// follow asks for a link to the object and has the browser follow it.
async function follow(connection, inputs, name) {
  const { url } = await api('POST', '/api/files/link', { connection, inputs });
  const tmp = h('a', { href: url, download: name, hidden: true });
  document.body.append(tmp);
  tmp.click();
  tmp.remove();
  return url;
}

function showResult(result, mod, { bundles, error, ms, note }) {
  result.hidden = false;
  const title = h('h2', { id: 'result-title', tabindex: '-1' }, 'Result');
  if (error) {
    result.replaceChildren(title, errorBlock(error, `${mod.title} failed`));
    announce(`${mod.title} failed`);
    title.focus();
    return;
  }
  // Output declarations are Go structs without JSON names (Name, FlowOnly).
  const outputs = (mod.outputs || []).filter((o) => !(o.FlowOnly ?? o.flowOnly)).map((o) => o.Name ?? o.name);
  for (const b of bundles) for (const k of Object.keys(b)) if (!outputs.includes(k)) outputs.push(k);
  const count = `${bundles.length} ${bundles.length === 1 ? 'bundle' : 'bundles'}` + (ms !== undefined ? ` in ${formatDuration(ms)}` : '');
  fill(result, ...[title,
    message('ok', count),
    note,
    bundles.length ? h('h3', {}, 'Table') : null,
    bundles.length ? table(`Output bundles of ${mod.title}`, outputs, bundles.map((b) => outputs.map((k) => formatValue(b[k]))), { captionHidden: true }) : null,
    h('h3', {}, 'JSON'),
    h('pre', { class: 'json', tabindex: '0', 'aria-label': 'Output as JSON' }, JSON.stringify(bundles, null, 2))].flat().filter(Boolean));
  announce(`${mod.title}: ${count}`);
  title.focus();
}

// suggestions makes the loaders of the bucket and folder suggestions for a
// connection (a name, read when asked): buckets from Get buckets, folders
// (and, for a path, files) under what is typed so far. The flow editor
// uses them too.
export function suggestions({ connection, regionOf = () => undefined, bucketOf, cache = new Map() }) {
  async function buckets(text) {
    const conn = connection();
    if (!conn) throw new Error('no connection to ask');
    const key = conn + '|' + (regionOf() || '');
    if (!cache.has(key)) {
      const inputs = regionOf() ? { region: regionOf() } : {};
      cache.set(key, runModule('s3.list_buckets', conn, inputs).then((bs) => bs.map((b) => b.name)));
    }
    let names;
    try {
      names = await cache.get(key);
    } catch (err) {
      cache.delete(key);
      throw err;
    }
    return names.includes(text) ? names : names.filter((n) => n.toLowerCase().includes(text.toLowerCase()));
  }

  async function entries(text, withFiles) {
    const bucket = bucketOf();
    if (!bucket) throw new Error('choose a bucket first');
    if (bucket.includes('{{')) throw new Error('the bucket is mapped; type a value');
    const typed = text.replace(/^\/+/, '');
    const base = typed.slice(0, typed.lastIndexOf('/') + 1);
    const inputs = { bucket, prefix: base, limit: 200 };
    if (regionOf()) inputs.region = regionOf();
    const calls = [runModule('s3.list_folders', connection(), inputs).then((bs) => bs.map((b) => b.prefix))];
    if (withFiles) calls.push(runModule('s3.list_files', connection(), inputs).then((bs) => bs.map((b) => b.key)));
    const all = (await Promise.all(calls)).flat();
    return all.filter((p) => p.startsWith(typed));
  }
  return { buckets, entries };
}

// fieldControl makes the control for one declared field and registers how
// to read its value. The flow editor passes idPrefix, value (the text in
// the flow file) and textual: every field but a switch or a choice is then
// a text box, since a flow's value may be an expression ({{ ... }}).
export function fieldControl(f, { buckets, entries, mod, controls, idPrefix = 'in-', value, textual, steps }) {
  const id = idPrefix + f.name;
  const help = [f.help, f.example && !(f.help || '').includes(f.example) ? `e.g. ${f.example}` : ''].filter(Boolean).join(' — ');
  const hasBucket = mod.fields.some((x) => x.kind === 'bucket');
  const text = (el) => () => (el.value === '' ? undefined : el.value);
  const given = value !== undefined && value !== null;
  const shown = given ? (typeof value === 'object' ? pairsText(value) : String(value)) : '';
  let control;
  let get;
  let extra = {};
  if (f.kind === 'region' && !textual) {
    control = regionSelect({ id, name: f.name, value: '', first: ['', "The connection's region"] });
    get = text(control);
    extra.setDefault = (r) => { control.options[0].textContent = `The connection's region${r ? ' (' + r + ')' : ''}`; };
  } else if (f.kind === 'stepId' && steps) {
    // An earlier step of the flow, by its id.
    const ids = !shown || steps.includes(shown) ? steps : [shown, ...steps];
    control = h('select', { id, name: f.name }, h('option', { value: '' }, '(choose a step)'), ids.map((x) => h('option', { value: x }, x)));
    control.value = shown;
    get = text(control);
  } else if (f.choices && f.choices.length && (!given || f.choices.includes(String(value)))) {
    control = h('select', { id, name: f.name, required: f.required && !textual },
      f.required && !textual ? null : h('option', { value: '' }, '(default)'),
      f.choices.map((c) => h('option', { value: c }, c)));
    if (given) control.value = String(value);
    else if (f.default !== undefined && !textual) control.value = String(f.default);
    get = text(control);
  } else if (f.kind === 'bucket') {
    const cb = combobox({ id, name: f.name, value: shown, required: f.required && !textual, label: f.label, load: buckets, placeholder: 'Choose or type a bucket' });
    control = cb.input;
    get = () => (cb.input.value.trim() === '' ? undefined : cb.input.value.trim());
    return register(formField({ id, label: f.label, help, required: f.required, control: cb.el }));
  } else if ((f.kind === 'folder' || f.kind === 'objectKey') && hasBucket) {
    const cb = combobox({ id, name: f.name, value: shown, required: f.required && !textual, label: f.label, load: (t) => entries(t, f.kind === 'objectKey'),
      placeholder: f.kind === 'objectKey' ? 'Type to see files and folders' : 'Type to see folders' });
    control = cb.input;
    get = text(cb.input);
    return register(formField({ id, label: f.label, help, required: f.required, control: cb.el }));
  } else if (f.type === 'boolean' && (!given || typeof value === 'boolean') && !(textual && f.required)) {
    // A required yes/no in a flow (a filter's condition) is an expression.
    control = h('input', { id, name: f.name, type: 'checkbox', checked: given ? value === true : f.default === true });
    get = () => control.checked;
    return register(formField({ id, label: f.label, help, control, inline: true }));
  } else if (f.type === 'integer' && !textual) {
    control = h('input', { id, name: f.name, type: 'number', step: '1', min: f.min, required: f.required, value: f.default !== undefined && f.default !== 0 ? String(f.default) : '' });
    get = () => (control.value === '' ? undefined : Number(control.value));
  } else if (f.type === 'integer') {
    control = h('input', { id, name: f.name, type: 'text', inputmode: 'numeric', spellcheck: 'false', value: shown,
      placeholder: f.default !== undefined && f.default !== 0 ? `default ${f.default}` : '' });
    get = () => (control.value.trim() === '' ? undefined : /^-?[0-9]+$/.test(control.value.trim()) ? Number(control.value.trim()) : control.value.trim());
  } else if (f.type === 'map' && (!given || typeof value === 'object')) {
    control = h('textarea', { id, name: f.name, rows: 3, spellcheck: 'false', placeholder: 'One per line: Name: value' }, shown);
    get = () => parsePairs(control.value, f.label);
  } else if (f.type === 'list' && (!given || Array.isArray(value))) {
    control = h('textarea', { id, name: f.name, rows: 3, spellcheck: 'false', placeholder: 'One item per line' }, given ? value.join('\n') : '');
    get = () => { const l = control.value.split('\n').map((x) => x.trim()).filter(Boolean); return l.length ? l : undefined; };
  } else if (f.type === 'file' && !textual) {
    control = h('input', { id, name: f.name, type: 'file', required: f.required });
    get = () => control.files[0];
  } else {
    control = h('input', { id, name: f.name, type: 'text', required: f.required && !textual, spellcheck: 'false',
      value: given ? shown : textual ? '' : f.default !== undefined ? String(f.default) : '',
      placeholder: textual && f.default !== undefined && f.default !== '' ? `default ${f.default}` : f.example || '' });
    get = text(control);
  }
  return register(formField({ id, label: f.label, help, required: f.required, control }));

  function register(el) {
    controls[f.name] = { field: f, get, control, ...extra };
    return el;
  }
}

// pairsText writes a map as parsePairs reads it.
function pairsText(m) {
  return Array.isArray(m) ? m.join('\n') : Object.entries(m).map(([k, v]) => `${k}: ${v}`).join('\n');
}

// parsePairs reads "Name: value" or "name=value" lines into an object: each
// line splits at its first : or =.
export function parsePairs(text, label) {
  const out = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const i = line.search(/[:=]/);
    if (i <= 0) throw new Error(`${label}: "${line}" is not "Name: value" or "name=value"`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return Object.keys(out).length ? out : undefined;
}
