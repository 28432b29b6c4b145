package durability_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

const token = "durability-token"

// slow skips t unless SIMPLEDRIVE_SLOW_TESTS=1.
func slow(t *testing.T) {
	t.Helper()
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("runs the real binary for many seconds; set SIMPLEDRIVE_SLOW_TESTS=1 (scripts/test does) to run it")
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// TestMain removes the binary built by the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds cmd/simpledrive once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "simpledrive-bin-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "simpledrive")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/simpledrive/simpledrive/cmd/simpledrive").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// env is the environment of a server and of the commands run beside it.
type env map[string]string

func (e env) list() []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// config loads e as the server would.
func (e env) config(t *testing.T) config.Config {
	t.Helper()
	c, err := config.Load(func(name string) string { return e[name] })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stack is one wiring the durability tests run on.
type stack struct {
	name string
	env  func(t *testing.T) env
}

func baseEnv(t *testing.T) env {
	dir := t.TempDir()
	return env{
		"API_TOKEN":          token,
		"LISTEN_ADDR":        "127.0.0.1:0",
		"DATABASE_URL":       filepath.Join(dir, "meta.db"),
		"LOCAL_STORAGE_PATH": filepath.Join(dir, "blobs"),
		"GC_INTERVAL":        "0",
		"LOG_LEVEL":          "info",
		// Longer than the 5 s net/http's Shutdown gives a connection
		// that has sent nothing yet: such a connection must not make a
		// clean stop look like a timeout.
		"SHUTDOWN_TIMEOUT": "15s",
	}
}

func s3Env(t *testing.T, e env) env {
	v := testenv.Lookup(t, "TEST_S3_ENDPOINT", "TEST_S3_REGION", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY_ID", "TEST_S3_SECRET_ACCESS_KEY")
	var b [6]byte
	rand.Read(b[:])
	return e.with("STORAGE_BACKEND", "s3", "S3_ENDPOINT", v[0], "S3_REGION", v[1], "S3_BUCKET", v[2],
		"S3_ACCESS_KEY_ID", v[3], "S3_SECRET_ACCESS_KEY", v[4], "S3_FORCE_PATH_STYLE", "true",
		"S3_PREFIX", "durability-"+hex.EncodeToString(b[:])+"/")
}

var stacks = []stack{
	{"local+SQLite", baseEnv},
	{"database+SQLite", func(t *testing.T) env { return baseEnv(t).with("STORAGE_BACKEND", "database") }},
	{"s3+PostgreSQL", func(t *testing.T) env {
		return s3Env(t, baseEnv(t).with("DATABASE_URL", testenv.PostgresURL(t)))
	}},
}

// server is a running simpledrive serve process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed when the process has exited and its log is read
	log    *bytes.Buffer
}

// start runs the binary with e and returns once it logs "serving".
func start(t *testing.T, e env) *server {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = e.list()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, exited: make(chan struct{}), log: new(bytes.Buffer)}
	t.Cleanup(func() { s.kill() })
	serving := make(chan string, 1)
	var logMu sync.Mutex
	go func() {
		defer close(s.exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logMu.Lock()
			s.log.Write(sc.Bytes())
			s.log.WriteByte('\n')
			logMu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				serving <- line.Addr
			}
		}
		cmd.Wait()
	}()
	select {
	case addr := <-serving:
		s.url = "http://" + addr
		return s
	case <-s.exited:
		t.Fatalf("the server exited before serving:\n%s", s.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not log \"serving\" within a minute:\n%s", s.log)
	}
	return nil
}

// kill sends SIGKILL and waits for the process to exit.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.exited
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Fatalf("the server exited with %d after SIGTERM:\n%s", code, s.log)
	}
}

