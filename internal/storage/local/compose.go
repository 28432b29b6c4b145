package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/simpledrive/simpledrive/internal/storage"
)

var _ storage.Composer = (*Store)(nil)

// Compose implements [storage.Composer] without the bytes passing through
// the process. One part becomes dst by a hard link: files are never
// modified in place, so the blob and the part may share it, and deleting
// the part later removes only its name. Several parts are copied into a
// temporary file by the kernel (copy_file_range, which a copy-on-write
// file system such as XFS or Btrfs answers by sharing extents), which is
// then made durable and renamed into place as a Put's. Either way dst
// appears whole or not at all, and the parts are untouched.
func (s *Store) Compose(ctx context.Context, dst string, parts []string, size int64) (err error) {
	if err := storage.CheckCall(ctx, dst); err != nil {
		return err
	}
	files := make([]*os.File, 0, len(parts))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var total int64
	for _, p := range parts {
		if err := storage.ValidateKey(p); err != nil {
			return err
		}
		f, n, err := s.open(p)
		if err != nil {
			return fmt.Errorf("part %q: %w", p, err)
		}
		files = append(files, f)
		total += n
	}
	if total != size {
		return fmt.Errorf("%w: the parts hold %d bytes, want %d", storage.ErrSizeMismatch, total, size)
	}
	dir := path.Dir(dst)
	if len(parts) == 1 {
		for retried := false; ; retried = true {
			d, err := s.openDir(dir)
			if err != nil {
				return err
			}
			err = s.publish(ctx, d, path.Base(dst), func() error { return mapError(s.root.Link(parts[0], dst)) })
			d.release()
			if (errors.Is(err, storage.ErrNotFound) || errors.Is(err, os.ErrClosed)) && d.held && !retried {
				s.forget(dir, d) // removed from under the Store: create it again, once, as Put does
				continue
			}
			return err
		}
	}
	d, f, tmp, err := s.createTemp(dir)
	if err != nil {
		return err
	}
	defer d.release()
	defer func() {
		if err != nil {
			f.Close()
			d.remove(tmp)
		}
	}()
	for _, part := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		// *os.File's ReadFrom uses copy_file_range for a file source.
		if _, err := f.ReadFrom(part); err != nil {
			return mapError(err)
		}
	}
	if err := s.sync(f); err != nil {
		return mapError(err)
	}
	if err := f.Close(); err != nil {
		return mapError(err)
	}
	return s.commit(ctx, d, tmp, path.Base(dst))
}
