package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// testKey is the data key of the known answers: key bytes 0..31, nonce
// prefix a0..a6.
func testKey(t testing.TB) *DataKey {
	t.Helper()
	raw := make([]byte, keySize+prefixSize)
	for i := range keySize {
		raw[i] = byte(i)
	}
	for i := range prefixSize {
		raw[keySize+i] = byte(0xa0 + i)
	}
	k, err := newDataKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pattern returns n bytes of a non-repeating-per-segment pattern.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func encrypt(t testing.TB, k *DataKey, plain []byte) []byte {
	t.Helper()
	// HalfReader makes the encrypter assemble segments from short reads.
	c, err := io.ReadAll(k.EncryptReader(iotest.HalfReader(bytes.NewReader(plain))))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(c)) != CiphertextSize(int64(len(plain))) {
		t.Fatalf("%d plaintext bytes sealed into %d bytes, CiphertextSize says %d", len(plain), len(c), CiphertextSize(int64(len(plain))))
	}
	return c
}

// TestKnownAnswer pins the stored format: the vectors were computed
// independently (Python's cryptography AESGCM with the STREAM nonces of
// the package documentation), so a change that would break stored blobs or
// wrapped keys fails here.
func TestKnownAnswer(t *testing.T) {
	k := testKey(t)
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	for _, c := range []struct {
		name  string
		plain []byte
		check func([]byte) string
		want  string
	}{
		{"empty", nil, hex.EncodeToString, "4d34eaed9250e09e52907c89588102a2"},
		{"small", []byte("simpledrive"), hex.EncodeToString, "0408246ed46384b26a13bd09621753da2fd000c187f0a979e20a90"},
		{"two segments", pattern(SegmentSize + 3), sum, "67923ba111f4fc487ac6b9b3bcdb1a6db88e4fe321a0bd6bbfb35ae638d2fe29"},
		{"two segments, last", pattern(SegmentSize + 3), func(c []byte) string { return hex.EncodeToString(c[sealedSize:]) }, "f01cdb31d7066b5b6ddf8b5e910f9de3076e83"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sealed := encrypt(t, k, c.plain)
			if got := c.check(sealed); got != c.want {
				t.Fatalf("sealed %s, want %s", got, c.want)
			}
			plain, err := io.ReadAll(k.DecryptReader(bytes.NewReader(sealed), int64(len(c.plain))))
			if err != nil || !bytes.Equal(plain, c.plain) {
				t.Fatalf("decrypting the known answer: %v", err)
			}
		})
	}
	t.Run("wrapped data key", func(t *testing.T) {
		ring, err := ParseKeyring([]byte("k1:QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8="))
		if err != nil {
			t.Fatal(err)
		}
		wrapped, _ := hex.DecodeString("01111111111111111111111111fbeca71aabe278c4631cfc435e2405d726c60f1dd3e31dd973ff980bedbf3c8c482bb4896a8619a4f551e9c78126c9bd77264a19063d92")
		dk, err := ring.Current().Unwrap(wrapped)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(encrypt(t, dk, []byte("simpledrive"))); got != "0408246ed46384b26a13bd09621753da2fd000c187f0a979e20a90" {
			t.Fatalf("the unwrapped key seals %s", got)
		}
	})
}

var sizes = []int{0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1, 2 * SegmentSize, 3*SegmentSize + 100}

