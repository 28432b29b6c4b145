package s3api

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/testenv"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// TestMultipartEncrypted: with ENCRYPTION_KEYS set, the parts of an
// unfinished multipart upload hold no plaintext on the backend, their
// ETags are the MD5s of the plaintext, and the completed object reads
// back exactly.
func TestMultipartEncrypted(t *testing.T) {
	ring, err := crypt.ParseKeyring([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	m := sqlmeta.New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db")))
	log := slog.New(slog.DiscardHandler)
	bucket := storage.NewBucket("memory", memory.New())
	svc := blob.New(m, bucket, blob.Options{Timeout: 10 * time.Second, DeleteGrace: time.Hour, Keys: ring}, log)
	up := upload.NewService(m, m, bucket, svc, upload.Config{Expiry: time.Hour, MaxSize: 1 << 30}, log)
	s := New(Config{Bucket: "drive", Blobs: svc, Multipart: upload.NewMultipart(m, up), Access: access.New(access.Config{})})

	const marker = "S3-PART-MARKER-"
	p1 := bytes.Repeat([]byte(marker), upload.MinPartSize/len(marker)+1)[:upload.MinPartSize]
	p2 := []byte(marker + "tail")
	op := access.OperatorPrincipal
	id := create(t, s, op, "enc/obj")
	for n, data := range [][]byte{p1, p2} {
		if res := putPart(t, s, op, "enc/obj", id, n+1, data); res.status != http.StatusOK || res.header.Get("ETag") != `"`+md5hex(data)+`"` {
			t.Fatalf("UploadPart %d: %d %s %s", n+1, res.status, res.header.Get("ETag"), res.body)
		}
	}
	ctx := context.Background()
	keys, err := bucket.ListKeys(ctx, "s3mp/", "", 100)
	if err != nil || len(keys) != 2 {
		t.Fatalf("stored parts: %+v, %v", keys, err)
	}
	for _, k := range keys {
		rc, err := bucket.Get(ctx, k.Key)
		if err != nil {
			t.Fatal(err)
		}
		at, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(at, []byte(marker)) {
			t.Fatalf("part %s holds plaintext at rest", k.Key)
		}
	}
	if res := complete(t, s, op, "enc/obj", id, 1, md5hex(p1), 2, md5hex(p2)); res.status != http.StatusOK {
		t.Fatalf("CompleteMultipartUpload: %d %s", res.status, res.body)
	}
	_, rc, err := svc.Get(ctx, "enc/obj")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, append(p1, p2...)) {
		t.Fatalf("object: %d bytes, %v; want the %d uploaded", len(got), err, len(p1)+len(p2))
	}
}
