package crypt

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// EncryptReader returns a reader of the sealed segments of what r yields
// until io.EOF: [CiphertextSize] of it bytes when that is known. It reads r
// one segment (and one byte) ahead and holds one segment in memory. An
// error of r is returned as is; a content longer than [MaxPlaintextSize]
// fails with [ErrTooLarge].
func (k *DataKey) EncryptReader(r io.Reader) io.Reader {
	e := &encrypter{k: k, r: r, buf: make([]byte, sealedSize)}
	return &segmentReader{fill: e.seal}
}

// segmentReader releases the segments fill returns, one after the other,
// until fill fails (io.EOF at the end); the failure is final.
type segmentReader struct {
	fill func() ([]byte, error)
	out  []byte // bytes of the segment not yet read
	err  error
}

func (s *segmentReader) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		s.out, s.err = s.fill()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

type encrypter struct {
	k     *DataKey
	r     io.Reader
	buf   []byte // one segment; its sealed form overwrites it
	ahead []byte // the byte read past the previous segment, if any
	next  int64  // index of the next segment
	done  bool   // the final segment is sealed
}

// seal reads the next segment and returns it sealed, in e.buf. A segment
// is the final one when r ends before one more byte than a full segment.
func (e *encrypter) seal() ([]byte, error) {
	switch {
	case e.done:
		return nil, io.EOF
	case e.next >= maxSegments:
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, int64(MaxPlaintextSize))
	}
	buf := e.buf[:SegmentSize+1]
	n := copy(buf, e.ahead)
	m, err := io.ReadFull(e.r, buf[n:])
	n += m
	last := true
	switch {
	case err == nil:
		e.ahead = append(e.ahead[:0], buf[SegmentSize])
		n, last = SegmentSize, false
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e.ahead = e.ahead[:0]
	default:
		return nil, err
	}
	var nonce [nonceSize]byte
	e.k.nonce(&nonce, e.next, last)
	e.next++
	e.done = last
	return e.k.aead.Seal(buf[:0], nonce[:], buf[:n], nil), nil
}

// DecryptReader returns a reader of the content of plaintextSize bytes
// sealed in r, which must yield exactly the stored bytes
// ([CiphertextSize]). It releases no byte of a segment before the segment
// authenticated, and the final segment's bytes only once r ended after it;
// a segment that fails, or stored bytes that end early or continue, give
// an error wrapping [ErrAuthentication] in place of the segment's bytes.
// It holds one segment in memory, a pooled buffer given back at the end of
// the stream or at its first error. A Read is filled with as many
// segments as fit; those whose stored bytes fit whole in the rest of the
// caller's buffer are read there at once (io.ReadFull: one read of a
// local file, several of a stream) and opened in place.
func (k *DataKey) DecryptReader(r io.Reader, plaintextSize int64) io.Reader {
	if plaintextSize < 0 || plaintextSize > MaxPlaintextSize {
		return &segmentReader{err: fmt.Errorf("%w: plaintext size %d", ErrTooLarge, plaintextSize)}
	}
	whole := Range{CipherLength: CiphertextSize(plaintextSize), Length: plaintextSize, size: plaintextSize}
	return k.DecryptRange(r, whole)
}

// DecryptRange returns a reader of the plaintext range rg (from
// [SegmentRange]), decrypted from r, which must yield exactly the stored
// bytes rg.CipherOffset to rg.CipherOffset+rg.CipherLength. It makes the
// promises of [DataKey.DecryptReader] for the segments of rg, and reads
// nothing for an empty range.
func (k *DataKey) DecryptRange(r io.Reader, rg Range) io.Reader {
	return &decrypter{
		k:         k,
		r:         r,
		next:      rg.first,
		end:       rg.first + (rg.CipherLength+sealedSize-1)/sealedSize,
		final:     segments(rg.size) - 1,
		size:      rg.size,
		skip:      rg.Skip,
		remaining: rg.Length,
	}
}

// segmentBuffers holds the segment buffers of decrypters between streams.
var segmentBuffers = sync.Pool{New: func() any { return new([sealedSize]byte) }}

type decrypter struct {
	k         *DataKey
	r         io.Reader
	buf       *[sealedSize]byte // from segmentBuffers while the stream lasts, for segments that do not fit a Read's buffer
	out       []byte            // plaintext of the range in buf not yet read
	err       error             // final: io.EOF after the last segment, or the first failure
	next, end int64             // the next segment to open, and the one after the last to open
	final     int64             // index of the final segment of the whole stream
	size      int64             // plaintext size of the whole stream
	skip      int64             // plaintext bytes before the range in the next segment
	remaining int64             // plaintext bytes of the range not yet opened
}

