package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// bufferingDriver declares buf and records, for its last Put, the memory
// reserved when it began to hold it: on entry when buf.After is zero,
// else once it had read more than buf.After bytes.
type bufferingDriver struct {
	*memory.Store
	buf   storage.Buffer
	mem   *storagetest.Memory
	calls int
	read  int64 // bytes the last Put read
	held  int64 // memory reserved when it began to hold buf, -1 if it never did
}

func (d *bufferingDriver) PutBuffer(int64) storage.Buffer { return d.buf }

func (d *bufferingDriver) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	d.calls++
	d.read, d.held = 0, -1
	if d.buf.After == 0 {
		d.held = d.mem.InUse()
	}
	var got bytes.Buffer
	p := make([]byte, 7)
	for {
		n, err := r.Read(p)
		got.Write(p[:n])
		d.read += int64(n)
		if d.held < 0 && d.read > d.buf.After {
			d.held = d.mem.InUse()
		}
		if err == io.EOF {
			return d.Store.Put(ctx, key, &got, size)
		}
		if err != nil {
			return err
		}
	}
}

func newBufferingBucket(after, limit int64) (*storage.Bucket, *bufferingDriver, *storagetest.Memory) {
	mem := &storagetest.Memory{Limit: limit}
	d := &bufferingDriver{Store: memory.New(), buf: storage.Buffer{Bytes: 1000, After: after}, mem: mem}
	b := storage.NewBucket("buffering", d)
	b.SetMemory(mem)
	return b, d, mem
}

// TestPutReservesBeforeBuffering: a driver that buffers after After bytes
// finds its buffer reserved once it has read more, the reservation is
// released when Put returns, and blobs of at most After bytes, or of a
// known size within it, reserve nothing.
func TestPutReservesBeforeBuffering(t *testing.T) {
	cases := []struct {
		name        string
		size, bytes int64 // size -1: unknown
		wantHeld    int64
	}{
		{"unknown size past After", -1, 101, 1000},
		{"known size past After", 101, 101, 1000},
		{"unknown size within After", -1, 100, -1},
		{"known size within After", 100, 100, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, d, mem := newBufferingBucket(100, 1000)
			if err := b.Put(context.Background(), "k", bytes.NewReader(make([]byte, c.bytes)), c.size); err != nil {
				t.Fatal(err)
			}
			if d.held != c.wantHeld {
				t.Errorf("reserved when the driver held its buffer: %d; want %d", d.held, c.wantHeld)
			}
			if n := mem.InUse(); n != 0 {
				t.Errorf("%d bytes still reserved after Put returned", n)
			}
		})
	}
}

// TestPutReservesFromTheStart: a driver that buffers from the start is
// called with its buffer already reserved.
func TestPutReservesFromTheStart(t *testing.T) {
	b, d, mem := newBufferingBucket(0, 1000)
	if err := b.Put(context.Background(), "k", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	if d.held != 1000 || mem.InUse() != 0 {
		t.Fatalf("reserved on entry: %d, after Put: %d; want 1000, then 0", d.held, mem.InUse())
	}
}

// TestPutBusy: a Put whose buffer does not fit fails with ErrBusy and
// stores nothing; a driver buffering after After bytes never reads past
// them, and one buffering from the start is never called.
func TestPutBusy(t *testing.T) {
	for _, after := range []int64{0, 100} {
		b, d, mem := newBufferingBucket(after, 999)
		err := b.Put(context.Background(), "k", bytes.NewReader(make([]byte, 500)), -1)
		if !errors.Is(err, storage.ErrBusy) {
			t.Fatalf("After %d: Put = %v; want ErrBusy", after, err)
		}
		if ok, _ := b.Exists(context.Background(), "k"); ok || mem.InUse() != 0 || mem.Refused() != 1 {
			t.Fatalf("After %d: stored %v, %d bytes reserved, %d refusals; want nothing stored or reserved, one refusal", after, ok, mem.InUse(), mem.Refused())
		}
		if after == 0 && d.calls != 0 {
			t.Fatalf("the driver was called %d times; want never", d.calls)
		}
		if after > 0 && d.read > after {
			t.Fatalf("the driver read %d bytes; want at most the %d it holds no buffer for", d.read, after)
		}
	}
}

// TestPutBufferOfStreamingDriver: a driver without Buffering holds only a
// fixed amount, and its Puts reserve nothing.
func TestPutBufferOfStreamingDriver(t *testing.T) {
	b := storage.NewBucket("memory", memory.New())
	b.SetMemory(&storagetest.Memory{Limit: 0})
	if n := b.PutBuffer(-1); n != 0 {
		t.Fatalf("PutBuffer(-1) = %d; want 0", n)
	}
	if err := b.Put(context.Background(), "k", bytes.NewReader(make([]byte, 1<<20)), -1); err != nil {
		t.Fatal(err)
	}
}
