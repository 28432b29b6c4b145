package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestReadmeExamples runs every shell example of the README (its
// ```console, ```sh, ```bash and ```shell blocks) with the real binary,
// curl and bash against a real server, command by command, and compares
// what each command prints with what the README shows under it: an example
// that stops matching the program fails here.
//
// Each level-2 section (## ...) is one session, as in one terminal: one
// shell whose exports carry from block to block, one working directory
// holding the files the examples use (readmeFiles), one server (local
// backend and SQLite, API_TOKEN=secret) whose address replaces
// localhost:8080 in the commands and back in their output. The server's
// variables are in the shell's environment, as an operator's shell has
// them for gc and fsck.
//
// Comparison: what differs from run to run (times, signatures, key and
// upload ids, request ids, tokens, paths of the machine) is compared by
// shape, and an id the README shows in one output and uses in a later
// command (an upload's Location, a key id, a signed URL) is replaced in
// that command by the one the server really answered. "…" in the README's
// output stands for any text. Lines may come in any order (parallel
// transfers print in any order). An HTTP response printed with its headers
// (curl -i) shows its status line and the headers the README discusses:
// those must be there, others may be too. A ```console block with a
// command and no output under it claims the command prints nothing; the
// commands of a ```sh block must succeed, their output is not shown.
//
// An HTML comment on the line before a block changes what is done with it:
//
//	<!-- example: not run (REASON) -->             left out, for a reason that says why a test cannot run it
//	<!-- example: output not compared (REASON) --> run; every command must succeed
//	<!-- example: starts the server -->            the block's one command builds and runs the server, for the
//	                                               rest of the section; its "serving" log line is compared
//	<!-- example: fresh server VAR=value ... -->   this block and the rest of its section talk to a new server
//	                                               with these variables added
//
// Anything else after "example:" fails the test. The command that starts
// the server runs as a reader runs it, in the repository's root (so a
// build command there writes the ignored ./simpledrive, which the later
// sections run), with three variables added: LISTEN_ADDR=:0 for a free
// port, and DATABASE_URL and LOCAL_STORAGE_PATH keeping its data in the
// test's directory.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections, err := parseReadme(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		// scripts/test installs it and says where.
		curl := testenv.Lookup(t, "TEST_CURL")[0]
		t.Setenv("PATH", filepath.Dir(curl)+":"+os.Getenv("PATH"))
	}
	b := &binary{dir: t.TempDir()}
	for _, sec := range sections {
		t.Run(strings.ReplaceAll(sec.heading, " ", "_"), func(t *testing.T) {
			runSection(t, b, sec)
		})
	}
}

// readmeFiles are the files in each session's working directory, the
// ones the README's examples upload.
var readmeFiles = map[string][]byte{
	"report.txt":            []byte("Quarterly report\n"),
	"photos/cat.jpg":        []byte("meow"),
	"photos/2026/dog.jpg":   []byte("woof woof"),
	"photos/2026/empty.txt": nil,
	"cat.jpg":               []byte("\xff\xd8\xff\xe0 a cat, as a JPEG would start"),
	"backup.tar":            []byte("not really a tar archive\n"),
	"notes.txt":             []byte("buy milk\n"),
}

// readmeSection is a level-2 section of the README and its shell blocks.
type readmeSection struct {
	heading string
	blocks  []readmeBlock
}

type readmeBlock struct {
	line      int    // of the opening fence, from 1
	lang      string // console, sh, bash or shell
	directive string // what follows "example:" in the comment before it
	steps     []readmeStep
}

type readmeStep struct {
	cmd   string
	want  string
	shown bool // whether the README shows the command's output
}

var shellLangs = []string{"console", "sh", "bash", "shell"}

