package cli

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/client"
	"github.com/simpledrive/simpledrive/internal/config"
)

// remoteScheme marks the server's side of a sync: sd:PREFIX.
const remoteScheme = "sd:"

func newSync(env Env) *cobra.Command {
	var (
		del, dryRun bool
		jobs        int
		threshold   string
	)
	cmd := &cobra.Command{
		Use:   "sync SOURCE DEST",
		Short: "Make a folder on the server match a local directory, or the other way round",
		Long: "Copy what differs from SOURCE to DEST, one of them a local directory and the other a folder\n" +
			"on the server written sd:PREFIX (sd: alone is the whole drive). A file whose SHA-256 is\n" +
			"already the same on both sides is skipped; one that differs is replaced (on the server\n" +
			"atomically, through If-Match). --delete also removes from DEST what SOURCE lacks;\n" +
			"--dry-run prints what would be done and does nothing.",
		Example: "  simpledrive sync ./photos sd:photos/\n  simpledrive sync sd:photos/ ./photos --delete",
		Args:    exactArgs(2),
	}
	o := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.BoolVar(&del, "delete", false, "remove from DEST what SOURCE lacks")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "print what would be done, do nothing")
	f.IntVarP(&jobs, "jobs", "j", 4, "files in flight at once")
	f.StringVar(&threshold, "threshold", "8MiB", "files from this size on go up resumably")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		src, dst := args[0], args[1]
		up := strings.HasPrefix(dst, remoteScheme)
		if up == strings.HasPrefix(src, remoteScheme) {
			return usageError("sync needs one local directory and one sd:PREFIX, got %q and %q", src, dst)
		}
		if jobs < 1 {
			return usageError("--jobs must be at least 1")
		}
		th, err := config.ParseBytes(threshold)
		if err != nil {
			return usageError("--threshold: %v", err)
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		s := syncer{o: o.locked(), c: c, del: del, dryRun: dryRun, jobs: jobs, threshold: th}
		if up {
			if !isDir(src) {
				return usageError("%s is not a directory", src)
			}
			err = s.up(cmd.Context(), src, folder(strings.TrimPrefix(dst, remoteScheme)))
		} else {
			err = s.down(cmd.Context(), folder(strings.TrimPrefix(src, remoteScheme)), dst)
		}
		verb := ""
		if dryRun {
			verb = "would be "
		}
		o.printf("sync: %d %stransferred, %d unchanged, %d %sdeleted\n", s.transferred.Load(), verb, s.unchanged.Load(), s.deleted.Load(), verb)
		return err
	}
	return cmd
}

// syncer makes one side match the other.
type syncer struct {
	o         *clientOptions
	c         *client.Client
	del       bool
	dryRun    bool
	jobs      int
	threshold int64

	transferred, unchanged, deleted atomic.Int64
}

// up makes the ids under prefix match the files below dir.
func (s *syncer) up(ctx context.Context, dir, prefix string) error {
	files, err := localTree(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	blobs, err := remoteTree(ctx, s.c, prefix)
	if err != nil {
		return apiError(fmt.Errorf("sync %s: %w", remoteScheme+prefix, err))
	}
	remote := make(map[string]client.Blob, len(blobs))
	for _, b := range blobs {
		remote[b.ID] = b
	}
	p := putter{o: s.o, c: s.c, threshold: s.threshold, chunk: 16 << 20, existing: replaceOther}
	errs := parallel(ctx, s.jobs, files, func(ctx context.Context, f localFile) error {
		id := prefix + f.rel
		b, ok := remote[id]
		if ok && b.Size == f.size {
			same, err := fileHas(f.path, b.SHA256)
			if err != nil {
				return fmt.Errorf("sync %s: %w", f.path, err)
			}
			if same {
				s.unchanged.Add(1)
				return nil
			}
		}
		s.transferred.Add(1)
		if s.dryRun {
			s.o.printf("would upload %s -> %s\n", f.path, id)
			return nil
		}
		if err := p.put(ctx, f.path, id); err != nil {
			return fmt.Errorf("sync %s: %w", id, writeError(err, id))
		}
		return nil
	})
	if s.del {
		local := make(map[string]bool, len(files))
		for _, f := range files {
			local[prefix+f.rel] = true
		}
		var extra []client.Blob
		for _, b := range blobs {
			if !local[b.ID] {
				extra = append(extra, b)
			}
		}
		errs = append(errs, parallel(ctx, s.jobs, extra, func(ctx context.Context, b client.Blob) error {
			s.deleted.Add(1)
			if s.dryRun {
				s.o.printf("would delete %s\n", b.ID)
				return nil
			}
			if err := s.c.Delete(ctx, b.ID); err != nil && client.StatusOf(err) != 404 {
				return fmt.Errorf("sync: delete %s: %w", b.ID, err)
			}
			s.o.printf("deleted %s\n", b.ID)
			return nil
		})...)
	}
	return joinErrors(s.o.env.Stderr, errs)
}

// down makes the files below dir match the ids under prefix.
func (s *syncer) down(ctx context.Context, prefix, dir string) error {
	blobs, err := remoteTree(ctx, s.c, prefix)
	if err != nil {
		return apiError(fmt.Errorf("sync %s: %w", remoteScheme+prefix, err))
	}
	wanted := make(map[string]bool, len(blobs))
	g := getter{o: s.o, c: s.c}
	errs := parallel(ctx, s.jobs, blobs, func(ctx context.Context, b client.Blob) error {
		out, err := localPath(dir, prefix, b.ID)
		if err != nil {
			return fmt.Errorf("sync %s: %w", b.ID, err)
		}
		if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() && st.Size() == b.Size {
			same, err := fileHas(out, b.SHA256)
			if err != nil {
				return fmt.Errorf("sync %s: %w", out, err)
			}
			if same {
				s.unchanged.Add(1)
				return nil
			}
		}
		s.transferred.Add(1)
		if s.dryRun {
			s.o.printf("would download %s -> %s\n", b.ID, out)
			return nil
		}
		if err := prepareOutput(out, true); err != nil {
			return fmt.Errorf("sync %s: %w", b.ID, err)
		}
		if _, err := g.get(ctx, b.ID, out); err != nil {
			return fmt.Errorf("sync %s: %w", b.ID, err)
		}
		s.o.printf("%s\t%d bytes\t-> %s\n", b.ID, b.Size, out)
		return nil
	})
	for _, b := range blobs {
		if out, err := localPath(dir, prefix, b.ID); err == nil {
			wanted[out] = true
		}
	}
	if s.del && isDir(dir) {
		files, err := localTree(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", dir, err))
		}
		for _, f := range files {
			if wanted[f.path] || strings.HasSuffix(f.path, ".part") {
				continue
			}
			s.deleted.Add(1)
			if s.dryRun {
				s.o.printf("would delete %s\n", f.path)
				continue
			}
			if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("sync: delete %s: %w", f.path, err))
				continue
			}
			s.o.printf("deleted %s\n", f.path)
		}
	}
	return joinErrors(s.o.env.Stderr, errs)
}

// fileHas reports whether the file at path has the SHA-256 hexSum.
func fileHas(path, hexSum string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return sumEqual(h.Sum(nil), hexSum), nil
}
