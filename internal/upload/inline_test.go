package upload_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// TestUploadAssemblesSmallBlobInline: with Options.InlineMax set, a
// finished upload no larger than it becomes a blob kept in its record (no
// backend object once its parts are collected), and a larger one a blob
// on the backend; both read back whole.
func TestUploadAssemblesSmallBlobInline(t *testing.T) {
	f := newFixture(t, func(o *blob.Options) { o.InlineMax = 16 })
	ctx := context.Background()
	for id, parts := range map[string][]string{"small": {"hello", " world"}, "large": {"0123456789", "abcdefghij"}} {
		info, err := f.up.Create(ctx, upload.New{BlobID: id, Length: int64(len(strings.Join(parts, "")))})
		if err != nil {
			t.Fatal(err)
		}
		offset := int64(0)
		for _, p := range parts {
			write(t, f, info.ID, offset, p)
			offset += int64(len(p))
		}
		_, rc, err := f.blobs.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != strings.Join(parts, "") {
			t.Fatalf("%s = %q, %v", id, got, err)
		}
	}
	if _, err := f.blobs.CollectGarbage(ctx, f.clock()); err != nil {
		t.Fatal(err)
	}
	if keys := f.mem.Keys(); len(keys) != 1 || strings.HasPrefix(keys[0], "tus/") {
		t.Fatalf("backend keys after collection: %q; want the large blob's only", keys)
	}
}
