package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// requireDirectIO returns the direct-I/O offset alignment of files in dir,
// and skips t when the file system reports none (or fails t when
// SIMPLEDRIVE_REQUIRE_SERVICES=1: CI's file system must have it).
func requireDirectIO(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.CreateTemp(dir, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Statx_t
	err = unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st)
	if err != nil || st.Mask&unix.STATX_DIOALIGN == 0 || st.Dio_offset_align == 0 {
		if os.Getenv("SIMPLEDRIVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("the file system of %s reports no direct-I/O alignment (statx: %v)", dir, err)
		}
		t.Skipf("the file system of %s reports no direct-I/O alignment (statx: %v)", dir, err)
	}
	return int(st.Dio_offset_align)
}

// residentPages counts the pages of the file name that are in the page
// cache, and its pages in all.
func residentPages(t *testing.T, name string) (resident, pages int) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		t.Fatalf("stat %s: %v, %d bytes", name, err, fi.Size())
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	pageSize := os.Getpagesize()
	vec := make([]byte, (len(m)+pageSize-1)/pageSize)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, len(vec)
}

// TestPutWritesAroundPageCache: Put sends a blob of directMin bytes to one
// buffer (one write) straight to the device, so once it returns only its
// unaligned tail is in the page cache; a smaller or larger blob is there
// whole; every byte reads back.
func TestPutWritesAroundPageCache(t *testing.T) {
	root := t.TempDir()
	align := requireDirectIO(t, root)
	s, err := New(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, size := range []int{directMin - 1, directMin, 300<<10 + 5, copyBufSize, copyBufSize + 1, 2<<20 + 100<<10 + 5} {
		data := make([]byte, size)
		rand.Read(data)
		key := "ab/" + string(rune('a'+size%26))
		if err := s.Put(ctx, key, bytes.NewReader(data), int64(size)); err != nil {
			t.Fatal(err)
		}
		resident, pages := residentPages(t, filepath.Join(root, key))
		want := pages // small or large: through the page cache
		if size >= directMin && size <= copyBufSize {
			want = (size%align + os.Getpagesize() - 1) / os.Getpagesize()
		}
		if resident != want {
			t.Errorf("Put of %d bytes left %d of %d pages in the page cache; want %d", size, resident, pages, want)
		}
		rc, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = got.ReadFrom(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("Get of the %d-byte blob: %v, %d bytes, equal %v", size, err, got.Len(), bytes.Equal(got.Bytes(), data))
		}
	}
}

// TestDirectWriterMisalignedBuffer: a large write from a buffer the file
// system cannot send directly goes through the page cache, byte for byte.
func TestDirectWriterMisalignedBuffer(t *testing.T) {
	f, data := misaligned(t, 1<<20)
	if n, err := newFileWriter(f, int64(len(data))).Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(data))
	}
	checkFile(t, f.Name(), data)
}

// misaligned returns a new file in a directory with direct I/O, and size
// random bytes that start one byte past an allocation's start (and so
// off any file system's alignment for direct I/O).
func misaligned(t *testing.T, size int) (*os.File, []byte) {
	t.Helper()
	dir := t.TempDir()
	requireDirectIO(t, dir)
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	buf := make([]byte, size+1)
	rand.Read(buf)
	return f, buf[1:]
}

// checkFile fails t unless the file name holds data.
func checkFile(t *testing.T, name string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file holds %d bytes (%v), equal %v", len(got), err, bytes.Equal(got, data))
	}
}

// TestDirectWriterRefusedWrite: a direct write the kernel refuses
// (EINVAL: here, from a buffer off the alignment the file system needs,
// which the writer was told is fine) is written through the page cache
// instead, byte for byte, and so is every later write.
func TestDirectWriterRefusedWrite(t *testing.T) {
	f, data := misaligned(t, 2<<20)
	w := &directWriter{f: f, memAlign: 1, offAlign: 1}
	for _, p := range [][]byte{data[:1<<20], data[1<<20:]} {
		if n, err := w.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
		}
	}
	if w.offAlign != -1 || w.direct {
		t.Errorf("after a refused direct write: offAlign %d, direct %v; want direct writes off", w.offAlign, w.direct)
	}
	checkFile(t, f.Name(), data)
}
