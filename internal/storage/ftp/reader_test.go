package ftp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// fakeTimers replaces the idle timers of readers: they fire only when a
// test fires them.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	ft    *fakeTimers
	f     func()
	state int // timerArmed, timerStopped or timerFired
}

const (
	timerArmed = iota
	timerStopped
	timerFired
)

// install makes s use ft for its readers' idle timers.
func (ft *fakeTimers) install(s *Store) {
	s.afterFunc = func(_ time.Duration, f func()) stopper {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		t := &fakeTimer{ft: ft, f: f}
		ft.timers = append(ft.timers, t)
		return t
	}
}

// armed returns the timers armed now, oldest first.
func (ft *fakeTimers) armed() []*fakeTimer {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var armed []*fakeTimer
	for _, t := range ft.timers {
		if t.state == timerArmed {
			armed = append(armed, t)
		}
	}
	return armed
}

func (t *fakeTimer) Stop() bool {
	t.ft.mu.Lock()
	defer t.ft.mu.Unlock()
	if t.state != timerArmed {
		return false
	}
	t.state = timerStopped
	return true
}

// fire runs the timer's function on a goroutine of its own, as
// time.AfterFunc does, and returns when it has run.
func (t *fakeTimer) fire() {
	t.ft.mu.Lock()
	if t.state != timerArmed {
		t.ft.mu.Unlock()
		return
	}
	t.state = timerFired
	t.ft.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.f()
	}()
	<-done
}

// awaitResult waits for an operation running on another goroutine; the
// deadline only bounds a failing test.
func awaitResult(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not complete: the pool is starved", what)
	}
}

// existsAsync runs Exists(key) on another goroutine; the channel gets nil
// when it reports true.
func existsAsync(s *Store, key string) <-chan error {
	done := make(chan error, 1)
	go func() {
		ok, err := s.Exists(context.Background(), key)
		if err == nil && !ok {
			err = errors.New("Exists = false; want true")
		}
		done <- err
	}()
	return done
}

// TestSlowReadersDoNotStarveThePool opens MaxConns streaming Gets and reads
// none of them: a third operation waits for a connection, and gets one as
// soon as a reader's idle timer fires. That reader fails; the other one,
// whose timer did not fire, still delivers every byte.
func TestSlowReadersDoNotStarveThePool(t *testing.T) {
	srv := newTestServer(t)
	cfg := srv.config()
	cfg.MaxConns = 2
	s := newStore(t, cfg)
	timers := &fakeTimers{}
	timers.install(s)
	data := storagetest.RandomBytes(t, 4*DefaultGetBufferBytes)
	srv.writeFile("data/ab/cd/a", data)
	srv.writeFile("data/ab/cd/b", data)
	ra, err := s.Get(context.Background(), "ab/cd/a")
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	rb, err := s.Get(context.Background(), "ab/cd/b")
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	if n := len(s.pool.slots); n != cfg.MaxConns {
		t.Fatalf("%d connections in use with two streaming readers; want %d", n, cfg.MaxConns)
	}
	armed := timers.armed()
	if len(armed) != 2 {
		t.Fatalf("%d idle timers armed; want one per reader", len(armed))
	}
	done := existsAsync(s, "ab/cd/a")
	armed[0].fire() // reader a has not been read for FTP_TIMEOUT
	awaitResult(t, "Exists with every connection held by an unread reader", done)

	if _, err := io.ReadAll(ra); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("reading the reader that was idle too long = %v; want ErrUnavailable", err)
	}
	if got, err := io.ReadAll(rb); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the reader whose timer did not fire read %d bytes (%v); want all %d", len(got), err, len(data))
	}
}

// TestSlowReadersTimeOut is TestSlowReadersDoNotStarveThePool with real
// timers: a short FTP_TIMEOUT bounds how long unread readers hold the pool.
func TestSlowReadersTimeOut(t *testing.T) {
	srv := newTestServer(t)
	cfg := srv.config()
	cfg.MaxConns = 2
	cfg.Timeout = 300 * time.Millisecond
	s := newStore(t, cfg)
	data := storagetest.RandomBytes(t, 4*DefaultGetBufferBytes)
	srv.writeFile("data/ab/cd/a", data)
	var readers []io.ReadCloser
	for range cfg.MaxConns {
		rc, err := s.Get(context.Background(), "ab/cd/a")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		readers = append(readers, rc)
	}
	start := time.Now()
	awaitResult(t, "Exists with every connection held by an unread reader", existsAsync(s, "ab/cd/a"))
	if elapsed := time.Since(start); elapsed < cfg.Timeout/2 {
		t.Errorf("Exists got a connection after %v, before any reader could time out", elapsed)
	}
	// The reader whose connection Exists took fails; the other may have
	// been read before its own timer fired.
	failed := 0
	for _, rc := range readers {
		got, err := io.ReadAll(rc)
		switch {
		case errors.Is(err, storage.ErrUnavailable):
			failed++
		case err != nil || !bytes.Equal(got, data):
			t.Errorf("reading a reader = %d bytes, %v; want ErrUnavailable or all %d bytes", len(got), err, len(data))
		}
	}
	if failed == 0 {
		t.Error("every reader left unread for FTP_TIMEOUT kept its connection")
	}
	assertRecovers(t, s)
}

