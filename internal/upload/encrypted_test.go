package upload_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
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

// TestPartsEncrypted: with encryption on, the parts of an unfinished tus
// upload and of an unfinished S3 multipart upload are sealed at rest,
// each under a data key of its own recorded with its row: no stored
// object holds plaintext. The digest (tus) and MD5 (multipart) are those
// of the plaintext, the upload restarts from its saved digest, and the
// assembled blobs read back exactly; a small upload inlined in its record
// decrypts its parts too.
func TestPartsEncrypted(t *testing.T) {
	ring, err := crypt.ParseKeyring([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(o *blob.Options) { o.Keys = ring; o.InlineMax = 4096 })
	ctx := context.Background()
	m := sqlmeta.New(f.db)
	const marker = "PART-PLAINTEXT-MARKER-"
	content := func(n int) string { return strings.Repeat(marker, n/len(marker)+1)[:n] }
	bucket := storage.NewBucket("memory", f.mem)
	noPlaintext := func(when string) {
		t.Helper()
		keys, err := bucket.ListKeys(ctx, "", "", 1000)
		if err != nil || len(keys) == 0 {
			t.Fatalf("%s: listing the backend: %d keys, %v", when, len(keys), err)
		}
		for _, k := range keys {
			rc, err := bucket.Get(ctx, k.Key)
			if err != nil {
				t.Fatal(err)
			}
			at, _ := io.ReadAll(rc)
			rc.Close()
			if bytes.Contains(at, []byte(marker[:8])) {
				t.Fatalf("%s: %s holds plaintext at rest", when, k.Key)
			}
		}
	}

	// tus: two parts of an upload of three.
	tusData := content(2*crypt.SegmentSize + 300)
	info, err := f.up.Create(ctx, upload.New{BlobID: "tus", Length: int64(len(tusData))})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, info.ID, 0, tusData[:1000])
	write(t, f, info.ID, 1000, tusData[1000:1000+crypt.SegmentSize+5])
	parts, err := m.UploadParts(ctx, info.ID)
	if err != nil || len(parts) != 2 || parts[0].KeyID != "k1" || parts[1].KeyID != "k1" || parts[0].WrappedKey == parts[1].WrappedKey {
		t.Fatalf("tus parts %+v, %v; want each under a data key of its own, wrapped under k1", parts, err)
	}

	// S3 multipart: two parts, one of the minimum size.
	mp := upload.NewMultipart(m, f.up)
	u, err := mp.Create(ctx, upload.MultipartNew{Key: "mp"})
	if err != nil {
		t.Fatal(err)
	}
	mpData := content(upload.MinPartSize + 777)
	var list []upload.CompletedPart
	for i, piece := range []string{mpData[:upload.MinPartSize], mpData[upload.MinPartSize:]} {
		sum := md5.New()
		p, err := mp.PutPart(ctx, u.ID, "mp", upload.PartWrite{Number: i + 1, Body: io.TeeReader(strings.NewReader(piece), sum), Size: int64(len(piece)),
			Check: func() (string, string, error) { return hex.EncodeToString(sum.Sum(nil)), "", nil }})
		want := md5.Sum([]byte(piece))
		if err != nil || p.KeyID != "k1" || p.MD5 != hex.EncodeToString(want[:]) {
			t.Fatalf("part %d: %+v, %v; want it under k1 with the plaintext's MD5", i+1, p, err)
		}
		list = append(list, upload.CompletedPart{Number: p.Number, ETag: p.MD5})
	}
	noPlaintext("open uploads")

	info = write(t, f, info.ID, int64(1000+crypt.SegmentSize+5), tusData[1000+crypt.SegmentSize+5:])
	if !info.Finished {
		t.Fatalf("tus upload not finished: %+v", info)
	}
	checkBlob(t, f, "tus", tusData)
	if _, err := mp.Complete(ctx, u.ID, "mp", list, false); err != nil {
		t.Fatal(err)
	}
	_, rc, err := f.blobs.Get(ctx, "mp")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != mpData {
		t.Fatalf("multipart blob: %d bytes, %v; want the %d uploaded", len(got), err, len(mpData))
	}
	small := content(3000)
	uploadIn(t, f, "small", small, 1000, 2000)
	checkBlob(t, f, "small", small)
	noPlaintext("after assembly")
}
