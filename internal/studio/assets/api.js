// The server's HTTP API, called with the token the user signed in with.
// The token lives in sessionStorage: it is sent as a bearer header, never
// as a cookie, so another site cannot make the browser send it (no CSRF).

const KEY = 's3flow.token';

export function token() {
  return sessionStorage.getItem(KEY) || '';
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    // data is the whole error answer: a 409 carries both versions of a
    // flow file, a 422 its problems.
    this.data = data;
  }
}

// api calls the API and returns the JSON answer; an error answer throws
// an ApiError with the server's words. A 401 signs the user out.
export async function api(method, path, body, opts = {}) {
  const headers = { Authorization: 'Bearer ' + (opts.token ?? token()) };
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (typeof body === 'string') {
    // A flow file, sent as it is (POST /api/validate).
    headers['Content-Type'] = 'application/yaml';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, cache: 'no-store', signal: opts.signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The s3flow server did not answer (' + err.message + '). Is it running?');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (!res.ok) {
    if (res.status === 401 && !opts.token) {
      setToken('');
      window.dispatchEvent(new CustomEvent('s3flow:signed-out'));
    }
    throw new ApiError(res.status, (data && data.error) || res.statusText, data);
  }
  return data;
}

// runModule runs one module: {connection, inputs} → bundles.
export async function runModule(name, connection, inputs, opts) {
  const out = await api('POST', '/api/modules/' + encodeURIComponent(name), { connection, inputs }, opts);
  return out.bundles;
}
