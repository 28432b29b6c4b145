package cli_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestProgressOnTerminalOnly runs get, and a resumable put, with stderr on
// a pseudo-terminal, where each draws a progress bar, and get with stderr
// piped, where it must not.
func TestProgressOnTerminalOnly(t *testing.T) {
	s := startServer(t, nil)
	dir := t.TempDir()
	file, _ := randomFile(t, dir, "big.bin", 6<<20)
	if code, _, errs := s.run(context.Background(), t, nil, "put", file, "--id", "big"); code != 0 {
		t.Fatalf("put = %d, %q", code, errs)
	}

	var stdout bytes.Buffer
	for _, args := range [][]string{{"get", "big", "-o", filepath.Join(dir, "a")}, {"put", file, "--id", "big2", "--threshold", "1MiB"}} {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		read := make(chan string)
		go func() {
			b, _ := io.ReadAll(ptmx) // ends with EIO once the tty is closed
			read <- string(b)
		}()
		code := s.runEnv(context.Background(), nil, &stdout, tty, args...)
		tty.Close()
		terminal := <-read
		ptmx.Close()
		if code != 0 || !strings.Contains(terminal, "100%") || !strings.Contains(terminal, "MB") {
			t.Fatalf("%s on a terminal = %d; stderr %q; want a progress bar reaching 100%% with sizes", args[0], code, terminal)
		}
	}

	var piped bytes.Buffer
	code := s.runEnv(context.Background(), nil, &stdout, &piped, "get", "big", "-o", filepath.Join(dir, "b"))
	if code != 0 || piped.Len() != 0 {
		t.Fatalf("get with stderr piped = %d; stderr %q; want nothing", code, piped.String())
	}
	// --quiet silences a terminal too.
	ptmx2, tty2, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx2.Close()
	read := make(chan string)
	go func() { b, _ := io.ReadAll(ptmx2); read <- string(b) }()
	code = s.runEnv(context.Background(), nil, &stdout, tty2, "get", "big", "-q", "-o", filepath.Join(dir, "c"))
	tty2.Close()
	if quiet := <-read; code != 0 || quiet != "" {
		t.Fatalf("get -q on a terminal = %d; stderr %q; want nothing", code, quiet)
	}
}