// run runs a simpledrive command with e and returns its exit code and output.
func run(t *testing.T, e env, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = e.list()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("simpledrive %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// client speaks the API of one server.
type client struct {
	url string
	hc  *http.Client
}

func newClient(url string) *client {
	return &client{url: url, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// create stores data under id, by a JSON POST or a raw PUT, and returns the
// status (0 when the exchange failed).
func (c *client) create(id string, data []byte, raw bool) (int, error) {
	var req *http.Request
	if raw {
		req, _ = http.NewRequest(http.MethodPut, c.url+"/v1/blobs/"+id, bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/octet-stream")
	} else {
		// By hand: encoding/json escapes megabytes of base64 slowly under
		// the race detector. Ids here need no escaping.
		body := `{"id":"` + id + `","data":"` + base64.StdEncoding.EncodeToString(data) + `"}`
		req, _ = http.NewRequest(http.MethodPost, c.url+"/v1/blobs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req)
}

func (c *client) do(req *http.Request) (int, error) {
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// get reads the bytes of id: the status and, on 200, the whole body.
func (c *client) get(id string) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodGet, c.url+"/v1/blobs/"+id+"?alt=media", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

func (c *client) delete(id string) (int, error) {
	req, _ := http.NewRequest(http.MethodDelete, c.url+"/v1/blobs/"+id, nil)
	return c.do(req)
}

// openCore opens the database and backend of e in process (no server may
// run); the caller closes it.
func openCore(t *testing.T, e env) *app.Core {
	t.Helper()
	core, err := app.OpenCore(context.Background(), e.config(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return core
}

// eachKey calls fn with every key core's backend holds, in order.
func eachKey(t *testing.T, core *app.Core, fn func(storage.KeyInfo)) {
	t.Helper()
	for after := ""; ; {
		page, err := core.Backend.ListKeys(context.Background(), "", after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page {
			fn(k)
		}
		if len(page) < 1000 {
			return
		}
		after = page[len(page)-1].Key
	}
}

// keySets opens the database and backend of e in process (no server may
// run) and returns every backend key and every key a metadata row holds.
func keySets(t *testing.T, e env) (stored map[string]int64, referenced map[string]bool) {
	t.Helper()
	ctx := context.Background()
	core := openCore(t, e)
	defer core.Close()
	stored = map[string]int64{}
	eachKey(t, core, func(k storage.KeyInfo) { stored[k.Key] = k.Size })
	referenced = map[string]bool{}
	rows, err := core.DB.Reader().QueryContext(ctx, `SELECT storage_key FROM blob_metadata UNION SELECT storage_key FROM blob_garbage`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		referenced[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return stored, referenced
}

// collect runs gc with no grace (no server may run) and checks that it
// removes exactly the orphans, the backend keys nothing references, and
// the garbage due, and that the backend then holds exactly the keys rows
// reference. It returns the orphans' count and bytes.
func collect(t *testing.T, e env) (int, int64) {
	t.Helper()
	stored, referenced := keySets(t, e)
	var orphans []string
	var orphanBytes int64
	for k, size := range stored {
		if !referenced[k] {
			orphans = append(orphans, k)
			orphanBytes += size
		}
	}
	for k := range referenced {
		if _, ok := stored[k]; !ok {
			t.Errorf("metadata references %s, which the backend does not hold", k)
		}
	}
	code, out, errOut := run(t, e, "gc", "--older-than", "0s", "--json")
	var gc struct{ Removed, Orphans int }
	json.Unmarshal([]byte(out), &gc)
	if code != 0 || gc.Removed != len(orphans) {
		t.Fatalf("gc --older-than 0s = exit %d, %s%s; want exit 0 and the %d orphans removed", code, out, errOut, len(orphans))
	}
	after, referenced := keySets(t, e)
	if got, want := strings.Join(sortedKeys(after), "\n"), strings.Join(sortedKeys(referenced), "\n"); got != want {
		t.Fatalf("after gc the backend holds %d keys; want exactly the %d referenced", len(after), len(referenced))
	}
	return len(orphans), orphanBytes
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// randomBlob returns size random bytes.
func randomBlob(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	return b
}

// logUniform returns a size from lo to hi, log-uniformly: as many blobs of
// a few KiB as of a few MiB.
func logUniform(r interface{ Float64() float64 }, lo, hi int) int {
	return int(float64(lo) * math.Pow(float64(hi)/float64(lo), r.Float64()))
}
