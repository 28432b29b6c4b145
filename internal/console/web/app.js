// Simple Drive's console: sign-in, folders, uploads, details. Every piece
// of text that comes from the server is set with textContent (see el()).

import * as api from './api.js';
import { Upload } from './tus.js';
import { el, bytes, date, duration, Speed } from './format.js';

const PAGE = 250;          // ids per list request
const PARALLEL = 2;        // uploads running at once
const PROGRESS_MS = 250;   // an upload's row is redrawn at most this often
const $ = (id) => document.getElementById(id);

const state = {
  prefix: '',
  folders: [],   // full prefixes, "a/b/"
  blobs: [],     // blob objects
  cursor: '',
  loading: 0,    // generation of the listing in flight
  uploads: [],
  current: null, // the blob shown in the details dialog
  selected: new Set(), // ids of blobs and prefixes of folders ticked
  doomed: [],    // the ids a pending delete confirmation names
};

// ---------- status line ----------

function showError(e) {
  const s = $('status');
  s.textContent = e instanceof Error ? e.message : String(e);
  s.className = 'status error';
  s.hidden = false;
  if (e && e.status === 401) signOut('Your token was refused: sign in again.');
}

function showInfo(msg) {
  const s = $('status');
  s.textContent = msg;
  s.className = 'status info';
  s.hidden = !msg;
}

// ---------- sign-in ----------

function showView() {
  const signedIn = !!api.token();
  $('signin-view').hidden = signedIn;
  $('drive-view').hidden = !signedIn;
  $('signout').hidden = !signedIn;
  if (signedIn) navigate(); else $('token').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const t = $('token').value.trim();
  if (!t) return;
  api.setToken(t);
  try {
    await api.list('', '', 1);
  } catch (e) {
    api.clearToken();
    $('token').value = '';
    $('token').focus();
    showError(e.status === 401 ? new Error('This token is not valid (unauthorized).') : e);
    return;
  }
  $('token').value = '';
  showInfo('');
  showView();
}

function signOut(msg) {
  for (const u of state.uploads) u.upload.pause();
  api.clearToken();
  state.blobs = []; state.folders = [];
  $('rows').replaceChildren();
  $('upload-list').replaceChildren();
  state.uploads = [];
  $('uploads').hidden = true;
  if ($('details').open) $('details').close();
  showView();
  if (typeof msg === 'string' && msg) showInfo(msg); else showInfo('');
}

// ---------- browsing ----------

function prefixFromHash() {
  const h = location.hash.slice(1);
  if (!h) return '';
  try { return decodeURIComponent(h); } catch { return ''; }
}

function go(prefix) {
  const h = prefix ? '#' + encodeURIComponent(prefix) : '#';
  if (location.hash === h || (!prefix && !location.hash)) navigate();
  else location.hash = h;
}

async function navigate() {
  if (!api.token()) return;
  state.prefix = prefixFromHash();
  state.folders = []; state.blobs = []; state.cursor = '';
  state.selected.clear();
  $('filter').value = '';
  renderCrumbs();
  showUsage();
  await load();
}

// showUsage writes what the folder holds, subfolders included, from
// GET /v1/usage; a failure leaves the line empty (the listing reports it).
async function showUsage() {
  const prefix = state.prefix;
  const line = $('usage');
  try {
    const u = await api.usage(prefix);
    if (prefix !== state.prefix) return;
    let text = `${prefix ? 'In this folder' : 'In the drive'}: ${plural(u.blobs, 'file')}, ${bytes(u.bytes)}`;
    if (u.uploads) text += ` · ${plural(u.uploads, 'unfinished upload')} (${bytes(u.upload_bytes)})`;
    if (u.garbage_bytes) text += ` · ${bytes(u.garbage_bytes)} deleted, awaiting collection`;
    line.textContent = text;
  } catch {
    line.textContent = '';
  }
}

function plural(n, what) { return `${n.toLocaleString()} ${what}${n === 1 ? '' : 's'}`; }

async function load() {
  const gen = ++state.loading;
  const files = $('files');
  files.setAttribute('aria-busy', 'true');
  $('more').disabled = true;
  try {
    const page = await api.list(state.prefix, state.cursor, PAGE);
    if (gen !== state.loading) return;
    state.folders.push(...page.prefixes);
    state.blobs.push(...page.blobs);
    state.cursor = page.next_cursor || '';
    render();
  } catch (e) {
    if (gen === state.loading) showError(e);
  } finally {
    if (gen === state.loading) {
      files.removeAttribute('aria-busy');
      $('more').disabled = false;
    }
  }
}

