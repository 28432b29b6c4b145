package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// gate is a reader that announces when it is reached and then waits for
// open before reading on from r.
type gate struct {
	reached chan struct{}
	open    chan struct{}
	r       io.Reader
	passed  bool
}

func (g *gate) Read(p []byte) (int, error) {
	if !g.passed {
		close(g.reached)
		<-g.open
		g.passed = true
	}
	return g.r.Read(p)
}

// TestServerUnreachable cuts the network to the S3 server while a download
// and a multipart upload are in flight: every operation fails with
// ErrUnavailable, and the store works again once the server is back.
func TestServerUnreachable(t *testing.T) {
	cfg := testConfig(t)
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	cfg.Endpoint = "http://" + proxy.Addr()
	cfg.MaxRetries, cfg.RetryDelay, cfg.Timeout = 2, 10*time.Millisecond, 2*time.Second
	s := newTestStore(t, cfg)
	ctx := context.Background()

	// Big enough that the download cannot sit whole in socket buffers.
	stored := storagetest.RandomBytes(t, 24<<20)
	if err := s.Put(ctx, "ab/cd/stored", bytes.NewReader(stored), int64(len(stored))); err != nil {
		t.Fatal(err)
	}
	download, err := s.Get(ctx, "ab/cd/stored")
	if err != nil {
		t.Fatal(err)
	}
	defer download.Close()
	if _, err := io.ReadFull(download, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	g := &gate{reached: make(chan struct{}), open: make(chan struct{}), r: io.LimitReader(zeros{}, MinPartSize)}
	upload := make(chan error, 1)
	go func() {
		// The first part goes up; the second is read after the cut.
		upload <- s.Put(ctx, "ab/cd/during", io.MultiReader(io.LimitReader(zeros{}, MinPartSize), g), 2*MinPartSize)
	}()
	<-g.reached

	proxy.Cut()
	close(g.open)
	if err := <-upload; !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("multipart upload in flight = %v; want ErrUnavailable", err)
	}
	if _, err := io.ReadAll(download); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("download in flight = %v; want ErrUnavailable", err)
	}
	assertUnavailable(t, s)

	proxy.Restore()
	data := []byte("back again")
	if err := s.Put(ctx, "ab/cd/after", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put after the server is back: %v", err)
	}
	for key, want := range map[string][]byte{"ab/cd/after": data, "ab/cd/stored": stored} {
		rc, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%s) after the server is back: %v", key, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Get(%s) after the server is back read %d bytes (err %v); want its %d", key, len(got), err, len(want))
		}
	}
}

// assertUnavailable checks that every operation gives ErrUnavailable.
func assertUnavailable(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if err := s.Put(ctx, "ab/cd/cut", bytes.NewReader([]byte("x")), 1); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Put = %v; want ErrUnavailable", err)
	}
	if _, err := s.Get(ctx, "ab/cd/stored"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Get = %v; want ErrUnavailable", err)
	}
	if _, err := s.Exists(ctx, "ab/cd/stored"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Exists = %v; want ErrUnavailable", err)
	}
	if err := s.Delete(ctx, "ab/cd/stored"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Delete = %v; want ErrUnavailable", err)
	}
}

// TestNewUnreachable checks that a server that cannot be reached at startup
// is reported as S3_ENDPOINT.
func TestNewUnreachable(t *testing.T) {
	cfg := testConfig(t)
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	proxy.Cut()
	cfg.Endpoint = "http://" + proxy.Addr()
	cfg.RetryDelay = time.Millisecond
	_, err = New(context.Background(), cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Var != "S3_ENDPOINT" || !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("New = %v; want a ConfigError naming S3_ENDPOINT and wrapping ErrUnavailable", err)
	}
}
