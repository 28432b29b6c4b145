// A small tus 1.0.0 client, the resumable upload protocol:
// creation (POST with Upload-Length and Upload-Metadata), PATCH at
// Upload-Offset (the whole file in one by default, as tus-js-client: the
// server keeps what arrived of a cut PATCH, and a blob sent in one PATCH
// is made without its bytes being copied again), HEAD to learn the offset
// after a failure, and termination (DELETE) on cancel. XMLHttpRequest rather than fetch, for
// upload progress events.
//
// A network failure or a 5xx, 423 or 429 is retried by itself with
// backoff, from the offset the server reports; any other error stops the
// upload and is reported with the server's problem detail and code.

const TUS = '1.0.0';
const RETRY_DELAYS = [500, 1000, 2000, 4000, 8000];

// b64 encodes a string's UTF-8 bytes in base64, as Upload-Metadata wants.
export function b64(s) {
  let bin = '';
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

export class UploadError extends Error {
  constructor(status, code, detail) {
    super(`${detail || 'upload failed'} (${code || status})`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function parseProblem(xhr) {
  let code = '', detail = '';
  try {
    const p = JSON.parse(xhr.responseText);
    code = p.code || '';
    detail = p.detail || p.title || '';
  } catch { /* no body (HEAD) or not JSON */ }
  if (!detail) detail = xhr.status ? `the server answered ${xhr.status}` : 'the server cannot be reached';
  return new UploadError(xhr.status, code || (xhr.status ? String(xhr.status) : 'network'), detail);
}

function retryable(status) {
  return status === 0 || status === 423 || status === 429 || status >= 500;
}

// Upload sends one file. Callbacks: onProgress(sent, total), onState(state,
// info) with state one of uploading, paused, retrying, done, error,
// cancelled.
export class Upload {
  constructor(file, { endpoint, id, contentType, headers, chunkSize = Infinity, onProgress = () => {}, onState = () => {} }) {
    this.file = file;
    this.endpoint = endpoint;
    this.id = id;
    this.contentType = contentType;
    this.headers = headers;
    this.chunkSize = chunkSize;
    this.onProgress = onProgress;
    this.onState = onState;
    this.url = null;
    this.offset = 0;
    this.state = 'idle';
    this.attempt = 0;
    this.xhr = null;
    this.timer = null;
  }

  start() {
    if (this.state === 'uploading' || this.state === 'done' || this.state === 'cancelled') return;
    this.setState('uploading');
    this.run();
  }

  pause() {
    if (this.state !== 'uploading' && this.state !== 'retrying') return;
    this.stop();
    this.setState('paused');
  }

  resume() {
    if (this.state !== 'paused' && this.state !== 'error') return;
    this.attempt = 0;
    this.start();
  }

  async cancel() {
    if (this.state === 'done' || this.state === 'cancelled') return;
    this.stop();
    this.setState('cancelled');
    if (this.url) {
      try { await this.send('DELETE', this.url, {}); } catch { /* expires by itself */ }
    }
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.xhr) { const x = this.xhr; this.xhr = null; x.abort(); }
  }

  setState(state, info) {
    this.state = state;
    this.onState(state, info);
  }

  async run() {
    try {
      if (!this.url) {
        await this.create();
      } else {
        await this.head();
      }
      while (this.offset < this.file.size) {
        if (this.state !== 'uploading') return;
        await this.patch();
        this.attempt = 0;
      }
      if (this.state !== 'uploading') return;
      this.onProgress(this.file.size, this.file.size);
      this.setState('done');
    } catch (e) {
      if (e === ABORTED || this.state !== 'uploading') return;
      if (e instanceof UploadError && retryable(e.status)) {
        const delay = RETRY_DELAYS[Math.min(this.attempt, RETRY_DELAYS.length - 1)];
        this.attempt++;
        this.setState('retrying', { delay, attempt: this.attempt, error: e });
        this.timer = setTimeout(() => {
          if (this.state !== 'retrying') return;
          this.setState('uploading');
          this.run();
        }, delay);
        return;
      }
      this.setState('error', { error: e });
    }
  }

  async create() {
    const meta = [`id ${b64(this.id)}`];
    if (this.contentType) meta.push(`content_type ${b64(this.contentType)}`);
    const xhr = await this.send('POST', this.endpoint, {
      'Upload-Length': String(this.file.size),
      'Upload-Metadata': meta.join(','),
    });
    if (xhr.status !== 201) throw parseProblem(xhr);
    const loc = xhr.getResponseHeader('Location');
    if (!loc) throw new UploadError(xhr.status, 'no_location', 'the server made the upload but gave no Location');
    this.url = new URL(loc, new URL(this.endpoint, location.href)).href;
    this.offset = Number(xhr.getResponseHeader('Upload-Offset') || 0);
  }

  async head() {
    const xhr = await this.send('HEAD', this.url, {});
    if (xhr.status !== 200 && xhr.status !== 204) throw parseProblem(xhr);
    const off = Number(xhr.getResponseHeader('Upload-Offset'));
    if (!Number.isFinite(off) || off < 0) throw new UploadError(xhr.status, 'bad_offset', 'the server reported no Upload-Offset');
    this.offset = off;
    this.onProgress(this.offset, this.file.size);
  }

  async patch() {
    const end = Math.min(this.offset + this.chunkSize, this.file.size);
    const start = this.offset;
    // The File itself when all of it goes: Chromium then sends it from
    // its file, where a slice (a Blob) is read through its blob store at
    // twice the CPU.
    const body = start === 0 && end === this.file.size ? this.file : this.file.slice(start, end);
    const xhr = await this.send('PATCH', this.url, {
      'Upload-Offset': String(start),
      'Content-Type': 'application/offset+octet-stream',
    }, body, (loaded) => this.onProgress(start + loaded, this.file.size));
    if (xhr.status === 409 && (parseProblem(xhr).code === 'offset_mismatch')) {
      await this.head(); // someone else's offset: continue from the server's
      return;
    }
    if (xhr.status !== 204 && xhr.status !== 200) throw parseProblem(xhr);
    const off = Number(xhr.getResponseHeader('Upload-Offset'));
    this.offset = Number.isFinite(off) && off > start ? off : end;
    this.onProgress(this.offset, this.file.size);
  }

  // send makes one request; it resolves with the finished XHR whatever
  // its status, and rejects on a network failure (status 0) or abort.
  send(method, url, headers, body, progress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open(method, url);
      const all = { ...this.headers(), 'Tus-Resumable': TUS, ...headers };
      for (const [k, v] of Object.entries(all)) xhr.setRequestHeader(k, v);
      if (progress) xhr.upload.onprogress = (e) => progress(e.loaded);
      xhr.onload = () => { if (this.xhr === xhr) this.xhr = null; resolve(xhr); };
      xhr.onerror = () => { if (this.xhr === xhr) this.xhr = null; reject(new UploadError(0, 'network', 'the connection to the server was lost')); };
      xhr.onabort = () => reject(ABORTED);
      xhr.send(body ?? null);
    });
  }
}

const ABORTED = new Error('aborted');