function renderCrumbs() {
  const ol = $('crumbs');
  const parts = state.prefix.split('/').filter((p, i, a) => i < a.length - 1);
  const items = [['Home', '']];
  let acc = '';
  for (const p of parts) { acc += p + '/'; items.push([p, acc]); }
  ol.replaceChildren(...items.map(([name, prefix], i) => {
    const last = i === items.length - 1;
    const b = el('button', { type: 'button', class: 'link', text: name || '(empty name)', onclick: () => go(prefix) });
    if (last) b.setAttribute('aria-current', 'page');
    return el('li', {}, b);
  }));
  document.title = state.prefix ? state.prefix + ' · Simple Drive' : 'Simple Drive';
}

function name(full) { return full.slice(state.prefix.length); }

function sorted() {
  const [key, dir] = $('sort').value.split('-');
  const f = $('filter').value.toLowerCase();
  const sign = dir === 'desc' ? -1 : 1;
  const cmpName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  const folders = state.folders.filter((p) => name(p).toLowerCase().includes(f));
  const blobs = state.blobs.filter((b) => name(b.id).toLowerCase().includes(f));
  const by = {
    name: (a, b) => cmpName(a.id, b.id),
    size: (a, b) => a.size - b.size || cmpName(a.id, b.id),
    date: (a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || cmpName(a.id, b.id),
  }[key];
  blobs.sort((a, b) => sign * by(a, b));
  folders.sort((a, b) => (key === 'name' ? sign : 1) * cmpName(a, b));
  return { folders, blobs };
}

function render() {
  const { folders, blobs } = sorted();
  const rows = [];
  for (const p of folders) {
    const n = name(p).replace(/\/$/, '');
    rows.push(el('tr', { class: 'folder', 'data-name': n },
      selectCell(p, 'folder ' + n),
      el('td', { class: 'name' }, el('button', { type: 'button', class: 'link row', 'aria-label': 'Folder ' + n, onclick: () => go(p) },
        el('span', { class: 'icon folder', 'aria-hidden': 'true' }), el('span', { text: n }))),
      el('td', { class: 'num', text: '—' }), el('td', { class: 'opt', text: 'folder' }),
      el('td', { class: 'opt' }, el('button', { type: 'button', class: 'fdel danger', 'aria-label': 'Delete folder ' + n, text: 'Delete…', onclick: () => askFolderDelete(p) }))));
  }
  for (const b of blobs) {
    const n = name(b.id);
    rows.push(el('tr', { class: 'blob', 'data-name': n },
      selectCell(b.id, n),
      el('td', { class: 'name' }, el('button', { type: 'button', class: 'link row', onclick: () => openDetails(b.id) },
        el('span', { class: 'icon file', 'aria-hidden': 'true' }), el('span', { text: n }))),
      el('td', { class: 'num', text: bytes(b.size) }),
      el('td', { class: 'opt', text: b.content_type }),
      el('td', { class: 'opt' }, el('time', { datetime: b.created_at, text: date(b.created_at) }))));
  }
  $('rows').replaceChildren(...rows);
  const total = state.folders.length + state.blobs.length;
  const shown = folders.length + blobs.length;
  let text = total === 0 ? 'This folder is empty. Upload files to create it.'
    : `${plural(folders.length, 'folder')}, ${plural(blobs.length, 'file')}`;
  if (shown !== total) text += ` (filtered from ${total} loaded)`;
  if (state.cursor) text += ' — more in this folder';
  $('count').textContent = text;
  $('more').hidden = !state.cursor;
  $('files').dataset.loaded = String(total);
  renderSelection();
}

// ---------- selection: several files and folders at once ----------

function selectCell(key, label) {
  return el('td', { class: 'sel' }, el('input', {
    type: 'checkbox', 'aria-label': 'Select ' + label, checked: state.selected.has(key),
    onchange: (e) => { if (e.target.checked) state.selected.add(key); else state.selected.delete(key); renderSelection(); },
  }));
}

function renderSelection() {
  const n = state.selected.size;
  $('selbar').hidden = n === 0;
  $('sel-count').textContent = `${n} selected`;
  $('sel-confirm').hidden = true;
  const boxes = [...$('rows').querySelectorAll('td.sel input')];
  $('select-all').checked = boxes.length > 0 && boxes.every((b) => b.checked);
}

function selectAll(on) {
  const { folders, blobs } = sorted();
  for (const key of [...folders, ...blobs.map((b) => b.id)]) {
    if (on) state.selected.add(key); else state.selected.delete(key);
  }
  render();
}

// selectedIds expands the selection into blob ids: a folder stands for
// every blob under it, listed now.
async function selectedIds() {
  const ids = [];
  for (const key of state.selected) {
    if (key.endsWith('/')) ids.push(...await api.listAll(key)); else ids.push(key);
  }
  return [...new Set(ids)];
}

// askFolderDelete selects the folder prefix alone and asks to delete it.
function askFolderDelete(prefix) {
  state.selected.clear();
  state.selected.add(prefix);
  render();
  askDelete();
}

// askDelete names what a delete would remove, counted, and asks.
async function askDelete() {
  try {
    const ids = await selectedIds();
    const folders = [...state.selected].filter((k) => k.endsWith('/')).length;
    state.doomed = ids;
    let text = `Delete ${plural(ids.length, 'file')} permanently`;
    if (folders) text += ` (${plural(folders, 'folder')} with everything in ${folders === 1 ? 'it' : 'them'})`;
    $('sel-confirm-text').textContent = text + '? This cannot be undone.';
    $('sel-confirm-yes').textContent = `Delete ${plural(ids.length, 'file')}`;
    $('sel-confirm-yes').disabled = ids.length === 0;
    $('sel-confirm').hidden = false;
    $('sel-confirm-no').focus();
  } catch (e) { showError(e); }
}

// deleteSelected deletes exactly the ids the confirmation counted, a few
// at a time, and reports how many went.
async function deleteSelected() {
  const ids = state.doomed;
  $('sel-confirm').hidden = true;
  let done = 0;
  const failed = [];
  const next = async () => {
    while (ids.length) {
      const id = ids.shift();
      try { await api.remove(id); done++; } catch (e) { if (e.status !== 404) failed.push(`${id}: ${e.message}`); }
      showInfo(`Deleting… ${done} done.`);
    }
  };
  await Promise.all([next(), next(), next(), next()]);
  if (failed.length) showError(new Error(`Deleted ${plural(done, 'file')}; ${failed.length} could not be: ${failed[0]}`));
  else showInfo(`Deleted ${plural(done, 'file')}.`);
  navigate();
}

// downloadSelected saves every selected file, and every file under a
// selected folder, through five-minute links, one after the other.
async function downloadSelected() {
  try {
    const ids = await selectedIds();
    if (ids.length > 50) {
      showError(new Error(`${ids.length} files are too many to download one by one here: use the command line (simpledrive get -r).`));
      return;
    }
    for (const id of ids) saveAs(await api.link(id, 300));
    showInfo(`Downloading ${plural(ids.length, 'file')}.`);
  } catch (e) { showError(e); }
}

function saveAs(url) {
  const a = el('a', { href: url + '&download=1', download: '' });
  document.body.append(a);
  a.click();
  a.remove();
}

// Arrow keys move between rows; Backspace goes to the parent folder.
function onListKey(ev) {
  const buttons = [...$('rows').querySelectorAll('button.row')];
  const i = buttons.indexOf(document.activeElement);
  if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    if (!buttons.length) return;
    const j = i < 0 ? 0 : Math.max(0, Math.min(buttons.length - 1, i + (ev.key === 'ArrowDown' ? 1 : -1)));
    buttons[j].focus();
    ev.preventDefault();
  } else if (ev.key === 'Backspace' && i >= 0 && state.prefix) {
    const parts = state.prefix.split('/');
    go(parts.slice(0, -2).join('/') + (parts.length > 2 ? '/' : ''));
    ev.preventDefault();
  }
}