// TestSmallGetReleasesConnection: a blob or range within GetBufferBytes is
// read whole by Get, which returns its connection at once, so an unread
// reader holds none.
func TestSmallGetReleasesConnection(t *testing.T) {
	srv := newTestServer(t)
	cfg := srv.config()
	cfg.MaxConns = 1
	s := newStore(t, cfg)
	(&fakeTimers{}).install(s) // never fire
	small := storagetest.RandomBytes(t, DefaultGetBufferBytes)
	big := storagetest.RandomBytes(t, 4*DefaultGetBufferBytes)
	srv.writeFile("data/ab/cd/small", small)
	srv.writeFile("data/ab/cd/big", big)
	// A Get that held its connection would leave the next one waiting:
	// the deadline only bounds a failing test.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rs, err := s.Get(ctx, "ab/cd/small")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rr, err := s.GetRange(ctx, "ab/cd/big", 1000, DefaultGetBufferBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	awaitResult(t, "Exists with an unread small Get and range", existsAsync(s, "ab/cd/small"))
	if got, err := io.ReadAll(rs); err != nil || !bytes.Equal(got, small) {
		t.Errorf("small Get read %d bytes (%v); want the %d stored", len(got), err, len(small))
	}
	if got, err := io.ReadAll(rr); err != nil || !bytes.Equal(got, big[1000:1000+DefaultGetBufferBytes]) {
		t.Errorf("small range read %d bytes (%v); want %d", len(got), err, DefaultGetBufferBytes)
	}
}

// TestTransfersCutShortKeepTheConnection: ranges that end before the file
// does, and readers closed early, cut their transfers; the connection is
// probed and reused rather than redialled, streaming or buffered.
func TestTransfersCutShortKeepTheConnection(t *testing.T) {
	srv := newTestServer(t)
	cfg := srv.config()
	cfg.MaxConns = 1
	s := newStore(t, cfg)
	data := storagetest.RandomBytes(t, 4<<20)
	srv.writeFile("data/ab/cd/big", data)
	ctx := context.Background()
	for _, buffer := range []int64{DefaultGetBufferBytes, -1} {
		s.cfg.GetBufferBytes = buffer
		for _, r := range []struct{ offset, length int64 }{{0, 1}, {10, 100}, {1 << 20, 1 << 20}, {3 << 20, 2 << 20}} {
			rc, err := s.GetRange(ctx, "ab/cd/big", r.offset, r.length)
			if err != nil {
				t.Fatalf("GetRange(%d, %d): %v", r.offset, r.length, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			end := min(r.offset+r.length, int64(len(data)))
			if err != nil || !bytes.Equal(got, data[r.offset:end]) {
				t.Fatalf("GetRange(%d, %d) (buffer %d) = %d bytes (%v); want bytes %d-%d", r.offset, r.length, buffer, len(got), err, r.offset, end)
			}
		}
		rc, err := s.Get(ctx, "ab/cd/big")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		rc.Close() // early
		if got := storagetest.MustGet(t, s, "ab/cd/big"); !bytes.Equal(got, data) {
			t.Fatalf("Get after transfers cut short returned %d bytes that differ", len(got))
		}
	}
	if n := s.pool.dialled.Load(); n != 1 {
		t.Errorf("dialled %d connections; want the first one reused throughout", n)
	}
}

// assertRangesPastEnd checks ranges that start at or after the end of a
// blob: they are empty, not errors, streaming or buffered.
func assertRangesPastEnd(t *testing.T, s *Store) {
	t.Helper()
	b := storage.NewBucket("ftp", s)
	ctx := context.Background()
	data := storagetest.RandomBytes(t, 3*DefaultGetBufferBytes)
	if err := b.Put(ctx, "ab/cd/past-end", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	defer func() { s.cfg.GetBufferBytes = DefaultGetBufferBytes }()
	for _, buffer := range []int64{DefaultGetBufferBytes, -1} {
		s.cfg.GetBufferBytes = buffer
		for _, r := range []struct{ offset, length int64 }{
			{int64(len(data)), 10}, {int64(len(data)) + 1, 10}, {int64(len(data)) + 1<<20, -1}, {int64(len(data)) - 5, 1 << 40},
		} {
			rc, err := b.GetRange(ctx, "ab/cd/past-end", r.offset, r.length)
			if err != nil {
				t.Errorf("GetRange(%d, %d) (buffer %d): %v", r.offset, r.length, buffer, err)
				continue
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want := data[min(r.offset, int64(len(data))):]
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("GetRange(%d, %d) (buffer %d) = %d bytes (%v); want %d", r.offset, r.length, buffer, len(got), err, len(want))
			}
		}
	}
	assertRecovers(t, s)
}

func TestRangesPastEnd(t *testing.T) {
	assertRangesPastEnd(t, newStore(t, newTestServer(t).config()))
}
