package upload_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// upload sends data to a new upload of blob id in writes of the given
// sizes, and returns the finished upload.
func uploadIn(t testing.TB, f *fixture, id, data string, sizes ...int) upload.Info {
	t.Helper()
	info, err := f.up.Create(context.Background(), upload.New{BlobID: id, Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for _, n := range sizes {
		info = write(t, f, info.ID, int64(off), data[off:off+n])
		off += n
	}
	if !info.Finished || info.Blob == nil {
		t.Fatalf("after writing %d of %d bytes the upload is not finished: %+v", off, len(data), info)
	}
	return info
}

// checkBlob checks that blob id holds data, with its SHA-256 and CRC-32C.
func checkBlob(t *testing.T, f *fixture, id, data string) {
	t.Helper()
	b, rc, err := f.blobs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != data {
		t.Fatalf("blob %q = %d bytes, %v; want the %d uploaded", id, len(got), err, len(data))
	}
	sum := sha256.Sum256([]byte(data))
	crc := crc32.Checksum([]byte(data), crc32.MakeTable(crc32.Castagnoli))
	if b.SHA256 != hex.EncodeToString(sum[:]) || !b.HasCRC32C || b.CRC32C != crc {
		t.Fatalf("blob %q records SHA-256 %s, CRC-32C %#x (%v); want %x, %#x", id, b.SHA256, b.CRC32C, b.HasCRC32C, sum, crc)
	}
}

// TestUploadDigestAcrossWrites checks that the checksums of a blob
// assembled from many writes, hashed write by write with the digest saved
// between them, are those of its whole content.
func TestUploadDigestAcrossWrites(t *testing.T) {
	f := newFixture(t)
	data := strings.Repeat("0123456789abcdef", 1000) + "tail"
	uploadIn(t, f, "many", data, 1, 63, 64, 1000, 5000, len(data)-6128)
	checkBlob(t, f, "many", data)
}

// TestUploadPartsWithoutDigest checks that an upload whose parts were
// written before the digest was kept is hashed at assembly by reading its
// parts.
func TestUploadPartsWithoutDigest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := strings.Repeat("x", 3000) + "end"
	info, err := f.up.Create(ctx, upload.New{BlobID: "old", Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, info.ID, 0, data[:1000])
	write(t, f, info.ID, 1000, data[1000:2000])
	if _, err := f.db.Writer().ExecContext(ctx, `UPDATE upload_parts SET digest = NULL WHERE upload_id = $1`, info.ID); err != nil {
		t.Fatal(err)
	}
	if done := write(t, f, info.ID, 2000, data[2000:]); !done.Finished {
		t.Fatalf("last write = %+v; want the finished blob", done)
	}
	checkBlob(t, f, "old", data)
}

// localFixture returns a fixture over the local backend and its root.
func localFixture(t *testing.T) (*fixture, string) {
	root := t.TempDir()
	drv, err := local.New(local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	return (&fixture{}).on(t, storage.NewBucket("local", drv)), root
}

// TestUploadLocalOnePartIsLinked checks that on the local backend an
// upload sent in one write becomes its blob without a copy: the blob's
// file is the part's, and outlives the part's collection.
func TestUploadLocalOnePartIsLinked(t *testing.T) {
	f, root := localFixture(t)
	data := strings.Repeat("linked", 10000)
	uploadIn(t, f, "one", data, len(data))
	if files := regularFiles(root); len(files) != 2 || !os.SameFile(files[0], files[1]) {
		t.Fatalf("the backend holds %d files; want the part and the blob, one file under two names", len(files))
	}
	if _, err := f.blobs.CollectGarbage(context.Background(), f.clock()); err != nil {
		t.Fatal(err)
	}
	if files := regularFiles(root); len(files) != 1 {
		t.Fatalf("after collection the backend holds %d files; want the blob alone", len(files))
	}
	checkBlob(t, f, "one", data)
}

// regularFiles lists the regular files under root.
func regularFiles(root string) []os.FileInfo {
	var files []os.FileInfo
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, fi)
		}
		return nil
	})
	return files
}

// BenchmarkUploadLocal uploads 32 MiB on the local backend in one write
// (its part becomes the blob by a hard link) and in four (a kernel copy),
// the bytes hashed once as they arrive either way.
func BenchmarkUploadLocal(b *testing.B) {
	const size = 32 << 20
	data := strings.Repeat("0123456789abcdef", size/16)
	for _, writes := range []int{1, 4} {
		b.Run(fmt.Sprintf("writes=%d", writes), func(b *testing.B) {
			drv, err := local.New(local.Config{Root: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { drv.Close() })
			f := (&fixture{}).on(b, storage.NewBucket("local", drv))
			sizes := make([]int, writes)
			for i := range sizes {
				sizes[i] = size / writes
			}
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				uploadIn(b, f, fmt.Sprintf("blob-%d", i), data, sizes...)
			}
		})
	}
}