func TestRoundTrip(t *testing.T) {
	k := testKey(t)
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			plain := pattern(n)
			sealed := encrypt(t, k, plain)
			if n > 0 && bytes.Contains(sealed, plain[:min(n, 64)]) {
				t.Fatal("plaintext visible in the sealed bytes")
			}
			got, err := io.ReadAll(iotest.OneByteReader(k.DecryptReader(bytes.NewReader(sealed), int64(n))))
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("round trip of %d bytes: %d bytes back, %v", n, len(got), err)
			}
			// iotest.TestReader also checks the reader's behaviour at and after EOF.
			if err := iotest.TestReader(k.DecryptReader(bytes.NewReader(sealed), int64(n)), plain); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSegmentRange(t *testing.T) {
	k := testKey(t)
	for _, size := range []int{0, 1, SegmentSize, SegmentSize + 1, 3*SegmentSize + 100} {
		plain := pattern(size)
		sealed := encrypt(t, k, plain)
		s := int64(size)
		type rg struct{ off, n int64 }
		ranges := []rg{{0, 0}, {0, 1}, {0, s}, {s, 0}, {0, s + 10}, {s / 2, s}}
		for _, b := range []int64{SegmentSize, 2 * SegmentSize, 3 * SegmentSize} {
			if b <= s {
				ranges = append(ranges, rg{b - 1, 1}, rg{b - 1, 2}, rg{b, 1}, rg{b - SegmentSize, SegmentSize}, rg{b - 1, SegmentSize + 2}, rg{0, b - 1}, rg{0, b + 1})
			}
		}
		if s > 0 {
			ranges = append(ranges, rg{s - 1, 1}, rg{(s - 1) / SegmentSize * SegmentSize, s})
		}
		for _, r := range ranges {
			if r.off+r.n > s+10 || r.off > s {
				continue
			}
			t.Run(fmt.Sprintf("%d/%d+%d", size, r.off, r.n), func(t *testing.T) {
				want := plain[r.off:min(s, r.off+r.n)]
				g := SegmentRange(r.off, r.n, s)
				if g.Length != int64(len(want)) {
					t.Fatalf("range length %d, want %d", g.Length, len(want))
				}
				// Only the segments holding the range are fetched.
				if len(want) > 0 {
					first, last := r.off/SegmentSize, (r.off+int64(len(want))-1)/SegmentSize
					if g.CipherOffset != first*sealedSize || g.CipherOffset+g.CipherLength > (last+1)*sealedSize {
						t.Fatalf("fetches %d+%d for segments %d..%d", g.CipherOffset, g.CipherLength, first, last)
					}
				} else if g.CipherLength != 0 {
					t.Fatalf("an empty range fetches %d bytes", g.CipherLength)
				}
				part := sealed[g.CipherOffset : g.CipherOffset+g.CipherLength]
				got, err := io.ReadAll(k.DecryptRange(bytes.NewReader(part), g))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("range read: %d bytes, %v", len(got), err)
				}
			})
		}
	}
}

// TestTamper: every alteration is detected, no byte of the bad segment is
// released (the reader yields exactly the segments before it, then
// ErrAuthentication), and the untouched segments before it still read by
// range.
func TestTamper(t *testing.T) {
	k := testKey(t)
	const size = 4*SegmentSize + 500
	plain := pattern(size)
	sealed := encrypt(t, k, plain)
	seg := func(c []byte, i int) []byte { return c[i*sealedSize : min(len(c), (i+1)*sealedSize)] }
	other := testKey(t)
	other.prefix[0] ^= 1 // same key, another blob's nonce prefix
	otherSealed := encrypt(t, other, pattern(size))

	for _, c := range []struct {
		name   string
		stored func() []byte
		size   int64
		good   int // segments released before the error
	}{
		{"flipped bit in a middle segment", func() []byte {
			b := bytes.Clone(sealed)
			b[2*sealedSize+100] ^= 0x10
			return b
		}, size, 2},
		{"flipped bit in a tag", func() []byte {
			b := bytes.Clone(sealed)
			b[sealedSize-1] ^= 1
			return b
		}, size, 0},
		{"truncated last segment", func() []byte { return sealed[:len(sealed)-5] }, size, 4},
		{"dropped final segment", func() []byte { return sealed[:4*sealedSize] }, size, 4},
		{"dropped final segment, size shortened to match", func() []byte { return sealed[:4*sealedSize] }, 4 * SegmentSize, 3},
		{"segments swapped", func() []byte {
			b := bytes.Clone(sealed)
			copy(b[sealedSize:], seg(sealed, 2))
			copy(b[2*sealedSize:], seg(sealed, 1))
			return b
		}, size, 1},
		{"segment spliced from another blob under the same key", func() []byte {
			b := bytes.Clone(sealed)
			copy(b[2*sealedSize:], seg(otherSealed, 2))
			return b
		}, size, 2},
		{"bytes appended", func() []byte { return append(bytes.Clone(sealed), 0) }, size, 4},
		{"empty blob missing its segment", func() []byte { return nil }, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			stored := c.stored()
			got, err := io.ReadAll(k.DecryptReader(bytes.NewReader(stored), c.size))
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("whole read: %v, want ErrAuthentication", err)
			}
			if !bytes.Equal(got, plain[:c.good*SegmentSize]) {
				t.Fatalf("whole read released %d bytes, want exactly the %d good segments", len(got), c.good)
			}
			if c.good == 0 {
				return
			}
			g := SegmentRange(0, int64(c.good*SegmentSize), c.size)
			got, err = io.ReadAll(k.DecryptRange(bytes.NewReader(stored[g.CipherOffset:g.CipherOffset+g.CipherLength]), g))
			if err != nil || !bytes.Equal(got, plain[:c.good*SegmentSize]) {
				t.Fatalf("range read of the untouched segments: %d bytes, %v", len(got), err)
			}
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		got, err := io.ReadAll(other.DecryptReader(bytes.NewReader(sealed), size))
		if !errors.Is(err, ErrAuthentication) || len(got) != 0 {
			t.Fatalf("read under another key: %d bytes, %v", len(got), err)
		}
	})
}

