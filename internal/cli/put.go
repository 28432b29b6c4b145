package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/client"
	"github.com/simpledrive/simpledrive/internal/config"
)

func newPut(env Env) *cobra.Command {
	var (
		id, prefix, contentType string
		threshold, chunk        string
		recursive               bool
		jobs                    int
		skipExisting, overwrite bool
	)
	cmd := &cobra.Command{
		Use:   "put FILE...",
		Short: "Upload files as blobs",
		Long: "Upload each FILE (- for standard input) as a blob whose id is its base name, after --prefix,\n" +
			"or --id for a single file; with -r a directory goes up with its tree, each file's id its\n" +
			"path relative to the directory, after --prefix, with --jobs files in flight.\n" +
			"Files below --threshold go up in one PUT with their SHA-256 (Content-Digest); larger ones\n" +
			"by the resumable tus protocol: a network failure is retried where it stopped, and a run\n" +
			"that was killed is resumed by running the same command again (the upload's URL is kept in\n" +
			"the user cache directory). Standard input goes up in one streamed PUT.\n" +
			"An id that is taken fails (exit code 4) unless --skip-existing (skip it when its SHA-256\n" +
			"is the file's, fail otherwise) or --overwrite (replace it, atomically, through If-Match).",
		Example: "  simpledrive put report.pdf --prefix docs\n  simpledrive put -r photos --prefix photos --skip-existing\n" +
			"  tar c dir | simpledrive put - --id backups/dir.tar",
		Args: minArgs(1),
	}
	o := addClientFlags(cmd, env)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "blob id (one FILE only; required for -)")
	f.StringVar(&prefix, "prefix", "", "folder the ids go under (a / is added when missing)")
	f.StringVar(&contentType, "content-type", "", "media type (default: from the file's extension)")
	f.StringVar(&threshold, "threshold", "8MiB", "files from this size on go up resumably")
	f.StringVar(&chunk, "chunk-size", "", "most bytes per PATCH of a resumable upload (default: the whole file in one PATCH)")
	f.BoolVarP(&recursive, "recursive", "r", false, "upload directories with their trees")
	f.IntVarP(&jobs, "jobs", "j", 4, "files in flight at once")
	f.BoolVar(&skipExisting, "skip-existing", false, "skip ids already stored with the file's SHA-256; fail on other content")
	f.BoolVar(&overwrite, "overwrite", false, "replace ids already stored with other content")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if id != "" && (len(args) > 1 || recursive) {
			return usageError("--id names one blob, but %d files were given", len(args))
		}
		if skipExisting && overwrite {
			return usageError("--skip-existing and --overwrite exclude each other")
		}
		if jobs < 1 {
			return usageError("--jobs must be at least 1")
		}
		th, err := config.ParseBytes(threshold)
		if err != nil {
			return usageError("--threshold: %v", err)
		}
		var cs int64
		if chunk != "" {
			if cs, err = config.ParseBytes(chunk); err != nil {
				return usageError("--chunk-size: %v", err)
			}
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		p := putter{o: o.locked(), c: c, threshold: th, chunk: cs, contentType: contentType}
		switch {
		case skipExisting:
			p.existing = skipSame
		case overwrite:
			p.existing = replaceOther
		}
		prefix = folder(prefix)
		var items []transfer
		for _, file := range args {
			switch {
			case id != "":
				items = append(items, transfer{file, id})
			case file == "-":
				return usageError("standard input needs --id")
			case isDir(file) && !recursive:
				return usageError("%s is a directory: put -r %s uploads it with its tree", file, file)
			case isDir(file):
				files, err := localTree(file)
				if err != nil {
					return apiError(fmt.Errorf("put %s: %w", file, err))
				}
				for _, lf := range files {
					items = append(items, transfer{lf.path, prefix + lf.rel})
				}
			default:
				items = append(items, transfer{file, prefix + filepath.Base(file)})
			}
		}
		errs := parallel(cmd.Context(), jobs, items, func(ctx context.Context, t transfer) error {
			if err := p.put(ctx, t.local, t.id); err != nil {
				if client.StatusOf(err) == http.StatusConflict {
					err = fmt.Errorf("%w; --skip-existing skips it when its content is the file's, --overwrite replaces it", err)
				}
				return fmt.Errorf("put %s: %w", t.id, writeError(err, t.id))
			}
			return nil
		})
		return joinErrors(env.Stderr, errs)
	}
	return cmd
}

// onExisting is what a put does with an id that is taken.
type onExisting int

const (
	failExisting onExisting = iota // fail: 409
	skipSame                       // skip when the SHA-256 matches, fail otherwise
	replaceOther                   // skip when the SHA-256 matches, replace otherwise
)

type putter struct {
	o                *clientOptions
	c                *client.Client
	threshold, chunk int64
	contentType      string
	existing         onExisting
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
	skipped := false
	if file == "-" {
		b, err = p.c.Put(ctx, id, p.o.env.Stdin, -1, ct, nil)
	} else {
		b, skipped, err = p.putFile(ctx, file, id, ct)
	}
	if err != nil {
		return err
	}
	if skipped {
		if p.o.json {
			p.o.printJSON(map[string]any{"id": id, "skipped": true, "sha256": b.SHA256})
		} else {
			p.o.printf("%s\tskipped: stored with the same SHA-256\n", id)
		}
		return nil
	}
	if p.o.json {
		p.o.printJSON(b)
	} else {
		p.o.printf("%s\t%d bytes\tsha256:%s\n", b.ID, b.Size, b.SHA256)
	}
	return nil
}

