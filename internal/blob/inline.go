package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/ctxio"
)

// Small blobs in their metadata row (INLINE_MAX_BYTES, DESIGN section 11).
//
// With [Options.InlineMax] set, a blob of at most that many bytes is kept
// in its record ([meta.InlineBackend]) instead of on the backend: its
// create is one metadata commit and no backend write, its read the one
// query that reads its metadata. Everything else treats such a record as
// a blob on a backend of its own that holds the bytes of its records: it
// has a fresh storage key like any other (so the compare-and-swaps of
// replace, move and repair work unchanged), its bytes are verified by the
// same checks on every read, and dropping them leaves nothing to collect.
//
// inlined, and inlineReader and inlineRange, are the one place the bytes
// go into, and come out of, a record.

// inlined makes rec the record of a blob whose bytes, data, it holds.
// rec's storage key is its caller's: one from [newInlineKey].
func inlined(rec meta.Record, data []byte) meta.Record {
	rec.Backend, rec.Data = meta.InlineBackend, string(data)
	return rec
}

// newInlineKey returns a fresh storage key for a record that holds its
// blob's bytes. Such a key names no file, only the record's version,
// which the compare-and-swaps of replace, move and repair match, so it
// need not be the id's hash: it is the time, then random bytes, in hex.
// Keys made one after the other then sort one after the other (unless the
// clock steps back, which costs only speed), and the
// creates of one grouped commit add their entries to the index of
// (backend, storage_key) at its end, in a page or two, where keys of
// newKey's shape land on a page of their own each: with 1 KiB blobs that
// halved the pages, and so the bytes written and synced, of each commit.
func newInlineKey() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// inlineReader returns a reader of the bytes rec holds, all of them: the
// checks of a read (size, checksum) run on it as on any backend's reader.
func inlineReader(rec meta.Record) io.ReadCloser {
	return io.NopCloser(strings.NewReader(rec.Data))
}

// inlineRange returns a reader of length bytes of the bytes rec holds,
// from offset on; fewer when the record holds fewer.
func inlineRange(rec meta.Record, offset, length int64) io.ReadCloser {
	return io.NopCloser(io.NewSectionReader(strings.NewReader(rec.Data), offset, length))
}

// head is an upload's body, read far enough to tell whether its bytes
// fit in their record.
type head struct {
	// inline reports whether they do; data then holds all of them.
	inline bool
	data   []byte
	// body yields all the bytes (the head read, then the rest), when they
	// do not fit.
	body io.Reader
	// release returns the memory the head holds to the budget; never nil.
	release func()
}

// readHead reads the start of u's body when its bytes may fit in their
// record: at most [Options.InlineMax]+1 bytes (or u.Size+1 when u.Size is
// known, u.AtMost+1 when that bound is lower), never more, whatever u.Size
// claims beyond the limit. The memory
// comes from the budget set by [Service.SetMemory]; when it has none free
// the body streams to the backend as if inlining were off. A body that
// fails while its head is read fails the upload: err wraps its error.
func (s *Service) readHead(ctx context.Context, u Upload) (head, error) {
	none := func() {}
	limit := s.opts.InlineMax
	if limit <= 0 || u.Size > limit {
		return head{body: u.Body, release: none}, nil
	}
	n := limit + 1
	switch {
	case u.Size >= 0:
		n = u.Size + 1
	case u.AtMost > 0 && u.AtMost < limit:
		// A JSON body's length bounds its bytes: a 1 KiB blob's head
		// then takes 1.4 KiB, not the limit's 4 KiB.
		n = u.AtMost + 1
	}
	release := none
	if mem := s.mem; mem != nil {
		if !mem.TryAcquire(n) {
			return head{body: u.Body, release: none}, nil
		}
		release = func() { mem.Release(n) }
	}
	buf := make([]byte, n)
	got, err := readAll(ctxio.Reader(ctx, u.Body), buf)
	switch {
	case err != nil:
		release()
		return head{}, fmt.Errorf("blob: storing bytes: %w", Classify(err))
	case got == len(buf): // more than fits: the backend's
		return head{body: io.MultiReader(bytes.NewReader(buf), u.Body), release: release}, nil
	case u.Size >= 0 && int64(got) != u.Size:
		release()
		return head{}, fmt.Errorf("blob: storing bytes: %w: read %d bytes, want %d", storage.ErrSizeMismatch, got, u.Size)
	}
	return head{inline: true, data: buf[:got], release: release}, nil
}

// readAll reads r into buf until buf is full or r ends with io.EOF, and
// returns how many bytes it read; any other error of r is returned (a
// body cut short, io.ErrUnexpectedEOF, is no end).
func readAll(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// readParts reads the parts of a when its bytes fit in their record, and
// returns them (nil when they do not fit, or the budget has no room for
// them) with release, which returns their memory to the budget. The bytes
// are checked against a.Digest: parts that do not hold them fail with
// [ErrCorrupt].
func (s *Service) readParts(ctx context.Context, a Assembly) (data []byte, release func(), err error) {
	size := a.Digest.Size()
	release = func() {}
	if s.opts.InlineMax <= 0 || size > s.opts.InlineMax {
		return nil, release, nil
	}
	if mem := s.mem; mem != nil {
		if !mem.TryAcquire(size + 1) {
			return nil, release, nil
		}
		release = func() { mem.Release(size + 1) }
	}
	buf := make([]byte, size+1) // one byte more tells parts too long
	n := 0
	for _, p := range a.Parts {
		rc, err := s.OpenPart(ctx, p)
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("blob: reading the parts: %w", Classify(err))
		}
		m, err := readAll(rc, buf[n:])
		rc.Close()
		n += m
		if err != nil {
			release()
			return nil, nil, fmt.Errorf("blob: reading the parts: %w", Classify(err))
		}
	}
	d := NewDigest()
	d.Write(buf[:n])
	if want := a.Digest; d.n != want.n || d.crc != want.crc || !bytes.Equal(d.sha.Sum(nil), want.sha.Sum(nil)) {
		release()
		return nil, nil, fmt.Errorf("%w: the parts hold %d bytes that are not the %d written", ErrCorrupt, d.n, want.n)
	}
	return buf[:n], release, nil
}
