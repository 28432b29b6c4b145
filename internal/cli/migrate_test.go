package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/client"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

func TestMigrateToDatabase(t *testing.T) {
	testMigrate(t, "database", map[string]string{"READ_BACKENDS": "database"})
}

func TestMigrateToS3(t *testing.T) {
	v := testenv.Lookup(t, "TEST_S3_ENDPOINT", "TEST_S3_REGION", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY_ID", "TEST_S3_SECRET_ACCESS_KEY")
	vars := map[string]string{"READ_BACKENDS": "s3"}
	prefix := fmt.Sprintf("cli-migrate-%x/", randomID())
	// The server reads s3 with its S3_ variables; migrate writes with the
	// TARGET_ ones: the same bucket.
	for _, p := range []string{"", "TARGET_"} {
		vars[p+"S3_ENDPOINT"], vars[p+"S3_REGION"], vars[p+"S3_BUCKET"] = v[0], v[1], v[2]
		vars[p+"S3_ACCESS_KEY_ID"], vars[p+"S3_SECRET_ACCESS_KEY"] = v[3], v[4]
		vars[p+"S3_FORCE_PATH_STYLE"], vars[p+"S3_PREFIX"] = "true", prefix
	}
	testMigrate(t, "s3", vars)
}

func randomID() []byte {
	b := make([]byte, 6)
	rand.Read(b)
	return b
}

// testMigrate stores blobs on a local server that also reads the target,
// migrates them half-way (the migration's context is cancelled once half
// have moved), then finishes with simpledrive migrate, while a reader
// reads every blob over HTTP throughout and must never fail.
func testMigrate(t *testing.T, to string, vars map[string]string) {
	s := startServer(t, vars)
	ctx := context.Background()
	c, err := client.New(s.URL, testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	sums := map[string]string{}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("m/%02d", i)
		data := make([]byte, 1000+i*4000)
		rand.Read(data)
		if _, err := c.Put(ctx, id, bytes.NewReader(data), int64(len(data)), "", nil); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		sums[id] = hex.EncodeToString(sum[:])
		ids = append(ids, id)
	}

	// The reader: every blob, again and again, until told to stop.
	stop := make(chan struct{})
	var reads, failures atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, id := range ids {
				select {
				case <-stop:
					return
				default:
				}
				reads.Add(1)
				d, err := c.Open(ctx, id, 0, "")
				if err != nil {
					failures.Add(1)
					t.Errorf("read %s during the migration: %v", id, err)
					continue
				}
				h := sha256.New()
				_, err = io.Copy(h, d)
				d.Close()
				if err != nil || hex.EncodeToString(h.Sum(nil)) != sums[id] {
					failures.Add(1)
					t.Errorf("read %s during the migration: %v, or other bytes", id, err)
				}
			}
		}
	}()

	// First run, stopped half-way.
	getenv := func(k string) string { return s.vars[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	target, err := config.LoadBackend("TARGET_", to, getenv)
	if err != nil {
		t.Fatal(err)
	}
	m, closeAll, err := app.NewMigration(ctx, cfg, target, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	m.Concurrency = 2
	m.Progress = func(st blob.MigrationStats) {
		if st.Moved >= n/2 {
			cancel()
		}
	}
	first, err := m.Run(runCtx)
	closeAll()
	if err == nil || first.Moved < n/2 || first.Moved >= n {
		t.Fatalf("the interrupted migration moved %d of %d, error %v; want it stopped half-way", first.Moved, n, err)
	}

	// Second run, through the command line: it moves the rest.
	code, out, errs := s.run(ctx, t, nil, "migrate", "--to", to, "--json")
	var res struct {
		Moved, Already int64
		Complete       bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Complete || res.Moved+first.Moved != n || res.Already != first.Moved {
		t.Fatalf("simpledrive migrate = %d, %q, %q; want the %d blobs left moved", code, out, errs, n-first.Moved)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || reads.Load() < n {
		t.Fatalf("%d of %d reads failed during the migration", failures.Load(), reads.Load())
	}
	t.Logf("moved %d then %d blobs; %d reads during the migration, none failed", first.Moved, res.Moved, reads.Load())

	// Every blob is on the target now, and reads the same.
	code, out, _ = s.run(ctx, t, nil, "migrate", "--to", to, "--json")
	if code != 0 || !strings.Contains(out, `"moved":0`) {
		t.Fatalf("a third run = %d, %q; want nothing left to move", code, out)
	}
	for _, id := range ids {
		d, err := c.Open(ctx, id, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, d)
		d.Close()
		if hex.EncodeToString(h.Sum(nil)) != sums[id] {
			t.Fatalf("%s reads other bytes after the migration", id)
		}
	}
}

// TestMigrateThroughputS3 moves 128 MiB (128 blobs of 1 MiB) from local to
// s3 with the command and logs its throughput (SIMPLEDRIVE_SLOW_TESTS=1).
func TestMigrateThroughputS3(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") == "" {
		t.Skip("SIMPLEDRIVE_SLOW_TESTS is not set")
	}
	v := testenv.Lookup(t, "TEST_S3_ENDPOINT", "TEST_S3_REGION", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY_ID", "TEST_S3_SECRET_ACCESS_KEY")
	prefix := fmt.Sprintf("cli-migrate-%x/", randomID())
	vars := map[string]string{"TARGET_S3_ENDPOINT": v[0], "TARGET_S3_REGION": v[1], "TARGET_S3_BUCKET": v[2],
		"TARGET_S3_ACCESS_KEY_ID": v[3], "TARGET_S3_SECRET_ACCESS_KEY": v[4], "TARGET_S3_FORCE_PATH_STYLE": "true", "TARGET_S3_PREFIX": prefix}
	s := startServer(t, vars)
	c, _ := client.New(s.URL, testToken, nil)
	data := make([]byte, 1<<20)
	for i := range 128 {
		rand.Read(data)
		if _, err := c.Put(context.Background(), fmt.Sprintf("t/%03d", i), bytes.NewReader(data), int64(len(data)), "", nil); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := s.run(context.Background(), t, nil, "migrate", "--to", "s3", "--json", "--concurrency", "8")
	if code != 0 || !strings.Contains(out, `"moved":128`) {
		t.Fatalf("migrate = %d, %q, %q", code, out, errs)
	}
	t.Logf("local to s3: %s", out)
}
