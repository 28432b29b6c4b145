package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/simpledrive/simpledrive/internal/blobcache"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// verifier passes a blob's bytes through and holds back its end: the Read
// that reaches the recorded size first checks that the source ends there
// and that the checksum of all the bytes matches the record (CRC-32C when
// recorded, else SHA-256), and returns its bytes only if so; otherwise it
// returns none, and [ErrCorrupt]. It never reads past the recorded size
// into the caller's buffer, so it needs no buffer of its own.
type verifier struct {
	rc  io.ReadCloser
	rec meta.Record
	log *slog.Logger
	sha hash.Hash // nil when the record has a CRC-32C
	crc uint32
	n   int64
	err error // sticky: io.EOF once verified, or the failure

	// keep, when not nil, collects the bytes read, which go into cache
	// once they verified (see [Handle.capture]).
	keep  []byte
	cache *blobcache.Cache
}

func newVerifier(rc io.ReadCloser, rec meta.Record, log *slog.Logger) *verifier {
	v := &verifier{rc: rc, rec: rec, log: log}
	if !rec.HasCRC32C {
		v.sha = sha256.New()
	}
	return v
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	var n int
	var err error
	if left := v.rec.Size - v.n; left > 0 && len(p) > 0 {
		n, err = v.rc.Read(p[:min(int64(len(p)), left)])
		v.n += int64(n)
		if v.keep != nil {
			v.keep = append(v.keep, p[:n]...)
		}
		if v.sha != nil {
			v.sha.Write(p[:n])
		} else {
			v.crc = crc32.Update(v.crc, castagnoli, p[:n])
		}
	}
	switch {
	case v.n < v.rec.Size && err == io.EOF:
		v.err = v.corrupt(fmt.Sprintf("%d bytes, want %d", v.n, v.rec.Size))
		return 0, v.err
	case v.n < v.rec.Size:
		return n, err
	case err != nil && err != io.EOF:
		v.err = err // the end is not handed over unchecked
		return 0, err
	}
	if v.err = v.check(); v.err != io.EOF {
		return 0, v.err
	}
	if v.keep != nil {
		v.cache.Add(cacheKey(v.rec), v.keep)
		v.keep = nil
	}
	return n, io.EOF
}

// check runs once all the recorded bytes are read: io.EOF if the source
// ends there and the checksum matches.
func (v *verifier) check() error {
	var probe [1]byte
	switch n, err := io.ReadAtLeast(v.rc, probe[:], 1); {
	case n > 0:
		return v.corrupt(fmt.Sprintf("more than the recorded %d bytes", v.rec.Size))
	case err != io.EOF:
		return err
	}
	var sum []byte
	if v.sha != nil {
		sum = v.sha.Sum(nil)
	}
	if detail := checksumMismatch(v.rec, v.crc, sum); detail != "" {
		return v.corrupt(detail)
	}
	return io.EOF
}

// checksumMismatch describes how a blob's checksum differs from the one
// rec records, or is empty when they match: its CRC-32C when rec has one,
// else its SHA-256 sum.
func checksumMismatch(rec meta.Record, crc uint32, sha256Sum []byte) string {
	if !rec.HasCRC32C {
		if sum := hex.EncodeToString(sha256Sum); sum != rec.SHA256 {
			return "SHA-256 " + sum + ", want " + rec.SHA256
		}
	} else if crc != rec.CRC32C {
		return fmt.Sprintf("CRC-32C %08x, want %08x", crc, rec.CRC32C)
	}
	return ""
}

func (v *verifier) corrupt(detail string) error {
	v.log.LogAttrs(context.Background(), slog.LevelError, "integrity fault: stored bytes do not match metadata",
		slog.String("storage_key", v.rec.StorageKey), slog.String("detail", detail))
	return fmt.Errorf("%w: %s", ErrCorrupt, detail)
}

func (v *verifier) Close() error { return v.rc.Close() }

// Copy blocks of a whole read that writes itself out ([fileVerifier],
// [sealedWhole]): a large one when the memory budget has room for it, else
// the fixed one every connection may hold.
const (
	largeBlock = 1 << 20
	smallBlock = 256 << 10
)

// The pooled blocks have room for the stored bytes of the segments that
// hold a block of an encrypted blob's content: its bytes plus the tag of
// each of its segments (16 of them in a large block, 4 in a small one).
const (
	largeSealed = largeBlock + largeBlock/crypt.SegmentSize*crypt.Overhead
	smallSealed = smallBlock + smallBlock/crypt.SegmentSize*crypt.Overhead
)

// maxLargeBlocks bounds the large blocks in use at once, so that whole
// reads take at most 16 MiB (and the tags of their segments) of the memory
// budget uploads share.
const maxLargeBlocks = 16

var (
	largeBlocks = sync.Pool{New: func() any { return new([largeSealed]byte) }}
	smallBlocks = sync.Pool{New: func() any { return new([smallSealed]byte) }}
	largeInUse  atomic.Int32
)

