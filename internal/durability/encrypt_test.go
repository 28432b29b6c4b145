package durability_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// marker is written into every blob of TestMigrateEncryptKill, so the
// stored bytes show whether they are in clear.
const marker = "MIGRATE-ENCRYPT-KILL-MARKER"

// TestMigrateEncryptKill runs the real `simpledrive migrate --encrypt`
// and kills it with SIGKILL twice in the middle of its work (once a
// quarter, then half, of the blobs are encrypted, as its database rows
// show), then runs it to its end; then the same for `--decrypt`. After
// each direction: no blob is lost, every blob reads back byte for byte
// through a server, every stored object is encrypted (or, after
// --decrypt, every blob's object is in clear), fsck --deep is clean, and
// gc removes exactly the orphans the kills left (copies whose row was
// never switched) and the old bytes, leaving what the rows reference.
func TestMigrateEncryptKill(t *testing.T) {
	slow(t)
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) { migrateKillTest(t, s.env(t)) })
	}
}

func migrateKillTest(t *testing.T, e env) {
	const n = 120
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	e = e.with("DELETE_GRACE", "1ms")
	keyed := e.with("ENCRYPTION_KEYS", "k1:"+base64.StdEncoding.EncodeToString(randomBlob(32)))
	blobs := map[string][]byte{}
	srv := start(t, e)
	c := newClient(srv.url)
	for i := range n {
		data := randomBlob(logUniform(r, 1<<10, 2<<20))
		copy(data[r.IntN(len(data)-len(marker)):], marker)
		id := fmt.Sprintf("blob-%03d", i)
		blobs[id] = data
		if status, err := c.create(id, data, true); err != nil || status != 201 {
			t.Fatalf("create %s: %d, %v", id, status, err)
		}
	}
	c.close()
	srv.stop()
	if clear, _ := markers(t, e); clear != n {
		t.Fatalf("%d of the %d blobs' stored objects hold the marker before --encrypt", clear, n)
	}

	for _, dir := range []struct {
		flag string
		done string // counts the rows the migration has done
		env  env    // the configuration afterwards
	}{
		{"--encrypt", "key_id IS NOT NULL", keyed},
		{"--decrypt", "key_id IS NULL", e},
	} {
		killed := killMigration(t, keyed, dir.flag, dir.done, n)
		code, out, errOut := run(t, keyed, "migrate", dir.flag, "--json", "--concurrency", "4")
		var res struct {
			Moved, Already int64
			Complete       bool
		}
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Complete || res.Moved+res.Already != n || res.Already < killed {
			t.Fatalf("migrate %s after the kills = exit %d, %s%s; want the %d blobs left done", dir.flag, code, out, errOut, n-killed)
		}
		srv := start(t, dir.env)
		c := newClient(srv.url)
		for id, data := range blobs {
			if status, got, err := c.get(id); err != nil || status != 200 || !bytes.Equal(got, data) {
				t.Fatalf("after migrate %s, %s reads %d with %d bytes, %v; want its %d bytes", dir.flag, id, status, len(got), err, len(data))
			}
		}
		c.close()
		srv.stop()
		code, out, errOut = run(t, dir.env, "fsck", "--deep", "--json")
		var fsck struct{ Checked, Problems int }
		json.Unmarshal([]byte(out), &fsck)
		if code != 0 || fsck.Problems != 0 || fsck.Checked != n {
			t.Fatalf("fsck --deep after migrate %s = exit %d, %s%s; want %d blobs checked, no problem", dir.flag, code, out, errOut, n)
		}
		orphans, orphanBytes := collect(t, dir.env)
		clear, objects := markers(t, dir.env)
		if want := map[string]int{"--encrypt": 0, "--decrypt": n}[dir.flag]; clear != want || objects != n {
			t.Fatalf("after migrate %s and gc, %d of %d stored objects hold the marker; want %d of %d", dir.flag, clear, objects, want, n)
		}
		t.Logf("migrate %s: killed twice with %d of %d blobs done, then %d moved; gc removed %d orphans (%d bytes)",
			dir.flag, killed, n, res.Moved, orphans, orphanBytes)
	}
}

// killMigration starts `simpledrive migrate flag` with e and kills it
// with SIGKILL once a quarter of the n blobs are done (the rows that done,
// a WHERE condition, selects), starts it again and kills it once half are,
// and returns how many were done then. It fails the test when a run ends
// before its kill.
func killMigration(t *testing.T, e env, flag, done string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, e["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	count := func() int64 {
		var c int64
		if err := d.Reader().QueryRowContext(ctx, "SELECT count(*) FROM blob_metadata WHERE "+done).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	var at int64
	for _, part := range []int64{4, 2} {
		cmd := exec.Command(binary(t), "migrate", flag, "--concurrency", "4")
		cmd.Env = e.list()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// Polled: the rows are the one progress the command shows
		// outside a terminal.
		tick := time.NewTicker(2 * time.Millisecond)
		for at = count(); at < int64(n)/part; at = count() {
			select {
			case <-exited:
				t.Fatalf("migrate %s exited (%v) with %d of %d done, before its kill:\n%s", flag, cmd.ProcessState, count(), n, out.Bytes())
			case <-tick.C:
			}
		}
		tick.Stop()
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if at = count(); at >= int64(n) {
			t.Fatalf("migrate %s finished before its kill landed", flag)
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("migrate %s ended by %v, not the kill:\n%s", flag, cmd.ProcessState, out.Bytes())
		}
	}
	return at
}

// markers opens the database and backend of e in process (no server may
// run) and counts the stored objects, and those that hold the marker in
// clear.
func markers(t *testing.T, e env) (clear, objects int) {
	t.Helper()
	core := openCore(t, e)
	defer core.Close()
	eachKey(t, core, func(k storage.KeyInfo) {
		rc, err := core.Backend.Get(context.Background(), k.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		objects++
		if bytes.Contains(b, []byte(marker)) {
			clear++
		}
	})
	return clear, objects
}
