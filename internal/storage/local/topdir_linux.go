package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// fsTopdirFL is FS_TOPDIR_FL (linux/fs.h, chattr +T): the directory is
// the top of a hierarchy of its own.
const fsTopdirFL = 0x00020000

// markTopDir marks the directory root as the top of a directory
// hierarchy (chattr +T), unless it already is, so that ext2, ext3 and
// ext4 place each directory made in it, the 256 shard directories, as
// they place directories made at the file system's root: spread over
// its block groups, away from the groups of the root's parent and of
// one another, rather than beside their parent. A new file's inode goes
// to its directory's group, and on an ext4 without a journal taking an
// inode walks past every inode of that group deleted within the last
// seconds (the kernel's recently_deleted): beside the parent, that is
// every file a neighbour just deleted (a test's temporary directory, the
// previous data directory removed before this one was made). It changes
// only where directories made later go; where the file system has no
// such flag or the process may not set it, it does nothing.
func markTopDir(root *os.File) {
	if !topDirs {
		return
	}
	rc, err := root.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		flags, err := unix.IoctlGetUint32(int(fd), unix.FS_IOC_GETFLAGS)
		if err != nil || flags&fsTopdirFL != 0 {
			return
		}
		unix.IoctlSetPointerInt(int(fd), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
	})
}
