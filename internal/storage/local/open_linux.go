package local

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openBeneath opens the file (or directory) name, relative to the
// directory dir, for reading, in one openat2 call that the kernel confines to dir
// (RESOLVE_BENEATH: no "..", absolute path or symbolic link leads out of
// it), where [os.Root] opens and closes every directory on the path. It
// returns [errors.ErrUnsupported] when the kernel has no openat2 or a
// sandbox forbids it; the caller then opens the file through its os.Root.
func openBeneath(dir *os.File, name string) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return nil, err
	}
	for {
		var fd int
		// Control keeps dir's descriptor open while openat2 runs, and
		// fails once dir is closed.
		if cerr := rc.Control(func(dfd uintptr) { fd, err = unix.Openat2(int(dfd), name, &how) }); cerr != nil {
			return nil, cerr
		}
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil // named as os.Root names it
		case err == unix.EINTR || err == unix.EAGAIN:
			continue // EAGAIN: a rename raced with the lookup
		case err == unix.ENOSYS || err == unix.EPERM:
			return nil, errors.ErrUnsupported
		}
		return nil, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
}
