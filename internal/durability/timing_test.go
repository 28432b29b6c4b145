package durability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestFsckGCTimings measures simpledrive fsck, fsck --deep and gc on 10,000
// blobs of 4 KiB plus 1,000 orphans, on the local backend over SQLite and
// on s3 (versitygw) over PostgreSQL, and logs the times (the README quotes
// them). It fails only if a command fails.
func TestFsckGCTimings(t *testing.T) {
	slow(t)
	for _, s := range []stack{
		stacks[0],
		{"s3+PostgreSQL", func(t *testing.T) env { return s3Env(t, baseEnv(t).with("DATABASE_URL", testenv.PostgresURL(t))) }},
	} {
		t.Run(s.name, func(t *testing.T) { timings(t, s.env(t)) })
	}
}

func timings(t *testing.T, e env) {
	const blobs, orphans, size = 10000, 1000, 4 << 10
	ctx := context.Background()
	core, err := app.OpenCore(ctx, e.config(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				data := randomBlob(size)
				if i < blobs {
					if _, err := core.Service.Create(ctx, fmt.Sprintf("blob-%05d", i), bytes.NewReader(data), size); err != nil {
						t.Error(err)
					}
				} else if err := core.Backend.Put(ctx, fmt.Sprintf("or/ph/orphan-%05d", i), bytes.NewReader(data), size); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	for i := range blobs + orphans {
		work <- i
	}
	close(work)
	wg.Wait()
	core.Close()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("stored %d blobs and %d orphans of %d bytes in %s", blobs, orphans, size, time.Since(began).Round(time.Millisecond))
	timed := func(args ...string) float64 {
		t.Helper()
		code, out, errOut := run(t, e, append(args, "--json")...)
		var r struct{ Seconds float64 }
		if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
			t.Fatalf("simpledrive %v = exit %d: %s%s", args, code, out, errOut)
		}
		return r.Seconds
	}
	fsck := timed("fsck")
	deep := timed("fsck", "--deep")
	gc := timed("gc", "--older-than", "0s")
	gcClean := timed("gc")
	t.Logf("per %d blobs: fsck %.2fs, fsck --deep %.2fs, gc removing %d orphans %.2fs, gc with nothing to remove %.2fs",
		blobs, fsck, deep, orphans, gc, gcClean)
}
