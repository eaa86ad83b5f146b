// Runs: the history with filters, and one run with its steps and bundles,
// updated by polling while it is queued or running.
import { api } from './api.js';
import { h, fill, message, formField, table, statusBadge, formatTime, formatDuration, errorBlock, errorParts, announce } from './ui.js';

const STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'incomplete', 'cancelled', 'interrupted'];
// A waiting run (a step waits for files, the run suspended on the queue)
// has not ended: it is followed like a running one.
const live = (s) => s === 'queued' || s === 'running' || s === 'waiting';

// passedOver says which step errors on_error passed over ("2 ignored,
// 1 resumed"), '' if none: a run that succeeded may still have skipped work.
function passedOver(r) {
  const parts = [];
  if (r.ignoredErrors) parts.push(`${r.ignoredErrors} ignored`);
  if (r.resumedErrors) parts.push(`${r.resumedErrors} resumed`);
  return parts.join(', ');
}

// errorTitle heads a run's error: an incomplete run's names the bundle a
// break stopped, an interrupted run's the process that went away.
function errorTitle(status) {
  if (status === 'incomplete') return 'A break stopped some bundles';
  if (status === 'interrupted') return 'The run was interrupted';
  if (status === 'waiting') return 'The run is waiting';
  return 'The run failed';
}

function runDuration(r) {
  const start = Date.parse(r.startedAt);
  const end = r.finishedAt ? Date.parse(r.finishedAt) : Date.now();
  return end - start;
}

export async function runsPage(main, { params }) {
  const flows = await api('GET', '/api/flows').catch(() => []);
  const flowSel = h('select', { id: 'f-flow', name: 'flow' }, h('option', { value: '' }, 'All flows'), flows.map((f) => h('option', { value: f.name }, f.name)));
  const statusSel = h('select', { id: 'f-status', name: 'status' }, h('option', { value: '' }, 'Any status'), STATUSES.map((s) => h('option', { value: s }, s)));
  const since = h('input', { id: 'f-since', name: 'since', type: 'datetime-local' });
  flowSel.value = params.get('flow') || '';
  statusSel.value = params.get('status') || '';
  if (params.get('since')) {
    const d = new Date(params.get('since'));
    if (!isNaN(d)) since.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }
  const filters = h('form', { class: 'filters', 'aria-label': 'Filter runs' },
    formField({ id: 'f-flow', label: 'Flow', control: flowSel }),
    formField({ id: 'f-status', label: 'Status', control: statusSel }),
    formField({ id: 'f-since', label: 'Started after', control: since }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply filters')));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (flowSel.value) q.set('flow', flowSel.value);
    if (statusSel.value) q.set('status', statusSel.value);
    if (since.value) q.set('since', new Date(since.value).toISOString().replace(/\.\d+Z$/, 'Z'));
    location.hash = '#/runs' + (q.toString() ? '?' + q : '');
  });
  const list = h('div', { id: 'run-list' });
  main.append(h('h1', {}, 'Runs'), filters, list);

  let timer;
  async function load() {
    const q = new URLSearchParams({ limit: '100' });
    for (const k of ['flow', 'status', 'since']) if (params.get(k)) q.set(k, params.get(k));
    let rs;
    try {
      rs = await api('GET', '/api/runs?' + q);
    } catch (err) {
      list.replaceChildren(message('error', err.message));
      return;
    }
    list.replaceChildren(rs.length ? table('Runs', ['Run', 'Flow', 'Status', 'Errors passed over', 'Started', 'Duration', 'Trigger'], rs.map((r) => [
      h('a', { href: '#/runs/' + r.id }, r.id),
      h('a', { href: '#/flows/' + encodeURIComponent(r.flow) }, r.flow),
      statusBadge(r.status),
      passedOver(r),
      formatTime(r.startedAt),
      formatDuration(runDuration(r)) + (live(r.status) ? ' so far' : ''),
      (r.trigger && r.trigger.type) || '',
    ]), { captionHidden: true }) : message('info', 'No runs match.'));
    if (rs.some((r) => live(r.status))) timer = setTimeout(load, 2000);
  }
  await load();
  return () => clearTimeout(timer);
}

