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
// the stream or at its first error. A Read given room for whole segments
// reads and opens them in place in the caller's buffer, and fills it with
// as many segments as fit.
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

// Read fills p with the plaintext of as many segments as are at hand: a
// segment whose stored bytes fit the rest of p and whose plaintext is all
// in the range is opened there; another goes through d.buf.
func (d *decrypter) Read(p []byte) (int, error) {
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
		if sealed := d.sealedLen(); d.skip == 0 && sealed-Overhead <= d.remaining && sealed <= int64(len(p)-n) {
			var plain []byte
			plain, d.err = d.open(p[n : n+int(sealed)])
			n += len(plain)
			continue
		}
		if d.buf == nil {
			d.buf = segmentBuffers.Get().(*[sealedSize]byte)
		}
		d.out, d.err = d.open(d.buf[:d.sealedLen()])
	}
	if d.err != nil && len(d.out) == 0 && d.buf != nil {
		segmentBuffers.Put(d.buf)
		d.buf = nil
	}
	if n > 0 {
		return n, nil
	}
	return 0, d.err
}

// sealedLen is the stored size of the next segment (0 past the last).
func (d *decrypter) sealedLen() int64 {
	switch i := d.next; {
	case i == d.end:
		return 0
	case i == d.final:
		return d.size - i*SegmentSize + Overhead
	}
	return sealedSize
}

// open reads the next segment into sealed, which is its stored size,
// authenticates and decrypts it there, and returns the part of its
// plaintext in the range (io.EOF past the last segment). sealed holds no
// plaintext after a failure.
func (d *decrypter) open(sealed []byte) ([]byte, error) {
	i := d.next
	if i == d.end {
		return nil, io.EOF
	}
	if _, err := io.ReadFull(d.r, sealed); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: segment %d is truncated", ErrAuthentication, i)
		}
		return nil, err
	}
	if i == d.end-1 {
		var probe [1]byte
		switch m, err := io.ReadFull(d.r, probe[:]); {
		case m > 0:
			return nil, fmt.Errorf("%w: stored bytes continue after segment %d", ErrAuthentication, i)
		case !errors.Is(err, io.EOF):
			return nil, err
		}
	}
	var nonce [nonceSize]byte
	d.k.nonce(&nonce, i, i == d.final)
	plain, err := d.k.aead.Open(sealed[:0], nonce[:], sealed, nil)
	if err != nil {
		clear(sealed)
		return nil, fmt.Errorf("%w: segment %d", ErrAuthentication, i)
	}
	plain = plain[d.skip:]
	plain = plain[:min(int64(len(plain)), d.remaining)]
	d.skip = 0
	d.remaining -= int64(len(plain))
	d.next++
	return plain, nil
}
