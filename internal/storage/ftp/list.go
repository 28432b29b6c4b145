package ftp

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/jlaffaye/ftp"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// ListKeys implements [storage.Lister]. It walks the directory tree under
// the root depth first, in key order, on one connection, with one listing
// (MLSD where the server has it, else LIST, as on vsftpd) per directory it
// enters; it enters only directories that can hold keys with prefix that
// sort after startAfter, and stops once it has limit keys. Files and
// directories whose names cannot be part of a key, and symbolic links, are
// skipped. ModTime is what the listing says: to the second with MLSD, to
// the minute (or the day, for files older than six months) with LIST.
func (s *Store) ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]storage.KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &walk{s: s, prefix: prefix, startAfter: startAfter, limit: limit}
	err := s.withConn(ctx, always, func(c *conn) error {
		w.keys = w.keys[:0]
		return w.dir(c, "")
	})
	if err != nil {
		return nil, mapErr(ctx, err)
	}
	return w.keys, nil
}

// walk is one listing in progress.
type walk struct {
	s                  *Store
	prefix, startAfter string
	limit              int
	keys               []storage.KeyInfo
}

// child is an entry of a listed directory.
type child struct {
	key   string // the key, or the key prefix of a directory, ending in "/"
	entry *ftp.Entry
}

// dir appends the keys under the directory dir (a key prefix ending in
// "/", or "" for the root), in key order.
func (w *walk) dir(c *conn, dir string) error {
	entries, err := c.sc.List(path.Join(w.s.root, dir))
	if err != nil {
		return err
	}
	children := make([]child, 0, len(entries))
	for _, e := range entries {
		name := path.Base(e.Name)
		if name == "." || name == ".." || e.Type == ftp.EntryTypeLink || storage.ValidateKey(dir+name) != nil {
			continue
		}
		key := dir + name
		if e.Type == ftp.EntryTypeFolder {
			// Every key under it starts with key+"/": sorting on that
			// puts it among its siblings where its keys belong.
			key += "/"
		}
		children = append(children, child{key: key, entry: e})
	}
	slices.SortFunc(children, func(a, b child) int { return strings.Compare(a.key, b.key) })
	for _, ch := range children {
		if len(w.keys) >= w.limit {
			return nil
		}
		if ch.entry.Type != ftp.EntryTypeFolder {
			if strings.HasPrefix(ch.key, w.prefix) && ch.key > w.startAfter {
				w.keys = append(w.keys, storage.KeyInfo{Key: ch.key, Size: int64(ch.entry.Size), ModTime: ch.entry.Time})
			}
			continue
		}
		if w.mayHold(ch.key) {
			if err := w.dir(c, ch.key); err != nil {
				return err
			}
		}
	}
	return nil
}

// mayHold reports whether the directory whose keys all start with dir (which
// ends in "/") can hold keys that start with the prefix and sort after
// startAfter.
func (w *walk) mayHold(dir string) bool {
	if !strings.HasPrefix(dir, w.prefix) && !strings.HasPrefix(w.prefix, dir) {
		return false
	}
	// startAfter above dir and not under it is above all of dir's keys.
	return w.startAfter <= dir || strings.HasPrefix(w.startAfter, dir)
}
