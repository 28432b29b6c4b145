package ftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// vsftpdConfig returns a Config for the vsftpd that scripts/test starts,
// with a fresh root directory.
func vsftpdConfig(t testing.TB) Config {
	t.Helper()
	env := testenv.Lookup(t, "TEST_FTP_ADDR", "TEST_FTP_USER", "TEST_FTP_PASSWORD")
	return Config{
		Addr:     env[0],
		User:     env[1],
		Password: env[2],
		Root:     fmt.Sprintf("/%s-%x", sanitize(t.Name()), storagetest.RandomBytes(t, 4)),
		Timeout:  5 * time.Second,
	}
}

// vsftpdTLSConfig is vsftpdConfig for the explicit-TLS instance.
func vsftpdTLSConfig(t testing.TB) Config {
	t.Helper()
	cfg := vsftpdConfig(t)
	env := testenv.Lookup(t, "TEST_FTP_TLS_ADDR", "TEST_FTP_TLS_CA")
	cfg.Addr = env[0]
	cfg.TLS = TLSExplicit
	cfg.TLSCAFile = env[1]
	return cfg
}

func sanitize(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !keyByteOK(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func keyByteOK(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// newStore makes a Store closed by t.Cleanup.
func newStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tWriter sends a Store's log to the test's log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func TestConformanceVsftpd(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver { return newStore(t, vsftpdConfig(t)) })
}

func TestConformanceVsftpdExplicitTLS(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver { return newStore(t, vsftpdTLSConfig(t)) })
}

func TestConcurrency64Through8Vsftpd(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"plain", vsftpdConfig}, {"tls", vsftpdTLSConfig}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, tc.cfg(t))
			const workers = 64
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for i := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- putGetDelete(s, fmt.Sprintf("ab/cd/worker-%d", i), bytes.Repeat([]byte{byte(i)}, 16<<10+i))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if n := s.pool.dialled.Load(); n > DefaultMaxConns {
				t.Errorf("dialled %d connections; want at most %d", n, DefaultMaxConns)
			}
		})
	}
}

// putGetDelete round-trips data under key and removes it.
func putGetDelete(s *Store, key string, data []byte) error {
	ctx := context.Background()
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return err
	}
	rc, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		return fmt.Errorf("%s: read %d bytes (%v); want the %d put", key, len(got), err, len(data))
	}
	return s.Delete(ctx, key)
}

// TestVsftpdConnectionCut drops the connections to a real vsftpd (through
// a proxy) between requests and while it is down: requests fail with
// ErrUnavailable, and succeed again as soon as it is reachable.
func TestVsftpdConnectionCut(t *testing.T) {
	cfg := vsftpdConfig(t)
	proxy := testenv.NewProxy(t, cfg.Addr)
	cfg.Addr = proxy.Addr()
	cfg.Timeout = time.Second
	s := newStore(t, cfg)
	data := []byte("bytes that outlive the network")
	if err := putGetDelete(s, "ab/cd/before", data); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if _, err := s.Exists(context.Background(), "ab/cd/before"); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Exists while the network is cut = %v; want ErrUnavailable", err)
	}
	proxy.Restore()
	if err := putGetDelete(s, "ab/cd/after", data); err != nil {
		t.Fatalf("after the network came back: %v", err)
	}
	proxy.Cut() // drops the pooled connections; the next request redials
	proxy.Restore()
	if err := putGetDelete(s, "ab/cd/redialled", data); err != nil {
		t.Fatalf("after pooled connections were dropped: %v", err)
	}
}

func TestVsftpdNewErrors(t *testing.T) {
	cfg := vsftpdConfig(t)
	cfg.Password = "wrong-" + cfg.Password
	_, err := New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "FTP_PASSWORD") || strings.Contains(err.Error(), cfg.Password) {
		t.Fatalf("New with a wrong password = %v; want an error naming FTP_PASSWORD without the password", err)
	}
	cfg = vsftpdConfig(t) // the TLS port without TLS
	cfg.Addr = testenv.Lookup(t, "TEST_FTP_TLS_ADDR")[0]
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "FTP_TLS") {
		t.Fatalf("New without TLS against a server that requires it = %v; want an error naming FTP_TLS", err)
	}
	cfg = vsftpdTLSConfig(t) // a certificate nobody vouches for
	cfg.TLSCAFile = ""
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "FTP_TLS") {
		t.Fatalf("New with an untrusted certificate = %v; want an error naming FTP_TLS", err)
	}
}

// TestVsftpdNoTempFiles checks that failed puts leave no temporary files
// on a real server, by listing the directory with the store's connection.
func TestVsftpdNoTempFiles(t *testing.T) {
	s := newStore(t, vsftpdConfig(t))
	ctx := context.Background()
	if err := storage.NewBucket("ftp", s).Put(ctx, "ab/cd/short", strings.NewReader("abc"), 4); !errors.Is(err, storage.ErrSizeMismatch) {
		t.Fatalf("short Put = %v; want ErrSizeMismatch", err)
	}
	// Through the Bucket, as the service calls drivers: it stops reading
	// once the context ends, so the Put cannot finish.
	cctx, cancel := context.WithCancel(ctx)
	err := storage.NewBucket("ftp", s).Put(cctx, "ab/cd/cancelled", &hookReader{n: 128 << 10, size: 1 << 20, hook: cancel}, 1<<20)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put = %v; want context.Canceled", err)
	}
	mustPut(t, s, "ab/cd/kept", []byte("kept"))
	var names []string
	err = s.withConn(ctx, always, func(c *conn) error {
		entries, err := c.sc.NameList(s.path("ab/cd"))
		for _, e := range entries {
			names = append(names, path.Base(e))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "kept" {
		t.Errorf("the directory holds %q; want only the kept file", names)
	}
}

func TestVsftpdRangesPastEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"plain", vsftpdConfig}, {"tls", vsftpdTLSConfig}} {
		t.Run(tc.name, func(t *testing.T) { assertRangesPastEnd(t, newStore(t, tc.cfg(t))) })
	}
}
