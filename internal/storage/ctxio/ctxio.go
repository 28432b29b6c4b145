// Package ctxio ties reads to a context.
//
// Backends read a blob from the caller's reader, which does not know about
// contexts; wrapping it with [Reader] makes a cancelled request stop
// copying at the next Read instead of reading the whole blob first.
package ctxio

import (
	"context"
	"io"
)

// Reader returns a reader that reads from r until ctx is done; from then on
// every Read fails with ctx.Err() without calling r. A Read already blocked
// in r is not interrupted.
func Reader(ctx context.Context, r io.Reader) io.Reader {
	return &reader{ctx: ctx, r: r}
}

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c *reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