// ReadSegments reads from r, a reader that [DataKey.DecryptReader] or
// [DataKey.DecryptRange] returned, as its Read does, but returns no more
// than the segments whose stored bytes fit whole in p (and whose plaintext
// is all in the range), read there at once (io.ReadFull) and opened in
// place, where Read would go on filling the rest of p; only when not
// one segment fits does it fill p as Read does. Of any other reader it is
// r.Read.
func ReadSegments(r io.Reader, p []byte) (int, error) {
	if d, ok := r.(*decrypter); ok {
		return d.read(p, false)
	}
	return r.Read(p)
}

// Read fills p with the plaintext of as many segments as are at hand. The
// next segments whose stored bytes fit in the rest of p and whose
// plaintext is all in the range are read there at once and opened in
// place; another segment goes through d.buf.
func (d *decrypter) Read(p []byte) (int, error) { return d.read(p, true) }

// read is Read when fill is set, else ReadSegments: it returns once it
// has anything in hand rather than read more.
func (d *decrypter) read(p []byte, fill bool) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.out) > 0 {
			m := copy(p[n:], d.out)
			d.out = d.out[m:]
			n += m
			continue
		}
		if d.err != nil {
			break
		}
		if d.next == d.end {
			d.err = io.EOF
			break
		}
		if !fill && n > 0 {
			break
		}
		if k, stored := d.fit(len(p) - n); k > 0 {
			var m int
			m, d.err = d.open(p[n:n+stored], k)
			n += m
			continue
		}
		if d.buf == nil {
			d.buf = segmentBuffers.Get().(*[sealedSize]byte)
		}
		var m int
		m, d.err = d.open(d.buf[:d.sealedLen(d.next)], 1)
		d.out = d.buf[:m]
	}
	if d.err != nil && len(d.out) == 0 && d.buf != nil {
		segmentBuffers.Put(d.buf)
		d.buf, d.out = nil, nil
	}
	if n > 0 {
		return n, nil
	}
	return 0, d.err
}

// sealedLen is the stored size of segment i.
func (d *decrypter) sealedLen(i int64) int {
	if i == d.final {
		return int(d.size - i*SegmentSize + Overhead)
	}
	return sealedSize
}

// fit returns how many of the next segments fit in room bytes whole, with
// all their plaintext in the range, and their stored size.
func (d *decrypter) fit(room int) (k, stored int) {
	if d.skip != 0 {
		return 0, 0
	}
	rest := d.remaining
	for i := d.next; i < d.end; i++ {
		s := d.sealedLen(i)
		if stored+s > room || int64(s-Overhead) > rest {
			break
		}
		stored += s
		rest -= int64(s - Overhead)
		k++
	}
	return k, stored
}

// open reads the stored bytes of the next k segments into stored, which
// is exactly their size, at once, then authenticates and decrypts them
// there one after the other, moving the plaintext of the range to the
// front of stored, and returns its length. The segments before a failure
// are returned with it, and no plaintext of the failed segment is left in
// stored.
func (d *decrypter) open(stored []byte, k int) (int, error) {
	got, err := io.ReadFull(d.r, stored)
	if err == nil && d.next+int64(k) == d.end {
		err = d.probe()
	}
	m, off := 0, 0
	for range k {
		i, s := d.next, d.sealedLen(d.next)
		switch {
		case off+s > got && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			return m, fmt.Errorf("%w: segment %d is truncated", ErrAuthentication, i)
		case off+s > got || off+s == len(stored) && err != nil:
			return m, err // a read failed, or the stored bytes continue after the last segment
		}
		sealed := stored[off : off+s]
		var nonce [nonceSize]byte
		d.k.nonce(&nonce, i, i == d.final)
		plain, oerr := d.k.aead.Open(sealed[:0], nonce[:], sealed, nil)
		if oerr != nil {
			clear(sealed)
			return m, fmt.Errorf("%w: segment %d", ErrAuthentication, i)
		}
		plain = plain[d.skip:]
		plain = plain[:min(int64(len(plain)), d.remaining)]
		if len(plain) > 0 && &plain[0] != &stored[m] {
			copy(stored[m:], plain)
		}
		m += len(plain)
		off += s
		d.skip = 0
		d.remaining -= int64(len(plain))
		d.next++
	}
	return m, nil
}

// probe checks that the stored bytes end after the last segment to open.
func (d *decrypter) probe() error {
	var b [1]byte
	switch n, err := io.ReadFull(d.r, b[:]); {
	case n > 0:
		return fmt.Errorf("%w: stored bytes continue after segment %d", ErrAuthentication, d.end-1)
	case !errors.Is(err, io.EOF):
		return err
	}
	return nil
}
