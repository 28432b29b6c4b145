package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/cli"
)

// run runs the command line args with the environment vars and returns
// its exit code, stdout and stderr.
func run(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, cli.Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(name string) string { return vars[name] },
	})
	return code, stdout.String(), stderr.String()
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"--nope"}, {"serve", "extra"}} {
		if code, _, stderr := run(t, nil, args...); code != cli.ExitUsage || stderr == "" {
			t.Errorf("simpledrive %q = exit %d, %q; want %d and a message", args, code, stderr, cli.ExitUsage)
		}
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	for _, args := range [][]string{nil, {"serve"}} {
		code, _, stderr := run(t, map[string]string{"API_TOKEN": "hunter2", "STORAGE_BACKEND": "tape"}, args...)
		if code != cli.ExitUsage || !strings.Contains(stderr, "STORAGE_BACKEND") || strings.Contains(stderr, "hunter2") {
			t.Errorf("simpledrive %q with a bad backend = exit %d, %q; want %d naming STORAGE_BACKEND, without the token", args, code, stderr, cli.ExitUsage)
		}
	}
}

func TestHelpListsServe(t *testing.T) {
	code, stdout, _ := run(t, nil, "--help")
	if code != cli.ExitOK || !strings.Contains(stdout, "serve") {
		t.Errorf("simpledrive --help = exit %d, %q", code, stdout)
	}
}
