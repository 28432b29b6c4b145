package local

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
)

func TestMapError(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "open", Path: "ab/cd/x", Err: errno}
	}
	cases := []struct {
		in   error
		want error
	}{
		{pathErr(syscall.ENOENT), storage.ErrNotFound},
		{pathErr(syscall.ENOTDIR), storage.ErrNotFound},
		{pathErr(syscall.ENOSPC), storage.ErrInsufficientStorage},
		{pathErr(syscall.EDQUOT), storage.ErrInsufficientStorage},
		{pathErr(syscall.EACCES), syscall.EACCES},
	}
	for _, c := range cases {
		got := mapError(c.in)
		if !errors.Is(got, c.want) {
			t.Errorf("mapError(%v) = %v; want it to wrap %v", c.in, got, c.want)
		}
	}
	if got := mapError(pathErr(syscall.EACCES)); !strings.Contains(got.Error(), "LOCAL_STORAGE_PATH") {
		t.Errorf("permission error %q does not name LOCAL_STORAGE_PATH", got)
	}
	if mapError(nil) != nil {
		t.Error("mapError(nil) != nil")
	}
}
