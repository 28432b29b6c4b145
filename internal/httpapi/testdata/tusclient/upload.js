// Uploads a file with tus-js-client, the reference tus client, as a browser
// or Node.js application would: node upload.js ENDPOINT FILE BLOB_ID, with
// the bearer token in SIMPLEDRIVE_TOKEN. Run by TestTusJSClient; the
// package comes from package-lock.json (scripts/services/node.sh installs it
// and points NODE_PATH at it).
'use strict';
const fs = require('fs');
const tus = require('tus-js-client');

const [endpoint, file, id] = process.argv.slice(2);
const data = fs.readFileSync(file);
let chunks = 0;
const upload = new tus.Upload(data, {
  endpoint,
  chunkSize: 5 * 1024 * 1024,
  retryDelays: [0, 50, 100, 200, 500, 1000, 2000],
  headers: { Authorization: 'Bearer ' + process.env.SIMPLEDRIVE_TOKEN },
  metadata: { id, content_type: 'application/x-tus-test' },
  onShouldRetry(err, attempt) {
    console.log(`retrying after: ${err.message.split('\n')[0]} (attempt ${attempt + 1})`);
    return true;
  },
  onChunkComplete(size, accepted, total) {
    chunks++;
    console.log(`chunk ${chunks}: ${accepted}/${total}`);
  },
  onError(err) {
    console.error('upload failed: ' + err);
    process.exit(1);
  },
  onSuccess() {
    console.log('done: ' + upload.url);
    process.exit(0);
  },
});
upload.start();