// parseReadme returns the README's level-2 sections with their shell
// blocks. A block of another language holding a "$ " prompt is an error:
// it would be a shell example nobody runs.
func parseReadme(readme string) ([]readmeSection, error) {
	var sections []readmeSection
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if h, ok := strings.CutPrefix(line, "## "); ok {
			sections = append(sections, readmeSection{heading: h})
			continue
		}
		lang, ok := strings.CutPrefix(line, "```")
		if !ok {
			continue
		}
		start := i
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		if !slices.Contains(shellLangs, lang) {
			for _, l := range body {
				if strings.HasPrefix(l, "$ ") {
					return nil, fmt.Errorf("README line %d: a shell prompt in a ```%s block; make it ```console", start+1, lang)
				}
			}
			continue
		}
		if len(sections) == 0 {
			return nil, fmt.Errorf("README line %d: a shell block before the first section", start+1)
		}
		b := readmeBlock{line: start + 1, lang: lang, steps: parseSteps(lang, body)}
		for j := start - 1; j >= 0 && strings.TrimSpace(lines[j]) != ""; j-- {
			if d, ok := strings.CutPrefix(lines[j], "<!-- example:"); ok {
				b.directive = strings.TrimSpace(strings.TrimSuffix(d, "-->"))
			}
			break
		}
		sec := &sections[len(sections)-1]
		sec.blocks = append(sec.blocks, b)
	}
	return sections, nil
}

// parseSteps splits a block into commands, each with the output shown
// under it. A line ending in \ continues its command on the next.
func parseSteps(lang string, body []string) []readmeStep {
	var steps []readmeStep
	continued := false
	for _, l := range body {
		switch {
		case continued:
			steps[len(steps)-1].cmd += "\n" + l
		case lang != "console":
			if strings.TrimSpace(l) != "" {
				steps = append(steps, readmeStep{cmd: l})
			}
		case strings.HasPrefix(l, "$ "):
			steps = append(steps, readmeStep{cmd: l[2:], shown: true})
		case len(steps) > 0:
			steps[len(steps)-1].want += l + "\n"
		}
		continued = strings.HasSuffix(l, "\\") && len(steps) > 0
	}
	return steps
}

// binary is the simpledrive binary the examples run: the one the README's
// own build command made, or one the test builds when no example has. It
// lives in dir, the whole test's.
type binary struct{ dir, path string }

func (b *binary) get(t *testing.T) string {
	if b.path == "" {
		p := filepath.Join(b.dir, "simpledrive")
		if out, err := exec.Command("go", "build", "-o", p, "../../cmd/simpledrive").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		b.path = p
	}
	return b.path
}

// adopt makes a copy of the binary at built, the one the README's build
// command made, the one the later sections run.
func (b *binary) adopt(t *testing.T, built string) {
	if b.path != "" {
		return
	}
	data, err := os.ReadFile(built)
	if err != nil {
		t.Fatalf("the README's build: %v", err)
	}
	p := filepath.Join(b.dir, "simpledrive")
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	b.path = p
}

// session is one section's terminal: a shell, its directory and the server
// its commands talk to.
type session struct {
	t        *testing.T
	bin      *binary
	dir      string
	env      []string
	base     []string // what to put back to localhost:8080 in outputs, before the server's own
	hostport string   // of the server, replacing localhost:8080 in commands
	bound    map[string]string
	sh       *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Reader
	n        int
}

func runSection(t *testing.T, bin *binary, sec readmeSection) {
	s := &session{t: t, bin: bin, dir: t.TempDir(), bound: map[string]string{}}
	testenv.WriteTree(t, s.dir, readmeFiles)
	for _, b := range sec.blocks {
		what := fmt.Sprintf("README line %d", b.line)
		switch d := b.directive; {
		case d == "":
			s.ensureServer(nil)
			s.runBlock(what, b, true)
		case strings.HasPrefix(d, "not run (") && strings.HasSuffix(d, ")"):
			t.Logf("%s: %s", what, d)
		case strings.HasPrefix(d, "output not compared (") && strings.HasSuffix(d, ")"):
			s.ensureServer(nil)
			s.runBlock(what, b, false)
		case d == "starts the server":
			s.startProcess(what, b)
		case strings.HasPrefix(d, "fresh server "):
			vars := map[string]string{}
			for _, kv := range strings.Fields(strings.TrimPrefix(d, "fresh server ")) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("%s: %q is not VAR=value", what, kv)
				}
				vars[k] = v
			}
			s.hostport = ""
			s.ensureServer(vars)
			s.runBlock(what, b, true)
		default:
			t.Fatalf("%s: unknown directive <!-- example: %s --> (see TestReadmeExamples)", what, d)
		}
	}
}

