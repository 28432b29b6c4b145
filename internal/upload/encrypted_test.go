package upload_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// TestUploadEncrypted: with encryption on, an upload is assembled by
// streaming its parts through encryption, not by composing them (local
// composes by hard links): the blob is stored encrypted, with no
// plaintext at rest, and reads back exactly, whole and across the
// parts' boundaries.
func TestUploadEncrypted(t *testing.T) {
	dir := t.TempDir()
	drv, err := local.New(local.Config{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	ring, err := crypt.ParseKeyring([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	bucket := storage.NewBucket("local", drv)
	m := sqlmeta.New(f.db)
	log := slog.New(slog.DiscardHandler)
	f.blobs = blob.New(m, bucket, blob.Options{Timeout: time.Minute, DeleteGrace: time.Hour, Keys: ring}, log)
	f.up = upload.NewService(m, m, bucket, f.blobs, upload.Config{Expiry: time.Hour, MaxSize: 1 << 30}, log)
	f.up.SetClock(f.clock)

	const marker = "PLAINTEXT-MARKER-"
	data := strings.Repeat(marker, (3*crypt.SegmentSize)/len(marker)+7)
	uploadIn(t, f, "enc", data, 1000, crypt.SegmentSize, len(data)-1000-crypt.SegmentSize)
	checkBlob(t, f, "enc", data)

	rec, err := m.Get(context.Background(), "enc")
	if err != nil || rec.KeyID != "k1" {
		t.Fatalf("record %+v, %v; want it encrypted under k1", rec, err)
	}
	rc, err := bucket.Get(context.Background(), rec.StorageKey)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := io.ReadAll(rc)
	rc.Close()
	if bytes.Contains(at, []byte(marker)) || int64(len(at)) != crypt.CiphertextSize(int64(len(data))) {
		t.Fatalf("the assembled blob at rest: %d bytes, plaintext visible %v", len(at), bytes.Contains(at, []byte(marker)))
	}
	h, err := f.blobs.Open(context.Background(), "enc")
	if err != nil {
		t.Fatal(err)
	}
	rr, err := h.RangeReader(context.Background(), 990, crypt.SegmentSize)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rr)
	rr.Close()
	if err != nil || string(got) != data[990:990+crypt.SegmentSize] {
		t.Fatalf("range across the parts: %d bytes, %v", len(got), err)
	}
}
