package local

import (
	"errors"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// directMin is the smallest write whose aligned part bypasses the page
// cache: below it, the two fcntl calls cost about what the copy saves.
const directMin = 64 << 10

// directWriter writes a new file from offset 0, sending the aligned part
// of each write of at least directMin bytes straight to the device
// (O_DIRECT) and the rest through the page cache. A direct write costs
// no copy into the page cache and no page-cache memory: a blob written
// once and fsynced at once gains nothing from passing through it, and on
// a virtual machine whose host backs guest memory lazily, first-touched
// page-cache pages made a buffered 1 MiB write cost 3 to 10 times the
// CPU of a direct one. The file must still be synced to be durable (the
// device's cache, the file's size and block map).
//
// Alignment comes from the file system (statx's STATX_DIOALIGN, Linux
// 6.1 and later); a file system that reports none, refuses O_DIRECT, or
// fails a direct write with EINVAL gets every byte from then on through
// the page cache, so the bytes written never depend on direct I/O being
// available.
type directWriter struct {
	f   *os.File
	off int64 // bytes written so far
	// memAlign and offAlign are the file system's alignments for a direct
	// write's buffer address and for its offset and length: 0 before the
	// first large write asks, -1 when direct writes are off for f.
	memAlign, offAlign int
	direct             bool // f has O_DIRECT set
}

// newFileWriter returns what Put writes a blob of size bytes to f
// through: a directWriter when the blob takes one write of at least
// directMin bytes (see writeFull), else f itself. Its one write reaches
// the device before the fsync returns either way, and direct it costs no
// copy; a blob of several writes, or of unknown size, goes through the
// page cache, whose fsync sends all its writes to the device at once,
// where direct writes would go one at a time, each waited for before the
// next is read.
func newFileWriter(f *os.File, size int64) io.Writer {
	if size < directMin || size > copyBufSize {
		return f
	}
	return &directWriter{f: f}
}

// Write implements [io.Writer].
func (w *directWriter) Write(p []byte) (int, error) {
	n := 0
	if k := w.alignedPrefix(p); k > 0 {
		m, err := w.f.Write(p[:k])
		n, w.off = m, w.off+int64(m)
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return n, err
		}
		if err != nil {
			w.memAlign, w.offAlign = -1, -1 // refused: the rest through the page cache
		}
	}
	if n == len(p) {
		return n, nil
	}
	if err := w.setDirect(false); err != nil {
		return n, err
	}
	m, err := w.f.Write(p[n:])
	w.off += int64(m)
	return n + m, err
}

// alignedPrefix returns how many bytes of p, from its start, to write
// directly (0 for none), and turns O_DIRECT on for them.
func (w *directWriter) alignedPrefix(p []byte) int {
	if len(p) < directMin || w.offAlign < 0 || !directWrites {
		return 0
	}
	if w.offAlign == 0 && !w.askAlignment() {
		return 0
	}
	k := len(p) &^ (w.offAlign - 1)
	if w.off%int64(w.offAlign) != 0 || uintptr(unsafe.Pointer(&p[0]))%uintptr(w.memAlign) != 0 || k < directMin {
		return 0
	}
	if w.setDirect(true) != nil {
		w.memAlign, w.offAlign = -1, -1
		return 0
	}
	return k
}

// askAlignment reads f's direct-I/O alignments, and reports whether they
// allow direct writes.
func (w *directWriter) askAlignment() bool {
	w.memAlign, w.offAlign = -1, -1
	var st unix.Statx_t
	err := w.control(func(fd int) error {
		return unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st)
	})
	mem, off := int(st.Dio_mem_align), int(st.Dio_offset_align)
	if err != nil || st.Mask&unix.STATX_DIOALIGN == 0 || !powerOfTwo(mem) || !powerOfTwo(off) || off > directMin {
		return false
	}
	w.memAlign, w.offAlign = mem, off
	return true
}

func powerOfTwo(n int) bool { return n > 0 && n&(n-1) == 0 }

// setDirect turns f's O_DIRECT flag on or off.
func (w *directWriter) setDirect(on bool) error {
	if w.direct == on {
		return nil
	}
	err := w.control(func(fd int) error {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return err
		}
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
		return err
	})
	if err == nil {
		w.direct = on
	}
	return err
}

// control calls fn with f's descriptor.
func (w *directWriter) control(fn func(fd int) error) error {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