export async function runPage(main, { args }) {
  const id = args[0];
  const head = h('div');
  const body = h('div');
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Runs'), ' / ', id), h('h1', {}, `Run ${id}`), head, body);
  let timer;
  let lastStatus = '';
  let lastSeen = '';
  let stopped = false;
  async function load() {
    let data;
    try {
      data = await api('GET', '/api/runs/' + encodeURIComponent(id));
    } catch (err) {
      head.replaceChildren(message('error', err.message));
      return;
    }
    const seen = JSON.stringify(data);
    // Unchanged data is not drawn again, so open details stay open.
    if (seen !== lastSeen) render(data);
    lastSeen = seen;
    const st = data.run.status;
    if (lastStatus && st !== lastStatus) announce(`Run ${st}`);
    lastStatus = st;
    if (live(st) && !stopped) timer = setTimeout(load, 1000);
  }

  function render({ run, events, summaries = [] }) {
    const dur = runDuration(run);
    fill(head,
      h('dl', { class: 'facts' },
        h('dt', {}, 'Status'), h('dd', { id: 'run-status' }, statusBadge(run.status), live(run.status) ? h('span', { class: 'muted' }, ' — updating every second') : null),
        h('dt', {}, 'Flow'), h('dd', {}, h('a', { href: '#/flows/' + encodeURIComponent(run.flow) }, run.flow)),
        h('dt', {}, 'Started'), h('dd', {}, formatTime(run.startedAt)),
        h('dt', {}, 'Finished'), h('dd', {}, run.finishedAt ? formatTime(run.finishedAt) : '—'),
        h('dt', {}, 'Duration'), h('dd', {}, formatDuration(dur) + (live(run.status) ? ' so far' : '')),
        h('dt', {}, 'Trigger'), h('dd', {}, (run.trigger && run.trigger.type) || '—'),
        run.until ? [h('dt', {}, 'Steps'), h('dd', { id: 'run-until' }, 'up to ', h('code', {}, run.until), ' only')] : null,
        passedOver(run) ? [h('dt', {}, 'Errors passed over'), h('dd', { id: 'run-passed-over' }, passedOver(run) + ' (on_error)')] : null,
        run.brokenBundles ? [h('dt', {}, 'Bundles stopped'), h('dd', {}, String(run.brokenBundles) + ' (on_error: break)')] : null,
        run.worker ? [h('dt', {}, 'Worker'), h('dd', {}, run.worker)] : null),
      run.inputs && Object.keys(run.inputs).length
        ? h('details', {}, h('summary', {}, 'Inputs'), h('pre', { class: 'json' }, JSON.stringify(run.inputs, null, 2))) : null,
      run.error ? errorBlock(run.error, errorTitle(run.status)) : null);

    // One section per step, in the order the steps first appear.
    const steps = new Map();
    for (const ev of events) {
      if (!steps.has(ev.step)) steps.set(ev.step, []);
      steps.get(ev.step).push(ev);
    }
    // Past the history's detail, a step's bundles that went well are kept
    // as counts only: said under the step's heading.
    const counted = new Map();
    for (const sum of summaries) {
      if (!steps.has(sum.step)) steps.set(sum.step, []);
      if (!counted.has(sum.step)) counted.set(sum.step, []);
      counted.get(sum.step).push(sum);
    }
    const t0 = Date.parse(run.startedAt);
    const span = Math.max(dur, 1);
    const sections = [...steps].map(([step, evs]) => {
      const failed = evs.some((e) => e.status === 'failed');
      const total = evs.reduce((a, e) => a + e.durationNs / 1e6, 0);
      const sums = counted.get(step) || [];
      const module = evs.length ? evs[0].module : sums[0].module;
      return h('section', { class: 'run-step' + (failed ? ' failed' : ''), 'aria-labelledby': 'step-' + step },
        h('h3', { id: 'step-' + step }, step, ' ', h('code', {}, module), ' ',
          h('span', { class: 'muted' }, `${evs.length} ${evs.length === 1 ? 'event' : 'events'}, ${formatDuration(total)}`)),
        sums.map((sum) => h('p', { class: 'run-summary' },
          `Kept as counts, past the history's detail: ${sum.bundles.toLocaleString('en')} more ${sum.status} bundle${sum.bundles === 1 ? '' : 's'}`,
          sum.bytes ? `, ${formatBytes(sum.bytes)}` : '',
          `, ${formatDuration(sum.durationNs / 1e6)} in all (${formatDuration(sum.minDurationNs / 1e6)} to ${formatDuration(sum.maxDurationNs / 1e6)} each).`)),
        table(`Events of step ${step}`, ['Bundle', 'Status', 'Attempt', 'Started', 'Duration', 'Timeline', 'Details'], evs.map((ev) => {
          const start = Date.parse(ev.startedAt) - t0;
          const ms = ev.durationNs / 1e6;
          const left = Math.min(100, Math.max(0, (start / span) * 100));
          const width = Math.max(0.5, Math.min(100 - left, (ms / span) * 100));
          const bar = h('div', { class: 'timeline', role: 'img', 'aria-label': `from ${formatDuration(start)} to ${formatDuration(start + ms)} after the start` },
            barSpan(ev.status, left, width));
          return [
            ev.path || '—',
            statusBadge(ev.status),
            ev.attempt ? String(ev.attempt) : '',
            `+${formatDuration(start)}`,
            formatDuration(ms),
            bar,
            details(ev),
          ];
        }), { captionHidden: true }));
    });
    fill(body, h('h2', {}, 'Steps'), sections.length ? sections : h('p', { class: 'muted' }, live(run.status) ? 'Waiting for the first step…' : 'No steps were recorded.'));
  }

  function formatBytes(n) {
    const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i ? `${n.toFixed(1)} ${units[i]}` : `${n} bytes`;
  }

  // The bar's place is set through the CSSOM: the page's policy allows no
  // inline style attributes.
  function barSpan(status, left, width) {
    const span = h('span', { class: 'bar st-' + status });
    span.style.marginLeft = left.toFixed(2) + '%';
    span.style.width = width.toFixed(2) + '%';
    return span;
  }

  function details(ev) {
    const parts = [];
    if (ev.error) {
      const { code, requestId } = errorParts(ev.error);
      parts.push(h('div', { class: 'ev-error' },
        code ? h('span', {}, 'S3 code ', h('code', {}, code)) : null,
        requestId ? h('span', {}, ' · request id ', h('code', {}, requestId)) : null,
        h('p', {}, ev.error)));
    }
    if (ev.input) parts.push(h('details', {}, h('summary', {}, 'Bundle in'), h('pre', { class: 'json' }, JSON.stringify(ev.input, null, 2))));
    if (ev.output) parts.push(h('details', {}, h('summary', {}, 'Bundle out'), h('pre', { class: 'json' }, JSON.stringify(ev.output, null, 2))));
    return parts.length ? parts : '';
  }

  await load();
  return () => { stopped = true; clearTimeout(timer); };
}
