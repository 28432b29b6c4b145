package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/simpledrive/simpledrive/internal/client"
)

// Folders: what put -r, get -r, rm -r and sync share. A local tree maps
// to ids by its paths relative to the directory, with / as separator,
// after a prefix that ends in /.

// transfer is one file to move: a local path and the blob id it maps to.
type transfer struct {
	local, id string
}

// localFile is a regular file of a local tree.
type localFile struct {
	path string // as the walk found it
	rel  string // relative to the tree's root, / separated
	size int64
}

// folder returns prefix as a folder: with a / at its end unless empty.
func folder(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return prefix + "/"
	}
	return prefix
}

// isDir reports whether path is a directory (following a symbolic link).
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// localTree returns the regular files below dir, in lexical order of
// their relative paths. Symbolic links and other special files are left
// out.
func localTree(dir string) ([]localFile, error) {
	var files []localFile
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files = append(files, localFile{path: path, rel: filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	return files, err
}

// remoteTree returns every blob whose id starts with prefix, in bytewise
// order of id.
func remoteTree(ctx context.Context, c *client.Client, prefix string) ([]client.Blob, error) {
	var all []client.Blob
	opts := client.ListOptions{Prefix: prefix, Limit: 1000}
	for {
		var page client.Page
		err := client.Retry(ctx, 5, func() (err error) { page, err = c.List(ctx, opts); return err })
		if err != nil {
			return nil, err
		}
		all = append(all, page.Blobs...)
		if page.NextCursor == "" {
			return all, nil
		}
		opts.Cursor = page.NextCursor
	}
}

// localPath returns where the id, found under prefix, goes below dir: its
// path after prefix. An id whose rest is not a clean relative path (empty
// segments, . or .., a leading /) has no place in a tree and is refused.
func localPath(dir, prefix, id string) (string, error) {
	rel := strings.TrimPrefix(id, prefix)
	for seg := range strings.SplitSeq(rel, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, filepath.Separator) || strings.ContainsRune(seg, 0) {
			return "", fmt.Errorf("the id %q does not map to a file below %s (empty, . or .. segments)", id, dir)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(rel)), nil
}

// parallel runs fn on every item with at most jobs at once, and returns
// the errors in the items' order. It stops starting items once ctx ends.
func parallel[T any](ctx context.Context, jobs int, items []T, fn func(context.Context, T) error) []error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(ctx, it)
		})
	}
	wg.Wait()
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// writeError explains a 404 answered to a write: the only id a write can
// be refused as absent is one outside the key's prefix.
func writeError(err error, id string) error {
	var e *client.Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound && e.Code == "blob_not_found" {
		return &exitError{code: ExitUnauthorized,
			err: fmt.Errorf("this key may not write %q: it is confined to a prefix that does not contain it (HTTP 404)", id)}
	}
	return err
}

// lockedWriter serialises the writes of parallel transfers to one stream.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Fd is the stream's, so a terminal stays a terminal.
func (l lockedWriter) Fd() uintptr {
	if f, ok := l.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// locked returns o writing through one lock, for parallel transfers.
func (o *clientOptions) locked() *clientOptions {
	l := *o
	mu := &sync.Mutex{}
	l.env.Stdout = lockedWriter{mu, o.env.Stdout}
	l.env.Stderr = lockedWriter{mu, o.env.Stderr}
	return &l
}

// eprintf writes a line to stderr.
func (o *clientOptions) eprintf(format string, args ...any) {
	fmt.Fprintf(o.env.Stderr, format, args...)
}

// prepareOutput makes the directories out goes in, and refuses an
// existing out unless force.
func prepareOutput(out string, force bool) error {
	if _, err := os.Lstat(out); err == nil && !force {
		return &exitError{code: ExitConflict, err: fmt.Errorf("%s exists: --force overwrites it", out)}
	}
	return os.MkdirAll(filepath.Dir(out), 0o755)
}

// getTree downloads every blob under prefix below dir, each verified by
// its SHA-256 and resumable like a single get.
func getTree(ctx context.Context, o *clientOptions, c *client.Client, prefix, dir string, force bool, jobs int) error {
	if dir == "" {
		dir = "."
	}
	blobs, err := remoteTree(ctx, c, prefix)
	if err != nil {
		return apiError(fmt.Errorf("get %s: %w", prefix, err))
	}
	if len(blobs) == 0 {
		return &exitError{code: ExitNotFound, err: fmt.Errorf("get %s: no blob has an id under this prefix", prefix)}
	}
	g := getter{o: o, c: c}
	errs := parallel(ctx, jobs, blobs, func(ctx context.Context, b client.Blob) error {
		out, err := localPath(dir, prefix, b.ID)
		if err == nil {
			err = prepareOutput(out, force)
		}
		if err == nil {
			_, err = g.get(ctx, b.ID, out)
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", b.ID, err)
		}
		if o.json {
			o.printJSON(b)
		} else {
			o.printf("%s\t%d bytes\t-> %s\n", b.ID, b.Size, out)
		}
		return nil
	})
	return joinErrors(o.env.Stderr, errs)
}
