package blob

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/bytewise"
	"github.com/simpledrive/simpledrive/internal/meta"
)

// ErrInvalidListing means a listing's parameters are invalid: a prefix or
// delimiter that is not UTF-8 text, a cursor this server did not make, a
// limit out of range.
var ErrInvalidListing = errors.New("blob: invalid listing parameters")

// MaxListLimit is the most entries one page of a listing holds.
const MaxListLimit = 1000

// ListOptions selects one page of a listing.
type ListOptions struct {
	// Prefix is what every listed id starts with.
	Prefix string
	// Delimiter, when set, folds the ids that hold it after the prefix
	// into one entry of Page.Prefixes each: the "folder" up to and
	// including its first occurrence, as S3's CommonPrefixes do.
	Delimiter string
	// Limit is the most blobs and folders the page holds together, 1 to
	// [MaxListLimit].
	Limit int
	// Cursor is the NextCursor of the previous page, or "" for the first.
	Cursor string
	// StartAfter, used when Cursor is empty, is where the listing begins:
	// after this id or, when it is one of the listing's folders (it
	// starts with Prefix and ends at its first Delimiter after it), after
	// every id in that folder, as S3's marker and start-after do.
	StartAfter string
	// Within, when it starts with Prefix and is longer, narrows the
	// listing to the ids starting with Within, while folders are still
	// those one level below Prefix: a key confined to "team/a/" listing
	// "" with the delimiter "/" sees the folder "team/" and nothing else,
	// as an unconfined key sees it.
	Within string
}

// Page is one page of a listing, in bytewise order of id.
type Page struct {
	// Blobs are the blobs of the page.
	Blobs []Blob
	// Prefixes are the folders of the page (with ListOptions.Delimiter).
	Prefixes []string
	// NextCursor continues the listing; empty on its last page.
	NextCursor string
}

// List returns one page of the blobs whose ids start with o.Prefix (and
// o.Within). Pages follow each other by cursor and never repeat or skip an
// id that existed for the whole listing. A page is one metadata query of
// o.Limit+1 entries (the last one only tells whether another page
// follows), whose folders cost one index seek each, whatever they hold:
// O(limit) index reads. A listing narrowed by o.Within may take one more
// query for a folder that holds o.Within.
func (s *Service) List(ctx context.Context, o ListOptions) (Page, error) {
	if err := validateListing(o); err != nil {
		return Page{}, err
	}
	q, err := decodeCursor(o.Cursor)
	if err != nil {
		return Page{}, err
	}
	if o.Cursor == "" && o.StartAfter != "" {
		q = startAfter(o)
	}
	scan := o.Prefix
	if len(o.Within) > len(o.Prefix) {
		scan = o.Within
	}
	var page Page
	n, last := 0, ""
	for {
		// The store folds the folders below scan; those below o.Prefix
		// hold them, so several records may make one folder here. They
		// are consecutive, and the first one moves q past the folder.
		want := o.Limit - n + 1
		q.Prefix, q.Delimiter, q.Limit = scan, o.Delimiter, want
		qctx, cancel := s.bounded(ctx)
		recs, err := s.meta.List(qctx, q)
		cancel()
		if err != nil {
			return Page{}, fmt.Errorf("blob: listing: %w", Classify(err))
		}
		for _, r := range recs {
			folder, isFolder := FolderOf(r.ID, o.Prefix, o.Delimiter)
			if isFolder && n > 0 && folder == last {
				continue
			}
			if n == o.Limit {
				page.NextCursor = encodeCursor(q)
				return page, nil
			}
			n++
			if isFolder {
				page.Prefixes = append(page.Prefixes, folder)
				last = folder
				// The folder's ids all sort below its end. A delimiter
				// ending in U+10FFFF has none; validation refuses it.
				end, _ := bytewise.PrefixEnd(folder)
				q = meta.ListQuery{StartAt: end}
				continue
			}
			page.Blobs = append(page.Blobs, toBlob(r))
			q = meta.ListQuery{StartAfter: r.ID}
		}
		if len(recs) < want {
			return page, nil
		}
	}
}

// startAfter returns the position after o.StartAfter: after the id, or
// after its whole folder when it is one.
func startAfter(o ListOptions) meta.ListQuery {
	if folder, ok := FolderOf(o.StartAfter, o.Prefix, o.Delimiter); ok && folder == o.StartAfter {
		end, _ := bytewise.PrefixEnd(folder)
		return meta.ListQuery{StartAt: end}
	}
	return meta.ListQuery{StartAfter: o.StartAfter}
}

// FolderOf returns the folder of id (which starts with prefix) one level
// below prefix: the id up to and including the first delimiter after the
// prefix, and whether it has one.
func FolderOf(id, prefix, delimiter string) (string, bool) {
	if delimiter == "" || !strings.HasPrefix(id, prefix) {
		return "", false
	}
	i := strings.Index(id[len(prefix):], delimiter)
	if i < 0 {
		return "", false
	}
	return id[:len(prefix)+i+len(delimiter)], true
}

func validateListing(o ListOptions) error {
	switch {
	case o.Limit < 1 || o.Limit > MaxListLimit:
		return fmt.Errorf("%w: limit must be 1 to %d", ErrInvalidListing, MaxListLimit)
	case !utf8.ValidString(o.Prefix) || len(o.Prefix) > MaxIDLen:
		return fmt.Errorf("%w: prefix must be UTF-8 text of at most %d bytes", ErrInvalidListing, MaxIDLen)
	case !utf8.ValidString(o.Delimiter) || len(o.Delimiter) > 16:
		return fmt.Errorf("%w: delimiter must be UTF-8 text of at most 16 bytes", ErrInvalidListing)
	case !utf8.ValidString(o.StartAfter) || len(o.StartAfter) > MaxIDLen:
		return fmt.Errorf("%w: the position to start after must be UTF-8 text of at most %d bytes", ErrInvalidListing, MaxIDLen)
	case o.Within != "" && !strings.HasPrefix(o.Within, o.Prefix) && !strings.HasPrefix(o.Prefix, o.Within):
		return fmt.Errorf("%w: the narrowing prefix and the prefix share no id", ErrInvalidListing)
	}
	if r, _ := utf8.DecodeLastRuneInString(o.Delimiter); r == utf8.MaxRune {
		return fmt.Errorf("%w: delimiter must not end in U+10FFFF", ErrInvalidListing)
	}
	return nil
}

// Cursors are opaque to clients: the position after the last entry of a
// page, "a" and an id (strictly after it) or "t" and a bound (at it or
// after), in URL-safe base64.
func encodeCursor(q meta.ListQuery) string {
	pos := "a" + q.StartAfter
	if q.StartAt != "" {
		pos = "t" + q.StartAt
	}
	return base64.RawURLEncoding.EncodeToString([]byte(pos))
}

func decodeCursor(c string) (meta.ListQuery, error) {
	if c == "" {
		return meta.ListQuery{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 2 || !utf8.Valid(raw) || len(raw) > MaxIDLen+8 {
		return meta.ListQuery{}, fmt.Errorf("%w: the cursor is not one this server made", ErrInvalidListing)
	}
	switch pos := string(raw[1:]); raw[0] {
	case 'a':
		return meta.ListQuery{StartAfter: pos}, nil
	case 't':
		return meta.ListQuery{StartAt: pos}, nil
	}
	return meta.ListQuery{}, fmt.Errorf("%w: the cursor is not one this server made", ErrInvalidListing)
}
