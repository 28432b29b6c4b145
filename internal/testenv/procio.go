package testenv

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"
)

// IO is what a process has written so far, from /proc/self/io (Linux):
// the bytes passed to write calls and the number of those calls. A
// benchmark of a write path reports their growth per op with
// [IO.Report]: figures that, unlike its time, a busy machine leaves
// alone.
type IO struct {
	ok           bool
	wchar, syscw int64
}

// ProcIO reads the process's write counters; where there are none
// (another system) its Report reports nothing.
func ProcIO() IO {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return IO{}
	}
	var io IO
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, value, _ := bytes.Cut(sc.Bytes(), []byte(": "))
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil {
			continue
		}
		switch string(name) {
		case "wchar":
			io.wchar, io.ok = n, true
		case "syscw":
			io.syscw = n
		}
	}
	return io
}

// Report reports, per op of b, the bytes written and the write calls
// made since io was read, as "wbytes/op" and "writes/op".
func (io IO) Report(b *testing.B) {
	now := ProcIO()
	if !io.ok || !now.ok || b.N == 0 {
		return
	}
	b.ReportMetric(float64(now.wchar-io.wchar)/float64(b.N), "wbytes/op")
	b.ReportMetric(float64(now.syscw-io.syscw)/float64(b.N), "writes/op")
}