// ensureServer starts an in-process server with vars for the session
// unless it has one.
func (s *session) ensureServer(vars map[string]string) {
	if s.hostport != "" {
		return
	}
	env := map[string]string{"API_TOKEN": "secret"}
	for k, v := range vars {
		env[k] = v
	}
	srv := startServer(s.t, env)
	s.hostport = strings.TrimPrefix(srv.URL, "http://")
	s.base = nil
	s.env = nil
	for k, v := range srv.vars {
		s.env = append(s.env, k+"="+v)
	}
}

// startProcess runs the block's one command (the README's build and start
// of the server) in the background in the repository's root, and waits for
// the server's "serving" log line.
func (s *session) startProcess(what string, b readmeBlock) {
	t := s.t
	if len(b.steps) != 1 {
		t.Fatalf("%s: a block that starts the server has one command, not %d", what, len(b.steps))
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", b.steps[0].cmd)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "LISTEN_ADDR=:0",
		"DATABASE_URL="+filepath.Join(s.dir, "data", "simpledrive.db"),
		"LOCAL_STORAGE_PATH="+filepath.Join(s.dir, "data", "blobs"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
	})
	lines := bufio.NewScanner(pipe)
	var seen []string
	for lines.Scan() {
		var entry struct{ Msg, URL, Addr string }
		if json.Unmarshal(lines.Bytes(), &entry) != nil || entry.Msg != "serving" {
			seen = append(seen, lines.Text())
			continue
		}
		go io.Copy(io.Discard, pipe)
		s.hostport = strings.TrimPrefix(entry.URL, "http://")
		_, port, _ := strings.Cut(entry.Addr, "]:")
		s.base = []string{"[::]:" + port}
		s.bin.adopt(t, filepath.Join(root, "simpledrive"))
		s.compare(what, b.steps[0], s.local(lines.Text()))
		return
	}
	t.Fatalf("%s: %s\nended without serving:\n%s", what, b.steps[0].cmd, strings.Join(seen, "\n"))
}

// shellEnv is the environment of the session's commands, with binDir
// first in PATH.
func (s *session) shellEnv(binDir string) []string {
	env := []string{"PATH=" + binDir + ":" + os.Getenv("PATH"), "HOME=" + s.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(s.dir, ".config"), "XDG_CACHE_HOME=" + filepath.Join(s.dir, ".cache"),
		"LC_ALL=C.UTF-8"}
	return append(env, s.env...)
}

// runBlock runs the block's commands one by one in the session's shell,
// comparing their outputs with the README's when compare is set, and
// requiring their success otherwise.
func (s *session) runBlock(what string, b readmeBlock, compare bool) {
	t := s.t
	if s.sh == nil {
		if _, err := os.Lstat(filepath.Join(s.dir, "simpledrive")); err != nil {
			if err := os.Symlink(s.bin.get(t), filepath.Join(s.dir, "simpledrive")); err != nil {
				t.Fatal(err)
			}
		}
		s.sh = exec.Command("bash", "--norc", "--noprofile")
		s.sh.Dir = s.dir
		s.sh.Env = s.shellEnv(filepath.Dir(s.bin.get(t)))
		in, err := s.sh.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.sh.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		s.sh.Stderr = s.sh.Stdout
		if err := s.sh.Start(); err != nil {
			t.Fatal(err)
		}
		s.in, s.out = in, bufio.NewReader(out)
		t.Cleanup(func() { s.in.Close(); s.sh.Wait() })
	}
	for _, st := range b.steps {
		printed, code := s.exec(what, st.cmd)
		switch {
		case compare && b.lang == "console":
			s.compare(what, st, printed)
		case code != 0:
			t.Errorf("%s: $ %s\nexit code %d:\n%s", what, st.cmd, code, printed)
		}
	}
}

