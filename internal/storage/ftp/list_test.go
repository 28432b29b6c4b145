package ftp

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

// TestListKeysTree lists a tree of mixed depths whose names sort around
// "/" ('-' and '.' sort before it), with a temporary upload and names that
// are not keys, against servers with and without MLSD: every combination
// of prefix, startAfter and limit gives the keys a sorted filter does, and
// only the directories that can hold them are listed.
func TestListKeysTree(t *testing.T) {
	keys := []string{
		"top", "a-b/x", "a.b/y", "a/b.c", "a/b/c/d/e", "a/b/c/f", "a/b/c0", "a/bc/g",
		"x/" + tempPrefix + "0123", "x/y/z",
	}
	slices.Sort(keys)
	for _, likeVsftpd := range []bool{false, true} {
		t.Run(fmt.Sprintf("likeVsftpd=%v", likeVsftpd), func(t *testing.T) {
			srv := newTestServer(t, func(s *testServer) { s.likeVsftpd = likeVsftpd })
			s := newStore(t, srv.config())
			for i, k := range keys {
				srv.writeFile("data/"+k, make([]byte, i))
			}
			srv.writeFile("data/a/not a key", []byte("x"))
			srv.writeFile("data/empty/semi;colon", []byte("x"))
			ctx := context.Background()
			starts := append([]string{"", "a", "a/", "a/b", "a/b/", "a/b/c/d", "zzz"}, keys...)
			for _, prefix := range []string{"", "a", "a/", "a/b", "a/b/", "a/b/c/", "a-", "x/", "nothing/"} {
				for _, after := range starts {
					for _, limit := range []int{1, 3, 100} {
						got, err := s.ListKeys(ctx, prefix, after, limit)
						if err != nil {
							t.Fatalf("ListKeys(%q, %q, %d): %v", prefix, after, limit, err)
						}
						var want []string
						for _, k := range keys {
							if strings.HasPrefix(k, prefix) && k > after && len(want) < limit {
								want = append(want, k)
							}
						}
						var names []string
						for _, k := range got {
							names = append(names, k.Key)
							if i := slices.Index(keys, k.Key); i >= 0 && k.Size != int64(i) {
								t.Errorf("%q has size %d; want %d", k.Key, k.Size, i)
							}
						}
						if !slices.Equal(names, want) {
							t.Errorf("ListKeys(%q, %q, %d) = %q; want %q", prefix, after, limit, names, want)
						}
					}
				}
			}
			// Pruning: only the directories on the way are listed.
			for _, c := range []struct {
				prefix, after string
				listed        []string
			}{
				{"a/b/c/", "", []string{"", "a", "a/b", "a/b/c", "a/b/c/d"}},
				{"a/b/c/f", "", []string{"", "a", "a/b", "a/b/c"}},
				{"", "a/b/c/d/e", []string{"", "a", "a/b", "a/b/c", "a/b/c/d", "a/bc", "empty", "x", "x/y"}},
				{"x/", "x/y/z", []string{"", "x", "x/y"}},
			} {
				srv.fs.takeListed()
				if _, err := s.ListKeys(ctx, c.prefix, c.after, 100); err != nil {
					t.Fatal(err)
				}
				var listed []string
				for _, d := range srv.fs.takeListed() {
					listed = append(listed, strings.TrimPrefix(strings.TrimPrefix(path.Clean(d), "/data"), "/"))
				}
				if !slices.Equal(listed, c.listed) {
					t.Errorf("ListKeys(%q, %q) listed %q; want %q", c.prefix, c.after, listed, c.listed)
				}
			}
		})
	}
}
