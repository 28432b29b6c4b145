package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Kinds of [Problem].
const (
	// ProblemMissing: the row's bytes are not in its backend.
	ProblemMissing = "missing"
	// ProblemSize: the bytes are there, but of another size.
	ProblemSize = "size_mismatch"
	// ProblemChecksum: the bytes are there, but have another SHA-256 or
	// CRC-32C (found only by a deep check).
	ProblemChecksum = "checksum_mismatch"
	// ProblemOtherBackend: the row's bytes are on a backend other than
	// this service's, which cannot check (or serve) them.
	ProblemOtherBackend = "other_backend"
)

// Problem is one inconsistency [Service.Check] found.
type Problem struct {
	// Kind is one of the Problem* constants.
	Kind string
	// Record is the metadata row concerned.
	Record meta.Record
	// Detail says what was found.
	Detail string
}

// CheckOptions tunes [Service.Check].
type CheckOptions struct {
	// Deep reads every blob whole and compares its SHA-256 and CRC-32C,
	// besides its presence and size.
	Deep bool
	// Repair removes the rows whose bytes are missing (and only those,
	// and only on this service's backend), each after it is reported;
	// with Deep it also records the CRC-32C of the sound blobs stored
	// before it was kept, so that reads verify them by it.
	Repair bool
	// Jobs is how many rows are checked at once; below 1 means 1. Memory
	// is bounded by Jobs buffers of a read whatever the blobs' sizes.
	Jobs int
	// Problem, when set, is called with each problem as it is found,
	// before any repair of it; calls do not overlap.
	Problem func(Problem)
	// Repaired, when set, is called with each problem once repaired.
	Repaired func(Problem)
	// Progress, when set, is called with the running totals after each
	// page of rows.
	Progress func(CheckReport)
}

// CheckReport counts what [Service.Check] did and found.
type CheckReport struct {
	// Records is how many metadata rows were read.
	Records int `json:"records"`
	// Checked is how many of them were checked against this backend.
	Checked int `json:"checked"`
	// Bytes is how many bytes the checked rows hold (read whole when deep).
	Bytes int64 `json:"bytes"`
	// Problems counts every problem found, by kind in ByKind.
	Problems int            `json:"problems"`
	ByKind   map[string]int `json:"by_kind,omitempty"`
	// Repaired is how many rows --repair removed.
	Repaired int `json:"repaired"`
	// CRC32CRecorded is how many sound rows without a CRC-32C had theirs
	// recorded (Deep and Repair).
	CRC32CRecorded int `json:"crc32c_recorded"`
}

// checkPage is how many rows Check reads from the store at a time.
const checkPage = 1000

// Check checks every metadata row against its backend: that its bytes are
// present and of the recorded size, and with opts.Deep that they have the
// recorded SHA-256 and CRC-32C. Rows that hold their bytes
// ([meta.InlineBackend]) are checked whatever the backend: the length of
// their bytes, and with opts.Deep their checksums; no backend object is
// looked for. It changes nothing unless opts.Repair. It can run
// while the service serves: a row deleted or replaced while it is checked
// is skipped rather than reported. It returns the first error that stops
// it (database or backend unavailable); problems are not errors.
func (s *Service) Check(ctx context.Context, opts CheckOptions) (CheckReport, error) {
	r := CheckReport{ByKind: map[string]int{}}
	jobs := max(opts.Jobs, 1)
	var mu sync.Mutex // serialises the callbacks and r
	report := func(p Problem) {
		mu.Lock()
		defer mu.Unlock()
		r.Problems++
		r.ByKind[p.Kind]++
		if opts.Problem != nil {
			opts.Problem(p)
		}
	}
	for after := ""; ; {
		page, err := s.meta.List(ctx, meta.ListQuery{StartAfter: after, Limit: checkPage})
		if err != nil {
			return r, fmt.Errorf("blob: listing metadata: %w", Classify(err))
		}
		r.Records += len(page)
		work := make(chan meta.Record)
		errc := make(chan error, jobs)
		var wg sync.WaitGroup
		for range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rec := range work {
					p, crc, err := s.checkRecord(ctx, rec, opts.Deep)
					if err == nil && p == nil && opts.Deep && opts.Repair && !rec.HasCRC32C {
						err = s.recordCRC(ctx, rec, crc, &mu, &r)
					}
					if err != nil {
						errc <- err
						for range work { // drain: the feeder stops at the error
						}
						return
					}
					mu.Lock()
					r.Checked++
					r.Bytes += rec.Size
					mu.Unlock()
					if p == nil {
						continue
					}
					report(*p)
					if opts.Repair && p.Kind == ProblemMissing {
						if err := s.repair(ctx, *p, &mu, &r, opts.Repaired); err != nil {
							errc <- err
							for range work {
							}
							return
						}
					}
				}
			}()
		}
	feed:
		for _, rec := range page {
			if rec.Backend != s.backend.Name() && rec.Backend != meta.InlineBackend {
				report(Problem{Kind: ProblemOtherBackend, Record: rec,
					Detail: fmt.Sprintf("stored on backend %q; this server uses %q", rec.Backend, s.backend.Name())})
				continue
			}
			select {
			case work <- rec:
			case err = <-errc:
				break feed
			}
		}
		close(work)
		wg.Wait()
		if err == nil {
			select {
			case err = <-errc:
			default:
			}
		}
		if err != nil {
			return r, err
		}
		if opts.Progress != nil {
			opts.Progress(r)
		}
		if len(page) < checkPage {
			return r, nil
		}
		after = page[len(page)-1].ID
	}
}

