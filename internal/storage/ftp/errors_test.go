package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
)

func TestWrap(t *testing.T) {
	reply := func(code int) error { return &textproto.Error{Code: code, Msg: "reply"} }
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want error // nil: no sentinel
	}{
		{"452 insufficient storage", context.Background(), reply(452), storage.ErrInsufficientStorage},
		{"552 quota exceeded", context.Background(), reply(552), storage.ErrInsufficientStorage},
		{"452 joined with a write error", context.Background(), errors.Join(syscall.EPIPE, reply(452)), storage.ErrInsufficientStorage},
		{"421 closing", context.Background(), reply(421), storage.ErrUnavailable},
		{"425 no data connection", context.Background(), reply(425), storage.ErrUnavailable},
		{"426 transfer aborted", context.Background(), reply(426), storage.ErrUnavailable},
		{"550 alone", context.Background(), reply(550), nil},
		{"553 bad file name", context.Background(), reply(553), nil},
		{"refused", context.Background(), refused, storage.ErrUnavailable},
		{"timeout", context.Background(), timeout, storage.ErrUnavailable},
		{"reset", context.Background(), syscall.ECONNRESET, storage.ErrUnavailable},
		{"EOF mid-reply", context.Background(), io.ErrUnexpectedEOF, storage.ErrUnavailable},
		{"closed", context.Background(), net.ErrClosed, storage.ErrUnavailable},
		{"cancelled", cancelled, net.ErrClosed, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := wrap(tt.ctx, "get", "ab/cd/key", tt.err)
			if !errors.Is(err, tt.err) {
				t.Errorf("wrap = %v; want it to keep the cause %v", err, tt.err)
			}
			for _, s := range []error{storage.ErrInsufficientStorage, storage.ErrUnavailable, storage.ErrNotFound, context.Canceled} {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if !strings.HasPrefix(err.Error(), "ftp: get ab/cd/key: ") {
				t.Errorf("wrap = %q; want it to start with the package, operation and key", err)
			}
		})
	}
	if wrap(context.Background(), "get", "k", nil) != nil {
		t.Error("wrap(nil) != nil")
	}
}

func TestIncomplete(t *testing.T) {
	// Whatever the server says after a broken transfer, even 550, the
	// bytes could not be delivered.
	err := incomplete(fmt.Errorf("transfer not confirmed: %w", &textproto.Error{Code: 550, Msg: "Issue during transfer"}))
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("incomplete(550) = %v; want ErrUnavailable", err)
	}
	err = wrap(context.Background(), "put", "k", incomplete(&textproto.Error{Code: 552}))
	if !errors.Is(err, storage.ErrInsufficientStorage) || errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("wrap(incomplete(552)) = %v; want ErrInsufficientStorage only", err)
	}
}

func TestExactReader(t *testing.T) {
	read := func(data string, size int64) error {
		_, err := io.Copy(io.Discard, &exactReader{r: strings.NewReader(data), size: size, left: size})
		return err
	}
	if err := read("abcd", 4); err != nil {
		t.Errorf("exact size: %v", err)
	}
	if err := read("", 0); err != nil {
		t.Errorf("empty: %v", err)
	}
	if err := read("abc", 4); !errors.Is(err, errSourceTooShort) {
		t.Errorf("short source = %v; want errSourceTooShort", err)
	}
	if err := read("abcde", 4); !errors.Is(err, errSourceTooLong) {
		t.Errorf("long source = %v; want errSourceTooLong", err)
	}
}
