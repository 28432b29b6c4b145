package cli_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/cli"
	"github.com/simpledrive/simpledrive/internal/config"
)

// maintEnv is the configuration of a local+SQLite deployment in a fresh
// directory, without API_TOKEN: gc and fsck do not need it.
func maintEnv(t *testing.T) map[string]string {
	dir := t.TempDir()
	return map[string]string{"DATABASE_URL": filepath.Join(dir, "meta.db"), "LOCAL_STORAGE_PATH": filepath.Join(dir, "blobs")}
}

// seed stores blobs and one orphan aged two hours, and returns the path
// of a blob's file and of the orphan.
func seed(t *testing.T, vars map[string]string) (blobFile, orphan string) {
	t.Helper()
	cfg, err := config.Load(func(n string) string {
		if n == "API_TOKEN" {
			return "x"
		}
		return vars[n]
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	core, err := app.OpenCore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := core.Service.Create(ctx, id, strings.NewReader("bytes of "+id), int64(len("bytes of "+id))); err != nil {
			t.Fatal(err)
		}
	}
	if err := core.Backend.Put(ctx, "00/00/orphan", bytes.NewReader(make([]byte, 2048)), 2048); err != nil {
		t.Fatal(err)
	}
	orphan = filepath.Join(vars["LOCAL_STORAGE_PATH"], "00", "00", "orphan")
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(orphan, old, old); err != nil {
		t.Fatal(err)
	}
	rec, err := core.Meta.Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(vars["LOCAL_STORAGE_PATH"], filepath.FromSlash(rec.StorageKey)), orphan
}

func TestGCCommand(t *testing.T) {
	vars := maintEnv(t)
	_, orphan := seed(t, vars)
	code, stdout, stderr := run(t, vars, "gc", "--dry-run")
	if code != cli.ExitOK || !strings.Contains(stdout, "would remove (dry run) 1 keys (2.0 KiB)") || stderr != "" {
		t.Fatalf("gc --dry-run = exit %d, %q, %q", code, stdout, stderr)
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatalf("gc --dry-run removed the orphan: %v", err)
	}
	if code, stdout, _ := run(t, vars, "gc", "--older-than", "3h"); code != cli.ExitOK || !strings.Contains(stdout, "removed 0 keys") {
		t.Fatalf("gc --older-than 3h = exit %d, %q; want the 2h-old orphan kept", code, stdout)
	}
	if code, stdout, _ := run(t, vars, "gc"); code != cli.ExitOK || !strings.Contains(stdout, "removed 1 keys (2.0 KiB)") {
		t.Fatalf("gc = exit %d, %q", code, stdout)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("gc left the orphan: %v", err)
	}
	if code, _, stderr := run(t, vars, "gc", "--older-than", "soon"); code != cli.ExitUsage || stderr == "" {
		t.Fatalf("gc with a bad flag = exit %d, %q; want %d", code, stderr, cli.ExitUsage)
	}
}

func TestFsckCommand(t *testing.T) {
	vars := maintEnv(t)
	blobFile, _ := seed(t, vars)
	if code, stdout, _ := run(t, vars, "fsck", "--deep"); code != cli.ExitOK || !strings.Contains(stdout, "3 checked") || !strings.Contains(stdout, ": 0 problems") {
		t.Fatalf("fsck --deep of a sound store = exit %d, %q", code, stdout)
	}
	if err := os.Remove(blobFile); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := run(t, vars, "fsck")
	if code != cli.ExitProblems || !strings.HasPrefix(stdout, "missing\tid=\"b\"") || !strings.Contains(stdout, "1 problems (missing 1)") {
		t.Fatalf("fsck with a missing blob = exit %d, %q; want %d and the problem", code, stdout, cli.ExitProblems)
	}
	if code, _, _ := run(t, vars, "fsck"); code != cli.ExitProblems {
		t.Fatalf("fsck changed something without --repair: exit %d on the second run", code)
	}
	code, stdout, _ = run(t, vars, "fsck", "--repair")
	if code != cli.ExitProblems || !strings.Contains(stdout, "repaired\tid=\"b\"") || strings.Index(stdout, "missing\t") > strings.Index(stdout, "repaired\t") {
		t.Fatalf("fsck --repair = exit %d, %q; want the problem printed, then repaired", code, stdout)
	}
	if code, stdout, _ := run(t, vars, "fsck", "--deep"); code != cli.ExitOK || !strings.Contains(stdout, "2 checked") {
		t.Fatalf("fsck after the repair = exit %d, %q", code, stdout)
	}
}
