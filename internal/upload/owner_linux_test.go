package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

// TestLockTakesOverAnEndedWriter (issue 19, finding 7): a lease held by a
// write whose process has ended on this kernel (kill -9, then a restart)
// is taken by the next write at once, while a lease of a running process
// holds until it expires, and the ended writer stays fenced.
func TestLockTakesOverAnEndedWriter(t *testing.T) {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	m := sqlmeta.New(d)
	bucket := storage.NewBucket("memory", memory.New())
	log := slog.New(slog.DiscardHandler)
	blobs := blob.New(m, bucket, blob.Options{Timeout: time.Minute}, log)
	svc := NewService(m, m, bucket, blobs, Config{Expiry: time.Hour, MaxSize: 1 << 20}, log)
	ctx := context.Background()
	info, err := svc.Create(ctx, New{BlobID: "crashed", Length: 8})
	if err != nil {
		t.Fatal(err)
	}
	write := func(offset int64, data string) error {
		_, err := svc.Write(ctx, info.ID, Write{Offset: offset, Body: strings.NewReader(data), Size: int64(len(data)), Length: -1})
		return err
	}
	hold := func(owner string) {
		t.Helper()
		if ok, err := m.LeaseUpload(ctx, info.ID, owner, time.Now(), time.Now().Add(time.Hour)); err != nil || !ok {
			t.Fatalf("leasing to %s: %v, %v", owner, ok, err)
		}
	}

	writer := exec.Command("sleep", "60") // a writer's process, running
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Process.Kill(); writer.Wait() })
	pid := writer.Process.Pid
	start, ok := startTime(pid)
	boot, ns, kok := kernelScope()
	if !ok || !kok {
		t.Fatal("/proc does not tell a process's start time")
	}
	process := func(boot, ns string, pid int, start string) string {
		return fmt.Sprintf("linux:%s:%s:%d:%s/%s", boot, ns, pid, start, newID())
	}
	running := []string{
		process(boot, ns, pid, start),           // the writer's
		thisProcess + "/" + newID(),             // another write of this process
		process("another-boot", ns, 1<<22, "1"), // a process of another kernel
		process(boot, "1", 1<<22, "1"),          // or another pid namespace
	}
	for _, owner := range running {
		hold(owner)
		if err := write(0, "abc"); !errors.Is(err, ErrLocked) {
			t.Fatalf("a write meeting the lease of %s = %v; want ErrLocked", owner, err)
		}
		m.ReleaseUpload(ctx, info.ID, owner)
	}

	// A process reusing the writer's pid is not the writer.
	reused := process(boot, ns, pid, start+"0")
	hold(reused)
	if err := write(0, "abc"); err != nil {
		t.Fatalf("a write meeting the lease of an ended writer whose pid was reused = %v; want it taken", err)
	}

	held := process(boot, ns, pid, start)
	hold(held)
	writer.Process.Kill()
	writer.Wait()
	if err := write(3, "de"); err != nil {
		t.Fatalf("a write meeting the lease of a killed writer = %v; want it taken", err)
	}
	// The ended writer stays fenced.
	if ok, err := m.AppendPart(ctx, info.ID, held, 5, -1, meta.Part{Seq: 9, StorageKey: "tus/late", Size: 1}, time.Now().Add(time.Hour)); ok || err != nil {
		t.Fatalf("the killed writer's commit = %v, %v; want refused", ok, err)
	}
	if err := write(5, "fgh"); err != nil {
		t.Fatal(err)
	}
	if b, err := blobs.Stat(ctx, "crashed"); err != nil || b.Size != 8 {
		t.Fatalf("blob after the takeover: %+v, %v; want 8 bytes", b, err)
	}
}
