package storagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// composeCases are the cases of [storage.Bucket.Compose]: through the
// driver's [storage.Composer] when it has one, else the Bucket's streaming.
var composeCases = []struct {
	name string
	fn   func(t *testing.T, b *storage.Bucket)
}{
	{"ComposeOnePart", func(t *testing.T, b *storage.Bucket) { compose(t, b, 100<<10+3) }},
	{"ComposeSmallParts", func(t *testing.T, b *storage.Bucket) { compose(t, b, 1, 0, 64<<10, 1<<20+5) }},
	// Parts at S3's 5 MiB minimum and whole database chunks: what a
	// medium can compose without streaming.
	{"ComposeLargeParts", func(t *testing.T, b *storage.Bucket) { compose(t, b, 5<<20, 6<<20, 100) }},
	{"ComposeEmpty", func(t *testing.T, b *storage.Bucket) { compose(t, b, 0) }},
	{"ComposeNoParts", func(t *testing.T, b *storage.Bucket) { compose(t, b) }},
	{"ComposeSizeMismatch", testComposeSizeMismatch},
	{"ComposeMissingPart", testComposeMissingPart},
}

// putParts stores parts of the given sizes and returns their keys and
// their concatenation.
func putParts(t *testing.T, b *storage.Bucket, sizes ...int) ([]string, []byte) {
	t.Helper()
	var keys []string
	var all []byte
	for _, n := range sizes {
		key, data := testKey(t, "part"), RandomBytes(t, n)
		if err := b.Put(context.Background(), key, bytes.NewReader(data), int64(n)); err != nil {
			t.Fatalf("Put of a part: %v", err)
		}
		keys = append(keys, key)
		all = append(all, data...)
	}
	return keys, all
}

// compose composes parts of the given sizes and checks the result, a range
// of it, and that the parts are untouched.
func compose(t *testing.T, b *storage.Bucket, sizes ...int) {
	ctx := context.Background()
	keys, want := putParts(t, b, sizes...)
	dst := testKey(t, "composed")
	if err := b.Compose(ctx, dst, keys, int64(len(want))); err != nil {
		t.Fatalf("Compose of %d parts: %v", len(keys), err)
	}
	if got := MustGet(t, b, dst); !bytes.Equal(got, want) {
		t.Fatalf("the composed key holds %d bytes that differ from the %d of the parts", len(got), len(want))
	}
	if len(want) > 2 {
		rc, err := b.GetRange(ctx, dst, 1, int64(len(want)-2))
		if err != nil {
			t.Fatalf("GetRange of the composed key: %v", err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want[1:len(want)-1]) {
			t.Errorf("GetRange(1, %d) of the composed key = %d bytes (err %v), not the parts' bytes", len(want)-2, len(got), err)
		}
	}
	off := 0
	for i, k := range keys {
		if got := MustGet(t, b, k); !bytes.Equal(got, want[off:off+sizes[i]]) {
			t.Errorf("part %d changed after Compose", i)
		}
		off += sizes[i]
	}
	// The composed key lives on its own once the parts are gone.
	for _, k := range keys {
		if err := b.Delete(ctx, k); err != nil {
			t.Fatalf("Delete of a part: %v", err)
		}
	}
	if got := MustGet(t, b, dst); !bytes.Equal(got, want) {
		t.Fatal("the composed key changed when its parts were deleted")
	}
}

func testComposeSizeMismatch(t *testing.T, b *storage.Bucket) {
	keys, all := putParts(t, b, 10, 20)
	for _, size := range []int64{int64(len(all)) - 1, int64(len(all)) + 1} {
		dst := testKey(t, "composed")
		err := b.Compose(context.Background(), dst, keys, size)
		if !errors.Is(err, storage.ErrSizeMismatch) {
			t.Errorf("Compose of %d bytes as %d = %v; want ErrSizeMismatch", len(all), size, err)
		}
		assertAbsentAfter(t, b, dst, err)
	}
}

func testComposeMissingPart(t *testing.T, b *storage.Bucket) {
	keys, all := putParts(t, b, 10)
	keys = append(keys, testKey(t, "missing"))
	dst := testKey(t, "composed")
	err := b.Compose(context.Background(), dst, keys, int64(len(all)))
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Compose with a missing part = %v; want ErrNotFound", err)
	}
	assertAbsentAfter(t, b, dst, err)
	if got := MustGet(t, b, keys[0]); !bytes.Equal(got, all) {
		t.Error("a failed Compose changed its part")
	}
}

// ComposeNative checks that the driver d composes parts of each of the
// sizes in composed itself, without the Bucket's streaming (its Compose
// succeeds when called directly), and declines parts of each of the sizes
// in declined with [errors.ErrUnsupported], storing nothing.
func ComposeNative(t *testing.T, d storage.Driver, composed, declined [][]int) {
	t.Helper()
	c, ok := d.(storage.Composer)
	if !ok {
		t.Fatalf("%T does not implement storage.Composer", d)
	}
	b := storage.NewBucket("conformance", d)
	ctx := context.Background()
	for _, sizes := range composed {
		keys, want := putParts(t, b, sizes...)
		dst := testKey(t, "composed")
		if err := c.Compose(ctx, dst, keys, int64(len(want))); err != nil {
			t.Errorf("the driver's Compose of parts of %v bytes: %v", sizes, err)
			continue
		}
		if got := MustGet(t, b, dst); !bytes.Equal(got, want) {
			t.Errorf("the driver composed parts of %v bytes into %d bytes that differ from theirs", sizes, len(got))
		}
	}
	for _, sizes := range declined {
		keys, want := putParts(t, b, sizes...)
		dst := testKey(t, "declined")
		err := c.Compose(ctx, dst, keys, int64(len(want)))
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("the driver's Compose of parts of %v bytes = %v; want errors.ErrUnsupported", sizes, err)
		}
		assertAbsentAfter(t, b, dst, err)
	}
}
