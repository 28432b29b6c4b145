package app

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// key returns the ENCRYPTION_KEYS entry of master key id, 32 bytes b.
func key(id string, b byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
}

// keysConfig returns a function that loads the configuration of one
// server (local files and SQLite in a directory of the test) with
// ENCRYPTION_KEYS keys.
func keysConfig(t *testing.T) func(keys string) config.Config {
	dir := t.TempDir()
	return func(keys string) config.Config {
		cfg, err := config.Load(func(name string) string {
			return map[string]string{"API_TOKEN": "t", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs", "ENCRYPTION_KEYS": keys}[name]
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
}

// TestStartupRefusesMissingMasterKey: a master key that a stored blob
// references cannot be dropped from the configuration: startup fails,
// naming it; with it back, the blob reads.
func TestStartupRefusesMissingMasterKey(t *testing.T) {
	load := keysConfig(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	core, err := OpenCore(ctx, load(key("old", 'o')), log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Service.Create(ctx, "a", strings.NewReader("secret"), 6); err != nil {
		t.Fatal(err)
	}
	core.Close()
	for _, keys := range []string{"", key("new", 'n')} {
		if c, err := OpenCore(ctx, load(keys), log); err == nil || !strings.Contains(err.Error(), `["old"]`) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("ENCRYPTION_KEYS=%.4q: %v; want a startup error naming key old", keys, err)
		}
	}
	core, err = OpenCore(ctx, load(key("new", 'n')+","+key("old", 'o')), log)
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	_, rc, err := core.Service.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "secret" {
		t.Fatalf("read %q, %v", b, err)
	}
}

// TestRekeyOpenUploads: rekey rewraps the data keys of the parts of open
// uploads (tus and S3 multipart) as well as those of blobs, so the old
// master key can be dropped while uploads are open: the server starts
// without it, and the uploads finish and read back exactly.
func TestRekeyOpenUploads(t *testing.T) {
	load := keysConfig(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	tusData := bytes.Repeat([]byte("tus-rekey-"), 20000)
	mpData := bytes.Repeat([]byte("mp-rekey-"), (upload.MinPartSize+1000)/9)
	part := func(n int) []byte {
		if n == 1 {
			return mpData[:upload.MinPartSize]
		}
		return mpData[upload.MinPartSize:]
	}
	putPart := func(mp *upload.Multipart, id string, n int) string {
		sum := md5.Sum(part(n))
		etag := hex.EncodeToString(sum[:])
		if _, err := mp.PutPart(ctx, id, "mp", upload.PartWrite{Number: n, Body: bytes.NewReader(part(n)), Size: int64(len(part(n))),
			Check: func() (string, string, error) { return etag, "", nil }}); err != nil {
			t.Fatalf("PutPart %d: %v", n, err)
		}
		return etag
	}

	a, err := New(ctx, load(key("old", 'o')), log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.Create(ctx, "blob", bytes.NewReader(tusData), int64(len(tusData))); err != nil {
		t.Fatal(err)
	}
	up, err := a.uploads.Create(ctx, upload.New{BlobID: "tus", Length: int64(len(tusData))})
	if err != nil {
		t.Fatal(err)
	}
	half := len(tusData) / 2
	if _, err := a.uploads.Write(ctx, up.ID, upload.Write{Body: bytes.NewReader(tusData[:half]), Size: int64(half), Length: -1}); err != nil {
		t.Fatal(err)
	}
	mpu, err := upload.NewMultipart(a.core.Meta, a.uploads).Create(ctx, upload.MultipartNew{Key: "mp"})
	if err != nil {
		t.Fatal(err)
	}
	etag1 := putPart(upload.NewMultipart(a.core.Meta, a.uploads), mpu.ID, 1)
	a.Close()

	core, err := OpenCore(ctx, load(key("new", 'n')+","+key("old", 'o')), log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := core.Service.Rekey(ctx, nil)
	core.Close()
	if err != nil || st.Rewrapped != 1 || st.Parts != 2 {
		t.Fatalf("Rekey = %+v, %v; want the blob and the two parts rewrapped", st, err)
	}

	a, err = New(ctx, load(key("new", 'n')), log)
	if err != nil {
		t.Fatalf("starting without the old key after rekey: %v", err)
	}
	defer a.Close()
	if info, err := a.uploads.Write(ctx, up.ID, upload.Write{Offset: int64(half), Body: bytes.NewReader(tusData[half:]), Size: int64(len(tusData) - half), Length: -1}); err != nil || !info.Finished {
		t.Fatalf("finishing the tus upload: %+v, %v", info, err)
	}
	mp := upload.NewMultipart(a.core.Meta, a.uploads)
	etag2 := putPart(mp, mpu.ID, 2)
	if _, err := mp.Complete(ctx, mpu.ID, "mp", []upload.CompletedPart{{Number: 1, ETag: etag1}, {Number: 2, ETag: etag2}}, false); err != nil {
		t.Fatalf("completing the multipart upload: %v", err)
	}
	for id, want := range map[string][]byte{"blob": tusData, "tus": tusData, "mp": mpData} {
		b, rc, err := a.svc.Get(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) || b.SHA256 != fmt.Sprintf("%x", sha256.Sum256(want)) {
			t.Fatalf("%s read back %d bytes (sha256 %s), %v; want the %d written", id, len(got), b.SHA256, err, len(want))
		}
	}
}
