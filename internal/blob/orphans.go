package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// GCOptions tunes [Service.Collect].
type GCOptions struct {
	// OlderThan is how old unreferenced bytes must be before they are
	// removed. It is what keeps the bytes of creates in progress: a create
	// stores its bytes before it inserts the row that references them, so
	// it must exceed the longest upload plus the service's Timeout. Zero is
	// safe only while no create runs.
	OlderThan time.Duration
	// DryRun finds and counts, and removes nothing.
	DryRun bool
	// Progress, when set, is called with the running totals after each
	// page of keys.
	Progress func(GCReport)
	// renew, when set, is called after each page; an error stops the run
	// (the periodic collector's lease was lost).
	renew func(ctx context.Context) error
}

// GCReport counts what a collection found and removed.
type GCReport struct {
	// Garbage is how many recorded keys (of deleted blobs) were due, and
	// removed unless in a dry run.
	Garbage int `json:"garbage"`
	// Listed and ListedBytes count the keys the backend listed.
	Listed      int   `json:"listed"`
	ListedBytes int64 `json:"listed_bytes"`
	// Orphans and OrphanBytes count the listed keys nothing references
	// that are older than the grace period: the ones to remove.
	Orphans     int   `json:"orphans"`
	OrphanBytes int64 `json:"orphan_bytes"`
	// Young and YoungBytes count unreferenced keys too young to remove
	// (creates in progress, or bytes of a crash within the grace period).
	Young      int   `json:"young"`
	YoungBytes int64 `json:"young_bytes"`
	// Removed and RemovedBytes count the orphans removed.
	Removed      int   `json:"removed"`
	RemovedBytes int64 `json:"removed_bytes"`
}

// Collect collects garbage as of now: the recorded keys of deleted blobs
// whose grace period has passed ([Service.CollectGarbage]), then the orphans
// ([Service.CollectOrphans]). In a dry run it only counts them.
func (s *Service) Collect(ctx context.Context, now time.Time, opts GCOptions) (GCReport, error) {
	var r GCReport
	if opts.DryRun {
		due, err := s.meta.DueGarbage(ctx, s.backend.Name(), now, dryRunGarbageLimit)
		if err != nil {
			return r, fmt.Errorf("blob: reading garbage: %w", Classify(err))
		}
		r.Garbage = len(due)
	} else {
		n, err := s.CollectGarbage(ctx, now)
		r.Garbage = n
		if err != nil {
			return r, err
		}
	}
	err := s.CollectOrphans(ctx, now, opts, &r)
	return r, err
}

// dryRunGarbageLimit bounds the recorded keys a dry run counts.
const dryRunGarbageLimit = 1 << 20

// CollectOrphans removes the bytes no record references that are older
// than opts.OlderThan at now: bytes of creates that failed without
// cleaning up after themselves (a crash between storing the bytes and
// inserting their row, a delete that failed, an insert of unknown
// outcome) and temporary objects of interrupted writes. It pages through
// the backend's keys in order and asks the metadata store about each page
// in one query ([meta.GarbageStore.Referenced]), so memory stays bounded by one
// page whatever the size of the backend. It adds what it finds to r.
//
// A key is an orphan only if nothing the store knows references it:
// recorded garbage of deleted blobs counts as referenced, so that it waits
// for its own grace period (see [Service.CollectGarbage]). Bytes whose
// modification time is after now are never removed.
func (s *Service) CollectOrphans(ctx context.Context, now time.Time, opts GCOptions, r *GCReport) error {
	cutoff := now.Add(-opts.OlderThan)
	backend := s.backend.Name()
	for after := ""; ; {
		page, err := s.backend.ListKeys(ctx, "", after, meta.MaxReferencedKeys)
		if err != nil {
			return fmt.Errorf("blob: listing keys: %w", Classify(err))
		}
		keys := make([]string, len(page))
		for i, k := range page {
			keys[i] = k.Key
			r.Listed++
			r.ListedBytes += k.Size
		}
		ref, err := s.meta.Referenced(ctx, backend, keys)
		if err != nil {
			return fmt.Errorf("blob: checking references: %w", Classify(err))
		}
		for _, k := range page {
			switch {
			case ref[k.Key]:
				continue
			case k.ModTime.After(cutoff), k.ModTime.IsZero() && opts.OlderThan > 0: // unknown age: keep
				r.Young++
				r.YoungBytes += k.Size
				continue
			}
			r.Orphans++
			r.OrphanBytes += k.Size
			if opts.DryRun {
				continue
			}
			if err := s.backend.Delete(ctx, k.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("blob: removing orphaned bytes: %w", Classify(err))
			}
			s.log.LogAttrs(ctx, slog.LevelDebug, "removed orphaned bytes",
				slog.String("storage_key", k.Key), slog.Int64("size", k.Size), slog.Time("mod_time", k.ModTime))
			r.Removed++
			r.RemovedBytes += k.Size
		}
		if opts.Progress != nil {
			opts.Progress(*r)
		}
		if len(page) < meta.MaxReferencedKeys {
			return nil
		}
		if opts.renew != nil {
			if err := opts.renew(ctx); err != nil {
				return err
			}
		}
		after = page[len(page)-1].Key
	}
}

// gcLease names the lease the periodic collectors of all replicas share.
const gcLease = "gc"

// minLease is the shortest a collector holds the lease while it runs, so
// a short GC_INTERVAL cannot let another replica take it between pages.
const minLease = time.Minute

// errLeaseLost stops a collection whose lease another replica took.
var errLeaseLost = errors.New("blob: another replica took the garbage collection lease")

// leaseHolder names this process in the lease table: host, process and a
// random part, since process ids repeat across containers.
func leaseHolder() string {
	host, _ := os.Hostname()
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// collectLeased runs one periodic collection at now if this process gets
// the lease: of replicas sharing a database, one collects per interval.
// The lease is held while the collection runs (renewed after every page)
// and then until now+interval, so the replicas whose tickers fire within
// the interval skip theirs. It reports whether it collected.
func (s *Service) collectLeased(ctx context.Context, now time.Time, interval time.Duration, holder string) (GCReport, bool, error) {
	ok, err := s.meta.AcquireLease(ctx, gcLease, holder, now, now.Add(max(interval, minLease)))
	if err != nil || !ok {
		return GCReport{}, false, err
	}
	opts := GCOptions{OlderThan: s.opts.OrphanGrace}
	opts.renew = func(ctx context.Context) error {
		t := time.Now()
		ok, err := s.meta.AcquireLease(ctx, gcLease, holder, t, t.Add(max(interval, minLease)))
		if err == nil && !ok {
			err = errLeaseLost
		}
		return err
	}
	var r GCReport
	if s.opts.OrphanGrace > 0 {
		r, err = s.Collect(ctx, now, opts)
	} else {
		r.Garbage, err = s.CollectGarbage(ctx, now)
	}
	// Keep the lease until the interval is over (or give it up now, if
	// the run outlasted it).
	if _, lerr := s.meta.AcquireLease(context.WithoutCancel(ctx), gcLease, holder, time.Now(), now.Add(interval)); lerr != nil && err == nil {
		err = lerr
	}
	return r, true, err
}

// releaseLease gives up the lease when the collector stops, so another
// replica need not wait for it to expire.
func (s *Service) releaseLease(ctx context.Context, holder string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.meta.ReleaseLease(ctx, gcLease, holder); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "releasing the garbage collection lease failed", slog.String("error", err.Error()))
	}
}
