package durability_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestReplicas runs two servers on different ports over one PostgreSQL and
// one S3 bucket, each collecting garbage every 200ms under the shared
// lease: concurrent creates of one id through both give exactly one 201;
// every blob reads back through both; a delete through one is seen by the
// other at once; killing one mid-write leaves the other serving and
// nothing half-written.
func TestReplicas(t *testing.T) {
	slow(t)
	e := s3Env(t, baseEnv(t).with("DATABASE_URL", testenv.PostgresURL(t), "GC_INTERVAL", "200ms"))
	a, b := start(t, e), start(t, e)
	ca, cb := newClient(a.url), newClient(b.url)
	defer ca.close()
	defer cb.close()
	replicas := []*client{ca, cb}

	// Concurrent creates of the same 200 ids through both replicas.
	const n = 200
	var statuses [n][2]int
	var sent [n][2][]byte
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		for side, c := range replicas {
			sent[i][side] = randomBlob(1 + (i*7919+side*104729)%(64<<10))
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status, err := c.create(fmt.Sprintf("same-%03d", i), sent[i][side], (i+side)%2 == 0)
				if err != nil {
					t.Errorf("create same-%03d through replica %d: %v", i, side, err)
				}
				statuses[i][side] = status
			}()
		}
	}
	close(start)
	wg.Wait()
	winners := make([][]byte, n)
	for i, s := range statuses {
		switch {
		case s[0] == 201 && s[1] == 409:
			winners[i] = sent[i][0]
		case s[0] == 409 && s[1] == 201:
			winners[i] = sent[i][1]
		default:
			t.Fatalf("same-%03d: replicas answered %d and %d; want one 201 and one 409", i, s[0], s[1])
		}
	}
	for i, want := range winners {
		for side, c := range replicas {
			if status, data, err := c.get(fmt.Sprintf("same-%03d", i)); err != nil || status != 200 || !bytes.Equal(data, want) {
				t.Fatalf("same-%03d through replica %d: %d, %d bytes, %v; want the winner's %d bytes", i, side, status, len(data), err, len(want))
			}
		}
	}

	// A delete through one replica is seen by the other at once, and the
	// id can be created again through it.
	for i := range 50 {
		id := fmt.Sprintf("same-%03d", i)
		if status, err := ca.delete(id); err != nil || status != 204 {
			t.Fatalf("DELETE %s through replica 0: %d, %v", id, status, err)
		}
		if status, _, err := cb.get(id); err != nil || status != 404 {
			t.Fatalf("GET %s through replica 1 right after its delete: %d, %v; want 404", id, status, err)
		}
		winners[i] = randomBlob(100 + i)
		if status, err := cb.create(id, winners[i], true); err != nil || status != 201 {
			t.Fatalf("re-create %s through replica 1: %d, %v", id, status, err)
		}
		if status, data, err := ca.get(id); err != nil || status != 200 || !bytes.Equal(data, winners[i]) {
			t.Fatalf("GET %s through replica 0 after its re-creation: %d, %v", id, status, err)
		}
	}

	// Kill replica 0 mid-write while replica 1 serves creates and reads.
	var mu sync.Mutex
	attempts := map[string]*attempt{}
	killAt := int64(10 + rand.IntN(20))
	var completed atomic.Int64
	killed := make(chan struct{})
	var killOnce sync.Once
	var survivorOps atomic.Int64
	wg = sync.WaitGroup{}
	for ci := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(ci), 7))
			for k := 0; ; k++ {
				select {
				case <-killed:
					return
				default:
				}
				id := fmt.Sprintf("kill-c%02d-%03d", ci, k)
				at := &attempt{data: randomBlob(logUniform(r, 1<<10, 4<<20))}
				mu.Lock()
				attempts[id] = at
				mu.Unlock()
				at.status, _ = ca.create(id, at.data, k%2 == 0)
				if completed.Add(1) == killAt {
					killOnce.Do(func() { close(killed); a.kill() })
				}
			}
		}()
	}
	survivorDone := make(chan struct{})
	go func() { // replica 1 keeps serving through the kill and after it
		defer close(survivorDone)
		afterKill := 0
		for k := 0; ; k++ {
			id := fmt.Sprintf("survivor-%03d", k)
			data := randomBlob(1 + k*1000)
			if status, err := cb.create(id, data, k%2 == 1); err != nil || status != 201 {
				t.Errorf("create %s through the surviving replica: %d, %v", id, status, err)
				return
			}
			if status, got, err := cb.get(id); err != nil || status != 200 || !bytes.Equal(got, data) {
				t.Errorf("GET %s through the surviving replica: %d, %v", id, status, err)
				return
			}
			survivorOps.Add(1)
			select {
			case <-killed:
				if afterKill == 0 {
					<-a.exited // the next creates run with replica 0 dead
				}
				if afterKill++; afterKill > 10 {
					return
				}
			default:
			}
		}
	}()
	wg.Wait()
	<-survivorDone
	var acked, absent, whole int
	for id, at := range attempts {
		status, data, err := cb.get(id)
		switch {
		case err != nil:
			t.Fatalf("GET %s through the survivor: %v", id, err)
		case at.status == 201:
			acked++
			if status != 200 || !bytes.Equal(data, at.data) {
				t.Fatalf("%s got 201 from the killed replica but reads %d, %d bytes", id, status, len(data))
			}
		case status == 404:
			absent++
		case status == 200 && bytes.Equal(data, at.data):
			whole++
		default:
			t.Fatalf("%s (no 201) reads %d with %d of %d bytes through the survivor", id, status, len(data), len(at.data))
		}
	}
	cb.close() // the client's idle connections first, as in TestCrash
	b.stop()
	for i, s := range []*server{a, b} {
		if strings.Contains(s.log.String(), "garbage collection failed") {
			t.Errorf("replica %d's collector failed:\n%s", i, s.log)
		}
	}
	if code, out, errOut := run(t, e, "fsck", "--deep"); code != 0 {
		t.Fatalf("fsck --deep = exit %d: %s%s", code, out, errOut)
	}
	stored, referenced := keySets(t, e)
	orphans := 0
	for k := range stored {
		if !referenced[k] {
			orphans++
		}
	}
	if code, out, errOut := run(t, e, "gc", "--older-than", "0s"); code != 0 {
		t.Fatalf("gc = exit %d: %s%s", code, out, errOut)
	}
	after, _ := keySets(t, e)
	if len(after) != len(referenced) {
		t.Fatalf("after gc the backend holds %d keys; want the %d referenced (with the deleted blobs' bytes in their grace period)", len(after), len(referenced))
	}
	t.Logf("killed replica 0 after %d creates: %d acknowledged, %d absent, %d committed unacknowledged; the survivor served %d creates and reads; gc removed %d orphans",
		killAt, acked, absent, whole, survivorOps.Load(), orphans)
}
