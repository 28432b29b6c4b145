package durability_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// attempt is one create a client sent.
type attempt struct {
	data   []byte
	raw    bool
	status int // 0: no response (the server died)
}

// TestCrash kills the real server with SIGKILL at random moments while 16
// clients create blobs, at least 20 times, restarting it on the same data
// each time; then checks every promise: each 201 reads back byte for byte;
// a create without a 201 is absent, or whole if it committed just before
// the kill took its response; fsck --deep is clean; gc with no grace
// removes exactly the bytes no row references.
func TestCrash(t *testing.T) {
	slow(t)
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) { crashTest(t, s.env(t)) })
	}
}

func crashTest(t *testing.T, e env) {
	const clients, kills = 16, 20
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var mu sync.Mutex
	attempts := map[string]*attempt{}
	began := time.Now()

	for round := range kills {
		srv := start(t, e)
		c := newClient(srv.url)
		// The kill comes after a random number of completed creates, so
		// it lands at a random moment of the clients' work.
		killAt := int64(1 + rng.IntN(24))
		var completed atomic.Int64
		killed := make(chan struct{})
		var killOnce sync.Once
		var wg sync.WaitGroup
		for ci := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(round*clients+ci+1)))
				for n := 0; ; n++ {
					select {
					case <-killed:
						return
					default:
					}
					id := fmt.Sprintf("r%02d-c%02d-%03d", round, ci, n)
					a := &attempt{data: randomBlob(logUniform(r, 1<<10, 4<<20)), raw: r.IntN(2) == 0}
					mu.Lock()
					attempts[id] = a
					mu.Unlock()
					status, err := c.create(id, a.data, a.raw)
					mu.Lock()
					a.status = status
					mu.Unlock()
					select {
					case <-killed:
					default:
						if err != nil || status != 201 {
							t.Errorf("create %s before the kill: %d, %v", id, status, err)
						}
					}
					if completed.Add(1) == killAt {
						killOnce.Do(func() {
							close(killed)
							srv.kill()
						})
					}
				}
			}()
		}
		wg.Wait()
		c.close()
		if t.Failed() {
			t.Fatalf("server log:\n%s", srv.log)
		}
	}

	// Verify on a fresh start.
	srv := start(t, e)
	c := newClient(srv.url)
	var acked, lost, lostVisible atomic.Int64
	ids := sortedKeys(attempts)
	work := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				a := attempts[id]
				status, data, err := c.get(id)
				switch {
				case err != nil:
					t.Errorf("GET %s: %v", id, err)
				case a.status == 201:
					acked.Add(1)
					if status != 200 || !bytes.Equal(data, a.data) {
						t.Errorf("%s got 201 but reads %d with %d bytes; want 200 with its %d bytes", id, status, len(data), len(a.data))
					}
				case status == 404:
					lost.Add(1)
				case status == 200 && bytes.Equal(data, a.data):
					// Committed; the kill took the 201 on its way out.
					lostVisible.Add(1)
				default:
					t.Errorf("%s never got a 201 but reads %d with %d of its %d bytes", id, status, len(data), len(a.data))
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	// The client's idle connections go first: a connection it dialled
	// but never used is one net/http's Shutdown waits for.
	c.close()
	srv.stop()

	visible := acked.Load() + lostVisible.Load()
	code, out, errOut := run(t, e, "fsck", "--deep", "--json")
	var fsck struct{ Checked, Problems int }
	json.Unmarshal([]byte(out), &fsck)
	if code != 0 || fsck.Problems != 0 || int64(fsck.Checked) != visible {
		t.Fatalf("fsck --deep = exit %d, %s%s; want exit 0 and %d blobs checked", code, out, errOut, visible)
	}

	orphans, orphanBytes := collect(t, e)
	if code, out, errOut := run(t, e, "fsck", "--deep"); code != 0 {
		t.Fatalf("fsck --deep after gc = exit %d: %s%s", code, out, errOut)
	}
	t.Logf("%d kills in %s: %d creates sent, %d acknowledged and read back whole, %d unacknowledged and absent, "+
		"%d unacknowledged but committed (whole); gc removed %d orphaned keys (%d bytes), nothing referenced",
		kills, time.Since(began).Round(time.Second), len(attempts), acked.Load(), lost.Load(), lostVisible.Load(), orphans, orphanBytes)
}
