// End-to-end test of the s3flow Studio in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core). scripts/studio-e2e.sh
// starts versitygw and "s3flow server" and sets the environment below.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run this through scripts/studio-e2e.sh`);
  return v;
};
const base = env('STUDIO_URL');
const token = env('STUDIO_TOKEN');
const bucket = env('STUDIO_BUCKET');
const endpoint = env('S3_ENDPOINT');
const accessKey = env('S3_ACCESS_KEY');
const secretKey = env('S3_SECRET_KEY');
const shots = env('STUDIO_SCREENSHOTS');
const work = process.env.STUDIO_WORK || tmpdir();
const awsCli = process.env.AWS_CLI || '/usr/bin/aws';
mkdirSync(shots, { recursive: true });

function aws(...args) {
  return execFileSync(awsCli, ['--endpoint-url', endpoint, ...args], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' },
    maxBuffer: 64 << 20,
  });
}

let step = 0;
function log(what) {
  console.log(`ok ${++step} - ${what}`);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'studio-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--no-first-run', '--disable-quic', '--disable-sync', '--disable-dev-shm-usage'],
  viewport: { width: 1280, height: 800 },
  acceptDownloads: true,
});
const problems = [];
let failed = false;
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (err) => problems.push('page error: ' + err.message));
  page.on('console', (msg) => {
    // Error answers of the API (422, 401) are logged by the browser as
    // failed resources; they are expected. Anything else is a bug (a CSP
    // violation, a script error).
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) problems.push('console: ' + msg.text());
  });
  page.on('requestfailed', (req) => {
    // net::ERR_ABORTED is the browser cancelling a request itself, because
    // the page navigated or reloaded while it was in flight; which request
    // that hits depends on timing. A server that fails answers with a
    // status or resets the connection (other error texts), and is caught.
    const why = req.failure()?.errorText || '';
    if (why === 'net::ERR_ABORTED') return;
    if (!req.url().includes('/api/files/download')) problems.push(`request failed: ${req.url()} ${why}`);
  });
  const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  const shot = async (name) => page.screenshot({ path: join(shots, name + '.png'), fullPage: true });

  // The page and its files come from the binary: no other origin is asked.
  const origins = new Set();
  page.on('request', (req) => origins.add(new URL(req.url()).origin));

  // --- Sign in -------------------------------------------------------
  await page.goto(base + '/');
  await page.waitForURL(/#\/login/);
  await page.getByRole('heading', { name: 'Sign in to s3flow Studio' }).waitFor();
  await page.getByLabel('API token').fill('s3f_not_a_token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
  await page.getByLabel('API token').fill(token);
  await shot('login');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  log('sign in: a wrong token is refused, the right one opens the Studio');

  // --- Connections: a wrong secret, then the right one ---------------------
  const fillConnection = async (secret) => {
    await page.getByRole('textbox', { name: 'Name', exact: true }).fill('studio');
    await page.getByLabel('Access key ID').fill(accessKey);
    await page.getByLabel('Secret access key').fill(secret);
    await page.getByLabel('Region', { exact: true }).selectOption('us-east-1');
    await page.getByLabel('Endpoint').fill(endpoint);
    await page.getByLabel('Path-style addressing').check();
  };
  await fillConnection(secretKey + 'x');
  await page.getByRole('button', { name: 'Create and verify' }).click();
  const refused = page.locator('#conn-result').getByRole('alert');
  await refused.waitFor();
  const refusedText = await refused.innerText();
  assert.match(refusedText, /Not saved/, refusedText);
  assert.match(refusedText, /secret access key is wrong/i, refusedText);
  await shot('connections-wrong-secret');
  log('connection with a wrong secret: refused, in words: ' + refusedText.split('\n')[0]);

  await page.getByLabel('Secret access key').fill(secretKey);
  await page.getByRole('button', { name: 'Create and verify' }).click();
  const saved = page.locator('#conn-result .msg-ok, #conn-result .msg-warn');
  await saved.waitFor();
  assert.match(await saved.innerText(), /Connection "studio" saved/);
  const row = page.locator('#connection-list tr', { hasText: 'studio' }).first();
  await row.waitFor();
  assert.ok(!(await page.content()).includes(secretKey), 'the secret is in the page');
  await shot('connections');
  log('connection with the right secret: saved, verified and listed; the secret is not in the page');

  // A role assumed with the connection just made: the form asks for what
  // the kind needs (no keys), the list says where its credentials come
  // from. versitygw serves no STS, so it is saved without verifying.
  await page.getByLabel('Credentials').selectOption('role');
  await page.getByRole('textbox', { name: 'Name', exact: true }).fill('studio-role');
  await page.getByLabel('Role ARN').fill('arn:aws:iam::123456789012:role/studio');
  await page.getByLabel('Assumed with').selectOption('connection');
  assert.ok(!(await page.getByLabel('Access key ID').isVisible()), 'the keys are asked for with another connection as the source');
  await page.getByLabel('Source connection').selectOption('studio');
  await page.getByLabel('Endpoint', { exact: true }).fill(endpoint);
  await page.getByLabel('Path-style addressing').check();
  await page.getByText('More options').click();
  await page.getByLabel('Save without verifying').check();
  await page.getByRole('button', { name: 'Create and verify' }).click();
  await page.locator('#conn-result .msg-ok', { hasText: 'Connection "studio-role" saved' }).waitFor();
  const roleRow = page.locator('#connection-list tr', { hasText: 'studio-role' }).first();
  await roleRow.waitFor();
  const roleText = await roleRow.innerText();
  assert.match(roleText, /role arn:aws:iam::123456789012:role\/studio assumed with connection "studio"/, roleText);
  log('role connection: made from the form with another connection as its source, listed with where its credentials come from');

  // --- Modules: List files, bucket from the dropdown -----------------
  await nav('Modules').click();
  await page.getByRole('link', { name: /List files/ }).click();
  await page.getByRole('heading', { name: 'List files', level: 1 }).waitFor();
  await page.getByLabel('Connection').selectOption('studio');
  const bucketBox = page.getByRole('combobox', { name: 'Bucket' });
  await bucketBox.click();
  const option = page.getByRole('option', { name: bucket, exact: true });
  await option.waitFor();
  assert.ok(await page.getByRole('option', { name: 'studio-other' }).isVisible(), 'the other bucket is offered');
  await shot('modules-bucket-dropdown');
  await option.click();
  assert.equal(await bucketBox.inputValue(), bucket);
  // Prefix suggests the folders as one types.
  const prefixBox = page.getByRole('combobox', { name: 'Prefix' });
  await prefixBox.fill('rep');
  await page.getByRole('option', { name: 'reports/' }).waitFor();
  await prefixBox.press('ArrowDown');
  await prefixBox.press('Enter');
  assert.equal(await prefixBox.inputValue(), 'reports/');
  await page.getByLabel('Recursive').check();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const results = page.locator('.result');
  await results.getByText('3 bundles').waitFor();
  for (const key of ['reports/2026-11-24/sales.csv', 'reports/2026-11-24/stock.csv', 'reports/2026-11-24/readme.txt']) {
    await results.getByRole('rowheader', { name: key }).waitFor();
  }
  assert.match(await results.locator('pre.json').innerText(), /"key": "reports\/2026-11-24\/sales.csv"/);
  await shot('modules-list-files');
  log('List files: bucket picked from the dropdown, prefix from the folder suggestions, keys shown as a table and JSON');

  // --- Upload a file from the browser ----------------------------------
  await page.getByRole('link', { name: /Upload a file/ }).click();
  await page.getByRole('heading', { name: 'Upload a file', level: 1 }).waitFor();
  await page.getByLabel('Connection').selectOption('studio');
  const upBucket = page.getByRole('combobox', { name: 'Bucket' });
  await upBucket.focus();
  await upBucket.press('ArrowDown'); // keyboard only: open, move, pick
  await page.getByRole('option', { name: bucket, exact: true }).waitFor();
  for (let i = 0; i < 5 && (await page.locator('[role=option][aria-selected=true]').textContent().catch(() => '')) !== bucket; i++) {
    await upBucket.press('ArrowDown');
  }
  await upBucket.press('Enter');
  assert.equal(await upBucket.inputValue(), bucket);
  await page.getByRole('combobox', { name: 'Folder' }).fill('uploads/from-browser');
  const small = 'Hello from the Studio, ' + new Date().toISOString() + '\n';
  await page.getByLabel('Source file').setInputFiles({ name: 'hello-studio.txt', mimeType: 'text/plain', buffer: Buffer.from(small) });
  await page.getByRole('button', { name: 'Upload' }).click();
  await results.getByText('1 bundle').waitFor();
  await results.getByRole('rowheader', { name: bucket }).waitFor();
  const got = aws('s3', 'cp', `s3://${bucket}/uploads/from-browser/hello-studio.txt`, '-').toString();
  assert.equal(got, small);
  const head = JSON.parse(aws('s3api', 'head-object', '--bucket', bucket, '--key', 'uploads/from-browser/hello-studio.txt').toString());
  assert.equal(head.ContentType, 'text/plain');
  await shot('modules-upload');
  log('Upload a file: sent from the browser, read back with the aws CLI (content and type match)');

  // A larger file, streamed through the server (in parts when it is over
  // Upload a file's multipart threshold).
  const bigPath = join(work, 'big-upload.bin');
  const big = Buffer.alloc(20 << 20);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
  writeFileSync(bigPath, big);
  await page.getByLabel('Source file').setInputFiles(bigPath);
  await page.getByRole('button', { name: 'Upload' }).click();
  await results.getByRole('cell', { name: String(big.length), exact: true }).waitFor({ timeout: 60000 });
  const bigHead = JSON.parse(aws('s3api', 'head-object', '--bucket', bucket, '--key', 'uploads/from-browser/big-upload.bin').toString());
  assert.equal(bigHead.ContentLength, big.length);
  rmSync(bigPath);
  log(`Upload a file: ${big.length} bytes streamed (ETag ${bigHead.ETag}), size checked with the aws CLI`);

  // --- Get a file: the download ------------------------------------
  await page.getByRole('link', { name: /Get a file/ }).click();
  await page.getByRole('heading', { name: 'Get a file', level: 1 }).waitFor();
  await page.getByLabel('Connection').selectOption('studio');
  await page.getByRole('combobox', { name: 'Bucket' }).fill(bucket);
  const pathBox = page.getByRole('combobox', { name: 'Path' });
  await pathBox.fill('uploads/from-browser/');
  await page.getByRole('option', { name: 'uploads/from-browser/hello-studio.txt' }).click();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
  assert.equal(download.suggestedFilename(), 'hello-studio.txt');
  const dlPath = join(work, 'downloaded.txt');
  await download.saveAs(dlPath);
  assert.equal(readFileSync(dlPath, 'utf8'), small);
  await results.getByText('The download of hello-studio.txt has started').waitFor();
  await shot('modules-get-file');
  // The link names one object; without it or with it altered, nothing.
  const link = await results.getByRole('link', { name: /Download hello-studio.txt again/ }).getAttribute('href');
  const tampered = await page.evaluate(async (u) => {
    const i = u.indexOf('ticket=') + 'ticket='.length + 10; // a character of the signed payload
    return (await fetch(u.slice(0, i) + (u[i] === 'A' ? 'B' : 'A') + u.slice(i + 1))).status;
  }, link);
  assert.equal(tampered, 401);
  const noTicket = await page.evaluate(async () => (await fetch('/api/files/download?connection=studio&bucket=x&path=y')).status);
  assert.equal(noTicket, 401);
  log('Get a file: the browser downloads the object through a signed link; a changed link or none is refused');

  // --- Flows -------------------------------------------------------
  await nav('Flows').click();
  await page.getByRole('heading', { name: 'Flows', level: 1 }).waitFor();
  const sw = page.getByRole('switch', { name: 'archive-reports enabled' });
  assert.equal(await sw.getAttribute('aria-checked'), 'true');
  await sw.click();
  await page.waitForFunction(() => document.querySelector('[role=switch]').getAttribute('aria-checked') === 'false');
  let flows = await page.evaluate(async (t) => (await fetch('/api/flows', { headers: { Authorization: 'Bearer ' + t } })).json(), token);
  assert.equal(flows[0].enabled, false);
  await sw.press('Space'); // the switch works from the keyboard too
  await page.waitForFunction(() => document.querySelector('[role=switch]').getAttribute('aria-checked') === 'true');
  assert.match(await page.locator('table').innerText(), /webhook/);
  await shot('flows');
  log('Flows: listed with trigger and last run; the switch disables and enables the flow');

  // A file with problems is listed with them (line, column, message)
  // instead of vanishing; once it is gone the list is as before.
  const brokenFlow = join(work, 'flows', 'broken.yaml');
  writeFileSync(brokenFlow, 'name: broken\nsteps:\n  - id: x\n    module: no.such\n');
  await page.getByRole('button', { name: 'Reload flows' }).click();
  await page.getByRole('heading', { name: 'Files with problems', level: 2 }).waitFor();
  const shown = await page.locator('.problems').innerText();
  assert.match(shown, /line 4, column 13: .*no\.such/);
  assert.match(await page.locator('.msg-warn code').innerText(), /broken\.yaml$/);
  rmSync(brokenFlow);
  await page.getByRole('button', { name: 'Reload flows' }).click();
  await page.getByRole('heading', { name: 'Files with problems' }).waitFor({ state: 'detached' });
  assert.match(await page.locator('table').innerText(), /archive-reports/);
  log('Flows: a file with problems is shown with its line, column and message, and leaves when removed');

  await page.getByRole('link', { name: 'archive-reports' }).click();
  await page.getByRole('heading', { name: 'archive-reports', level: 1 }).waitFor();
  const chain = page.locator('ol.chain > li');
  assert.equal(await chain.count(), 6);
  assert.match(await chain.nth(0).innerText(), /list[\s\S]*List files/);
  await page.getByLabel('date').fill('2026-11-24');
  await page.getByLabel('connection').fill('studio');
  await shot('flow');
  // This run ends in milliseconds; to see the page follow a run in
  // progress, its first two answers are shown as still running (the real
  // answer with the status changed), then the real ones come through.
  let held = 0;
  const holdRunning = async (route) => {
    const res = await route.fetch();
    const data = await res.json();
    if (held++ < 2) {
      data.run.status = 'running';
      delete data.run.finishedAt;
    }
    await route.fulfill({ response: res, json: data });
  };
  await page.route(/\/api\/runs\/[^/?]+$/, holdRunning);
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.waitForURL(/#\/runs\/.+/);
  const runId = decodeURIComponent(page.url().split('#/runs/')[1]);
  await page.locator('#run-status').getByText('running').waitFor();
  await page.locator('#run-status').getByText('updating every second').waitFor();
  await page.locator('#run-status').getByText('succeeded').waitFor({ timeout: 60000 });
  assert.ok(held >= 3, 'the page polled until the run ended');
  await page.unroute(/\/api\/runs\/[^/?]+$/, holdRunning);
  for (const s of ['list', 'csv', 'get', 'put', 'all', 'manifest']) {
    await page.getByRole('heading', { name: new RegExp('^' + s + ' ') }).waitFor();
  }
  await shot('run');
  const archived = aws('s3', 'ls', `s3://${bucket}/archive/2026-11-24/`).toString();
  for (const name of ['sales.csv', 'stock.csv', 'manifest.csv']) assert.match(archived, new RegExp(name));
  log(`Run now: run ${runId} followed live (polling) until it succeeded; its steps shown; the aws CLI sees the archive`);

  // A run that fails shows S3's error in red with its code and request id.
  await page.goto(base + '/#/flows/archive-reports');
  await page.getByLabel('date').fill('2026-11-24');
  await page.getByLabel('connection').fill('studio');
  await page.getByLabel('bucket').fill('studio-no-such-bucket');
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.waitForURL(/#\/runs\/.+/);
  await page.locator('#run-status').getByText('failed').waitFor({ timeout: 60000 });
  const errBlock = page.locator('.error-block').first();
  await errBlock.waitFor();
  const errText = await errBlock.innerText();
  assert.match(errText, /NoSuchBucket/, errText);
  assert.equal(await errBlock.evaluate((el) => getComputedStyle(el).color), 'rgb(122, 18, 18)');
  await shot('run-failed');
  log('a failed run: the error in red with S3 code NoSuchBucket' + (/Request id/.test(errText) ? ' and its request id' : ''));

  // --- Runs: history with filters --------------------------------------
  await nav('Runs').click();
  await page.getByRole('heading', { name: 'Runs', level: 1 }).waitFor();
  await page.locator('#run-list table').waitFor();
  assert.equal(await page.locator('#run-list tbody tr').count(), 2);
  await page.getByLabel('Status').selectOption('failed');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/status=failed/);
  await page.waitForFunction(() => document.querySelectorAll('#run-list tbody tr').length === 1);
  await page.getByLabel('Status').selectOption('');
  await page.getByLabel('Flow').selectOption('archive-reports');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForURL(/flow=archive-reports/);
  await page.waitForFunction(() => document.querySelectorAll('#run-list tbody tr').length === 2);
  await shot('runs');
  log('Runs: the history, filtered by status and by flow');

  // --- The flow editor: a flow built by clicks and typing -------------
  // List the day's reports, keep the .csv ones, get each and upload it
  // into the other bucket: the archive-reports shape, from an empty editor.
  const api = (method, path, body) => page.evaluate(async ([t, m, p, b]) => {
    const res = await fetch(p, { method: m, headers: { Authorization: 'Bearer ' + t, 'Content-Type': 'application/json' }, body: b });
    return { status: res.status, body: await res.json().catch(() => null) };
  }, [token, method, path, body === undefined ? undefined : JSON.stringify(body)]);
  await nav('Flows').click();
  await page.getByRole('link', { name: 'New flow' }).click();
  await page.getByRole('heading', { name: 'New flow', level: 1 }).waitFor();
  await page.getByLabel('Flow name').fill('copy-csv');
  await page.getByLabel('Description').fill('Copy the CSV reports of a day into studio-other.');
  await page.getByRole('button', { name: 'Add input' }).click();
  const input1 = page.getByRole('group', { name: 'Input 1' });
  await input1.getByLabel('Name').fill('date');
  await input1.getByLabel('Required').check();
  await input1.getByLabel('Description').fill('the day, e.g. 2026-11-24');
  const card = (id) => page.locator(`[data-step-id="${id}"]`);
  const addStep = async (search, title) => {
    await page.getByRole('button', { name: 'Add a step', exact: true }).click();
    await page.getByLabel('Find a module').fill(search);
    await page.getByRole('group', { name: 'Module palette' }).getByRole('button', { name: new RegExp('^' + title) }).click();
  };
  const mapInto = async (c, label, expr) => {
    await c.getByRole('button', { name: 'Map a value into ' + label, exact: true }).click();
    await c.getByRole('group', { name: 'Values to map into ' + label }).getByRole('button', { name: new RegExp('^' + expr.replace(/\./g, '\\.') + ' ') }).click();
  };
  // The palette is grouped as the registry is, and searchable.
  await page.getByRole('button', { name: 'Add a step', exact: true }).click();
  for (const g of ['S3 objects', 'S3 buckets', 'Flow control']) await page.getByRole('region', { name: g }).or(page.locator(`section[aria-label="${g}"]`)).first().waitFor();
  await page.getByLabel('Find a module').fill('list files');
  assert.equal(await page.locator('.palette-item').count(), 1);
  await page.getByRole('button', { name: /^List files/ }).click();
  const list = card('list_files');
  assert.equal(await list.getByRole('combobox', { name: 'Connection' }).inputValue(), 'studio');
  await list.getByRole('combobox', { name: 'Bucket' }).click();
  await page.getByRole('option', { name: bucket, exact: true }).click();
  await list.getByRole('combobox', { name: 'Prefix' }).fill('reports/');
  await mapInto(list, 'Prefix', 'inputs.date');
  assert.equal(await list.getByRole('combobox', { name: 'Prefix' }).inputValue(), 'reports/{{ inputs.date }}');

  await addStep('filter', 'Filter');
  const filter = card('filter');
  await mapInto(filter, 'Condition', 'steps.list_files.key');
  // The picker lists the earlier step's outputs with their types.
  const condition = filter.getByRole('textbox', { name: 'Condition' });
  await condition.press('End');
  for (let i = 0; i < 3; i++) await condition.press('ArrowLeft');
  await condition.pressSequentially(" endsWith '.csv'");
  assert.equal(await condition.inputValue(), "{{ steps.list_files.key endsWith '.csv' }}");

  await addStep('get a file', 'Get a file');
  const get = card('get_file');
  await get.getByRole('combobox', { name: 'Bucket' }).fill(bucket);
  // A required field left empty is shown on the field, with its line.
  await get.locator('[data-field="path"] .field-problem').filter({ hasText: /line \d+.*required/ }).waitFor();
  await page.locator('.problems-panel li').filter({ hasText: 'with.path is required' }).waitFor();
  await mapInto(get, 'Path', 'steps.list_files.key');

  await addStep('upload', 'Upload a file');
  const up = card('upload_file');
  await up.getByRole('combobox', { name: 'Bucket' }).click();
  await page.getByRole('option', { name: 'studio-other', exact: true }).click();
  await up.getByRole('combobox', { name: 'Folder' }).fill('archive/');
  await mapInto(up, 'Folder', 'inputs.date');
  await up.getByRole('button', { name: 'Map a value into Source file', exact: true }).click();
  const fileChoice = up.getByRole('button', { name: /^steps\.get_file\.file file/ });
  await fileChoice.waitFor();
  await fileChoice.click();
  // Reorder by keyboard, then by drag, and back.
  const order = () => page.locator('[data-step-id]').evaluateAll((els) => els.map((e) => e.dataset.stepId));
  await up.getByRole('button', { name: 'Move upload_file up' }).focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(await order(), ['list_files', 'filter', 'upload_file', 'get_file']);
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Move upload_file up');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter'); // Move down
  assert.deepEqual(await order(), ['list_files', 'filter', 'get_file', 'upload_file']);
  // Drag by the handle onto the card before (both on the screen).
  // A window tall enough for both cards' heads whichever way the drag
  // goes: a step card with all its fields is taller than 800 pixels.
  await page.setViewportSize({ width: 1280, height: 1400 });
  const drag = async (from, to) => {
    const ids = await order();
    const upper = ids.indexOf(from) < ids.indexOf(to) ? from : to;
    await card(upper).evaluate((el) => el.scrollIntoView({ block: 'start' }));
    const src = await card(from).locator('.drag-handle').boundingBox();
    const dst = await card(to).locator('.step-head').boundingBox();
    await page.mouse.move(src.x + src.width / 2, src.y + src.height / 2);
    await page.mouse.down();
    await page.mouse.move(dst.x + dst.width / 2, dst.y + dst.height / 2, { steps: 8 });
    await page.mouse.up();
  };
  await drag('get_file', 'filter');
  assert.deepEqual(await order(), ['list_files', 'get_file', 'filter', 'upload_file']);
  await drag('filter', 'get_file');
  assert.deepEqual(await order(), ['list_files', 'filter', 'get_file', 'upload_file']);
  await page.setViewportSize({ width: 1280, height: 800 });
  // "+" between two cards opens the palette there; a step inserted there
  // sits between them; Escape closes the palette, back on its button.
  await page.getByRole('button', { name: 'Insert a step after filter' }).click();
  await page.getByLabel('Find a module').fill('file info');
  await page.getByRole('group', { name: 'Module palette' }).getByRole('button', { name: /^Get file info/ }).click();
  assert.deepEqual(await order(), ['list_files', 'filter', 'get_file_info', 'get_file', 'upload_file']);
  await card('get_file_info').getByRole('button', { name: 'Remove step get_file_info' }).click();
  assert.deepEqual(await order(), ['list_files', 'filter', 'get_file', 'upload_file']);
  // Loops as the engine plans them, from the declarations: the listing
  // emits many bundles, the steps after it run once for each; an
  // aggregate collects them (its source chosen from the earlier steps).
  assert.match(await card('list_files').locator('.card-shape').innerText(), /Emits many bundles: the steps after it run once for each/);
  for (const id of ['filter', 'get_file', 'upload_file']) assert.equal(await card(id).getAttribute('data-loop'), 'list_files');
  await addStep('aggregate', 'Aggregate');
  const agg = card('aggregate');
  assert.equal(await agg.getByLabel('Source step').inputValue(), 'list_files');
  assert.deepEqual(await agg.getByLabel('Source step').locator('option').allInnerTexts(), ['(choose a step)', 'list_files', 'filter', 'get_file', 'upload_file']);
  assert.match(await agg.locator('.card-shape').innerText(), /Collects each bundle of list_files into one: items, count/);
  assert.equal(await agg.getAttribute('data-loop'), '');
  await agg.getByRole('button', { name: 'Remove step aggregate' }).click();
  assert.deepEqual(await order(), ['list_files', 'filter', 'get_file', 'upload_file']);
  await page.getByRole('button', { name: 'Insert a step after filter' }).click();
  await page.getByLabel('Find a module').press('Escape');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Insert a step after filter');
  await page.getByText('The server reads this flow without problems.').waitFor();
  await page.getByRole('tab', { name: 'YAML' }).click();
  const yamlText = await page.getByLabel('Flow file (YAML)').inputValue();
  assert.match(yamlText, /file: (["'])\{\{ steps\.get_file\.file \}\}\1/);
  await shot('editor-yaml');
  await page.getByRole('tab', { name: 'Form' }).click();
  await shot('editor-new');
  log('editor: a four-step flow built from an empty editor by clicks and typing, three fields mapped with the picker, a filter; reordered by keyboard and by drag');

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/#\/flows\/copy-csv\/edit$/);
  await page.locator('#save-result').getByText(/Saved .*copy-csv\.yaml/).waitFor();
  const shownFlow = await api('GET', '/api/flows/copy-csv');
  assert.equal(shownFlow.status, 200);
  assert.deepEqual(shownFlow.body.steps.map((s) => s.module), ['s3.list_files', 'flow.filter', 's3.get_file', 's3.upload_file']);
  // The file on disk means the flow that was built (read by yaml.v3
  // through the draft endpoint: quoting and layout are the writer's).
  const meaning = async (text) => {
    const r = await api('POST', '/api/flows/draft', { yaml: text });
    assert.equal(r.status, 200);
    return r.body.doc;
  };
  const built = {
    name: 'copy-csv', description: 'Copy the CSV reports of a day into studio-other.',
    inputs: { date: { type: 'string', required: true, description: 'the day, e.g. 2026-11-24' } },
    steps: [
      { id: 'list_files', module: 's3.list_files', connection: 'studio', with: { bucket, prefix: 'reports/{{ inputs.date }}' } },
      { id: 'filter', module: 'flow.filter', with: { condition: "{{ steps.list_files.key endsWith '.csv' }}" } },
      { id: 'get_file', module: 's3.get_file', connection: 'studio', with: { bucket, path: '{{ steps.list_files.key }}' } },
      { id: 'upload_file', module: 's3.upload_file', connection: 'studio', with: { bucket: 'studio-other', folder: 'archive/{{ inputs.date }}', file: '{{ steps.get_file.file }}' } },
    ],
  };
  assert.deepEqual(await meaning(readFileSync(join(work, 'flows', 'copy-csv.yaml'), 'utf8')), built);
  log('editor: saved as copy-csv.yaml; the server loaded it (GET /api/flows/copy-csv) with its four steps; the file means the flow built');

  await page.getByRole('region', { name: 'Run once' }).getByRole('textbox', { name: 'date', exact: true }).fill('2026-11-24');
  await page.getByRole('button', { name: 'Run once' }).click();
  await page.locator('#runonce-result').getByText('succeeded').waitFor({ timeout: 60000 });
  await card('get_file').locator('.bubble').getByText('2 bundles').waitFor();
  await card('upload_file').locator('.bubble').getByText('2 bundles').waitFor();
  const copied = aws('s3', 'ls', 's3://studio-other/archive/2026-11-24/').toString();
  assert.match(copied, /sales\.csv/);
  assert.match(copied, /stock\.csv/);
  assert.doesNotMatch(copied, /readme/);
  // The last run's values are the picker's samples.
  await card('upload_file').getByRole('button', { name: 'Map a value into Folder', exact: true }).click();
  await card('upload_file').locator('.picker .sample').filter({ hasText: /^= 2026-11-24$/ }).waitFor();
  await shot('editor-run-once');
  await card('upload_file').getByRole('group', { name: 'Values to map into Folder' }).press('Escape');
  log('editor: Run once shows each step\'s bundles on its card; the aws CLI sees sales.csv and stock.csv copied, not readme.txt');

  // One step edited with the keyboard only: retry on error.
  const onError = card('upload_file').locator('summary');
  await onError.focus();
  await page.keyboard.press('Enter');
  const when = card('upload_file').getByLabel('When this step fails');
  await when.focus();
  await when.selectOption('retry');
  await card('upload_file').getByLabel('Attempts').focus();
  await page.keyboard.type('3');
  await page.keyboard.press('Tab');
  await page.keyboard.type('2s');
  await page.getByText('The server reads this flow without problems.').waitFor();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#save-result').getByText('only the edited steps and keys were rewritten').waitFor();
  assert.match(readFileSync(join(work, 'flows', 'copy-csv.yaml'), 'utf8'), /retry:\s+attempts: 3\s+backoff: 2s/);
  const versionRows = page.locator('section[aria-labelledby=versions-title] tbody tr');
  await page.waitForFunction(() => document.querySelectorAll('section[aria-labelledby=versions-title] tbody tr').length === 2);
  await page.getByRole('button', { name: 'Show the diff' }).click();
  await page.locator('pre.diff .add').filter({ hasText: 'attempts: 3' }).waitFor();
  assert.equal(await versionRows.count(), 2);
  await shot('editor-versions');
  log('editor: a step edited by keyboard, saved as a PATCH; two versions listed and their diff shown');

  // Changed on disk meanwhile: the save is refused with both versions.
  writeFileSync(join(work, 'flows', 'copy-csv.yaml'), '# edited by hand\n' + readFileSync(join(work, 'flows', 'copy-csv.yaml'), 'utf8'));
  await page.getByRole('region', { name: 'Flow', exact: true }).getByLabel('Description').fill('Copy the CSV reports of a day.');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const conflict = page.locator('.conflict');
  await conflict.getByRole('heading', { name: 'The file changed on disk since you opened it' }).waitFor();
  assert.match(await conflict.getByLabel('The file on disk').innerText(), /# edited by hand/);
  assert.match(await conflict.getByLabel('Your version').innerText(), /Copy the CSV reports of a day\.\n/);
  await conflict.screenshot({ path: join(shots, 'editor-conflict.png') });
  await conflict.getByRole('button', { name: 'Load the version on disk' }).click();
  await page.getByRole('tab', { name: 'YAML' }).click();
  assert.match(await page.getByLabel('Flow file (YAML)').inputValue(), /^# edited by hand/);
  await page.getByRole('tab', { name: 'Form' }).click();
  // A form edit shows in the YAML tab as the save will write it (the
  // server's PATCH of the saved text): the hand-written comment stays.
  await page.getByRole('region', { name: 'Flow', exact: true }).getByLabel('Description').fill('Copy the CSV reports of one day.');
  await page.getByRole('tab', { name: 'YAML' }).click();
  await page.waitForFunction(() => /\ndescription: Copy the CSV reports of one day\.\n/.test(document.getElementById('flow-yaml').value));
  assert.match(await page.getByLabel('Flow file (YAML)').inputValue(), /^# edited by hand\n/);
  await page.getByRole('tab', { name: 'Form' }).click();
  log('editor: a save over a file changed on disk is refused and both versions are shown; the disk version reloads; a form edit shows in the YAML tab with the file\'s comments');

  // The YAML tab: the same checks as the form, and both views in step.
  await page.getByRole('tab', { name: 'YAML' }).click();
  const yamlBox = page.getByLabel('Flow file (YAML)');
  const text = await yamlBox.inputValue();
  await yamlBox.fill(text.replace('module: s3.get_file', 'module: s3.get_fil'));
  await page.locator('.problems-panel li').filter({ hasText: /line \d+, column \d+.*unknown module "s3\.get_fil"/ }).waitFor();
  await yamlBox.fill(text.replace(/^description: .*$/m, 'description: From the YAML tab # a comment'));
  await page.getByText('The server reads this flow without problems.').waitFor();
  await page.getByRole('tab', { name: 'Form' }).click();
  assert.equal(await page.locator('#flow-description').inputValue(), 'From the YAML tab');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#save-result').getByText('the whole file was written').waitFor();
  const savedText = readFileSync(join(work, 'flows', 'copy-csv.yaml'), 'utf8');
  assert.match(savedText, /^# edited by hand\n/);
  assert.match(savedText, /description: From the YAML tab # a comment\n/);
  log('editor: the YAML tab is checked as the form is (an unknown module shown with its line), its edits show in the form and save as written, comments kept');

  // Restore the first version: the file is as it was first saved.
  const firstRow = page.locator('section[aria-labelledby=versions-title] tbody tr').last();
  assert.match(await firstRow.innerText(), /saved/);
  await firstRow.getByRole('button', { name: /^Restore version/ }).click();
  await page.locator('#save-result').getByText(/Version .* restored/).waitFor();
  const restored = readFileSync(join(work, 'flows', 'copy-csv.yaml'), 'utf8');
  assert.doesNotMatch(restored, /retry|edited by hand/);
  assert.deepEqual(await meaning(restored), built);
  await page.locator('section[aria-labelledby=versions-title] tbody tr').filter({ hasText: 'restored' }).first().waitFor();
  log('editor: the first version restored from the version list');

  // A flow with a trigger: its kind and settings as a form, its data in the picker.
  await page.goto(base + '/#/flows/archive-reports/edit');
  await page.getByRole('heading', { name: 'Edit archive-reports', level: 1 }).waitFor();
  assert.equal(await page.getByLabel('What starts this flow').inputValue(), 'webhook');
  assert.equal(await page.getByRole('textbox', { name: 'secret_env' }).inputValue(), 'STUDIO_E2E_HOOK_SECRET');
  await card('get').getByRole('button', { name: 'Map a value into Path', exact: true }).click();
  const picked = card('get').getByRole('group', { name: 'Values to map into Path' });
  await picked.getByRole('heading', { name: /^Trigger/ }).waitFor();
  await picked.getByRole('button', { name: /^steps\.list\.key string/ }).waitFor();
  assert.equal(await picked.getByRole('button', { name: /^steps\.put\./ }).count(), 0, 'a later step is offered');
  await picked.press('Escape');
  // Run once with the trigger's sample data: a normal recorded run.
  const once = page.getByRole('region', { name: 'Run once' });
  await once.getByRole('textbox', { name: 'date', exact: true }).fill('2026-11-24');
  await once.getByLabel('Use the trigger\'s sample data').check();
  await once.getByRole('button', { name: 'Run once' }).click();
  await page.locator('#runonce-result').getByText('succeeded').waitFor({ timeout: 60000 });
  await card('manifest').locator('.bubble').getByText('1 bundle').waitFor();
  const onceId = decodeURIComponent((await page.locator('#runonce-result a').first().getAttribute('href')).split('#/runs/')[1]);
  const onceRun = await api('GET', '/api/runs/' + encodeURIComponent(onceId));
  assert.equal(onceRun.body.run.trigger?.type, 'webhook', JSON.stringify(onceRun.body.run.trigger));
  log('editor: a webhook trigger read into its form; the picker offers the trigger\'s data and earlier steps only; Run once with its sample data');

  // --- Phone width ------------------------------------------------------
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + '/#/modules/s3.list_files');
  await page.getByRole('heading', { name: 'List files', level: 1 }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px at phone width`);
  await shot('phone-modules');
  await page.goto(base + '/#/runs/' + encodeURIComponent(runId));
  await page.locator('#run-status').getByText('succeeded').waitFor();
  await shot('phone-run');
  await page.goto(base + '/#/flows/archive-reports');
  await page.getByRole('heading', { name: 'archive-reports', level: 1 }).waitFor();
  await shot('phone-flow');
  await page.goto(base + '/#/flows/copy-csv/edit');
  await page.getByRole('heading', { name: 'Edit copy-csv', level: 1 }).waitFor();
  await page.getByText('The server reads this flow without problems.').waitFor();
  const editorOverflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(editorOverflow <= 1, `the editor scrolls sideways by ${editorOverflow}px at phone width`);
  await shot('phone-editor');
  log('phone width (390 px): no sideways scrolling; screenshots taken');

  // --- The editor: delete a flow ---------------------------------------
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(base + '/#/flows/copy-csv/edit');
  await page.getByRole('heading', { name: 'Edit copy-csv', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Delete this flow' }).click();
  await page.getByRole('button', { name: 'Yes, delete copy-csv' }).click();
  await page.waitForURL(/#\/flows$/);
  assert.equal((await api('GET', '/api/flows/copy-csv')).status, 404);
  assert.ok(!existsSync(join(work, 'flows', 'copy-csv.yaml')), 'the file is still there');
  log('editor: a flow deleted after a second question; its file is gone');

  // --- The editor: archive-reports from an empty editor -----------------
  // The example flow (examples/archive-reports.yaml), built by clicks and
  // typing only: four inputs, seven steps, connections and fields
  // mapped with the picker, a filter, a retry, an aggregate. Saved, it
  // means what the example means; run once, the aws CLI sees the archive.
  await page.goto(base + '/#/flows/new');
  await page.getByRole('heading', { name: 'New flow', level: 1 }).waitFor();
  await page.getByLabel('Flow name').fill('archive-built');
  const example = await meaning(readFileSync(new URL('../examples/archive-reports.yaml', import.meta.url), 'utf8'));
  await page.getByLabel('Description').fill(example.description);
  for (const [i, [name, spec]] of Object.entries(example.inputs).entries()) {
    await page.getByRole('button', { name: 'Add input' }).click();
    const g = page.getByRole('group', { name: `Input ${i + 1}` });
    await g.getByLabel('Name').fill(name);
    if (spec.default !== undefined) await g.getByLabel('Default').fill(spec.default);
    await g.getByLabel('Description').fill(spec.description);
    if (spec.required) await g.getByLabel('Required').check();
  }
  const rename = async (from, to) => {
    const box = card(from).getByLabel('Step id');
    await box.fill(to);
    await box.press('Enter'); // commits the id: the form is drawn again
    await card(to).waitFor();
    return card(to);
  };
  const mapConnection = async (c) => {
    await c.getByRole('combobox', { name: 'Connection' }).fill('');
    await mapInto(c, 'Connection', 'inputs.connection');
  };
  await addStep('create a bucket', 'Create a bucket');
  const mk = await rename('create_bucket', 'archive_bucket');
  await mapConnection(mk);
  await mapInto(mk, 'Name', 'inputs.archive');
  await addStep('list files', 'List files');
  const ls = await rename('list_files', 'list');
  await mapConnection(ls);
  await ls.getByRole('combobox', { name: 'Bucket' }).fill('');
  await mapInto(ls, 'Bucket', 'inputs.bucket');
  await ls.getByRole('combobox', { name: 'Prefix' }).fill('reports/daily/');
  await mapInto(ls, 'Prefix', 'inputs.date');
  await addStep('filter', 'Filter');
  const csvStep = await rename('filter', 'csv');
  await csvStep.getByRole('textbox', { name: 'Condition' }).fill("{{ steps.list.key endsWith '.csv' }}");
  await addStep('get a file', 'Get a file');
  const getStep = await rename('get_file', 'get');
  await mapConnection(getStep);
  await getStep.getByRole('combobox', { name: 'Bucket' }).fill('');
  await mapInto(getStep, 'Bucket', 'inputs.bucket');
  await mapInto(getStep, 'Path', 'steps.list.key');
  await addStep('upload', 'Upload a file');
  const put = await rename('upload_file', 'put');
  await mapConnection(put);
  await put.getByRole('combobox', { name: 'Bucket' }).fill('');
  await mapInto(put, 'Bucket', 'inputs.archive');
  await mapInto(put, 'Folder', 'inputs.date');
  await mapInto(put, 'Source file', 'steps.get.file');
  await put.getByRole('textbox', { name: 'Headers' }).fill('Content-Type: text/csv');
  await put.locator('summary').click();
  await put.getByLabel('When this step fails').selectOption('retry');
  await put.getByLabel('Attempts').fill('3');
  await put.getByLabel('Backoff').fill('2s');
  await addStep('aggregate', 'Aggregate');
  const all = await rename('aggregate', 'all');
  await all.getByLabel('Source step').selectOption('put');
  assert.match(await all.locator('.card-shape').innerText(), /Collects each bundle of put into one/);
  await addStep('upload', 'Upload a file');
  const manifest = await rename('upload_file', 'manifest');
  await mapConnection(manifest);
  await manifest.getByRole('combobox', { name: 'Bucket' }).fill('');
  await mapInto(manifest, 'Bucket', 'inputs.archive');
  await mapInto(manifest, 'Folder', 'inputs.date');
  await manifest.getByRole('textbox', { name: 'Source file' }).fill("{{ file.text('manifest.csv', csv(steps.all.items)) }}");
  await page.getByText('The server reads this flow without problems.').waitFor();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.waitForURL(/#\/flows\/archive-built\/edit$/);
  const builtDoc = await meaning(readFileSync(join(work, 'flows', 'archive-built.yaml'), 'utf8'));
  assert.deepEqual({ ...builtDoc, name: example.name }, example);
  // Run once on the test's store: the archive bucket is made, the CSVs
  // and the manifest land in it.
  const runOnce = page.getByRole('region', { name: 'Run once' });
  await runOnce.getByRole('textbox', { name: 'date', exact: true }).fill('2026-11-24');
  await runOnce.getByRole('textbox', { name: 'connection', exact: true }).fill('studio');
  await runOnce.getByRole('textbox', { name: 'bucket', exact: true }).fill(bucket);
  await runOnce.getByRole('textbox', { name: 'archive', exact: true }).fill('studio-archive-built');
  aws('s3', 'cp', '--recursive', `s3://${bucket}/reports/2026-11-24/`, `s3://${bucket}/reports/daily/2026-11-24/`);
  await runOnce.getByRole('button', { name: 'Run once' }).click();
  await page.locator('#runonce-result').getByText('succeeded').waitFor({ timeout: 60000 });
  await card('put').locator('.bubble').getByText('2 bundles').waitFor();
  await card('manifest').locator('.bubble').getByText('1 bundle').waitFor();
  const builtArchive = aws('s3', 'ls', 's3://studio-archive-built/2026-11-24/').toString();
  for (const name of ['sales.csv', 'stock.csv', 'manifest.csv']) assert.match(builtArchive, new RegExp(name));
  assert.doesNotMatch(builtArchive, /readme/);
  // "Run up to here" on a card: the steps up to it run (a recorded run
  // that says so); the cards after it say they were not run.
  await card('get').getByRole('button', { name: 'Run up to get' }).click();
  await card('put').locator('.bubble').getByText('Not run: the last run went up to get only.').waitFor({ timeout: 60000 });
  await card('get').locator('.bubble').getByText('2 bundles').waitFor();
  const partialId = await page.locator('#runonce-result a').first().innerText();
  const partial = await api('GET', '/api/runs/' + encodeURIComponent(partialId));
  assert.equal(partial.body.run.until, 'get');
  assert.deepEqual([...new Set(partial.body.events.map((e) => e.step).filter(Boolean))], ['archive_bucket', 'list', 'csv', 'get']);
  log('editor: archive-reports built from an empty editor by clicks and typing (four inputs, seven steps, 16 connections and fields mapped with the picker, a filter, a retry, an aggregate); the saved file means examples/archive-reports.yaml; run once, the aws CLI sees the archive; "Run up to here" on a card runs the steps up to it, recorded as such');

  // --- Keyboard: the skip link and the navigation ----------------------
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(base + '/#/connections');
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Connections', level: 1 }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Connections');
  assert.match(page.url(), /#\/connections$/);
  await page.keyboard.press('Tab'); // then on into the page, not back to the menu
  assert.ok(await page.evaluate(() => document.getElementById('main').contains(document.activeElement)));
  log('keyboard: the first Tab reaches the skip link, which leads into the page');

  const foreign = [...origins].filter((o) => o !== new URL(base).origin);
  assert.deepEqual(foreign, [], 'requests to other origins');
  assert.deepEqual(problems, [], 'browser errors');
  log('no request left the server\'s origin; no script or policy errors');
} catch (err) {
  failed = true;
  console.error('not ok -', err.stack || err.message);
  if (problems.length) console.error(problems.join('\n'));
  try {
    const page = context.pages()[0];
    const failure = join(tmpdir(), 'studio-e2e-failure.png');
    await page.screenshot({ path: failure, fullPage: true });
    console.error('screenshot at the failure:', failure);
    console.error('page at the failure:', page.url());
    console.error((await page.locator('main').innerText()).slice(-3000));
  } catch { /* the browser is gone */ }
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
