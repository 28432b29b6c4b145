package local

// SmallFile is the largest file Get reads whole as it opens it (on Linux).
const SmallFile = smallFile

// WriteFull is writeFull, the copy of Put.
var WriteFull = writeFull

// SetDirectWrites turns direct writes on or off (see directWriter), and
// returns the function that restores the previous setting.
func SetDirectWrites(on bool) (restore func()) {
	was := directWrites
	directWrites = on
	return func() { directWrites = was }
}

// SetTopDirs turns the marking of the root as the top of a directory
// hierarchy on or off (see markTopDir), and returns the function that
// restores the previous setting.
func SetTopDirs(on bool) (restore func()) {
	was := topDirs
	topDirs = on
	return func() { topDirs = was }
}
