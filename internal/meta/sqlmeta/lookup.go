package sqlmeta

import (
	"time"
	"unsafe"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
)

// lookupRecord reads a row of [recordColumns] from a [db.Lookup] into r,
// as [scanWithData] reads it from database/sql, or reports false if a
// value is not of the type the schema gives it, or created_at not in the
// form the driver writes (time.Time's String): [scanWithData] then reads
// the row, and converts or rejects what it holds. The strings but the
// inline data share one allocation.
func lookupRecord(row db.Row, r *meta.Record) bool {
	// The columns read as strings, in the order of [recordColumns], and the
	// types each may have (NULL reads as "").
	const text, blob, null = 1 << db.Text, 1 << db.Blob, 1 << db.Null
	strs := [...]struct {
		col   int
		dst   *string
		types int
	}{
		{0, &r.ID, text}, {2, &r.SHA256, text}, {4, &r.ContentType, text},
		{5, &r.Backend, text}, {6, &r.StorageKey, text}, {8, &r.MD5, text | null},
		{9, &r.KeyID, text | null}, {10, &r.WrappedKey, blob | text | null}, {11, &r.S3Headers, text | null},
	}
	const created = 7
	if row.Type(1) != db.Integer || row.Type(created) != db.Text {
		return false
	}
	n := len(row.Bytes(created))
	for _, s := range strs {
		t := row.Type(s.col)
		if t < 0 || t > db.Null || s.types&(1<<t) == 0 {
			return false
		}
		if t != db.Null {
			n += len(row.Bytes(s.col))
		}
	}
	switch row.Type(3) {
	case db.Integer:
		r.CRC32C, r.HasCRC32C = uint32(row.Int64(3)), true
	case db.Null:
	default:
		return false
	}
	switch row.Type(12) {
	case db.Blob:
		r.Data = string(row.Bytes(12))
	case db.Null:
	default:
		return false
	}
	r.Size = row.Int64(1)
	buf := make([]byte, 0, n)
	str := func(col int) string {
		start := len(buf)
		buf = append(buf, row.Bytes(col)...)
		if len(buf) == start {
			return ""
		}
		return unsafe.String(&buf[start], len(buf)-start)
	}
	for _, s := range strs {
		*s.dst = str(s.col)
	}
	t, err := time.Parse(createdAtLayout, str(created))
	r.CreatedAt = t.UTC()
	return err == nil
}

// createdAtLayout is the form the SQLite driver writes a time.Time in:
// time.Time's String, which has no monotonic reading in UTC.
const createdAtLayout = "2006-01-02 15:04:05.999999999 -0700 MST"
