package ftp

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/simpledrive/simpledrive/internal/storage"
)

var _ storage.Composer = (*Store)(nil)

// Compose implements [storage.Composer]. FTP has no command that joins
// files, so the parts are streamed, one at a time, into a Put of dst,
// which is atomic as every Put. That holds two connections at once, the
// Put's and the read part's: composes run at most MaxConns/2 at a time,
// so that they can never take every connection with their Puts and then
// wait forever for one to read with. With a pool of one connection the
// parts are first copied into a temporary local file, and the connection
// is then taken by the Put alone.
func (s *Store) Compose(ctx context.Context, dst string, parts []string, size int64) error {
	if err := storage.CheckCall(ctx, dst); err != nil {
		return err
	}
	for _, p := range parts {
		if err := storage.ValidateKey(p); err != nil {
			return err
		}
	}
	select {
	case s.composing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.composing }()
	r := storage.Concat(ctx, s, parts, size)
	defer r.Close()
	if s.cfg.MaxConns > 1 {
		return s.Put(ctx, dst, r, size)
	}
	f, err := os.CreateTemp("", "simpledrive-ftp-compose-*")
	if err != nil {
		return fmt.Errorf("ftp: a local temporary file for a compose: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return s.Put(ctx, dst, f, size)
}
