package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
)

// verifier passes a blob's bytes through, checking at the end that their
// length and SHA-256 match the metadata.
type verifier struct {
	rc   io.ReadCloser
	want Blob
	key  string
	log  *slog.Logger
	h    hash.Hash
	n    int64
	err  error
}

func newVerifier(rc io.ReadCloser, want Blob, key string, log *slog.Logger) *verifier {
	return &verifier{rc: rc, want: want, key: key, log: log, h: sha256.New()}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.n > v.want.Size:
		v.err = v.corrupt(fmt.Sprintf("more than the recorded %d bytes", v.want.Size))
		return 0, v.err
	case err == io.EOF && v.n != v.want.Size:
		v.err = v.corrupt(fmt.Sprintf("%d bytes, want %d", v.n, v.want.Size))
		return n, v.err
	case err == io.EOF:
		if sum := hex.EncodeToString(v.h.Sum(nil)); sum != v.want.SHA256 {
			v.err = v.corrupt("SHA-256 " + sum + ", want " + v.want.SHA256)
			return n, v.err
		}
	}
	return n, err
}

func (v *verifier) corrupt(detail string) error {
	v.log.LogAttrs(context.Background(), slog.LevelError, "integrity fault: stored bytes do not match metadata",
		slog.String("storage_key", v.key), slog.String("detail", detail))
	return fmt.Errorf("%w: %s", ErrCorrupt, detail)
}

func (v *verifier) Close() error { return v.rc.Close() }

// lengthChecker passes a part of a blob through, failing with [ErrCorrupt]
// if it ends before its length.
type lengthChecker struct {
	rc   io.ReadCloser
	left int64
	key  string
	log  *slog.Logger
}

func newLengthChecker(rc io.ReadCloser, length int64, key string, log *slog.Logger) *lengthChecker {
	return &lengthChecker{rc: rc, left: length, key: key, log: log}
}

func (c *lengthChecker) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	n, err := c.rc.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		c.log.LogAttrs(context.Background(), slog.LevelError, "integrity fault: stored bytes shorter than their metadata",
			slog.String("storage_key", c.key), slog.Int64("missing", c.left))
		return n, fmt.Errorf("%w: %d bytes missing at the end of a range", ErrCorrupt, c.left)
	}
	if c.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

func (c *lengthChecker) Close() error { return c.rc.Close() }
