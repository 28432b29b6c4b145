package cli

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/client"
)

func newGet(env Env) *cobra.Command {
	var (
		out              string
		force, recursive bool
		jobs             int
	)
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Download a blob, or with -r every blob under a prefix",
		Long: "Download the blob ID into -o FILE (default: the id's last segment in the current directory;\n" +
			"- for standard output), creating missing directories; an existing FILE is kept unless\n" +
			"--force. The bytes go to FILE.part, renamed to FILE once their SHA-256 is verified; an\n" +
			"interrupted download (network failure, or a killed run) resumes where it stopped with a\n" +
			"Range request. With -r, ID is a prefix: every blob under it goes below -o DIR (default\n" +
			"the current directory) at its path after the prefix, with --jobs files in flight. A blob\n" +
			"whose bytes fail their checksum leaves no file.",
		Example: "  simpledrive get docs/report.pdf\n  simpledrive get -r photos/ -o photos\n  simpledrive get backups/dir.tar -o - | tar x",
		Args:    exactArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (- for standard output); with -r, the directory")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "download every blob under the prefix ID")
	cmd.Flags().IntVarP(&jobs, "jobs", "j", 4, "files in flight at once (with -r)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		id := args[0]
		if recursive {
			if jobs < 1 {
				return usageError("--jobs must be at least 1")
			}
			return getTree(cmd.Context(), o.locked(), c, folder(id), out, force, jobs)
		}
		if out == "" {
			out = path.Base(id)
			if out == "/" || out == "." || out == ".." {
				return usageError("the id %q has no file name: give -o FILE", id)
			}
		}
		if out != "-" {
			if err := prepareOutput(out, force); err != nil {
				return apiError(fmt.Errorf("get %s: %w", id, err))
			}
		}
		g := getter{o: o, c: c}
		b, err := g.get(cmd.Context(), id, out)
		if err != nil {
			return apiError(fmt.Errorf("get %s: %w", id, err))
		}
		if o.json {
			o.printJSON(b)
		} else if out != "-" {
			o.printf("%s\t%d bytes\t-> %s\n", b.ID, b.Size, out)
		}
		return nil
	}
	return cmd
}

type getter struct {
	o *clientOptions
	c *client.Client
}

// get downloads id into out and returns its blob object.
func (g *getter) get(ctx context.Context, id, out string) (client.Blob, error) {
	var b client.Blob
	err := client.Retry(ctx, 5, func() (err error) { b, err = g.c.Stat(ctx, id); return err })
	if err != nil {
		return b, err
	}
	if out == "-" {
		h := sha256.New()
		if err := g.fetch(ctx, b, io.MultiWriter(g.o.env.Stdout, h), 0); err != nil {
			return b, err
		}
		if !sumEqual(h.Sum(nil), b.SHA256) {
			return b, errDigest
		}
		return b, nil
	}
	part := out + ".part"
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return b, err
		}
		h := sha256.New()
		have, err := io.Copy(h, f) // what an earlier run left, and the file's end
		if err == nil && have > b.Size {
			have, err = 0, f.Truncate(0)
			h.Reset()
			if err == nil {
				_, err = f.Seek(0, io.SeekStart)
			}
		}
		if err == nil {
			err = g.fetch(ctx, b, &seekWriter{f: f, h: h}, have)
		}
		if err == nil && !sumEqual(h.Sum(nil), b.SHA256) {
			err = errDigest
		}
		if err == nil {
			err = f.Sync()
		}
		cerr := f.Close()
		if err == nil && cerr != nil {
			err = cerr
		}
		if errors.Is(err, errDigest) && have > 0 && attempt == 0 {
			// What an earlier run left belonged to other bytes: start over.
			os.Remove(part)
			continue
		}
		if err != nil {
			if errors.Is(err, errDigest) || storedCorrupt(err) {
				os.Remove(part) // nothing in it is worth resuming
			}
			return b, err
		}
		return b, os.Rename(part, out)
	}
}

// storedCorrupt reports whether err is the server's answer that the
// blob's stored bytes fail their checksum.
func storedCorrupt(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == "blob_corrupt"
}

// minArgs is cobra.MinimumNArgs as a usage error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError("%s takes at least %d argument(s); see %s --help", cmd.CommandPath(), n, cmd.CommandPath())
		}
		return nil
	}
}

// fetch writes the bytes of b from offset have on into w, resuming with a
// Range request after a network failure. w may be told to start over
// (the blob changed under an If-Range): then it is a *seekWriter.
func (g *getter) fetch(ctx context.Context, b client.Blob, w io.Writer, have int64) error {
	bar := g.o.progress(b.Size, b.ID)
	if bar != nil {
		defer bar.Exit()
	}
	etag := `"` + b.SHA256 + `"`
	return client.Retry(ctx, 8, func() error {
		if have == b.Size {
			setProgress(bar, have)
			return nil
		}
		d, err := g.c.Open(ctx, b.ID, have, etag)
		if err != nil {
			return err
		}
		defer d.Close()
		if d.Offset != have {
			sw, ok := w.(*seekWriter)
			if !ok || d.Offset != 0 {
				return fmt.Errorf("the blob changed during the download")
			}
			if err := sw.restart(); err != nil {
				return err
			}
			have = 0
		}
		setProgress(bar, have)
		buf := make([]byte, 256<<10)
		for {
			n, rerr := d.Read(buf)
			if n > 0 {
				if _, err := w.Write(buf[:n]); err != nil {
					return err // a local failure: not retried
				}
				have += int64(n)
				setProgress(bar, have)
			}
			if rerr == io.EOF {
				if have != b.Size {
					return io.ErrUnexpectedEOF
				}
				return nil
			}
			if rerr != nil {
				return rerr
			}
		}
	})
}

// seekWriter appends to a .part file and hashes what it writes (the hash
// of what was there already is in h).
type seekWriter struct {
	f *os.File
	h hash.Hash
}

func (s *seekWriter) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	return n, err
}

// restart empties the file, for a server that sent the whole blob.
func (s *seekWriter) restart() error {
	s.h.Reset()
	if err := s.f.Truncate(0); err != nil {
		return err
	}
	_, err := s.f.Seek(0, io.SeekStart)
	return err
}

// exactArgs is cobra.ExactArgs as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes %d argument(s), got %d; see %s --help", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}
