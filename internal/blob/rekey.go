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
	// Parts counts the parts of unfinished uploads whose data keys moved
	// to the current master key; PartsChanged those that changed (their
	// upload finished or was removed) while this ran.
	Parts, PartsChanged int64
}

// rekeyBatch is the number of data keys [Service.Rekey] rewraps in one
// transaction.
const rekeyBatch = 256

// Rekey rewraps the data key of every encrypted blob, and of every
// encrypted part of an unfinished upload, under the current master key, so
// that the others can be dropped from the configuration (no stored byte is
// rewritten). Each row switches by a compare-and-swap on its wrapped key
// ([meta.RecordStore.Rewrap]), [rekeyBatch] rows to a transaction, so
// reads and writes go on meanwhile, and a row changed meanwhile is left as
// it became. It is resumable: the rows already rewrapped are skipped. A
// master key referenced but not configured stops it with [ErrKeyMissing].
// progress, when not nil, is called after each transaction.
func (s *Service) Rekey(ctx context.Context, progress func(RekeyStats)) (RekeyStats, error) {
	var st RekeyStats
	if s.opts.Keys == nil {
		return st, fmt.Errorf("%w: rekey needs ENCRYPTION_KEYS", ErrKeyMissing)
	}
	cur := s.opts.Keys.Current()
	report := func() {
		if progress != nil {
			progress(st)
		}
	}
	for after := ""; ; {
		lctx, cancel := s.bounded(ctx)
		page, err := s.meta.List(lctx, meta.ListQuery{StartAfter: after, Limit: rekeyBatch})
		cancel()
		if err != nil {
			return st, fmt.Errorf("blob: rekey: listing: %w", Classify(err))
		}
		var batch []meta.Rewrapping[meta.Record]
		for _, rec := range page {
			st.Scanned++
			switch rec.KeyID {
			case "":
				st.Clear++
			case cur.ID():
				st.Current++
			default:
				wrapped, err := s.rewrap(rec.KeyID, rec.WrappedKey, cur, "blob "+rec.ID)
				if err != nil {
					return st, err
				}
				batch = append(batch, meta.Rewrapping[meta.Record]{From: rec, ToKeyID: cur.ID(), Wrapped: wrapped})
			}
		}
		if err := commitRewraps(ctx, s, batch, s.meta.Rewrap, &st.Rewrapped, &st.Changed); err != nil {
			return st, err
		}
		report()
		if len(page) < rekeyBatch {
			break
		}
		after = page[len(page)-1].ID
	}
	for after := (meta.PartKey{}); ; {
		lctx, cancel := s.bounded(ctx)
		page, err := s.meta.PartKeys(lctx, cur.ID(), after, rekeyBatch)
		cancel()
		if err != nil {
			return st, fmt.Errorf("blob: rekey: listing upload parts: %w", Classify(err))
		}
		batch := make([]meta.Rewrapping[meta.PartKey], len(page))
		for i, p := range page {
			wrapped, err := s.rewrap(p.KeyID, p.WrappedKey, cur, "upload part "+p.StorageKey)
			if err != nil {
				return st, err
			}
			batch[i] = meta.Rewrapping[meta.PartKey]{From: p, ToKeyID: cur.ID(), Wrapped: wrapped}
		}
		if err := commitRewraps(ctx, s, batch, s.meta.RewrapParts, &st.Parts, &st.PartsChanged); err != nil {
			return st, err
		}
		if len(page) > 0 {
			report()
		}
		if len(page) < rekeyBatch {
			return st, nil
		}
		after = page[len(page)-1]
	}
}

// rewrap returns the data key wrapped under the master key keyID wrapped
// under to instead; what names the row in errors.
func (s *Service) rewrap(keyID, wrapped string, to *crypt.MasterKey, what string) (string, error) {
	from, err := s.opts.Keys.Key(keyID)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrKeyMissing, what, err)
	}
	w, err := crypt.Rewrap(from, to, []byte(wrapped))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrCorrupt, what, err)
	}
	return string(w), nil
}

// commitRewraps commits batch by commit, in one transaction bounded as
// s's metadata work is, and counts the rows it switched in done and the
// others in changed.
func commitRewraps[T meta.Record | meta.PartKey](ctx context.Context, s *Service, batch []meta.Rewrapping[T],
	commit func(context.Context, []meta.Rewrapping[T]) ([]bool, error), done, changed *int64) error {
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := s.bounded(ctx)
	defer cancel()
	ok, err := commit(ctx, batch)
	if err != nil {
		return fmt.Errorf("blob: rekey: %w", Classify(err))
	}
	for _, o := range ok {
		if o {
			*done++
		} else {
			*changed++
		}
	}
	return nil
}
