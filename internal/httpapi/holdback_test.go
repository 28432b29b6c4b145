package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/cli"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// corruptible is a running server with a second handle on its database and
// backend, through which a test damages stored bytes behind its back.
type corruptible struct {
	*harness
	cfg  config.Config
	core *app.Core
}

func startCorruptible(t *testing.T, s stack, edit ...func(*config.Config)) *corruptible {
	t.Helper()
	c := testConfig(t)
	s.configure(t, &c)
	// Off: what is damaged after a read must be read again from the
	// backend (the read cache serves its verified copy; see readcache.go).
	c.ReadCacheBytes = 0
	for _, e := range edit {
		e(&c)
	}
	a, err := app.New(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	core, err := app.OpenCore(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("app.OpenCore: %v", err)
	}
	t.Cleanup(func() { core.Close() })
	return &corruptible{harness: serve(t, a.Handler()), cfg: c, core: core}
}

// flip flips one bit of the byte at offset of the stored bytes of id, as
// decay would: in place in the local file or in the database chunk that
// holds it; by rewriting the object on s3 and ftp, which have no writes
// in place.
func (c *corruptible) flip(id string, offset int64) {
	t := c.t
	t.Helper()
	ctx := context.Background()
	rec, err := c.core.Meta.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	switch c.cfg.StorageBackend {
	case config.BackendLocal:
		f, err := os.OpenFile(filepath.Join(c.cfg.LocalStoragePath, filepath.FromSlash(rec.StorageKey)), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var b [1]byte
		if _, err := f.ReadAt(b[:], offset); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x04
		if _, err := f.WriteAt(b[:], offset); err != nil {
			t.Fatal(err)
		}
	case config.BackendDatabase:
		d := c.core.DB.Writer()
		var chunk int64
		if err := d.QueryRow(`SELECT chunk_size FROM blob_data_index WHERE key = $1`, rec.StorageKey).Scan(&chunk); err != nil {
			t.Fatal(err)
		}
		var data []byte
		if err := d.QueryRow(`SELECT data FROM blob_data WHERE key = $1 AND seq = $2`, rec.StorageKey, offset/chunk).Scan(&data); err != nil {
			t.Fatal(err)
		}
		data[offset%chunk] ^= 0x04
		if _, err := d.Exec(`UPDATE blob_data SET data = $1 WHERE key = $2 AND seq = $3`, data, rec.StorageKey, offset/chunk); err != nil {
			t.Fatal(err)
		}
	default:
		rc, err := c.core.Backend.Get(ctx, rec.StorageKey)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		data[offset] ^= 0x04
		if err := c.core.Backend.Delete(ctx, rec.StorageKey); err != nil {
			t.Fatal(err)
		}
		if err := c.core.Backend.Put(ctx, rec.StorageKey, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
}

// forgetCRC makes id a row stored before the CRC-32C was kept.
func (c *corruptible) forgetCRC(id string) {
	c.t.Helper()
	if _, err := c.core.DB.Writer().Exec(`UPDATE blob_metadata SET crc32c = NULL WHERE id = $1`, id); err != nil {
		c.t.Fatal(err)
	}
}

// fetch sends an authorized GET (anonymous when anon) and reads the whole
// body, returning what arrived and the read's error.
func (c *corruptible) fetch(path string, anon bool) (*http.Response, []byte, error) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if !anon {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// cliGet runs simpledrive get id -o out against the server.
func (c *corruptible) cliGet(id, out string) (int, string) {
	var stderr bytes.Buffer
	vars := map[string]string{"SIMPLEDRIVE_URL": c.url, "SIMPLEDRIVE_TOKEN": token, "XDG_CACHE_HOME": c.t.TempDir()}
	code := cli.Main(context.Background(), []string{"get", id, "-o", out}, cli.Env{
		Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
		Getenv: func(n string) string { return vars[n] },
	})
	return code, stderr.String()
}

// crc32cBase64 is the CRC-32C of data as S3 and Repr-Digest write it: the
// base64 of its four big-endian bytes.
func crc32cBase64(data []byte) string {
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc))
}

// readPaths are the ways a client reads a blob whole.
var readPaths = []string{"JSON GET", "alt=media", "signed link", "console download", "CLI get"}

// TestCorruptBlobNeverArrivesWhole: on every backend, a byte flipped in
// stored bytes (the first, a middle or the last byte; of a blob within the
// first read buffer and of one of several buffers and database chunks;
// with a CRC-32C and, for rows stored before it was kept, a SHA-256) never
// reaches a client whole through any read path: a small blob is answered
// 500 blob_corrupt before its body, a larger one is cut short of its
// Content-Length, and the CLI keeps no file. Sound blobs read whole, with
// Repr-Digest and x-amz-checksum-crc32c on the raw reads.
func TestCorruptBlobNeverArrivesWhole(t *testing.T) {
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			testenv.SkipStackUnderRace(t, s.name)
			c := startCorruptible(t, s)
			for _, size := range []int64{100, 2 << 20} {
				small := size < 48<<10
				data := make([]byte, size)
				rand.Read(data)
				for _, at := range slices.Compact([]int64{0, size / 2, size - 1, -1}) {
					withCRC := at != -1
					if !withCRC {
						at = size - 1 // an old row, verified by its SHA-256
					}
					id := fmt.Sprintf("%d/at-%d-crc-%v", size, at, withCRC)
					if small { // the JSON POST and the raw PUT record the CRC-32C
						expectStatus(t, c.postBlob(id, data), http.StatusCreated)
					} else {
						expectStatus(t, c.request(http.MethodPut, blobPath(id), bytes.NewReader(data), map[string]string{"Content-Type": "application/x-test"}), http.StatusCreated)
					}
					if !withCRC {
						c.forgetCRC(id)
					}
					link := c.link(id, 600)
					c.expectSound(id, link, data, withCRC)
					c.flip(id, at)
					for _, p := range readPaths {
						c.expectNotWhole(p, id, link, small)
					}
				}
			}
		})
	}
}