// putFile uploads file as id, unless p.existing skips it (skipped true,
// b the blob stored).
func (p *putter) putFile(ctx context.Context, file, id, ct string) (b client.Blob, skipped bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		return client.Blob{}, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return client.Blob{}, false, err
	}
	if !st.Mode().IsRegular() {
		// A pipe or device: one streamed PUT.
		b, err = p.c.Put(ctx, id, f, -1, ct, nil)
		return b, false, err
	}
	size := st.Size()
	if p.existing == failExisting && size >= p.threshold {
		return p.putResumable(ctx, f, st, id, ct)
	}
	sum, err := client.SumFile(f, size)
	if err != nil {
		return client.Blob{}, false, err
	}
	var old client.Blob
	if p.existing != failExisting {
		old, err = p.c.Stat(ctx, id)
		switch {
		case err == nil && sumEqual(sum, old.SHA256):
			return old, true, nil
		case err == nil && p.existing == skipSame:
			return client.Blob{}, false, &exitError{code: ExitConflict,
				err: fmt.Errorf("%s is stored with other content (sha256 %.12s, the file's %.12s): --overwrite replaces it", id, old.SHA256, fmt.Sprintf("%x", sum))}
		case err != nil && client.StatusOf(err) != http.StatusNotFound:
			return client.Blob{}, false, err
		}
	}
	bar := p.o.progress(size, id)
	defer func() {
		if bar != nil {
			bar.Exit()
		}
	}()
	if old.SHA256 != "" {
		// A replace is one PUT with If-Match: atomic, not resumable.
		b, err = p.c.Replace(ctx, id, io.NewSectionReader(f, 0, size), size, ct, sum, old.SHA256)
		return b, false, err
	}
	if size < p.threshold {
		b, err = p.putSmall(ctx, f, size, id, ct, sum)
		return b, false, err
	}
	b, err = p.upload(ctx, f, st, id, ct, sum, bar)
	return b, false, err
}

// putResumable uploads file f, new as id, resumably, computing the file's
// CRC-32C while its bytes go up rather than before; the blob made is then
// checked against it (see checkStored).
func (p *putter) putResumable(ctx context.Context, f *os.File, st os.FileInfo, id, ct string) (client.Blob, bool, error) {
	type summed struct {
		crc uint32
		err error
	}
	hashed := make(chan summed, 1)
	go func() {
		crc, err := client.CRC32CFile(f, st.Size())
		hashed <- summed{crc, err}
	}()
	bar := p.o.progress(st.Size(), id)
	b, err := p.upload(ctx, f, st, id, ct, nil, bar)
	if bar != nil {
		bar.Exit()
	}
	if err != nil {
		return client.Blob{}, false, err // the hash finishes by itself
	}
	h := <-hashed
	if h.err != nil {
		return client.Blob{}, false, fmt.Errorf("hashing %s: %w", f.Name(), h.err)
	}
	return b, false, p.checkStored(ctx, f, st.Size(), b, h.crc)
}

// checkStored checks that blob b, just made from the size bytes of f, has
// the file's bytes: by the CRC-32C the server reports for it (crc is the
// file's), or by the SHA-256 the upload returned when it reports no
// CRC-32C or no digest at all. A CRC-32C catches every
// error of up to 32 bits in a row and any other with a chance of 1 in 2^32
// of a miss, as well as the SHA-256 for what can go wrong on the way or on
// the server; neither would stop a server or a man in the middle who lies,
// since the SHA-256 too is the server's word.
func (p *putter) checkStored(ctx context.Context, f *os.File, size int64, b client.Blob, crc uint32) error {
	var d client.Digests
	err := client.Retry(ctx, 5, func() (err error) {
		d, err = p.c.Digests(ctx, b.ID)
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("checking blob %q: %w", b.ID, err)
	case d.SHA256 != nil && !sumEqual(d.SHA256, b.SHA256):
		return fmt.Errorf("blob %q changed on the server before it could be checked", b.ID)
	case d.HasCRC32C && d.CRC32C != crc:
		return fmt.Errorf("blob %q has CRC-32C %08x on the server, but the file has %08x", b.ID, d.CRC32C, crc)
	case d.HasCRC32C:
		return nil
	}
	sum, err := client.SumFile(f, size)
	switch {
	case err != nil:
		return fmt.Errorf("hashing %s: %w", f.Name(), err)
	case !sumEqual(sum, b.SHA256):
		return fmt.Errorf("blob %q has SHA-256 %s on the server, but the file has %x", b.ID, b.SHA256, sum)
	}
	return nil
}

// upload sends f as id with the tus protocol, resuming an upload an
// earlier run left; sum, when set, is the file's SHA-256, which the blob
// made must have.
func (p *putter) upload(ctx context.Context, f *os.File, st os.FileInfo, id, ct string, sum []byte, bar *progressbar.ProgressBar) (client.Blob, error) {
	dir, err := p.o.cacheDir()
	if err != nil {
		return client.Blob{}, fmt.Errorf("finding the cache directory for resumable uploads: %w", err)
	}
	res, err := p.c.Upload(ctx, client.Upload{
		ID: id, ContentType: ct, File: f, Size: st.Size(), SHA256: sum,
		State:     &client.FileState{Dir: filepath.Join(dir, "uploads")},
		StateKey:  client.StateKey(p.c.BaseURL(), id, st.Size(), st.ModTime()),
		ChunkSize: p.chunk,
		Progress:  func(n int64) { setProgress(bar, n) },
	})
	if err == nil && res.ResumedAt >= 0 && !p.o.quiet && !p.o.json {
		p.o.eprintf("simpledrive: resumed the upload of %s at byte %d\n", id, res.ResumedAt)
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
