package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReadmeExamples runs the README's client examples (the first five
// minutes and the Command line section), command by command, with the
// real binary against a real server, and compares what each prints with
// what the README shows: an example that stops matching the program fails
// here. Timestamps, signatures, key ids and tokens, and paths of the
// machine are compared by shape; lines printed by parallel transfers in
// any order.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "simpledrive")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/simpledrive").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, ex := range []struct {
		heading string
		block   int // which console block of the section
	}{{"The first five minutes", 1}, {"Command line", 0}} {
		t.Run(strings.ReplaceAll(ex.heading, " ", "_"), func(t *testing.T) {
			runExample(t, bin, consoleBlock(t, string(readme), ex.heading, ex.block))
		})
	}
}

// consoleBlock returns the n-th ```console block of the README section
// called heading.
func consoleBlock(t *testing.T, readme, heading string, n int) string {
	t.Helper()
	i := strings.Index(readme, "\n## "+heading+"\n")
	if i < 0 {
		t.Fatalf("the README has no section %q", heading)
	}
	section := readme[i+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	blocks := strings.Split(section, "```console\n")
	if len(blocks) <= n+1 {
		t.Fatalf("section %q has %d console blocks", heading, len(blocks)-1)
	}
	return blocks[n+1][:strings.Index(blocks[n+1], "```\n")]
}

// runExample runs the commands of a console block in one shell, in a
// directory holding the files the README's examples use, and compares
// each command's output with the block's.
func runExample(t *testing.T, bin, block string) {
	type step struct{ cmd, want string }
	var steps []step
	for line := range strings.SplitSeq(strings.TrimSuffix(block, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			steps = append(steps, step{cmd: cmd})
		} else {
			steps[len(steps)-1].want += line + "\n"
		}
	}
	s := startServer(t, map[string]string{"API_TOKEN": "secret"})
	work := t.TempDir()
	writeTree(t, work, map[string][]byte{
		"report.txt": []byte("Quarterly report\n"), "photos/cat.jpg": []byte("meow"),
		"photos/2026/dog.jpg": []byte("woof woof"), "photos/2026/empty.txt": nil,
	})
	if err := os.Symlink(bin, filepath.Join(work, "simpledrive")); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for i, st := range steps {
		cmd := strings.ReplaceAll(st.cmd, "http://localhost:8080", s.URL)
		script.WriteString("echo '@@step " + strconv.Itoa(i) + "'\n{ " + cmd + "\n} 2>&1\n")
	}
	sh := exec.Command("bash", "-c", script.String())
	sh.Dir = work
	sh.Env = []string{"PATH=" + filepath.Dir(bin) + ":" + os.Getenv("PATH"), "HOME=" + work,
		"XDG_CONFIG_HOME=" + t.TempDir(), "XDG_CACHE_HOME=" + t.TempDir(), "LC_ALL=C.UTF-8"}
	out, _ := sh.CombinedOutput()
	got := strings.Split(string(out), "@@step ")[1:]
	if len(got) != len(steps) {
		t.Fatalf("ran %d of %d steps:\n%s", len(got), len(steps), out)
	}
	for i, st := range steps {
		_, printed, _ := strings.Cut(got[i], "\n")
		printed = strings.ReplaceAll(printed, s.URL, "http://localhost:8080")
		if a, b := shape(printed), shape(st.want); !slices.Equal(a, b) {
			t.Errorf("$ %s\nprinted:\n%s\nthe README shows:\n%s", st.cmd, printed, st.want)
		}
	}
}

// shapes replace what differs from run to run with a name for it.
var shapes = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME"},
	{regexp.MustCompile(`expires=\d+&sig=[\w-]+&v=\d+`), "SIGNATURE"},
	{regexp.MustCompile(`sd_[0-9a-f]+_[\w-]+`), "TOKEN"},
	{regexp.MustCompile(`key [0-9a-f]+ `), "key ID "},
	{regexp.MustCompile(`\(saved in [^)]+\)`), "(saved in PATH)"},
}

// shape returns text's lines, sorted, with what differs between runs
// replaced by its shape.
func shape(text string) []string {
	for _, s := range shapes {
		text = s.re.ReplaceAllString(text, s.with)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	slices.Sort(lines)
	return lines
}
