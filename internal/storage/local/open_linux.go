package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/simpledrive/simpledrive/internal/storage"
	"golang.org/x/sys/unix"
)

// openBeneath opens the file (or directory) name, relative to the
// directory dir, for reading, in one openat2 call that the kernel confines to dir
// (RESOLVE_BENEATH: no "..", absolute path or symbolic link leads out of
// it), where [os.Root] opens and closes every directory on the path. It
// returns [errors.ErrUnsupported] when the kernel has no openat2 or a
// sandbox forbids it; the caller then opens the file through its os.Root.
func openBeneath(dir *os.File, name string) (*os.File, error) {
	fd, err := openatBeneath(dir, name)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil // named as os.Root names it
}

// openatBeneath is openBeneath's openat2 call: it returns the descriptor,
// which the caller must close.
func openatBeneath(dir *os.File, name string) (int, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return -1, err
	}
	for {
		fd := -1
		// Control keeps dir's descriptor open while openat2 runs, and
		// fails once dir is closed.
		if cerr := rc.Control(func(dfd uintptr) { fd, err = unix.Openat2(int(dfd), name, &how) }); cerr != nil {
			return -1, cerr
		}
		switch {
		case err == nil:
			return fd, nil
		case err == unix.EINTR || err == unix.EAGAIN:
			continue // EAGAIN: a rename raced with the lookup
		case err == unix.ENOSYS || err == unix.EPERM:
			return -1, errors.ErrUnsupported
		}
		return -1, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
}

// openRead opens the regular file name beneath dir for [Store.Get]. A
// file of at most smallFile bytes is read whole at once and its
// descriptor closed: one openat2, one fstat, one read and one close, where
// an *os.File would also ask for the descriptor's flags, and its reader
// make one more read to find the end. A larger file is returned as its
// *os.File. It returns [errors.ErrUnsupported] when openBeneath would.
func openRead(dir *os.File, name string) (io.ReadCloser, error) {
	fd, err := openatBeneath(dir, name)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstat(fd, &st) }); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("not a regular file: %w", storage.ErrNotFound)
	}
	if st.Size > smallFile {
		return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil
	}
	defer unix.Close(fd)
	w := &wholeFile{buf: smallBufs.Get().(*[smallFile + 1]byte)}
	// One byte more than the size: a file longer than it was at the
	// fstat shows it, to the checksum's reader, when one read returns it
	// all, as a local file system's page cache does. Reading stops once it
	// has the size's bytes or reaches the end, so a file system that
	// returns short reads costs more reads, and may hide bytes appended
	// since the fstat (the checksum still covers the size's bytes).
	n, size := 0, int(st.Size)
	for {
		var k int
		err = ignoringEINTR(func() (err error) {
			k, err = unix.Read(fd, w.buf[n:size+1])
			return err
		})
		if err != nil {
			w.Close()
			return nil, &os.PathError{Op: "read", Path: name, Err: err}
		}
		n += k
		if k == 0 || n >= size {
			break
		}
	}
	w.data = w.buf[:n]
	return w, nil
}

// ignoringEINTR calls fn until it returns anything but EINTR.
func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}