// ---------- uploads ----------

// addFiles queues files for upload into the current folder, each under
// its path relative to what was picked or dropped ("photos/2024/a.jpg").
function addFiles(files) {
  if (!files.length) return;
  $('uploads').hidden = false;
  for (const { file, path } of files) addUpload(file, state.prefix + path);
  pump();
}

function picked(fileList) {
  return [...fileList].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

// dropped reads the files of a drop, walking dropped folders.
async function dropped(dt) {
  const entries = [...dt.items].map((it) => it.webkitGetAsEntry && it.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return picked(dt.files);
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      out.push({ file: await new Promise((ok, fail) => entry.file(ok, fail)), path: entry.fullPath.replace(/^\//, '') });
      return;
    }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail)); // at most 100 a call
      if (!batch.length) break;
      for (const e of batch) await walk(e);
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

function addUpload(file, id) {
  const bar = el('progress', { max: String(file.size || 1), value: '0', 'aria-label': 'Progress of ' + id });
  const pct = el('span', { class: 'pct', text: '0%' });
  const info = el('span', { class: 'info', text: 'queued' });
  const pause = el('button', { type: 'button', text: 'Pause' });
  const resume = el('button', { type: 'button', text: 'Resume', hidden: true });
  const cancel = el('button', { type: 'button', text: 'Cancel' });
  const replace = el('button', { type: 'button', text: 'Replace', hidden: true });
  const li = el('li', { class: 'upload', 'data-state': 'queued', 'data-id': id },
    el('span', { class: 'uname', text: id }), bar, pct, info,
    el('span', { class: 'ubuttons' }, pause, resume, replace, cancel));
  $('upload-list').append(li);
  const speed = new Speed();
  let sent = 0;
  // The row shows the progress at most every PROGRESS_MS, the last one
  // included: each redraw costs the page a layout and a paint, which
  // compete with the upload for the CPU.
  let redraw = 0, drawn = -Infinity;
  const draw = () => {
    redraw = 0;
    drawn = performance.now();
    const total = file.size;
    bar.value = total ? sent : 1;
    pct.textContent = (total ? Math.floor(sent * 100 / total) : 100) + '%';
    if (upload.state === 'uploading') {
      const r = speed.rate();
      info.textContent = r ? `${bytes(r)}/s · ${duration((total - sent) / r)} left` : 'uploading';
    }
  };
  const entry = { id, li, upload: null };
  const upload = new Upload(file, {
    endpoint: '/v1/uploads/',
    id,
    contentType: file.type || 'application/octet-stream',
    headers: api.authHeaders,
    onProgress: (n) => {
      sent = n;
      speed.add(n);
      if (!redraw) redraw = setTimeout(draw, Math.max(0, drawn + PROGRESS_MS - performance.now()));
    },
    onState: (st, detail) => {
      li.dataset.state = st;
      pause.hidden = !(st === 'uploading' || st === 'retrying');
      resume.hidden = !(st === 'paused' || (st === 'error' && detail?.error?.status !== 409));
      resume.textContent = st === 'error' ? 'Retry' : 'Resume';
      replace.hidden = !(st === 'error' && detail?.error?.status === 409);
      cancel.textContent = replace.hidden ? (st === 'done' || st === 'cancelled' || st === 'error' ? 'Dismiss' : 'Cancel') : 'Skip';
      li.classList.toggle('failed', st === 'error');
      switch (st) {
        case 'uploading': info.textContent = 'uploading'; speed.reset(); speed.add(sent); break;
        case 'paused': info.textContent = 'paused'; break;
        case 'retrying':
          info.textContent = `connection lost: retrying in ${duration(detail.delay / 1000)} (attempt ${detail.attempt})`;
          break;
        case 'done':
          clearTimeout(redraw); redraw = 0;
          bar.value = bar.max; pct.textContent = '100%'; info.textContent = 'done';
          refreshSoon();
          break;
        case 'cancelled': info.textContent = 'cancelled'; break;
        case 'error': {
          const e = detail.error;
          info.textContent = e.status === 409
            ? `“${id}” already exists: not overwritten (${e.code}). Replace it, or Skip to keep it.`
            : e.message;
          break;
        }
      }
      if (st !== 'uploading' && st !== 'retrying' && st !== 'paused') pump();
    },
  });
  entry.upload = upload;
  replace.addEventListener('click', async () => {
    replace.hidden = true;
    info.textContent = 'replacing';
    try {
      const stored = await api.meta(id);
      await api.replace(id, file, stored.sha256);
      li.dataset.state = 'done';
      li.classList.remove('failed');
      cancel.textContent = 'Dismiss';
      bar.value = bar.max; pct.textContent = '100%'; info.textContent = 'replaced';
      refreshSoon();
    } catch (e) {
      info.textContent = e.message;
      replace.hidden = false;
    }
  });
  pause.addEventListener('click', () => upload.pause());
  resume.addEventListener('click', () => upload.resume());
  cancel.addEventListener('click', () => {
    if (['done', 'cancelled', 'error'].includes(upload.state)) {
      li.remove();
      state.uploads = state.uploads.filter((u) => u !== entry);
      if (!state.uploads.length) $('uploads').hidden = true;
    } else {
      upload.cancel();
    }
  });
  state.uploads.push(entry);
}

// pump starts queued uploads while fewer than PARALLEL run.
function pump() {
  const active = state.uploads.filter((u) => ['uploading', 'retrying'].includes(u.upload.state)).length;
  let room = PARALLEL - active;
  for (const u of state.uploads) {
    if (room <= 0) break;
    if (u.upload.state === 'idle') { u.upload.start(); room--; }
  }
}

let refreshTimer = 0;
function refreshSoon() {
  clearTimeout(refreshTimer);
  $('files').setAttribute('aria-busy', 'true'); // until the listing is read again
  refreshTimer = setTimeout(() => navigate(), 150);
}

// ---------- details ----------

async function openDetails(id) {
  state.current = null;
  const d = $('details');
  $('d-id').textContent = id;
  $('d-title').textContent = id.split('/').pop() || id;
  for (const k of ['d-size', 'd-type', 'd-sha', 'd-created']) $(k).textContent = '…';
  $('d-previewbox').replaceChildren();
  $('d-error').hidden = true;
  $('d-info').hidden = true;
  $('d-confirm').hidden = true;
  $('d-link').hidden = true;
  $('d-link').value = '';
  $('d-newid').value = id;
  d.dataset.ready = 'false';
  if (!d.open) d.showModal();
  try {
    const m = await api.meta(id);
    state.current = m;
    $('d-size').textContent = `${bytes(m.size)} (${m.size.toLocaleString()} bytes)`;
    $('d-type').textContent = m.content_type;
    $('d-sha').textContent = m.sha256;
    $('d-created').textContent = date(m.created_at);
    d.dataset.ready = 'true';
  } catch (e) {
    detailsError(e);
  }
}

function detailsError(e) {
  $('d-info').hidden = true;
  const p = $('d-error');
  p.textContent = e.message;
  p.hidden = false;
}

async function download() {
  const m = state.current;
  if (!m) return;
  try {
    saveAs(await api.link(m.id, 300));
  } catch (e) { detailsError(e); }
}

// Types shown as source text: a browser would run or render them.
const AS_TEXT = /^(text\/html|application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml)\b/;
const TEXTY = /^(text\/|application\/(json|javascript|x-ndjson|yaml|toml)\b)/;

async function preview() {
  const m = state.current;
  if (!m) return;
  const box = $('d-previewbox');
  box.replaceChildren();
  const type = m.content_type.toLowerCase();
  try {
    if (AS_TEXT.test(type)) {
      const url = await api.link(m.id, 300);
      const res = await fetch(url, { headers: { Range: 'bytes=0-262143' }, credentials: 'omit' });
      if (!res.ok) throw await api.problem(res);
      box.append(el('p', { class: 'note', text: 'Shown as text: this type could run code.' }),
        el('pre', { class: 'source', tabindex: '0', text: await res.text() }));
    } else if (type.startsWith('image/')) {
      const url = await api.link(m.id, 300);
      box.append(el('img', { src: url, alt: 'Preview of ' + m.id }));
    } else if (TEXTY.test(type)) {
      const url = await api.link(m.id, 300);
      // No allow-scripts, no allow-same-origin: an opaque origin that
      // runs nothing.
      box.append(el('iframe', { src: url, sandbox: '', title: 'Preview of ' + m.id }));
    } else if (type === 'application/pdf') {
      const url = await api.link(m.id, 300);
      // Chromium refuses to show a PDF in a sandboxed frame; the bytes
      // come as application/pdf with nosniff, so they only ever reach
      // the PDF viewer.
      box.append(el('iframe', { src: url, title: 'Preview of ' + m.id, class: 'pdf' }));
    } else {
      box.append(el('p', { class: 'note', text: `No preview for ${m.content_type}: download it instead.` }));
    }
  } catch (e) { detailsError(e); }
}

async function share(ev) {
  ev.preventDefault();
  const m = state.current;
  if (!m) return;
  try {
    const { url, expiresAt } = await api.share(m.id, Number($('d-expiry').value));
    const out = $('d-link');
    out.value = url;
    out.hidden = false;
    out.select();
    const until = `It works without a token until ${date(expiresAt)}.`;
    try {
      await navigator.clipboard.writeText(url);
      detailsInfo('Link copied to the clipboard. ' + until);
    } catch {
      detailsInfo('Copy the selected link. ' + until);
    }
  } catch (e) { detailsError(e); }
}

function detailsInfo(msg) {
  $('d-error').hidden = true;
  const p = $('d-info');
  p.textContent = msg;
  p.hidden = false;
}

async function rename(ev) {
  ev.preventDefault();
  const m = state.current;
  const to = $('d-newid').value;
  if (!m || !to || to === m.id) return;
  try {
    await api.move(m.id, to);
    $('details').close();
    showInfo(`Moved ${m.id} to ${to}.`);
    navigate();
  } catch (e) { detailsError(e); }
}

async function confirmDelete() {
  const m = state.current;
  if (!m) return;
  try {
    await api.remove(m.id);
    $('details').close();
    showInfo(`Deleted ${m.id}.`);
    state.blobs = state.blobs.filter((b) => b.id !== m.id);
    render();
    showUsage();
  } catch (e) { detailsError(e); }
}

// ---------- wiring ----------

function init() {
  $('signin').addEventListener('submit', signIn);
  $('signout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', navigate);
  $('more').addEventListener('click', load);
  $('filter').addEventListener('input', render);
  $('sort').addEventListener('change', render);
  $('rows').addEventListener('keydown', onListKey);
  $('select-all').addEventListener('change', (e) => selectAll(e.target.checked));
  $('sel-clear').addEventListener('click', () => { state.selected.clear(); render(); });
  $('sel-delete').addEventListener('click', askDelete);
  $('sel-confirm-no').addEventListener('click', () => { $('sel-confirm').hidden = true; });
  $('sel-confirm-yes').addEventListener('click', deleteSelected);
  $('sel-download').addEventListener('click', downloadSelected);
  $('upload-btn').addEventListener('click', () => $('files-input').click());
  $('files-input').addEventListener('change', (e) => { addFiles(picked(e.target.files)); e.target.value = ''; });
  $('uploaddir-btn').addEventListener('click', () => $('dir-input').click());
  $('dir-input').addEventListener('change', (e) => { addFiles(picked(e.target.files)); e.target.value = ''; });

  $('newfolder-open').addEventListener('click', () => {
    $('newfolder').hidden = false; $('newfolder-open').hidden = true; $('newfolder-name').focus();
  });
  const closeNew = () => { $('newfolder').hidden = true; $('newfolder-open').hidden = false; $('newfolder-name').value = ''; };
  $('newfolder-cancel').addEventListener('click', closeNew);
  $('newfolder').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const n = $('newfolder-name').value.replace(/^\/+|\/+$/g, '');
    closeNew();
    if (n) go(state.prefix + n + '/');
  });

  const zone = $('dropzone');
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    try { addFiles(await dropped(e.dataTransfer)); } catch (err) { showError(err); }
  });

  $('d-close').addEventListener('click', () => $('details').close());
  $('d-download').addEventListener('click', download);
  $('d-preview').addEventListener('click', preview);
  $('d-share').addEventListener('submit', share);
  $('d-rename').addEventListener('submit', rename);
  $('d-delete').addEventListener('click', () => { $('d-confirm').hidden = false; $('d-confirm-no').focus(); });
  $('d-confirm-no').addEventListener('click', () => { $('d-confirm').hidden = true; });
  $('d-confirm-yes').addEventListener('click', confirmDelete);
  $('details').addEventListener('close', () => { $('d-previewbox').replaceChildren(); state.current = null; });

  showView();
  document.body.dataset.ready = 'true';
}

init();
