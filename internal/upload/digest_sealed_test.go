package upload_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// TestDigestStateSealed: the saved digest state of a tus upload, which
// holds the last bytes of each write that do not fill a SHA-256 block,
// is sealed under its part's data key with encryption on, so no row of an
// unfinished upload holds a marker written at the end of a write (without
// encryption it is in clear, as before); each next write resumes from it,
// and the blob gets the SHA-256 of its bytes.
func TestDigestStateSealed(t *testing.T) {
	const marker = "DIGEST-TAIL-MARKER"
	// Each write ends with the marker and 10 bytes more, past the last
	// full 64-byte block, so a saved SHA-256 state holds the marker.
	piece := strings.Repeat("f", 1024) + marker + "0123456789"
	data := piece + piece + piece
	ring, err := crypt.ParseKeyring([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	for _, encrypted := range []bool{false, true} {
		f := newFixture(t, func(o *blob.Options) {
			if encrypted {
				o.Keys = ring
			}
		})
		ctx := context.Background()
		info, err := f.up.Create(ctx, upload.New{BlobID: "tus", Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		write(t, f, info.ID, 0, piece)
		write(t, f, info.ID, int64(len(piece)), piece)
		inRows := rowsHold(t, f, marker)
		if inRows != !encrypted {
			t.Fatalf("encrypted %v: the database rows hold the marker: %v", encrypted, inRows)
		}
		parts, err := sqlmeta.New(f.db).UploadParts(ctx, info.ID)
		if err != nil || len(parts) != 2 {
			t.Fatalf("parts %+v, %v", parts, err)
		}
		for i, p := range parts {
			d, err := f.blobs.ResumeDigest(blob.Part{Key: p.StorageKey, Size: p.Size, KeyID: p.KeyID, WrappedKey: p.WrappedKey}, p.Digest)
			if err != nil || d.Size() != int64((i+1)*len(piece)) {
				t.Fatalf("encrypted %v: the digest saved with part %d: %v; want the state after %d bytes", encrypted, i, err, (i+1)*len(piece))
			}
			if encrypted == (p.KeyID == "") {
				t.Fatalf("encrypted %v: part %+v", encrypted, p)
			}
		}
		if _, err := f.blobs.ResumeDigest(blob.Part{Key: parts[0].StorageKey, KeyID: parts[1].KeyID, WrappedKey: parts[1].WrappedKey}, parts[1].Digest); encrypted && err == nil {
			t.Fatal("a sealed digest state opened as another part's")
		}
		if info := write(t, f, info.ID, int64(2*len(piece)), piece); !info.Finished {
			t.Fatalf("not finished: %+v", info)
		}
		sum := sha256.Sum256([]byte(data))
		if rec, err := sqlmeta.New(f.db).Get(ctx, "tus"); err != nil || rec.SHA256 != hex.EncodeToString(sum[:]) || (rec.KeyID != "") != encrypted {
			t.Fatalf("encrypted %v: the blob %+v, %v; want SHA-256 %x", encrypted, rec, err, sum)
		}
		checkBlob(t, f, "tus", data)
	}
}

// rowsHold reports whether a row of the upload tables holds marker in a
// column.
func rowsHold(t *testing.T, f *fixture, marker string) bool {
	t.Helper()
	for _, table := range []string{"uploads", "upload_parts"} {
		rows, err := f.db.Reader().Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([][]byte, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if bytes.Contains(v, []byte(marker)) {
					rows.Close()
					return true
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return false
}
