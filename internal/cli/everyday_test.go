package cli_test

import (
	"context"
	"crypto/rand"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/cli"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// ids returns every id under prefix, by ls -r.
func (s *server) ids(t *testing.T, prefix string) []string {
	t.Helper()
	code, out, errs := s.run(context.Background(), t, nil, "ls", "-r", prefix)
	if code != 0 {
		t.Fatalf("ls -r %s = %d, %q", prefix, code, errs)
	}
	if out == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// testTree is a tree with nested folders, empty files, spaces and
// non-ASCII names, and a file big enough to go up resumably.
func testTree() map[string][]byte {
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	return map[string][]byte{
		"readme.txt":                   []byte("top level\n"),
		"empty":                        nil,
		"a/b/c/deep.txt":               []byte("three folders down"),
		"a/b/empty too":                nil,
		"with space/file name.txt":     []byte("spaces in both"),
		"ñandú/日本語.txt":                []byte("non-ASCII folder and file"),
		"ñandú/sub dir/émoji 🎉.bin":    {0, 1, 2, 255},
		"media/big.bin":                big,
		"a/b/c/d/e/f/g/nested-deep.md": []byte("# deep"),
	}
}

// TestTreeRoundTrip: a tree goes up with put -r under a --prefix without
// its /, and comes back with get -r byte-identical; a second put -r
// --skip-existing sends nothing.
func TestTreeRoundTrip(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "new", "dir")
	files := testTree()
	testenv.WriteTree(t, src, files)
	if err := os.Symlink(filepath.Join(src, "readme.txt"), filepath.Join(src, "link.txt")); err != nil {
		t.Fatal(err)
	}
	code, stdout, errs := s.run(ctx, t, nil, "put", "-r", src, "--prefix", "proj", "--threshold", "1MiB", "--chunk-size", "1MiB", "-j", "3")
	if code != 0 {
		t.Fatalf("put -r = %d, %q, %q", code, stdout, errs)
	}
	want := make([]string, 0, len(files))
	for rel := range files {
		want = append(want, "proj/"+rel)
	}
	slices.Sort(want)
	if got := s.ids(t, "proj/"); !slices.Equal(got, want) {
		t.Fatalf("ids after put -r:\n%q\nwant\n%q", got, want)
	}
	if code, _, errs := s.run(ctx, t, nil, "get", "-r", "proj", "-o", out); code != 0 {
		t.Fatalf("get -r = %d, %q", code, errs)
	}
	testenv.SameTree(t, "get -r", testenv.ReadTree(t, out), files)

	// Again: nothing goes up, and get -r refuses to overwrite.
	s.patched.Store(0)
	code, stdout, errs = s.run(ctx, t, nil, "put", "-r", src, "--prefix", "proj/", "--skip-existing", "--threshold", "1MiB")
	if code != 0 || strings.Count(stdout, "skipped") != len(files) || s.patched.Load() != 0 {
		t.Fatalf("put -r --skip-existing again = %d, %q, %q, %d bytes patched; want every file skipped", code, stdout, errs, s.patched.Load())
	}
	if code, _, errs := s.run(ctx, t, nil, "get", "-r", "proj/", "-o", out); code != cli.ExitConflict || !strings.Contains(errs, "--force") {
		t.Fatalf("get -r onto existing files = %d, %q; want %d naming --force", code, errs, cli.ExitConflict)
	}
	if code, _, errs := s.run(ctx, t, nil, "put", src); code != cli.ExitUsage || !strings.Contains(errs, "put -r") {
		t.Fatalf("put of a directory without -r = %d, %q", code, errs)
	}
}

// TestSync: sync up twice transfers nothing the second time; --delete
// removes exactly what the source lacks, on either side; a changed file
// is replaced.
func TestSync(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	src := t.TempDir()
	files := testTree()
	testenv.WriteTree(t, src, files)
	run := func(args ...string) string {
		t.Helper()
		code, out, errs := s.run(ctx, t, nil, args...)
		if code != 0 {
			t.Fatalf("%s = %d, %q, %q", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	if out := run("sync", src, "sd:photos", "--threshold", "1MiB"); !strings.Contains(out, "sync: 9 transferred, 0 unchanged, 0 deleted") {
		t.Fatalf("first sync: %q", out)
	}
	s.patched.Store(0)
	if out := run("sync", src, "sd:photos/"); !strings.HasSuffix(out, "sync: 0 transferred, 9 unchanged, 0 deleted\n") || s.patched.Load() != 0 {
		t.Fatalf("second sync: %q, %d bytes patched; want nothing transferred", out, s.patched.Load())
	}

	// The source changes: one file edited, one removed; the server has
	// extra blobs under the prefix and one beside it.
	os.WriteFile(filepath.Join(src, "readme.txt"), []byte("edited"), 0o644)
	os.Remove(filepath.Join(src, "empty"))
	files["readme.txt"] = []byte("edited")
	delete(files, "empty")
	dir := t.TempDir()
	testenv.WriteTree(t, dir, map[string][]byte{"x": []byte("extra"), "y": []byte("beside")})
	run("put", filepath.Join(dir, "x"), "--prefix", "photos/extra")
	run("put", filepath.Join(dir, "y"), "--id", "photosbeside")
	if out := run("sync", src, "sd:photos", "--delete", "--dry-run"); !strings.Contains(out, "would delete photos/empty") ||
		!strings.Contains(out, "would delete photos/extra/x") || !strings.Contains(out, "1 would be transferred") {
		t.Fatalf("sync --dry-run: %q", out)
	}
	if got := len(s.ids(t, "photos/")); got != 10 {
		t.Fatalf("a dry run changed the server: %d ids", got)
	}
	if out := run("sync", src, "sd:photos", "--delete"); !strings.Contains(out, "sync: 1 transferred, 7 unchanged, 2 deleted") {
		t.Fatalf("sync --delete: %q", out)
	}
	var want []string
	for rel := range files {
		want = append(want, "photos/"+rel)
	}
	slices.Sort(want)
	if got := s.ids(t, "photos/"); !slices.Equal(got, want) {
		t.Fatalf("after sync --delete:\n%q\nwant\n%q", got, want)
	}
	if got := s.ids(t, "photosbeside"); len(got) != 1 {
		t.Fatalf("sync --delete touched an id beside the prefix: %q", got)
	}

	// Down: into a fresh directory, then a no-op, then --delete.
	down := t.TempDir()
	testenv.WriteTree(t, down, map[string][]byte{"local only.txt": []byte("not on the server"), "readme.txt": []byte("stale")})
	run("sync", "sd:photos/", down)
	got := testenv.ReadTree(t, down)
	if string(got["local only.txt"]) != "not on the server" {
		t.Fatal("sync down without --delete removed a local file")
	}
	delete(got, "local only.txt")
	testenv.SameTree(t, "sync down", got, files)
	s.media.Store(0)
	if out := run("sync", "sd:photos", down, "--delete"); !strings.Contains(out, "sync: 0 transferred, 8 unchanged, 1 deleted") || s.media.Load() != 0 {
		t.Fatalf("sync down --delete: %q, %d bytes read", out, s.media.Load())
	}
	testenv.SameTree(t, "sync down --delete", testenv.ReadTree(t, down), files)
	if code, _, _ := s.run(ctx, t, nil, "sync", src, down); code != cli.ExitUsage {
		t.Fatalf("sync of two local directories = %d; want %d", code, cli.ExitUsage)
	}
}

// TestRmRecursive: rm -r removes exactly the prefix, as a folder; a dry
// run removes nothing.
func TestRmRecursive(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	testenv.WriteTree(t, dir, map[string][]byte{"1": []byte("1")})
	for _, id := range []string{"a/1", "a/2", "a/b/3", "ab", "b/a/1", "a"} {
		if code, _, errs := s.run(ctx, t, nil, "put", filepath.Join(dir, "1"), "--id", id); code != 0 {
			t.Fatalf("put %s: %q", id, errs)
		}
	}
	code, out, _ := s.run(ctx, t, nil, "rm", "-r", "a", "--dry-run")
	if code != 0 || !strings.Contains(out, "3 blobs would be deleted") || len(s.ids(t, "")) != 6 {
		t.Fatalf("rm -r --dry-run = %d, %q", code, out)
	}
	if code, out, errs := s.run(ctx, t, nil, "rm", "-r", "a/"); code != 0 || strings.Count(out, "deleted") != 3 {
		t.Fatalf("rm -r = %d, %q, %q", code, out, errs)
	}
	if got := s.ids(t, ""); !slices.Equal(got, []string{"a", "ab", "b/a/1"}) {
		t.Fatalf("after rm -r a/: %q", got)
	}
}

// TestMoveCopyCommands: mv and cp go through the server, keep the
// SHA-256, and need their scopes.
func TestMoveCopyCommands(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	file, _ := randomFile(t, t.TempDir(), "f", 5000)
	s.run(ctx, t, nil, "put", file, "--id", "in/f")
	_, before, _ := s.run(ctx, t, nil, "stat", "in/f", "--json")
	sum := before[strings.Index(before, `"sha256"`):][:76]
	if code, out, errs := s.run(ctx, t, nil, "mv", "in/f", "archive/f"); code != 0 || out != "moved in/f -> archive/f\n" {
		t.Fatalf("mv = %d, %q, %q", code, out, errs)
	}
	if code, out, errs := s.run(ctx, t, nil, "cp", "archive/f", "shared/f"); code != 0 || out != "copied archive/f -> shared/f\n" {
		t.Fatalf("cp = %d, %q, %q", code, out, errs)
	}
	for _, id := range []string{"archive/f", "shared/f"} {
		if _, st, _ := s.run(ctx, t, nil, "stat", id, "--json"); !strings.Contains(st, sum) {
			t.Fatalf("%s after mv/cp: %s; want %s", id, st, sum)
		}
	}
	if code, _, errs := s.run(ctx, t, nil, "mv", "shared/f", "archive/f"); code != cli.ExitConflict || !strings.Contains(errs, "blob_exists") {
		t.Fatalf("mv onto a taken id = %d, %q", code, errs)
	}
	_, tok, _ := s.run(ctx, t, nil, "keys", "create", "--name", "rw", "--scope", "read,write")
	tok = strings.TrimSpace(tok)
	if code, _, errs := s.run(ctx, t, nil, "mv", "shared/f", "shared/g", "--token", tok); code != cli.ExitUnauthorized || !strings.Contains(errs, "delete scope") {
		t.Fatalf("mv with a read+write key = %d, %q; want %d naming the delete scope", code, errs, cli.ExitUnauthorized)
	}
	if code, _, errs := s.run(ctx, t, nil, "cp", "shared/f", "shared/g", "--token", tok); code != 0 {
		t.Fatalf("cp with a read+write key = %d, %q", code, errs)
	}
}

// TestEverydayPolish: the small things a user meets first.
func TestEverydayPolish(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	file, data := randomFile(t, dir, "hello.txt", 1500)
	must := func(args ...string) string {
		t.Helper()
		code, out, errs := s.run(ctx, t, nil, args...)
		if code != 0 {
			t.Fatalf("%s = %d, %q, %q", strings.Join(args, " "), code, out, errs)
		}
		return out
	}

	if out := must("--version"); !strings.HasPrefix(out, "simpledrive ") {
		t.Errorf("--version printed %q", out)
	}
	// --prefix adds its /.
	must("put", file, "--prefix", "inbox")
	must("stat", "inbox/hello.txt")
	// ls -l: columns separated and aligned; -h sizes.
	must("put", file, "--id", "inbox/a much longer name.txt", "--content-type", "application/pdf")
	lines := strings.Split(strings.TrimSpace(must("ls", "-l", "inbox/")), "\n")
	if len(lines) != 2 || strings.Index(lines[0], "inbox/") != strings.Index(lines[1], "inbox/") || !strings.Contains(lines[0], "  inbox/") {
		t.Errorf("ls -l columns not aligned:\n%s", strings.Join(lines, "\n"))
	}
	if out := must("ls", "-lh", "inbox/"); !strings.Contains(out, "1.5 KiB") {
		t.Errorf("ls -lh: %q", out)
	}
	// put --skip-existing and --overwrite.
	if code, _, errs := s.run(ctx, t, nil, "put", file, "--prefix", "inbox/"); code != cli.ExitConflict || !strings.Contains(errs, "--overwrite") {
		t.Errorf("put of a taken id = %d, %q; want a hint at --skip-existing/--overwrite", code, errs)
	}
	os.WriteFile(file, []byte("new content"), 0o644)
	if code, _, errs := s.run(ctx, t, nil, "put", file, "--prefix", "inbox/", "--skip-existing"); code != cli.ExitConflict || !strings.Contains(errs, "other content") {
		t.Errorf("put --skip-existing of other content = %d, %q", code, errs)
	}
	must("put", file, "--prefix", "inbox/", "--overwrite")
	if out := must("get", "inbox/hello.txt", "-o", "-"); out != "new content" {
		t.Errorf("after --overwrite: %q", out)
	}
	// get: refuses to overwrite, creates directories, --force.
	target := filepath.Join(dir, "new", "sub", "hello.txt")
	must("get", "inbox/hello.txt", "-o", target)
	if code, _, errs := s.run(ctx, t, nil, "get", "inbox/hello.txt", "-o", target); code != cli.ExitConflict || !strings.Contains(errs, "simpledrive: get inbox/hello.txt: ") || !strings.Contains(errs, "--force") {
		t.Errorf("get onto a file = %d, %q", code, errs)
	}
	os.WriteFile(target, data, 0o644)
	must("get", "inbox/hello.txt", "-o", target, "--force")
	if got, _ := os.ReadFile(target); string(got) != "new content" {
		t.Errorf("get --force wrote %q", got)
	}
	// Durations in days.
	if out := must("link", "inbox/hello.txt", "--expires", "7d"); !strings.HasPrefix(out, s.URL+"/v1/blobs/inbox%2Fhello.txt?") {
		t.Errorf("link --expires 7d: %q", out)
	}
	// Errors: one format, plain words, hints.
	if code, _, errs := s.run(ctx, t, nil, "stat", "x", "--url", "http://127.0.0.1:1"); code != cli.ExitUnavailable ||
		errs != "simpledrive: stat x: cannot reach http://127.0.0.1:1: is the server running? (connection refused)\n" {
		t.Errorf("unreachable server = %d, %q", code, errs)
	}
	if code, _, errs := s.run(ctx, t, nil, "ls", "--token", "wrong"); code != cli.ExitUnauthorized || !strings.HasPrefix(errs, "simpledrive: ls: the bearer token") || !strings.Contains(errs, "SIMPLEDRIVE_TOKEN") {
		t.Errorf("wrong token = %d, %q; want the SIMPLEDRIVE_TOKEN hint", code, errs)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if code, _, errs := s.run(cancelled, t, nil, "put", file, "--id", "late"); code == 0 || !strings.Contains(errs, "run the same command again to resume") {
		t.Errorf("interrupted put = %d, %q", code, errs)
	}
	// A confined key writing outside its prefix is told so.
	tok := strings.TrimSpace(must("keys", "create", "--name", "team", "--scope", "read,write", "--prefix", "team/", "--expires", "30d"))
	if code, _, errs := s.run(ctx, t, nil, "put", file, "--id", "elsewhere/x", "--token", tok); code != cli.ExitUnauthorized || !strings.Contains(errs, "confined to a prefix") {
		t.Errorf("confined put outside its prefix = %d, %q", code, errs)
	}
	// du.
	if out := must("du"); !strings.Contains(out, "blobs                2\n") || !strings.Contains(out, "awaiting collection  1 (1500)\n") {
		t.Errorf("du:\n%s", out)
	}
	if out := must("du", "-h", "inbox/a"); !strings.Contains(out, "1.5 KiB") || !strings.Contains(out, "blobs               1\n") {
		t.Errorf("du -h inbox/a:\n%s", out)
	}
}

// TestProfiles: config add keeps a server and its token in the user's
// config directory; commands use it, --profile picks another, and
// SIMPLEDRIVE_URL still wins over the current profile.
func TestProfiles(t *testing.T) {
	s := startServer(t, nil)
	other := startServer(t, nil)
	cfg := t.TempDir()
	run := func(vars map[string]string, args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		env := map[string]string{"XDG_CONFIG_HOME": cfg, "XDG_CACHE_HOME": s.cache}
		for k, v := range vars {
			env[k] = v
		}
		code := cli.Main(context.Background(), args, cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(n string) string { return env[n] }})
		return code, stdout.String(), stderr.String()
	}
	if code, out, errs := run(nil, "config", "add", "home", s.URL, "--token", testToken); code != 0 || !strings.Contains(out, "profile home") {
		t.Fatalf("config add = %d, %q, %q", code, out, errs)
	}
	run(nil, "config", "add", "work", other.URL, "--token", testToken)
	if st, err := os.Stat(filepath.Join(cfg, "simpledrive", "config.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v; want mode 0600", err, st)
	}
	file, _ := randomFile(t, t.TempDir(), "f", 10)
	if code, _, errs := run(nil, "put", file, "--id", "on-home"); code != 0 {
		t.Fatalf("put through the current profile = %d, %q", code, errs)
	}
	if code, _, errs := run(nil, "put", file, "--id", "on-work", "--profile", "work"); code != 0 {
		t.Fatalf("put --profile work = %d, %q", code, errs)
	}
	if got := s.ids(t, "on-"); !slices.Equal(got, []string{"on-home"}) {
		t.Fatalf("home holds %q", got)
	}
	if got := other.ids(t, "on-"); !slices.Equal(got, []string{"on-work"}) {
		t.Fatalf("work holds %q", got)
	}
	if code, out, _ := run(map[string]string{"SIMPLEDRIVE_URL": other.URL, "SIMPLEDRIVE_TOKEN": testToken}, "ls"); code != 0 || out != "on-work\n" {
		t.Fatalf("SIMPLEDRIVE_URL over the current profile: %d, %q", code, out)
	}
	if code, out, _ := run(nil, "config", "ls"); code != 0 || !strings.Contains(out, "*  home") || !strings.Contains(out, "token set") {
		t.Fatalf("config ls = %d, %q", code, out)
	}
	if code, _, errs := run(nil, "ls", "--profile", "nope"); code != cli.ExitUsage || !strings.Contains(errs, "config ls") {
		t.Fatalf("an unknown profile = %d, %q", code, errs)
	}
}

// TestGetTreeRefusesEscapes: an id whose path after the prefix would
// leave the output directory is refused; the others are written.
func TestGetTreeRefusesEscapes(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	file, _ := randomFile(t, t.TempDir(), "f", 10)
	for _, id := range []string{"p/ok.txt", "p/../escape", "p//double", "p/./dot"} {
		if code, _, errs := s.run(ctx, t, nil, "put", file, "--id", id); code != 0 {
			t.Fatalf("put %s: %q", id, errs)
		}
	}
	root := t.TempDir()
	out := filepath.Join(root, "out")
	code, _, errs := s.run(ctx, t, nil, "get", "-r", "p/", "-o", out)
	if code == 0 || strings.Count(errs, "does not map to a file") != 3 {
		t.Fatalf("get -r = %d, %q; want the three ids refused", code, errs)
	}
	got := testenv.ReadTree(t, root)
	if len(got) != 1 || got["out/ok.txt"] == nil {
		t.Fatalf("files written: %v; want out/ok.txt alone", slices.Collect(maps.Keys(got)))
	}
}
