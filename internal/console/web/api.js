// The console's client of the Simple Drive API: a bearer token from
// sessionStorage, JSON in and out, problem documents turned into errors.

const KEY = 'simpledrive.token';

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export function authHeaders() { return { Authorization: 'Bearer ' + token() }; }

// ApiError carries an RFC 9457 problem: status, code, detail.
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail ? `${detail} (${code || status})` : `HTTP ${status}${code ? ' (' + code + ')' : ''}`);
    this.status = status;
    this.code = code || '';
    this.detail = detail || '';
  }
}

// problem reads the error out of a failed response.
export async function problem(res) {
  let code = '', detail = '';
  try {
    const p = await res.json();
    code = typeof p.code === 'string' ? p.code : '';
    detail = typeof p.detail === 'string' ? p.detail : (typeof p.title === 'string' ? p.title : '');
  } catch { /* not a problem document */ }
  if (!detail) detail = res.statusText || 'request failed';
  return new ApiError(res.status, code, detail);
}

// request calls the API and returns the response, throwing an ApiError for
// any status outside 2xx.
export async function request(method, path, { body, headers } = {}) {
  const h = { ...authHeaders(), ...headers };
  let payload = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Blob)) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  } catch (e) {
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (!res.ok) throw await problem(res);
  return res;
}

// blobPath is the API path of a blob: the id percent-encoded segment by
// segment, so '/' stays a separator and '?', '#', '%' stay in the id.
export function blobPath(id) {
  return '/v1/blobs/' + id.split('/').map(encodeURIComponent).join('/');
}

export async function list(prefix, cursor, limit) {
  const q = new URLSearchParams({ prefix, delimiter: '/', limit: String(limit) });
  if (cursor) q.set('cursor', cursor);
  return (await request('GET', '/v1/blobs?' + q)).json();
}

export async function meta(id) {
  return (await request('GET', blobPath(id) + '?meta=1')).json();
}

export async function remove(id) {
  await request('DELETE', blobPath(id));
}

// share returns an absolute signed URL of the blob's bytes and when it
// expires: { url, expiresAt }.
export async function share(id, expiresIn) {
  const res = await request('POST', '/v1/links', { body: { id, expires_in: expiresIn } });
  const { url, expires_at: expiresAt } = await res.json();
  return { url: new URL(url, location.origin).href, expiresAt };
}

// link returns an absolute signed URL of the blob's bytes.
export async function link(id, expiresIn) {
  return (await share(id, expiresIn)).url;
}

// usage counts what is stored under prefix (GET /v1/usage).
export async function usage(prefix) {
  return (await request('GET', '/v1/usage?' + new URLSearchParams({ prefix }))).json();
}

// move renames a blob on the server (its metadata alone changes).
export async function move(id, to) {
  return (await request('POST', blobPath(id) + '?move_to=' + encodeURIComponent(to))).json();
}

// replace stores file as the new content of the blob id in one PUT, only
// while the blob stored is the one whose SHA-256 (its ETag) is sha256:
// a blob changed meanwhile gives 412 and stays.
export async function replace(id, file, sha256) {
  const headers = { 'If-Match': `"${sha256}"`, 'Content-Type': file.type || 'application/octet-stream' };
  return (await request('PUT', blobPath(id), { body: file, headers })).json();
}

// listAll returns the ids of every blob under prefix, folders included.
export async function listAll(prefix) {
  const ids = [];
  let cursor = '';
  do {
    const q = new URLSearchParams({ prefix, limit: '1000' });
    if (cursor) q.set('cursor', cursor);
    const page = await (await request('GET', '/v1/blobs?' + q)).json();
    ids.push(...page.blobs.map((b) => b.id));
    cursor = page.next_cursor || '';
  } while (cursor);
  return ids;
}
