package upload

import "strings"

// A lease's owner names the write that holds it and the process that
// write runs in: "<process>/<write>", the write part random. On Linux the
// process part names one process of one running kernel (see processID); a
// server meeting a lease whose process has ended on its own kernel and in
// its own pid namespace (a writer killed with kill -9, then restarted)
// takes the lease at once instead of waiting for it to expire. A process
// it cannot see (another host or container, another OS) is taken to be
// alive: its lease lasts until it expires. Either way the commit stays
// fenced by the owner, so a misjudged writer can never interleave.

// thisProcess is this process's part of its leases' owners.
var thisProcess = processID()

// newOwner returns the owner of a new lease.
func newOwner() string { return thisProcess + "/" + newID() }

// ownerGone reports whether the process of a lease's owner is known to
// have ended.
func ownerGone(owner string) bool {
	process, _, ok := strings.Cut(owner, "/")
	return ok && process != thisProcess && processGone(process)
}