// expectSound checks that id reads whole through every path, with its
// checksums in the raw reads' headers.
func (c *corruptible) expectSound(id, link string, data []byte, withCRC bool) {
	t := c.t
	t.Helper()
	sha := sha256.Sum256(data)
	wantDigest := "sha-256=:" + base64.StdEncoding.EncodeToString(sha[:]) + ":"
	wantCRC := ""
	if withCRC {
		wantCRC = crc32cBase64(data)
		wantDigest += ", crc32c=:" + wantCRC + ":"
	}
	for _, path := range []string{blobPath(id) + "?alt=media", link} {
		resp, body, err := c.fetch(path, path == link)
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("GET %s of a sound blob = %d, %d bytes, %v", path, resp.StatusCode, len(body), err)
		}
		if got := resp.Header.Get("Repr-Digest"); got != wantDigest {
			t.Errorf("GET %s: Repr-Digest %q; want %q", path, got, wantDigest)
		}
		if got := resp.Header.Get("X-Amz-Checksum-Crc32c"); got != wantCRC {
			t.Errorf("GET %s: x-amz-checksum-crc32c %q; want %q", path, got, wantCRC)
		}
	}
	resp, body, err := c.fetch(blobPath(id), false)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(base64.StdEncoding.EncodeToString(data))) {
		t.Fatalf("JSON GET of a sound blob = %d, %d bytes, %v", resp.StatusCode, len(body), err)
	}
	if resp.Header.Get("Repr-Digest") != "" {
		t.Error("the JSON GET carries the raw bytes' Repr-Digest: its representation is the JSON")
	}
	out := filepath.Join(t.TempDir(), "sound")
	if code, stderr := c.cliGet(id, out); code != 0 {
		t.Fatalf("simpledrive get of a sound blob = exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("simpledrive get of a sound blob wrote other bytes")
	}
}

// expectNotWhole checks that the corrupt blob id does not arrive whole
// through path p.
func (c *corruptible) expectNotWhole(p, id, link string, small bool) {
	t := c.t
	t.Helper()
	var resp *http.Response
	var body []byte
	var err error
	switch p {
	case "JSON GET":
		resp, body, err = c.fetch(blobPath(id), false)
	case "alt=media":
		resp, body, err = c.fetch(blobPath(id)+"?alt=media", false)
	case "signed link":
		resp, body, err = c.fetch(link, true)
	case "console download": // the console's Download button: its signed link with download=1
		resp, body, err = c.fetch(link+"&download=1", true)
	case "CLI get":
		out := filepath.Join(t.TempDir(), "corrupt")
		code, stderr := c.cliGet(id, out)
		_, statOut := os.Stat(out)
		_, statPart := os.Stat(out + ".part")
		if code == 0 || !os.IsNotExist(statOut) || !os.IsNotExist(statPart) {
			t.Fatalf("simpledrive get %s of a corrupt blob = exit %d (%s); file kept: %v, .part kept: %v", id, code, stderr, statOut == nil, statPart == nil)
		}
		return
	}
	switch {
	case small:
		if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"code":"blob_corrupt"`) {
			t.Fatalf("%s of corrupt %s = %d %.200s; want 500 blob_corrupt before the body", p, id, resp.StatusCode, body)
		}
	case resp.StatusCode != http.StatusOK || err == nil || int64(len(body)) >= resp.ContentLength:
		t.Fatalf("%s of corrupt %s = %d, %d of %d bytes, read error %v; want the body cut short", p, id, resp.StatusCode, len(body), resp.ContentLength, err)
	}
}

// TestCorruptLocalMiBAnsweredFirst: a raw read of a local file checks a
// whole block of 1 MiB before it answers, so a corrupt blob of 1 MiB gets
// 500 blob_corrupt before its body, and one a byte longer is cut short of
// its Content-Length.
func TestCorruptLocalMiBAnsweredFirst(t *testing.T) {
	c := startCorruptible(t, stacks[0]) // local+SQLite
	for _, size := range []int64{1 << 20, 1<<20 + 1} {
		data := make([]byte, size)
		rand.Read(data)
		id := fmt.Sprintf("mib-%d", size)
		expectStatus(t, c.request(http.MethodPut, blobPath(id), bytes.NewReader(data), nil), http.StatusCreated)
		c.flip(id, size-1)
		c.expectNotWhole("alt=media", id, "", size == 1<<20)
	}
}
