package local_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage/local"
)

// chunks reads data in reads of n bytes, then fails with err (io.EOF: ends).
type chunks struct {
	data []byte
	n    int
	err  error
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	m := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[m:]
	return m, nil
}

// writeSizes records the size of each Write.
type writeSizes struct {
	sizes []int
	bytes.Buffer
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.Buffer.Write(p)
}

// TestWriteFull: Put's copy writes whole buffers, whatever the sizes of
// the reads (an encrypted body's: one sealed segment each), so the page
// cache holds a blob in large folios; an error of the reader, even
// io.ErrUnexpectedEOF of a body cut short, is returned after the bytes
// before it are written.
func TestWriteFull(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 5<<14) // 1.25 MiB
	buf := make([]byte, 1<<20)
	w := &writeSizes{}
	if err := local.WriteFull(w, &chunks{data: data, n: 65552, err: io.EOF}, buf); err != nil || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("WriteFull = %v, %d bytes written", err, w.Len())
	}
	if got, want := fmt.Sprint(w.sizes), fmt.Sprint([]int{1 << 20, len(data) - 1<<20}); got != want {
		t.Fatalf("writes of %s bytes; want %s", got, want)
	}
	for _, cut := range []error{io.ErrUnexpectedEOF, errors.New("boom")} {
		w := &writeSizes{}
		if err := local.WriteFull(w, &chunks{data: data[:1000], n: 300, err: cut}, buf); err != cut || !bytes.Equal(w.Bytes(), data[:1000]) {
			t.Fatalf("reader failing with %v: WriteFull = %v, %d bytes written", cut, err, w.Len())
		}
	}
}
