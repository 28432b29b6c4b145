package local

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// fsNoatimeFL is FS_NOATIME_FL (chattr +A).
const fsNoatimeFL = 0x00000080

// dirFlags returns the inode flags of the directory dir (FS_IOC_GETFLAGS).
func dirFlags(t *testing.T, dir string) (uint32, error) {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
}

// TestNewMarksRootTopDir: New marks its root as the top of a directory
// hierarchy (chattr +T) where the file system has the flag, so ext4
// spreads the shard directories over its block groups (see markTopDir),
// keeping the root's other flags; a root already marked stays so.
func TestNewMarksRootTopDir(t *testing.T) {
	parent := t.TempDir()
	probe := filepath.Join(parent, "probe")
	if err := os.Mkdir(probe, 0o750); err != nil {
		t.Fatal(err)
	}
	pf, err := os.Open(probe)
	if err != nil {
		t.Fatal(err)
	}
	flags, err := unix.IoctlGetUint32(int(pf.Fd()), unix.FS_IOC_GETFLAGS)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(pf.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL|fsNoatimeFL))
	}
	pf.Close()
	if err != nil {
		t.Skipf("the file system of %s cannot mark a directory as a top one: %v", parent, err)
	}

	root := filepath.Join(parent, "blobs")
	s, err := New(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, err := dirFlags(t, root); err != nil || got&fsTopdirFL == 0 {
		t.Fatalf("root flags %#x (%v); want FS_TOPDIR_FL (%#x) set", got, err, fsTopdirFL)
	}

	// The probe, marked with another flag too, keeps both.
	s, err = New(Config{Root: probe})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, err := dirFlags(t, probe); err != nil || got&(fsTopdirFL|fsNoatimeFL) != fsTopdirFL|fsNoatimeFL {
		t.Fatalf("probe flags %#x (%v); want FS_TOPDIR_FL and FS_NOATIME_FL kept", got, err)
	}
}