func TestReaderErrors(t *testing.T) {
	k := testKey(t)
	boom := errors.New("boom")
	if _, err := io.ReadAll(k.EncryptReader(iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Fatalf("encrypting a failing reader: %v", err)
	}
	sealed := encrypt(t, k, pattern(3*SegmentSize))
	failing := io.MultiReader(bytes.NewReader(sealed[:sealedSize+10]), iotest.ErrReader(boom))
	got, err := io.ReadAll(k.DecryptReader(failing, 3*SegmentSize))
	if !errors.Is(err, boom) || len(got) != SegmentSize {
		t.Fatalf("decrypting a failing reader: %d bytes, %v", len(got), err)
	}
	if _, err := io.ReadAll(k.DecryptReader(bytes.NewReader(nil), -1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("negative size: %v", err)
	}
}

// TestFixedMemory: a stream of 32 MiB through both readers allocates
// about one segment buffer each, not memory in proportion to its size.
func TestFixedMemory(t *testing.T) {
	k := testKey(t)
	const size = 32 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sealed := k.EncryptReader(io.LimitReader(zeros{}, size))
	n, err := io.Copy(io.Discard, k.DecryptReader(sealed, size))
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("copied %d, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*sealedSize {
		t.Fatalf("streaming %d bytes allocated %d bytes", size, alloc)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func BenchmarkEncrypt(b *testing.B) {
	k := testKey(b)
	b.SetBytes(1 << 20)
	for b.Loop() {
		if _, err := io.Copy(io.Discard, k.EncryptReader(io.LimitReader(zeros{}, 1<<20))); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadInPlace: a Read with room for whole segments is filled with as
// many as fit, their stored bytes read straight into the caller's buffer
// in one read and opened there; the segment that does not fit goes
// through a pooled buffer, so a stream allocates no segment buffer of its
// own; a segment that fails leaves none of its plaintext in the caller's
// buffer.
func TestReadInPlace(t *testing.T) {
	k := testKey(t)
	const size = 1 << 20
	plain := pattern(size)
	sealed := encrypt(t, k, plain)
	buf := make([]byte, 256<<10)
	var reads, inPlace int
	read := func(stored []byte) {
		src := &spy{r: bytes.NewReader(stored), within: buf, reads: &reads, bytes: &inPlace}
		r := k.DecryptReader(src, size)
		for off := 0; off < size; off += len(buf) {
			if n, err := r.Read(buf); err != nil || n != len(buf) || !bytes.Equal(buf, plain[off:off+n]) {
				t.Fatalf("Read at %d = %d, %v; want the next %d bytes of plaintext", off, n, err, len(buf))
			}
		}
		if n, err := r.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("Read at the end = %d, %v", n, err)
		}
	}
	read(sealed)
	if reads != 4 || inPlace != 12*sealedSize {
		t.Fatalf("%d reads put %d bytes into the caller's buffer; want 4 reads of 3 segments each", reads, inPlace)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const streams = 200
	for range streams {
		read(sealed)
	}
	runtime.ReadMemStats(&after)
	// Half a segment buffer a stream leaves room for the quarter of what
	// it is given that a pool drops under the race detector.
	if per := (after.TotalAlloc - before.TotalAlloc) / streams; per > sealedSize/2 {
		t.Fatalf("a stream allocated %d bytes; want its segment buffer pooled", per)
	}

	// Failures inside one read of several segments: the segments before
	// the failing one come out, then the error, and nothing of it.
	flipped := bytes.Clone(sealed)
	flipped[sealedSize+100] ^= 1
	short := encrypt(t, k, plain[:2*SegmentSize])
	for _, c := range []struct {
		name   string
		stored []byte
		size   int64
	}{
		{"flipped bit in the second segment", flipped, size},
		{"truncated in the second segment", sealed[:sealedSize+100], size},
		{"a byte after the second and last segment", append(bytes.Clone(short), 0), 2 * SegmentSize},
	} {
		r := k.DecryptReader(bytes.NewReader(c.stored), c.size)
		clear(buf)
		if n, err := r.Read(buf); n != SegmentSize || err != nil {
			t.Fatalf("%s: first Read = %d, %v; want the first segment", c.name, n, err)
		}
		if n, err := r.Read(buf); n != 0 || !errors.Is(err, ErrAuthentication) {
			t.Fatalf("%s: second Read = %d, %v; want ErrAuthentication", c.name, n, err)
		}
		if bytes.Contains(buf[SegmentSize:], plain[:64]) { // the pattern repeats: any plaintext shows it
			t.Fatalf("%s: plaintext past the first segment is left in the caller's buffer", c.name)
		}
	}
}

// spy counts the reads of r into the buffer within, and their bytes.
type spy struct {
	r            io.Reader
	within       []byte
	reads, bytes *int
}

func (s *spy) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if at := len(s.within) - cap(p); len(p) > 0 && at >= 0 && &p[0] == &s.within[at] {
		*s.reads++
		*s.bytes += n
	}
	return n, err
}

// BenchmarkDecrypt reads 1 MiB through buffers of the sizes of
// io.Discard's ReadFrom, io.Copy and the raw download's copy buffer, and
// through the block of a whole read that writes itself out (blob's
// sealedWhole), which holds the stored bytes of all 16 segments.
func BenchmarkDecrypt(b *testing.B) {
	k := testKey(b)
	sealed := encrypt(b, k, make([]byte, 1<<20))
	for _, n := range []int{8 << 10, 32 << 10, 256 << 10, int(CiphertextSize(1 << 20))} {
		b.Run(fmt.Sprintf("buffer=%dKiB", n>>10), func(b *testing.B) {
			buf := make([]byte, n)
			b.SetBytes(1 << 20)
			for b.Loop() {
				if _, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, k.DecryptReader(bytes.NewReader(sealed), 1<<20), buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCipherFloor measures the cipher alone, the least CPU a read
// of 1 MiB of encrypted content can take: AES-256-GCM (crypto/cipher)
// opening its 16 segments of 64 KiB in place, with nothing read or
// written; beside it the copy that refills the segments before each
// round (included in the first), and the CRC-32C of 1 MiB that a read of
// a blob stored in clear computes instead. Besides the wall time each
// reports the process's CPU time per MiB (cpu-ns/op).
func BenchmarkCipherFloor(b *testing.B) {
	k := testKey(b)
	sealed := encrypt(b, k, make([]byte, 1<<20))
	buf := make([]byte, len(sealed))
	table := crc32.MakeTable(crc32.Castagnoli)
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"aes-256-gcm-open", func() {
			copy(buf, sealed)
			for i := range segments(1 << 20) {
				var nonce [nonceSize]byte
				k.nonce(&nonce, i, i == 15)
				s := buf[i*sealedSize : (i+1)*sealedSize]
				if _, err := k.aead.Open(s[:0], nonce[:], s, nil); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"copy", func() { copy(buf, sealed) }},
		{"crc32c", func() { crc32.Checksum(sealed[:1<<20], table) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(1 << 20)
			start := testenv.CPUTime(b)
			for b.Loop() {
				c.run()
			}
			b.ReportMetric(float64(testenv.CPUTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestSealState: a sealed state holds no byte of the state in clear, opens
// under its data key and additional data only, and fails on any change.
func TestSealState(t *testing.T) {
	k := testKey(t)
	state := []byte("a hash state holding PLAINTEXT-TAIL bytes")
	ad := []byte("tus/u1/000001-abc")
	sealed := k.SealState(state, ad)
	if bytes.Contains(sealed, []byte("PLAINTEXT")) || len(sealed) != len(state)+stateNonceSize+Overhead {
		t.Fatalf("sealed state of %d bytes: %q", len(sealed), sealed)
	}
	if got, err := k.OpenState(sealed, ad); err != nil || !bytes.Equal(got, state) {
		t.Fatalf("OpenState = %q, %v", got, err)
	}
	if again := k.SealState(state, ad); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one state are equal; want fresh nonces")
	}
	other, _ := newDataKey(bytes.Repeat([]byte{7}, keySize+prefixSize))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)/2] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"other additional data": func() ([]byte, error) { return k.OpenState(sealed, []byte("tus/u1/000002-abc")) },
		"other data key":        func() ([]byte, error) { return other.OpenState(sealed, ad) },
		"a flipped bit":         func() ([]byte, error) { return k.OpenState(flipped, ad) },
		"truncated":             func() ([]byte, error) { return k.OpenState(sealed[:len(sealed)-1], ad) },
		"too short":             func() ([]byte, error) { return k.OpenState(sealed[:stateNonceSize+Overhead-1], ad) },
	} {
		if got, err := open(); !errors.Is(err, ErrAuthentication) || got != nil {
			t.Errorf("%s: OpenState = %q, %v; want ErrAuthentication", name, got, err)
		}
	}
}

// TestReadSegments: ReadSegments into a buffer with room for the stored
// bytes of 16 segments returns their plaintext, 1 MiB, from one read into
// that buffer, and nothing of the next segment; a buffer too small for
// one segment is filled as Read fills it; a segment that fails returns the
// ones before it, then the error; of another reader it is its Read.
func TestReadSegments(t *testing.T) {
	k := testKey(t)
	const size = 2<<20 + 10
	plain := pattern(size)
	sealed := encrypt(t, k, plain)
	buf := make([]byte, CiphertextSize(1<<20))
	var reads, inPlace int
	r := k.DecryptReader(&spy{r: bytes.NewReader(sealed), within: buf, reads: &reads, bytes: &inPlace}, size)
	for off := 0; off < 2<<20; off += 1 << 20 {
		if n, err := ReadSegments(r, buf); err != nil || n != 1<<20 || !bytes.Equal(buf[:n], plain[off:off+n]) {
			t.Fatalf("ReadSegments at %d = %d, %v; want the next MiB of plaintext", off, n, err)
		}
	}
	if reads != 2 || inPlace != 2*len(buf) {
		t.Fatalf("%d reads put %d bytes into the buffer; want 2 reads of 16 segments each", reads, inPlace)
	}
	if n, err := ReadSegments(r, buf[:5]); err != nil || n != 5 || !bytes.Equal(buf[:5], plain[2<<20:2<<20+5]) {
		t.Fatalf("ReadSegments of 5 bytes = %d, %v; want the next 5 bytes, as Read gives them", n, err)
	}
	if n, err := ReadSegments(r, buf); err != nil || n != 5 || !bytes.Equal(buf[:5], plain[2<<20+5:]) {
		t.Fatalf("ReadSegments of the rest = %d, %v; want the last 5 bytes", n, err)
	}
	if n, err := ReadSegments(r, buf); n != 0 || err != io.EOF {
		t.Fatalf("ReadSegments at the end = %d, %v", n, err)
	}

	flipped := bytes.Clone(sealed)
	flipped[3*sealedSize+7] ^= 1
	r = k.DecryptReader(bytes.NewReader(flipped), size)
	if n, err := ReadSegments(r, buf); n != 3*SegmentSize || err != nil || !bytes.Equal(buf[:n], plain[:n]) {
		t.Fatalf("ReadSegments over a flipped fourth segment = %d, %v; want the three before it", n, err)
	}
	if n, err := ReadSegments(r, buf); n != 0 || !errors.Is(err, ErrAuthentication) {
		t.Fatalf("ReadSegments after them = %d, %v; want ErrAuthentication", n, err)
	}
	if n, err := ReadSegments(strings.NewReader("abc"), buf); n != 3 || err != nil || string(buf[:3]) != "abc" {
		t.Fatalf("ReadSegments of a strings.Reader = %d, %v", n, err)
	}
}
