package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"syscall"

	"github.com/jlaffaye/ftp"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// FTP reply codes this package acts on (RFC 959).
const (
	codeNotAvailable     = ftp.StatusNotAvailable             // 421: server closing the connection
	codeCantOpenData     = ftp.StatusCanNotOpenDataConnection // 425
	codeTransferAborted  = ftp.StatusTransfertAborted         // 426
	codeFileActionIgnore = ftp.StatusFileActionIgnored        // 450: file busy (some servers: cannot list)
	codeLocalError       = ftp.StatusActionAborted            // 451: local error in processing
	codeInsufficient     = ftp.Status452                      // 452: insufficient storage space
	codeBadCommand       = ftp.StatusBadCommand               // 500
	codeBadArguments     = ftp.StatusBadArguments             // 501
	codeNotImplemented   = ftp.StatusNotImplemented           // 502
	codeParamNotImpl     = ftp.StatusNotImplementedParameter  // 504
	codeFileUnavailable  = ftp.StatusFileUnavailable          // 550: no such file, no access, ...
	codeExceededStorage  = ftp.StatusExceededStorage          // 552: quota exceeded
	codeBadFileName      = ftp.StatusBadFileName              // 553
)

// mapErr is the one place that maps native errors (FTP replies, network
// errors) onto the storage sentinels. It keeps err in the chain, so
// errors.Is works for both the sentinel and the cause; the [storage.Bucket]
// adds the operation and the key. ctx's own error wins: a request the
// caller cancelled is not an unavailable backend.
func mapErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	return withSentinel(err)
}

// classify returns the storage sentinel err stands for, or nil.
func classify(err error) error {
	switch {
	case hasCode(err, codeInsufficient, codeExceededStorage):
		return storage.ErrInsufficientStorage
	case hasCode(err, codeNotAvailable, codeCantOpenData, codeTransferAborted, codeFileActionIgnore, codeLocalError):
		return storage.ErrUnavailable
	case isNetworkError(err):
		return storage.ErrUnavailable
	}
	return nil
}

// isNetworkError reports whether err is a failure of the connection itself:
// refused, reset, closed, timed out, or ended in the middle of a reply.
func isNetworkError(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &netErr):
		return true
	}
	return false
}

// isStale reports whether err shows a connection the server has already
// dropped: a network failure or a 421 reply.
func isStale(err error) bool {
	return isNetworkError(err) || hasCode(err, codeNotAvailable)
}

// hasCode reports whether err carries an FTP reply with one of codes.
func hasCode(err error, codes ...int) bool {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, c := range codes {
		if te.Code == c {
			return true
		}
	}
	return false
}

// keepsStep reports whether the control connection is still in step with
// the server after err: neither a malformed reply nor a 421, after which the
// server closes the connection. Failures of the connection itself are
// tracked by the connection (see conn.broken).
func keepsStep(err error) bool {
	var pe textproto.ProtocolError
	return !errors.As(err, &pe) && !hasCode(err, codeNotAvailable)
}

// incomplete marks the failure of a transfer already under way as
// [storage.ErrUnavailable] unless it stands for another sentinel: whatever
// the server says after a broken transfer (426, 451, even 550), the bytes
// could not be delivered now.
func incomplete(err error) error {
	if classify(err) != nil {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}
