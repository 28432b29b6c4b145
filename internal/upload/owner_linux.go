package upload

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processID returns "linux:<boot id>:<pid namespace>:<pid>:<start time>",
// which names this process among all processes of all boots of this
// kernel, or, when /proc cannot tell, a random id that no server judges
// gone.
func processID() string {
	boot, ns, ok := kernelScope()
	start, sok := startTime(os.Getpid())
	if !ok || !sok {
		return "random:" + newID()
	}
	return fmt.Sprintf("linux:%s:%s:%d:%s", boot, ns, os.Getpid(), start)
}

// kernelScope returns the boot id of the running kernel and the inode of
// this process's pid namespace: where a pid means one process.
func kernelScope() (boot, ns string, ok bool) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", "", false
	}
	link, err := os.Readlink("/proc/self/ns/pid") // pid:[4026531836]
	if err != nil {
		return "", "", false
	}
	return strings.TrimSpace(string(b)), strings.Trim(strings.TrimPrefix(link, "pid:"), "[]"), true
}

// startTime returns the start time of process pid, in clock ticks since
// boot (field 22 of /proc/<pid>/stat).
func startTime(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The command name, field 2, is in parentheses and may hold anything.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 20 {
		return "", false
	}
	return fields[19], true
}

// processGone reports whether the process named by id (see processID) is
// known to have ended: it ran on this kernel's boot, in this pid
// namespace, and its pid now names no process, or one started at another
// time.
func processGone(id string) bool {
	f := strings.Split(id, ":")
	boot, ns, ok := kernelScope()
	if len(f) != 5 || f[0] != "linux" || !ok || f[1] != boot || f[2] != ns {
		return false
	}
	pid, err := strconv.Atoi(f[3])
	if err != nil || pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	start, ok := startTime(pid)
	return ok && start != f[4]
}
