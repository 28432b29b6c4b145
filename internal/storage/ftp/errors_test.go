package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"syscall"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
)

func TestMapErr(t *testing.T) {
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
			err := mapErr(tt.ctx, tt.err)
			if !errors.Is(err, tt.err) {
				t.Errorf("mapErr = %v; want it to keep the cause %v", err, tt.err)
			}
			for _, s := range []error{storage.ErrInsufficientStorage, storage.ErrUnavailable, storage.ErrNotFound, context.Canceled} {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
		})
	}
	if mapErr(context.Background(), nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}

func TestIncomplete(t *testing.T) {
	// Whatever the server says after a broken transfer, even 550, the
	// bytes could not be delivered.
	err := incomplete(fmt.Errorf("transfer not confirmed: %w", &textproto.Error{Code: 550, Msg: "Issue during transfer"}))
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("incomplete(550) = %v; want ErrUnavailable", err)
	}
	err = mapErr(context.Background(), incomplete(&textproto.Error{Code: 552}))
	if !errors.Is(err, storage.ErrInsufficientStorage) || errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("mapErr(incomplete(552)) = %v; want ErrInsufficientStorage only", err)
	}
}
