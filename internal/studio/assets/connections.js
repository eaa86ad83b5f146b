// Connections: list, create (verified by the server), delete. The list
// shows each connection's Summary as the API answers it (the CLI's
// "connection show" prints the same fields); the form sends the fields of
// "s3flow connection create", checked by the same rules on the server. The
// secret is write-only: the form sends it once and clears the field; the
// API never returns it.
import { api, ApiError } from './api.js';
import { h, message, formField, table, formatTime, nextId, announce } from './ui.js';
import { regionSelect } from './regions.js';

export async function connectionsPage(main) {
  const listArea = h('div', { id: 'connection-list' });
  main.append(
    h('h1', {}, 'Connections'),
    h('p', { class: 'lead' }, 'A connection is how s3flow reaches Amazon S3 or an S3-compatible store: keys, a role to assume, or a profile. Modules and flows use it by name.'),
    h('section', { 'aria-labelledby': 'conn-list-title' }, h('h2', { id: 'conn-list-title' }, 'Saved connections'), listArea),
    createForm(() => load()));

  async function load() {
    let conns;
    try {
      conns = await api('GET', '/api/connections');
    } catch (err) {
      listArea.replaceChildren(message('error', 'Could not list connections: ' + err.message));
      return;
    }
    const builtIn = (c) => c.kind === 'env' || c.kind === 'local';
    const rows = conns.map((c) => [
      c.name, c.kind, c.credentials || '—', c.accessKeyId || '—', c.region || '—', c.endpoint || (builtIn(c) ? '—' : 'Amazon S3'), c.pathStyle ? 'yes' : 'no',
      settings(c), c.status || '—',
      !builtIn(c)
        ? h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete connection ${c.name}`, onclick: () => remove(c.name) }, 'Delete')
        : h('span', { class: 'muted' }, 'built in'),
    ]);
    listArea.replaceChildren(table('Saved connections',
      ['Name', 'Kind', 'Credentials', 'Access key ID', 'Region', 'Endpoint', 'Path-style', 'Settings', 'Verification', 'Actions'], rows, { captionHidden: true }));
  }

  async function remove(name) {
    if (!confirm(`Delete the connection "${name}"? Flows that use it will fail until it is created again.`)) return;
    try {
      await api('DELETE', '/api/connections/' + encodeURIComponent(name));
      announce(`Connection ${name} deleted`);
      await load();
      main.querySelector('#conn-list-title').focus?.();
    } catch (err) {
      listArea.prepend(message('error', `Could not delete ${name}: ${err.message}`));
    }
  }

  await load();
}

// settings says in a few words what a connection sets beyond where it goes.
function settings(c) {
  const parts = [];
  if (c.checksum) parts.push(`checksums ${c.checksum}`);
  if (c.maxAttempts) parts.push(`${c.maxAttempts} attempts`);
  if (c.partSizeMiB) parts.push(`${c.partSizeMiB} MiB parts`);
  if (c.parallelParts) parts.push(`${c.parallelParts} parts at once`);
  if (c.sessionToken) parts.push('session token');
  if (c.roleSessionName) parts.push(`session ${c.roleSessionName}`);
  if (c.stsEndpoint) parts.push(`STS at ${c.stsEndpoint}`);
  return parts.join(', ') || '—';
}

// explain puts a failed verification in words the user can act on.
function explain(err) {
  const text = err.message;
  const lower = text.toLowerCase();
  let what = '';
  if (err.status === 422) {
    if (/assuming the role failed/.test(lower)) what = 'The role could not be assumed (its ARN, external ID or trust policy).';
    else if (/getting the source credentials failed/.test(lower)) what = 'The credentials that assume the role were refused or not found.';
    else if (/listing buckets failed/.test(lower)) what = 'The role was assumed, but its credentials could not list buckets here.';
    else if (/invalidaccesskeyid|unknown access key|access key id .*(not|does not)/.test(lower)) what = 'The access key ID is not known to this endpoint.';
    else if (/signaturedoesnotmatch|wrong secret|secret/.test(lower)) what = 'The secret access key is wrong for this access key ID.';
    else if (/unreachable|connection refused|no such host|dial/.test(lower)) what = 'The endpoint cannot be reached.';
    else what = 'The keys were refused.';
  } else if (err.status === 403) what = 'This token may not manage connections.';
  else if (err.status === 409) what = 'A connection with this name exists already.';
  else if (err.status === 400) what = 'Something in the form is not right.';
  else if (err.status === 504) what = 'The endpoint did not answer in time.';
  else if (err.status === 502) what = 'The endpoint answered something unexpected.';
  return [h('strong', {}, 'Not saved. ' + what), ' ', h('span', { class: 'detail' }, text)];
}

function createForm(onCreated) {
  const f = {};
  const ctl = (name, attrs) => (f[name] = h('input', { id: 'conn-' + name, name, ...attrs }));
  // Region and path style are sent only when the user sets them, so that a
  // provider's preset (or the server's default) fills them otherwise.
  const touched = new Set();
  const touch = (el, name) => el.addEventListener('change', () => touched.add(name));
  const region = regionSelect({ id: 'conn-region', name: 'region', value: 'us-east-1', first: ['other', 'Other (type a name)…'] });
  touch(region, 'region');
  const provider = h('select', { id: 'conn-provider', name: 'provider' }, h('option', { value: '' }, 'None (Amazon S3, or the endpoint below)'));
  api('GET', '/api/providers').then((ps) => {
    for (const p of ps) provider.append(h('option', { value: p.name }, `${p.title} (${p.name})`));
  }).catch(() => { /* the form works without presets */ });
  const otherRegion = h('input', { id: 'conn-region-other', name: 'region_other', type: 'text', placeholder: 'e.g. garage' });
  const otherField = formField({ id: 'conn-region-other', label: 'Region name', control: otherRegion, help: 'For stores that use their own region names.' });
  otherField.hidden = true;
  region.addEventListener('change', () => { otherField.hidden = region.value !== 'other'; });
  const checksum = h('select', { id: 'conn-checksum', name: 'checksum' },
    h('option', { value: '' }, 'Default (when-required with an endpoint, when-supported on AWS)'),
    h('option', { value: 'when-required' }, 'when-required'),
    h('option', { value: 'when-supported' }, 'when-supported'));
  // Where the credentials come from: one set of fields each. The server
  // decides what it accepts (a profile or a token file only when its
  // operator allows the machine's own credentials).
  const kind = h('select', { id: 'conn-kind', name: 'kind' },
    h('option', { value: 'keys' }, 'Access keys'),
    h('option', { value: 'role' }, 'Assume a role (STS AssumeRole)'),
    h('option', { value: 'web-identity' }, 'Assume a role with a web identity token'),
    h('option', { value: 'profile' }, 'A profile of the server\'s AWS config'));
  const roleSource = h('select', { id: 'conn-role_source', name: 'role_source' },
    h('option', { value: 'keys' }, 'The access keys above'),
    h('option', { value: 'connection' }, 'Another connection'),
    h('option', { value: 'chain' }, 'The server\'s default credential chain'));
  const sourceConn = h('select', { id: 'conn-source_connection', name: 'source_connection' });
  // Offered again after each save: a role is often made right after the
  // keys that assume it.
  const loadSources = () => api('GET', '/api/connections').then((cs) => {
    sourceConn.replaceChildren(...cs.filter((c) => c.kind !== 'local').map((c) => h('option', { value: c.name }, c.name)));
  }).catch(() => {});
  loadSources();
  const duration = h('select', { id: 'conn-duration', name: 'duration' },
    ...[['900', '15 minutes'], ['3600', '1 hour (default)'], ['14400', '4 hours'], ['43200', '12 hours']].map(([v, t]) => h('option', { value: v, selected: v === '3600' }, t)));
  const fieldsOf = {};
  const group = (name, ...fields) => (fieldsOf[name] = fields);
  const keyFields = [
    formField({ id: 'conn-access_key_id', label: 'Access key ID', required: true,
      control: ctl('access_key_id', { type: 'text', required: true, autocomplete: 'off', spellcheck: 'false' }) }),
    formField({ id: 'conn-secret_access_key', label: 'Secret access key', required: true,
      help: 'Write-only: it is sent once, stored encrypted, and never shown again.',
      control: ctl('secret_access_key', { type: 'password', required: true, autocomplete: 'new-password' }) })];
  const roleFields = [
    formField({ id: 'conn-role_arn', label: 'Role ARN', required: true, help: 'e.g. arn:aws:iam::123456789012:role/s3flow',
      control: ctl('role_arn', { type: 'text', autocomplete: 'off', spellcheck: 'false' }) }),
    formField({ id: 'conn-role_source', label: 'Assumed with', control: roleSource,
      help: 'Whose credentials ask STS for the role\'s: keys of its own, another connection\'s, or the server machine\'s own (when its operator allows it).' }),
    formField({ id: 'conn-source_connection', label: 'Source connection', control: sourceConn }),
    formField({ id: 'conn-external_id', label: 'External ID', help: 'If the role\'s trust policy asks for one. Write-only, like the secret.',
      control: ctl('external_id', { type: 'password', autocomplete: 'off' }) })];
  const tokenField = formField({ id: 'conn-web_identity_token_file', label: 'Web identity token file', required: true,
    help: 'An absolute path on the server, read at each refresh (e.g. a Kubernetes service account token).',
    control: ctl('web_identity_token_file', { type: 'text', autocomplete: 'off', spellcheck: 'false' }) });
  const profileField = formField({ id: 'conn-profile', label: 'Profile', required: true,
    help: 'A profile of the server\'s shared AWS config (SSO, credential_process, role_arn with source_profile), read when used.',
    control: ctl('profile', { type: 'text', autocomplete: 'off', spellcheck: 'false' }) });
  const roleTuning = [
    formField({ id: 'conn-duration', label: 'Role session length', control: duration, help: 'Each set of role credentials; s3flow gets new ones before they run out.' }),
    formField({ id: 'conn-role_session_name', label: 'Role session name', help: 'Recorded by STS (CloudTrail); default s3flow-NAME.',
      control: ctl('role_session_name', { type: 'text', autocomplete: 'off', spellcheck: 'false' }) }),
    formField({ id: 'conn-sts_endpoint', label: 'STS service URL', help: 'Where the role is assumed; default: the endpoint above (MinIO, Ceph), else AWS STS.',
      control: ctl('sts_endpoint', { type: 'url', placeholder: 'https://…', spellcheck: 'false' }) })];
  // show hides the fields the chosen kind does not use, and asks only for
  // the ones it needs.
  const show = () => {
    const k = kind.value;
    const withKeys = k === 'keys' || (k === 'role' && roleSource.value === 'keys');
    const visible = new Set([
      ...(withKeys ? keyFields : []),
      ...(k === 'role' ? roleFields : []), ...(k === 'web-identity' ? [roleFields[0], tokenField] : []),
      ...(k === 'role' || k === 'web-identity' ? roleTuning : []), ...(k === 'profile' ? [profileField] : [])]);
    if (k !== 'role' || roleSource.value !== 'connection') visible.delete(roleFields[2]);
    if (k !== 'role') visible.delete(roleFields[1]);
    for (const fld of [...keyFields, ...roleFields, tokenField, profileField, ...roleTuning]) {
      fld.hidden = !visible.has(fld);
      const input = fld.querySelector('input, select');
      if (input && fld.querySelector('.req')) input.required = !fld.hidden;
    }
  };
  kind.addEventListener('change', show);
  roleSource.addEventListener('change', show);
  const result = h('div', { class: 'form-result', id: 'conn-result' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create and verify');
  const form = h('form', { class: 'card', 'aria-labelledby': 'conn-create-title', novalidate: false },
    h('h2', { id: 'conn-create-title' }, 'Create a connection'),
    h('div', { class: 'grid' },
      formField({ id: 'conn-name', label: 'Name', required: true, help: 'Letters, digits, ., - and _, starting with a letter or digit; flows refer to it by this name.',
        control: ctl('name', { type: 'text', required: true, autocomplete: 'off' }) }),
      formField({ id: 'conn-kind', label: 'Credentials', control: kind, help: 'Where the credentials come from: keys stored (encrypted) here, or short-lived ones asked for when used.' }),
      ...keyFields, ...roleFields, tokenField, profileField, ...roleTuning,
      formField({ id: 'conn-provider', label: 'Provider', control: provider,
        help: 'A preset that fills the endpoint, path style, checksums and region of a known service; what you set below wins.' }),
      formField({ id: 'conn-region', label: 'Region', control: region, help: 'The region requests are signed for (with a provider: its region unless you pick one).' }),
      otherField,
      formField({ id: 'conn-endpoint', label: 'Endpoint', help: 'Only for S3-compatible stores (MinIO, Ceph, R2…), e.g. http://127.0.0.1:9000. Leave empty for Amazon S3.',
        control: ctl('endpoint', { type: 'url', placeholder: 'https://…', spellcheck: 'false' }) }),
      formField({ id: 'conn-path_style', label: 'Path-style addressing', inline: true, help: 'Bucket in the path (endpoint/bucket/key) rather than in the host name; most S3-compatible stores need it.',
        control: ctl('path_style', { type: 'checkbox' }) })),
    h('details', {},
      h('summary', {}, 'More options'),
      h('div', { class: 'grid' },
        formField({ id: 'conn-session_token', label: 'Session token', help: 'For temporary credentials only. Write-only, like the secret.',
          control: ctl('session_token', { type: 'password', autocomplete: 'off' }) }),
        formField({ id: 'conn-account_id', label: 'Account ID', help: 'For providers whose endpoint names it (Cloudflare R2).',
          control: ctl('account_id', { type: 'text', autocomplete: 'off', spellcheck: 'false' }) }),
        formField({ id: 'conn-checksum', label: 'Request checksums', control: checksum, help: 'Some S3-compatible stores reject the SDK\'s checksum trailers.' }),
        formField({ id: 'conn-max_attempts', label: 'Attempts per request', help: 'Tries per request, retries included: 1 to 20 (0: the SDK\'s 3).',
          control: ctl('max_attempts', { type: 'number', min: '0', max: '20', step: '1', value: '0' }) }),
        formField({ id: 'conn-part_size_mib', label: 'Part size (MiB)', help: 'Part size of large transfers: 5 to 5120 MiB (0: s3flow\'s default).',
          control: ctl('part_size_mib', { type: 'number', min: '0', max: '5120', step: '1', value: '0' }) }),
        formField({ id: 'conn-parallel_parts', label: 'Parts at once', help: 'Parts of a large transfer moved at once: 1 to 64 (0: s3flow\'s default).',
          control: ctl('parallel_parts', { type: 'number', min: '0', max: '64', step: '1', value: '0' }) }),
        formField({ id: 'conn-no_verify', label: 'Save without verifying', inline: true, help: 'Skips the ListBuckets call that proves the keys.',
          control: ctl('no_verify', { type: 'checkbox' }) }))),
    h('div', { class: 'actions' }, submit),
    result);

  touch(f.path_style, 'path_style');
  show();
  const int = (el) => (el.value.trim() === '' ? 0 : Number(el.value));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    const k = kind.value;
    const withKeys = k === 'keys' || (k === 'role' && roleSource.value === 'keys');
    const body = {
      name: f.name.value.trim(),
      access_key_id: withKeys ? f.access_key_id.value.trim() : '',
      secret_access_key: withKeys ? f.secret_access_key.value : '',
      session_token: withKeys ? f.session_token.value : '',
      provider: provider.value,
      account_id: f.account_id.value.trim(),
      endpoint: f.endpoint.value.trim(),
      checksum: checksum.value,
      max_attempts: int(f.max_attempts),
      part_size_mib: int(f.part_size_mib),
      parallel_parts: int(f.parallel_parts),
      no_verify: f.no_verify.checked,
    };
    if (k === 'role' || k === 'web-identity') {
      Object.assign(body, { role_arn: f.role_arn.value.trim(), role_session_name: f.role_session_name.value.trim(),
        duration_seconds: Number(duration.value), sts_endpoint: f.sts_endpoint.value.trim() });
    }
    if (k === 'role') {
      body.external_id = f.external_id.value;
      if (roleSource.value === 'connection') body.source_connection = sourceConn.value;
    }
    if (k === 'web-identity') body.web_identity_token_file = f.web_identity_token_file.value.trim();
    if (k === 'profile') body.profile = f.profile.value.trim();
    if (touched.has('region') || !provider.value) body.region = region.value === 'other' ? otherRegion.value.trim() : region.value;
    if (touched.has('path_style') || !provider.value) body.path_style = f.path_style.checked;
    submit.disabled = true;
    result.replaceChildren(message('info', body.no_verify ? 'Saving…'
      : k === 'keys' ? 'Verifying the keys with a signed ListBuckets call…' : 'Getting the credentials and listing buckets with them…'));
    try {
      const c = await api('POST', '/api/connections', body);
      // Secrets are write-only: nothing of them stays in the page.
      f.secret_access_key.value = '';
      f.session_token.value = '';
      f.external_id.value = '';
      result.replaceChildren(message(c.warning ? 'warn' : 'ok',
        h('strong', {}, `Connection "${c.name}" saved. `),
        `Verification: ${c.status || 'done'}`, c.verifiedAt ? ` (${formatTime(c.verifiedAt)})` : '', '.',
        c.warning ? [h('br'), 'Warning: ', c.warning] : null));
      form.reset();
      touched.clear();
      otherField.hidden = true;
      show();
      loadSources();
      await onCreated();
    } catch (err) {
      result.replaceChildren(message('error', ...(err instanceof ApiError ? explain(err) : [err.message])));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
