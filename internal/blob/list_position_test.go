package blob_test

import (
	"slices"
	"testing"

	"github.com/simpledrive/simpledrive/internal/blob"
)

// TestListStartAfter: a listing begins after an id, or after a whole
// folder when the position is one of the listing's folders (S3's marker
// and start-after, whose NextMarker may be a folder).
func TestListStartAfter(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		insertRecords(t, f, []string{"a", "a/", "a/1", "a/b/c", "a0", "b/x", "c"})
		for _, c := range []struct {
			prefix, delim, after string
			ids, folders         []string
		}{
			{"", "", "a/1", []string{"a/b/c", "a0", "b/x", "c"}, nil},
			{"", "/", "a/", []string{"a0", "c"}, []string{"b/"}},
			{"", "/", "a/1", []string{"a0", "c"}, []string{"a/", "b/"}},
			{"", "/", "a", []string{"a0", "c"}, []string{"a/", "b/"}},
			{"a/", "/", "a/", []string{"a/1"}, []string{"a/b/"}},
			{"a/", "/", "a/b/", nil, nil},
			{"", "/", "zz", nil, nil},
			{"b", "/", "a", nil, []string{"b/"}},
		} {
			for _, limit := range []int{1, 2, 100} {
				ids, folders, _ := listAll(t, f, blob.ListOptions{Prefix: c.prefix, Delimiter: c.delim, StartAfter: c.after, Limit: limit})
				if !slices.Equal(ids, c.ids) || !slices.Equal(folders, c.folders) {
					t.Errorf("List(%q, %q, after %q, limit %d) = %q, %q; want %q, %q", c.prefix, c.delim, c.after, limit, ids, folders, c.ids, c.folders)
				}
			}
		}
	})
}

// TestListWithin: a listing narrowed to a confinement shows the folders of
// the prefix asked for, each once, and only ids within the confinement.
func TestListWithin(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		insertRecords(t, f, []string{"a", "team/a", "team/a/1", "team/a/2/x", "team/a/3/y", "team/ab", "team/b/1", "z"})
		for _, c := range []struct {
			prefix, within, delim string
			ids, folders          []string
		}{
			{"", "team/a/", "/", nil, []string{"team/"}},
			{"team/", "team/a/", "/", nil, []string{"team/a/"}},
			{"team/a/", "team/a/", "/", []string{"team/a/1"}, []string{"team/a/2/", "team/a/3/"}},
			{"team/", "team/a", "/", []string{"team/a", "team/ab"}, []string{"team/a/"}},
			{"", "team/a/", "", []string{"team/a/1", "team/a/2/x", "team/a/3/y"}, nil},
			{"t", "team/a/", "a/", nil, []string{"team/a/"}},
		} {
			for _, limit := range []int{1, 2, 100} {
				ids, folders, _ := listAll(t, f, blob.ListOptions{Prefix: c.prefix, Within: c.within, Delimiter: c.delim, Limit: limit})
				if !slices.Equal(ids, c.ids) || !slices.Equal(folders, c.folders) {
					t.Errorf("List(%q within %q, %q, limit %d) = %q, %q; want %q, %q", c.prefix, c.within, c.delim, limit, ids, folders, c.ids, c.folders)
				}
			}
		}
	})
}
