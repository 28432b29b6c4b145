package local

// SmallFile is the largest file Get reads whole as it opens it (on Linux).
const SmallFile = smallFile

// WriteFull is writeFull, the copy of Put.
var WriteFull = writeFull
