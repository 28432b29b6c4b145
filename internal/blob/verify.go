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
	"os"
	"sync"

	"github.com/simpledrive/simpledrive/internal/meta"
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
	if v.sha != nil {
		if sum := hex.EncodeToString(v.sha.Sum(nil)); sum != v.rec.SHA256 {
			return v.corrupt("SHA-256 " + sum + ", want " + v.rec.SHA256)
		}
	} else if v.crc != v.rec.CRC32C {
		return v.corrupt(fmt.Sprintf("CRC-32C %08x, want %08x", v.crc, v.rec.CRC32C))
	}
	return io.EOF
}

func (v *verifier) corrupt(detail string) error {
	v.log.LogAttrs(context.Background(), slog.LevelError, "integrity fault: stored bytes do not match metadata",
		slog.String("storage_key", v.rec.StorageKey), slog.String("detail", detail))
	return fmt.Errorf("%w: %s", ErrCorrupt, detail)
}

func (v *verifier) Close() error { return v.rc.Close() }

// sendBlock is the most of a local file a [fileVerifier] checks before
// sending it.
const sendBlock = 256 << 10

var sendBlocks = sync.Pool{New: func() any { return new([sendBlock]byte) }}

// fileVerifier is the verifier of a blob stored as a local file, which can
// also send itself to a writer that takes files (a network connection,
// with sendfile).
type fileVerifier struct {
	*verifier
	f *os.File
}

// WriteTo writes the rest of the blob to w, verified as Read verifies it:
// it reads the file a block at a time (Read, so the checksum and the
// hold-back are the verifier's) and, when w has a ReadFrom, sends each
// block but the last from the file again, by w's ReadFrom (the page cache
// serves it, and a network connection sends it without copying it through
// this process: sendfile). The last block, returned by Read only once the
// whole blob has matched its checksum, is written from the buffer. A
// corrupt blob therefore never reaches w whole.
func (v *fileVerifier) WriteTo(w io.Writer) (int64, error) {
	rf, _ := w.(io.ReaderFrom)
	buf := sendBlocks.Get().(*[sendBlock]byte)
	defer sendBlocks.Put(buf)
	var sent int64
	for {
		n, err := v.Read(buf[:])
		if err != nil && err != io.EOF {
			return sent, err
		}
		var m int64
		var werr error
		switch {
		case n == 0:
		case err == nil && rf != nil:
			// Send the block just checked from the file: step back over it.
			if _, werr = v.f.Seek(-int64(n), io.SeekCurrent); werr == nil {
				m, werr = rf.ReadFrom(&io.LimitedReader{R: v.f, N: int64(n)})
				if werr == nil && m < int64(n) {
					werr = io.ErrShortWrite
				}
			}
		default:
			var k int
			k, werr = w.Write(buf[:n])
			m = int64(k)
		}
		sent += m
		if werr != nil || err == io.EOF {
			return sent, werr
		}
	}
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