// fileVerifier is the verifier of a blob stored as a local file, which
// also writes itself out a block at a time: the block filled by reads
// (one, from the page cache), the checksum of the bytes in hand, and one
// write per block, a MiB when the memory budget
// (MAX_INFLIGHT_BYTES, [Service.SetMemory]) has room for it and fewer than
// 16 whole reads hold one, else the fixed 256 KiB (see [copyBlock]).
//
// The bytes written are the very bytes checked. Sending each block again
// from the page cache by sendfile, and checking the file mapped in place
// instead of reading it, were measured slower per request on the machine
// this was tuned on (a 1 MiB read, CRC-32C and write costs less CPU than
// four 256 KiB blocks sent by sendfile, and a checksum over a fresh mapping
// waits on every cache line the read's kernel copy fetches ahead).
type fileVerifier struct {
	*verifier
	mem storage.Memory // nil: the large block is not reserved
}

// WriteTo writes the rest of the blob to w, verified as Read verifies it:
// the last block is written only once the whole blob matched its
// checksum, so a corrupt blob never reaches w whole, and one that fits in
// the first block not at all.
func (v *fileVerifier) WriteTo(w io.Writer) (int64, error) {
	buf, block, release := copyBlock(v.rec.Size, false, v.mem)
	defer release()
	return writeBlocks(w, v.verifier, buf, block)
}

// writeBlocks writes what r yields to w a block at a time: it reads into
// buf until it holds block bytes (or r ends or fails), then writes them
// at once. The bytes r returned before a failure are written too, but for
// a failure within the first block, which is returned with nothing
// written: a caller that answers with the first byte written can still
// answer with an error status.
func writeBlocks(w io.Writer, r io.Reader, buf []byte, block int) (int64, error) {
	var sent int64
	for {
		n := 0
		var err error
		for n < block && err == nil {
			var k int
			k, err = r.Read(buf[n:])
			n += k
		}
		if err != nil && err != io.EOF && sent == 0 {
			return 0, err
		}
		if n > 0 {
			k, werr := w.Write(buf[:n])
			sent += int64(k)
			if werr != nil {
				return sent, werr
			}
		}
		switch {
		case err == io.EOF:
			return sent, nil
		case err != nil:
			return sent, err
		}
	}
}

// copyBlock returns the copy block of a whole read of a blob of size
// content bytes, how many bytes of content it holds (block), and what
// gives it back: a large one when the blob does not fit a small one, fewer
// than maxLargeBlocks are in use and the memory budget mem (nil: none) has
// room for it, else a small one. The block of an encrypted blob (sealed)
// also has room for the tags of the segments of its content, and is
// reserved with them.
func copyBlock(size int64, sealed bool, mem storage.Memory) (buf []byte, block int, release func()) {
	large, small := largeBlock, smallBlock
	if sealed {
		large, small = largeSealed, smallSealed
	}
	if size >= smallBlock {
		if largeInUse.Add(1) <= maxLargeBlocks && (mem == nil || mem.TryAcquire(int64(large))) {
			b := largeBlocks.Get().(*[largeSealed]byte)
			return b[:large], largeBlock, func() {
				largeBlocks.Put(b)
				if mem != nil {
					mem.Release(int64(large))
				}
				largeInUse.Add(-1)
			}
		}
		largeInUse.Add(-1)
	}
	b := smallBlocks.Get().(*[smallSealed]byte)
	return b[:small], smallBlock, func() { smallBlocks.Put(b) }
}

// lengthChecker passes a part of a blob through, failing with [ErrCorrupt]
// if it ends before its length.
type lengthChecker struct {
	rc   io.ReadCloser
	left int64
	key  string
	log  *slog.Logger
}

// newLengthChecker returns a lengthChecker of rc, which is also an
// [io.WriterTo] when rc is one (a range of a local file, which hands
// itself to a network connection's sendfile).
func newLengthChecker(rc io.ReadCloser, length int64, key string, log *slog.Logger) io.ReadCloser {
	c := &lengthChecker{rc: rc, left: length, key: key, log: log}
	if wt, ok := rc.(io.WriterTo); ok {
		return &lengthCheckerTo{c, wt}
	}
	return c
}

// lengthCheckerTo is a lengthChecker whose source writes itself out.
type lengthCheckerTo struct {
	*lengthChecker
	src io.WriterTo
}

// WriteTo writes the range through its source's WriteTo, and fails with
// [ErrCorrupt] when fewer bytes than its length came. The bytes have gone
// out by then: a caller answers before sending when it has compared the
// stored object's size with the blob's (see [Handle.RangeReader]).
func (c *lengthCheckerTo) WriteTo(w io.Writer) (int64, error) {
	n, err := c.src.WriteTo(w)
	c.left -= n
	if err == nil && c.left > 0 {
		err = c.short()
	}
	return n, err
}

func (c *lengthChecker) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	n, err := c.rc.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		return n, c.short()
	}
	if c.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

// short logs and returns the fault of a range that ended c.left bytes
// early.
func (c *lengthChecker) short() error {
	c.log.LogAttrs(context.Background(), slog.LevelError, "integrity fault: stored bytes shorter than their metadata",
		slog.String("storage_key", c.key), slog.Int64("missing", c.left))
	return fmt.Errorf("%w: %d bytes missing at the end of a range", ErrCorrupt, c.left)
}

func (c *lengthChecker) Close() error { return c.rc.Close() }
