package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/client"
	"github.com/simpledrive/simpledrive/internal/config"
)

func newPut(env Env) *cobra.Command {
	var (
		id, prefix, contentType string
		threshold, chunk        string
	)
	cmd := &cobra.Command{
		Use:   "put FILE...",
		Short: "Upload files as blobs",
		Long: "Upload each FILE (- for standard input) as a blob whose id is its base name, after --prefix,\n" +
			"or --id for a single file. Files below --threshold go up in one PUT with their SHA-256\n" +
			"(Content-Digest); larger ones by the resumable tus protocol: a network failure is retried\n" +
			"where it stopped, and a run that was killed is resumed by running the same command again\n" +
			"(the upload's URL is kept in the user cache directory). Standard input goes up in one\n" +
			"streamed PUT.",
		Example: "  simpledrive put report.pdf --prefix docs/\n  tar c dir | simpledrive put - --id backups/dir.tar",
		Args:    minArgs(1),
	}
	o := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "blob id (one FILE only; required for -)")
	f.StringVar(&prefix, "prefix", "", "prepended to each file's base name to make its id")
	f.StringVar(&contentType, "content-type", "", "media type (default: from the file's extension)")
	f.StringVar(&threshold, "threshold", "8MiB", "files from this size on go up resumably")
	f.StringVar(&chunk, "chunk-size", "16MiB", "bytes per PATCH of a resumable upload")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if id != "" && len(args) > 1 {
			return usageError("--id names one blob, but %d files were given", len(args))
		}
		th, err := config.ParseBytes(threshold)
		if err != nil {
			return usageError("--threshold: %v", err)
		}
		cs, err := config.ParseBytes(chunk)
		if err != nil {
			return usageError("--chunk-size: %v", err)
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		p := putter{o: o, c: c, threshold: th, chunk: cs, contentType: contentType}
		var errs []error
		for _, file := range args {
			blobID := id
			if blobID == "" {
				if file == "-" {
					return usageError("standard input needs --id")
				}
				blobID = prefix + filepath.Base(file)
			}
			if err := p.put(cmd.Context(), file, blobID); err != nil {
				errs = append(errs, fmt.Errorf("put %s: %w", file, err))
			}
		}
		return joinErrors(env.Stderr, errs)
	}
	return cmd
}

type putter struct {
	o                *clientOptions
	c                *client.Client
	threshold, chunk int64
	contentType      string
}

func (p *putter) put(ctx context.Context, file, id string) error {
	ct := p.contentType
	if ct == "" && file != "-" {
		ct = mime.TypeByExtension(filepath.Ext(file))
	}
	var (
		b   client.Blob
		err error
	)
	if file == "-" {
		b, err = p.c.Put(ctx, id, p.o.env.Stdin, -1, ct, nil)
	} else {
		b, err = p.putFile(ctx, file, id, ct)
	}
	if err != nil {
		return err
	}
	if p.o.json {
		p.o.printJSON(b)
	} else {
		p.o.printf("%s\t%d bytes\tsha256:%s\n", b.ID, b.Size, b.SHA256)
	}
	return nil
}

func (p *putter) putFile(ctx context.Context, file, id, ct string) (client.Blob, error) {
	f, err := os.Open(file)
	if err != nil {
		return client.Blob{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return client.Blob{}, err
	}
	if !st.Mode().IsRegular() {
		// A pipe or device: one streamed PUT.
		return p.c.Put(ctx, id, f, -1, ct, nil)
	}
	size := st.Size()
	sum, err := client.SumFile(f, size)
	if err != nil {
		return client.Blob{}, err
	}
	bar := p.o.progress(size, id)
	defer func() {
		if bar != nil {
			bar.Exit()
		}
	}()
	if size < p.threshold {
		return p.putSmall(ctx, f, size, id, ct, sum)
	}
	dir, err := p.o.cacheDir()
	if err != nil {
		return client.Blob{}, fmt.Errorf("finding the cache directory for resumable uploads: %w", err)
	}
	res, err := p.c.Upload(ctx, client.Upload{
		ID: id, ContentType: ct, File: f, Size: size, SHA256: sum,
		State:     &client.FileState{Dir: filepath.Join(dir, "uploads")},
		StateKey:  client.StateKey(p.c.BaseURL(), id, size, st.ModTime()),
		ChunkSize: p.chunk,
		Progress:  func(n int64) { setProgress(bar, n) },
	})
	if err == nil && res.ResumedAt >= 0 && !p.o.quiet && !p.o.json {
		fmt.Fprintf(p.o.env.Stderr, "simpledrive: resumed the upload of %s at byte %d\n", id, res.ResumedAt)
	}
	return res.Blob, err
}

// putSmall uploads a file in one PUT, retried after network failures. A
// retry answered 409 may be our own earlier try that landed: if the blob
// has the file's SHA-256, it is ours.
func (p *putter) putSmall(ctx context.Context, f *os.File, size int64, id, ct string, sum []byte) (client.Blob, error) {
	var b client.Blob
	tries := 0
	err := client.Retry(ctx, 5, func() error {
		tries++
		var err error
		b, err = p.c.Put(ctx, id, io.NewSectionReader(f, 0, size), size, ct, sum)
		return err
	})
	if tries > 1 && client.StatusOf(err) == 409 {
		if got, serr := p.c.Stat(ctx, id); serr == nil && got.SHA256 == fmt.Sprintf("%x", sum) {
			return got, nil
		}
	}
	return b, err
}

// errDigest reports a download whose bytes do not have the blob's SHA-256.
var errDigest = errors.New("the bytes received do not have the blob's SHA-256")

// sumEqual compares a digest with the lowercase hex of another.
func sumEqual(sum []byte, hexSum string) bool {
	return fmt.Sprintf("%x", sum) == hexSum
}