// exec runs one command in the session's shell and returns what it
// printed, with the server's address put back to localhost:8080, and its
// exit code.
func (s *session) exec(what, cmd string) (string, int) {
	t := s.t
	for _, k := range mapsKeys(s.bound) {
		cmd = strings.ReplaceAll(cmd, k, s.bound[k])
	}
	cmd = strings.ReplaceAll(cmd, "localhost:8080", s.hostport)
	s.n++
	end := "@@end " + strconv.Itoa(s.n) + " "
	if _, err := fmt.Fprintf(s.in, "{ %s\n} </dev/null 2>&1; printf '\\n%s%%d\\n' $?\n", cmd, end); err != nil {
		t.Fatalf("%s: writing to the shell: %v", what, err)
	}
	type result struct {
		text string
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var text strings.Builder
		for {
			line, err := s.out.ReadString('\n')
			if rest, ok := strings.CutPrefix(line, end); ok {
				code, _ := strconv.Atoi(strings.TrimSpace(rest))
				done <- result{strings.TrimSuffix(text.String(), "\n"), code, nil}
				return
			}
			text.WriteString(line)
			if err != nil {
				done <- result{text.String(), -1, err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("%s: $ %s\nthe shell ended (%v) after:\n%s", what, cmd, r.err, r.text)
		}
		return s.local(r.text), r.code
	case <-time.After(3 * time.Minute):
		s.sh.Process.Kill()
		t.Fatalf("%s: $ %s\nstill running after 3 minutes", what, cmd)
		return "", 0
	}
}

// local puts the server's address back to the README's, localhost:8080.
func (s *session) local(out string) string {
	for _, b := range s.base {
		out = strings.ReplaceAll(out, b, "[::]:8080")
	}
	return strings.ReplaceAll(out, s.hostport, "localhost:8080")
}

func mapsKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
	return keys
}

// compare fails the test unless printed matches what the README shows for
// st, and learns the ids the output gave for later commands.
func (s *session) compare(what string, st readmeStep, printed string) {
	s.bind(st.want, printed)
	if !matches(st.want, printed) {
		s.t.Errorf("%s: $ %s\nprinted:\n%s\nthe README shows:\n%s", what, st.cmd, printed, st.want)
	}
}

// shapes replace what differs from run to run with a name for it; the
// bindable ones are ids that later commands use.
var shapes = []struct {
	re       *regexp.Regexp
	with     string
	bindable bool
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "TIME", false},
	{regexp.MustCompile(`[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`), "HTTPDATE", false},
	{regexp.MustCompile(`expires=\d+&sig=[\w-]+&v=\d+`), "SIGNATURE", true},
	{regexp.MustCompile(`sd_[0-9a-f]+_[\w-]+`), "TOKEN", false},
	{regexp.MustCompile(`\b[0-9a-f]{20}\b`), "KEYID", true},
	{regexp.MustCompile(`/v1/uploads/[0-9a-f]{32}\b`), "/v1/uploads/UPLOAD", true},
	{regexp.MustCompile(`"request_id":"[0-9a-f]+-[0-9a-z]+"`), `"request_id":"ID"`, false},
	{regexp.MustCompile(`\(saved in [^)]+\)`), "(saved in PATH)", false},
}

// bind learns, for each bindable shape shown as often in want as in got,
// the values the README's later commands must use instead of its own.
func (s *session) bind(want, got string) {
	for _, sh := range shapes {
		if !sh.bindable {
			continue
		}
		w, g := sh.re.FindAllString(want, -1), sh.re.FindAllString(got, -1)
		if len(w) != len(g) {
			continue
		}
		for i := range w {
			if w[i] != g[i] {
				s.bound[w[i]] = g[i]
			}
		}
	}
}