// checkRecord checks one row of this backend; nil means it is sound (or
// went away while it was checked). A deep check also returns the bytes'
// CRC-32C.
func (s *Service) checkRecord(ctx context.Context, rec meta.Record, deep bool) (*Problem, uint32, error) {
	var size int64
	var sum string
	var crc uint32
	var err error
	want := rec.Size
	switch {
	case rec.Backend == meta.InlineBackend:
		// A listing leaves the bytes out: read them with the row again.
		cur, gerr := s.meta.Get(ctx, rec.ID)
		if errors.Is(gerr, meta.ErrNotFound) || gerr == nil && cur.StorageKey != rec.StorageKey {
			return nil, 0, nil // deleted or replaced while we looked
		}
		if gerr != nil {
			return nil, 0, fmt.Errorf("blob: checking %q: %w", rec.ID, Classify(gerr))
		}
		size, want = int64(len(cur.Data)), storedSize(cur)
		if deep {
			size, sum, crc, err = s.digestOf(cur, inlineReader(cur))
			want = rec.Size
		}
	case deep:
		size, sum, crc, err = s.hashBytes(ctx, rec)
	default:
		var ki storage.KeyInfo
		ki, err = s.backend.Stat(ctx, rec.StorageKey)
		size, want = ki.Size, storedSize(rec)
	}
	switch {
	case errors.Is(err, crypt.ErrAuthentication):
		return &Problem{Kind: ProblemChecksum, Record: rec, Detail: err.Error()}, 0, nil
	case errors.Is(err, storage.ErrNotFound):
		if !s.stillRecorded(ctx, rec) {
			return nil, 0, nil // deleted (and collected) while we looked
		}
		return &Problem{Kind: ProblemMissing, Record: rec, Detail: "no bytes under the storage key"}, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("blob: checking %q: %w", rec.StorageKey, Classify(err))
	case size != want:
		return &Problem{Kind: ProblemSize, Record: rec, Detail: fmt.Sprintf("%d bytes stored, %d recorded", size, want)}, 0, nil
	case deep && sum != rec.SHA256:
		return &Problem{Kind: ProblemChecksum, Record: rec, Detail: fmt.Sprintf("SHA-256 %s stored, %s recorded", sum, rec.SHA256)}, 0, nil
	case deep && rec.HasCRC32C && crc != rec.CRC32C:
		return &Problem{Kind: ProblemChecksum, Record: rec, Detail: fmt.Sprintf("CRC-32C %08x stored, %08x recorded", crc, rec.CRC32C)}, 0, nil
	}
	return nil, crc, nil
}

// hashBytes streams the bytes of rec through SHA-256 and CRC-32C (see
// [Service.digestOf]).
func (s *Service) hashBytes(ctx context.Context, rec meta.Record) (int64, string, uint32, error) {
	rc, err := s.backend.Get(ctx, rec.StorageKey)
	if err != nil {
		return 0, "", 0, err
	}
	return s.digestOf(rec, rc)
}

// digestOf reads rc, the stored bytes of rec, to its end through SHA-256
// and CRC-32C, decrypting them when they are encrypted (an error wrapping
// [crypt.ErrAuthentication] if they fail authentication), and closes it.
func (s *Service) digestOf(rec meta.Record, rc io.ReadCloser) (int64, string, uint32, error) {
	defer rc.Close()
	var r io.Reader = rc
	if rec.KeyID != "" {
		dk, err := s.dataKey(rec)
		if err != nil {
			return 0, "", 0, err
		}
		r = dk.DecryptReader(rc, rec.Size)
	}
	d := NewDigest()
	if _, err := io.Copy(d, r); err != nil {
		return 0, "", 0, err
	}
	return d.n, hex.EncodeToString(d.sha.Sum(nil)), d.crc, nil
}

// recordCRC records crc, just computed from the sound bytes of rec, as its
// CRC-32C, unless the row changed meanwhile.
func (s *Service) recordCRC(ctx context.Context, rec meta.Record, crc uint32, mu *sync.Mutex, r *CheckReport) error {
	ok, err := s.meta.SetCRC32C(ctx, rec.ID, rec.StorageKey, crc)
	if err != nil {
		return fmt.Errorf("blob: recording the CRC-32C of %q: %w", rec.ID, Classify(err))
	}
	if ok {
		mu.Lock()
		r.CRC32CRecorded++
		mu.Unlock()
	}
	return nil
}

// stillRecorded reports whether rec is still the row of its id; when that
// cannot be told, it answers yes, so the problem is reported.
func (s *Service) stillRecorded(ctx context.Context, rec meta.Record) bool {
	now, err := s.meta.Get(ctx, rec.ID)
	if errors.Is(err, meta.ErrNotFound) {
		return false
	}
	return err != nil || now.StorageKey == rec.StorageKey
}

// repair removes the row of a missing blob, if it still references the
// missing key.
func (s *Service) repair(ctx context.Context, p Problem, mu *sync.Mutex, r *CheckReport, repaired func(Problem)) error {
	ok, err := s.meta.DeleteStale(ctx, p.Record.ID, p.Record.StorageKey)
	if err != nil {
		return fmt.Errorf("blob: repairing %q: %w", p.Record.ID, Classify(err))
	}
	if !ok {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	r.Repaired++
	if repaired != nil {
		repaired(p)
	}
	return nil
}
