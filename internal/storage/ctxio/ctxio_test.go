package ctxio_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage/ctxio"
)

func TestReaderPassesThroughWhileLive(t *testing.T) {
	got, err := io.ReadAll(ctxio.Reader(context.Background(), strings.NewReader("hello")))
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadAll = %q, %v; want %q, nil", got, err, "hello")
	}
}

func TestReaderFailsOnceCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	src := strings.NewReader("abcdef")
	r := ctxio.Reader(ctx, src)
	p := make([]byte, 2)
	if n, err := r.Read(p); n != 2 || err != nil {
		t.Fatalf("Read before cancel = %d, %v; want 2, nil", n, err)
	}
	cancel()
	if n, err := r.Read(p); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
	if src.Len() != 4 {
		t.Errorf("the source was read after cancel: %d bytes left, want 4", src.Len())
	}
}
