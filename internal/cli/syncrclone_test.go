package cli_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestSyncVersusRclone times `simpledrive sync` of 1,000 files of 1 KiB in
// 20 folders up to the server, then again with nothing to do, on the
// default local backend and on s3 (versitygw), against `rclone sync` of the
// same tree straight to versitygw, in one run, and logs the table the
// README quotes (SIMPLEDRIVE_SLOW_TESTS=1). Each tool's second run must
// transfer nothing. Both use their defaults: simpledrive 4 files in flight
// and SHA-256 compared (sizes first); rclone 4 transfers, 8 checkers, size
// and modification time compared.
func TestSyncVersusRclone(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") == "" {
		t.Skip("SIMPLEDRIVE_SLOW_TESTS is not set")
	}
	rclone := testenv.Lookup(t, "TEST_RCLONE")[0]
	v := testenv.Lookup(t, "TEST_S3_ENDPOINT", "TEST_S3_REGION", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY_ID", "TEST_S3_SECRET_ACCESS_KEY")
	src := t.TempDir()
	files := map[string][]byte{}
	for i := range 1000 {
		data := make([]byte, 1024)
		rand.Read(data)
		files[fmt.Sprintf("d%02d/f%04d.bin", i%20, i)] = data
	}
	testenv.WriteTree(t, src, files)
	run := randomID()

	type row struct {
		what          string
		first, second time.Duration
	}
	var rows []row
	ctx := context.Background()
	for _, backend := range []struct {
		name string
		vars map[string]string
	}{
		{"local + SQLite", nil},
		{"s3 (versitygw) + SQLite", map[string]string{"STORAGE_BACKEND": "s3", "S3_ENDPOINT": v[0], "S3_REGION": v[1],
			"S3_BUCKET": v[2], "S3_ACCESS_KEY_ID": v[3], "S3_SECRET_ACCESS_KEY": v[4], "S3_FORCE_PATH_STYLE": "true",
			"S3_PREFIX": fmt.Sprintf("cli-sync-%x/", run)}},
	} {
		s := startServer(t, backend.vars)
		var took [2]time.Duration
		for i, want := range []string{"sync: 1000 transferred, 0 unchanged, 0 deleted", "sync: 0 transferred, 1000 unchanged, 0 deleted"} {
			start := time.Now()
			code, out, errs := s.run(ctx, t, nil, "sync", src, "sd:bench/")
			took[i] = time.Since(start)
			if code != 0 || !strings.HasSuffix(out, want+"\n") {
				t.Fatalf("%s: sync run %d = %d, %q, %q; want %q", backend.name, i+1, code, lastLine(out), errs, want)
			}
		}
		rows = append(rows, row{"`simpledrive sync` to " + backend.name, took[0], took[1]})
	}

	// rclone takes its whole configuration from the environment: a remote
	// "vgw" on versitygw, no config file of the user's and none of the
	// machine's AWS_* variables (its SDK refuses AWS_CA_BUNDLE with the
	// transport rclone gives it).
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "RCLONE_CONFIG=" + filepath.Join(home, "rclone.conf"),
		"RCLONE_CONFIG_VGW_TYPE=s3", "RCLONE_CONFIG_VGW_PROVIDER=Other", "RCLONE_CONFIG_VGW_ENV_AUTH=false",
		"RCLONE_CONFIG_VGW_ENDPOINT=" + v[0], "RCLONE_CONFIG_VGW_REGION=" + v[1],
		"RCLONE_CONFIG_VGW_ACCESS_KEY_ID=" + v[3], "RCLONE_CONFIG_VGW_SECRET_ACCESS_KEY=" + v[4],
		"RCLONE_CONFIG_VGW_FORCE_PATH_STYLE=true"}
	dest := fmt.Sprintf("vgw:%s/rclone-sync-%x", v[2], run)
	var took [2]time.Duration
	for i, copied := range []bool{true, false} {
		cmd := exec.Command(rclone, "sync", src, dest, "-v")
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took[i] = time.Since(start)
		if err != nil {
			t.Fatalf("rclone sync run %d: %v\n%s", i+1, err, out)
		}
		if n := strings.Count(string(out), ": Copied (new)"); (n == 1000) != copied || (!copied && n != 0) {
			t.Fatalf("rclone sync run %d copied %d files; want %v", i+1, n, map[bool]int{true: 1000, false: 0}[copied])
		}
	}
	rows = append(rows, row{"`rclone sync` to versitygw", took[0], took[1]})

	var table strings.Builder
	table.WriteString("\n| 1,000 files of 1 KiB | first run | second run (nothing to do) |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&table, "| %s | %.2f s | %.2f s |\n", r.what, r.first.Seconds(), r.second.Seconds())
	}
	t.Log(table.String())
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}
