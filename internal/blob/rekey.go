package blob

import (
	"context"
	"fmt"

	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta"
)

// RekeyStats counts what [Service.Rekey] did.
type RekeyStats struct {
	// Scanned counts the records listed; Rewrapped the data keys moved to
	// the current master key; Current those already under it; Clear the
	// blobs stored in clear (left alone: `migrate --encrypt` encrypts
	// them); Changed the records deleted, replaced or rewrapped by someone
	// else while this ran.
	Scanned, Rewrapped, Current, Clear, Changed int64
}

// Rekey rewraps the data key of every encrypted blob under the current
// master key, so that the others can be dropped from the configuration
// (no stored byte is rewritten). Each record switches by a
// compare-and-swap ([meta.RecordStore.Rewrap]), so reads and writes go on
// meanwhile, and a record changed meanwhile is left as it became. It is
// resumable: the records already rewrapped are skipped. A master key
// referenced but not configured stops it with [ErrKeyMissing]. progress,
// when not nil, is called after each page of records.
func (s *Service) Rekey(ctx context.Context, progress func(RekeyStats)) (RekeyStats, error) {
	var st RekeyStats
	if s.opts.Keys == nil {
		return st, fmt.Errorf("%w: rekey needs ENCRYPTION_KEYS", ErrKeyMissing)
	}
	cur := s.opts.Keys.Current()
	after := ""
	for {
		lctx, cancel := s.bounded(ctx)
		page, err := s.meta.List(lctx, meta.ListQuery{StartAfter: after, Limit: migrateBatch})
		cancel()
		if err != nil {
			return st, fmt.Errorf("blob: rekey: listing: %w", Classify(err))
		}
		for _, rec := range page {
			st.Scanned++
			switch rec.KeyID {
			case "":
				st.Clear++
				continue
			case cur.ID():
				st.Current++
				continue
			}
			ok, err := s.rewrap(ctx, rec, cur)
			if err != nil {
				return st, err
			}
			if ok {
				st.Rewrapped++
			} else {
				st.Changed++
			}
		}
		if progress != nil {
			progress(st)
		}
		if len(page) < migrateBatch {
			return st, nil
		}
		after = page[len(page)-1].ID
	}
}

// rewrap moves the data key of rec to the master key to.
func (s *Service) rewrap(ctx context.Context, rec meta.Record, to *crypt.MasterKey) (bool, error) {
	from, err := s.opts.Keys.Key(rec.KeyID)
	if err != nil {
		return false, fmt.Errorf("%w: blob %q: %w", ErrKeyMissing, rec.ID, err)
	}
	wrapped, err := crypt.Rewrap(from, to, []byte(rec.WrappedKey))
	if err != nil {
		return false, fmt.Errorf("%w: blob %q: %w", ErrCorrupt, rec.ID, err)
	}
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	ok, err := s.meta.Rewrap(ctx, rec, to.ID(), string(wrapped))
	if err != nil {
		return false, fmt.Errorf("blob: rekey %q: %w", rec.ID, Classify(err))
	}
	return ok, nil
}