// matches reports whether got is what want shows, by shape, lines in any
// order, "…" standing for any text, and for an HTTP response with its
// headers, want's headers among got's.
func matches(want, got string) bool {
	w, g := lines(shape(want)), lines(shape(strings.ReplaceAll(got, "\r", "")))
	if len(w) > 0 && strings.HasPrefix(w[0], "HTTP/") {
		wh, wb := splitHead(w)
		gh, gb := splitHead(g)
		return len(gh) > 0 && wh[0] == gh[0] && contains(gh[1:], wh[1:], false) && contains(gb, wb, true)
	}
	return contains(g, w, true)
}

func splitHead(ls []string) (head, body []string) {
	i := slices.Index(ls, "")
	if i < 0 {
		return ls, nil
	}
	return ls[:i], ls[i+1:]
}

// contains reports whether every line of want matches a line of got, each
// used once, and when exact, no line of got is left over.
func contains(got, want []string, exact bool) bool {
	used := make([]bool, len(got))
	for _, w := range want {
		pattern := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(w), "…", ".*") + "$")
		found := false
		for i, g := range got {
			if !used[i] && pattern.MatchString(g) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return !exact || !slices.Contains(used, false)
}

func shape(text string) string {
	for _, s := range shapes {
		text = s.re.ReplaceAllString(text, s.with)
	}
	return text
}

// lines returns text's lines without the blank ones at its end.
func lines(text string) []string {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// TestReadmeMarkup: the test's own rules, on a made-up README: a fresh
// server directive gives a new server with its variables, "not run" runs
// nothing, and a prompt in a block of another language is refused.
func TestReadmeMarkup(t *testing.T) {
	put := "$ curl -s -T notes.txt localhost:8080/v1/blobs/n -H 'Authorization: Bearer secret' -o /dev/null -w '%{http_code}\\n'\n"
	sections, err := parseReadme("## Made up\n\n```console\n" + put + "201\n" + put + "409\n```\n\n" +
		"<!-- example: not run (it would fail) -->\n```sh\nfalse\n```\n\n" +
		"<!-- example: fresh server MAX_UPLOAD_BYTES=4 -->\n```console\n" + put + "413\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(sections) != 1 || len(sections[0].blocks) != 3 || sections[0].blocks[2].directive != "fresh server MAX_UPLOAD_BYTES=4" {
		t.Fatalf("parsed %+v", sections)
	}
	runSection(t, &binary{dir: t.TempDir()}, sections[0])

	if _, err := parseReadme("## S\n\n```text\n$ curl localhost:8080\n```\n"); err == nil {
		t.Error("a prompt in a ```text block was accepted")
	}
	for _, c := range []struct {
		want, got string
		ok        bool
	}{
		{"{\"id\":\"a\",…}\n", "{\"id\":\"a\",\"size\":1}\n", true},
		{"{\"id\":\"a\",…}\n", "{\"id\":\"b\",\"size\":1}\n", false},
		{"b\na\n", "a\nb\n", true},
		{"a\n", "a\nb\n", false},
		{"HTTP/1.1 204 No Content\nUpload-Offset: 5\n", "HTTP/1.1 204 No Content\r\nDate: Sat, 05 Dec 2026 21:00:00 GMT\r\nUpload-Offset: 5\r\n\r\n", true},
		{"HTTP/1.1 204 No Content\nUpload-Offset: 5\n", "HTTP/1.1 204 No Content\r\nUpload-Offset: 6\r\n\r\n", false},
		{"created_at 2026-11-27T10:00:00Z\n", "created_at 2026-12-05T21:32:22.701827Z\n", true},
	} {
		if got := matches(c.want, c.got); got != c.ok {
			t.Errorf("matches(%q, %q) = %v", c.want, c.got, got)
		}
	}
}
