package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/simpledrive/simpledrive/internal/cli"
)

// TestUploadThroughput (SIMPLEDRIVE_SLOW_TESTS=1) uploads 256 MiB through
// the console (tus in Chromium), with one raw PUT of the same File from the
// same page (what this browser sends at best: the console's fair
// baseline), with simpledrive put (tus), and with one raw PUT from Go
// through the console's proxy and one straight to the server, in rounds
// (SIMPLEDRIVE_THROUGHPUT_ROUNDS, default 1), and logs each round's rates
// and ratios, the CPU time each took in Chromium and in the test's process
// (server, proxy and Go clients), and where the console's time went.
func TestUploadThroughput(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("set SIMPLEDRIVE_SLOW_TESTS=1 to move 256 MiB through the console")
	}
	rounds := 1
	if v := os.Getenv("SIMPLEDRIVE_THROUGHPUT_ROUNDS"); v != "" {
		var err error
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			t.Fatalf("SIMPLEDRIVE_THROUGHPUT_ROUNDS=%q: want a positive count", v)
		}
	}
	chromium(t)
	srv := startServer(t)
	const size = 256 << 20
	data := random(t, size)
	want := sum(data)
	dir := t.TempDir()
	p := writeFile(t, dir, "big256.bin", data)
	m := &meter{}
	m.watch(srv.proxy)

	ctx, cancel := newBrowser(t)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithTimeout(ctx, time.Duration(rounds)*3*time.Minute)
	defer stop()
	if err := chromedp.Do(sctx,
		chromedp.Navigate(srv.origin+"/ui/"),
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.CSS("#signin button")),
		chromedp.WaitVisible(chromedp.ID("drive-view")),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(sctx, performance.Enable, performance.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	// A file input of the test's own, for the page's raw PUTs.
	if _, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`{
		const i = document.createElement('input');
		i.type = 'file';
		i.id = 'raw-input';
		i.hidden = true;
		document.body.append(i);
		true;
	}`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(sctx, chromedp.SetUploadFiles(chromedp.ID("raw-input"), []string{p})); err != nil {
		t.Fatal(err)
	}
	stored := func(id, what string) {
		t.Helper()
		if got := srv.sha(t, id); got != want {
			t.Fatalf("%s stored other bytes", what)
		}
		srv.call(t, http.MethodDelete, id, "", "", nil)
	}
	rate := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }

	// pagePut sends the File in one raw PUT from the page, with
	// XMLHttpRequest as the console does (with an upload progress
	// listener).
	pagePut := func(id string) time.Duration {
		t.Helper()
		m.reset(size)
		cpu0, page0 := cpuNow(t), pageNow(t, sctx)
		start := time.Now()
		status, err := chromedp.Run(sctx, chromedp.Evaluate[int](fmt.Sprintf(`new Promise((resolve, reject) => {
			const x = new XMLHttpRequest();
			x.open('PUT', '/v1/blobs/' + %q);
			x.setRequestHeader('Authorization', 'Bearer ' + %q);
			x.setRequestHeader('Content-Type', 'application/octet-stream');
			x.upload.onprogress = () => {};
			x.onload = () => resolve(x.status);
			x.onerror = () => reject(new Error('network'));
			x.send(document.getElementById('raw-input').files[0]);
		})`, id, testToken), chromedp.EvalAwaitPromise))
		d := time.Since(start)
		used := cpuNow(t).since(cpu0) + "; " + pageNow(t, sctx).since(page0)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusCreated {
			t.Fatalf("the page's raw PUT = %d", status)
		}
		first, last := m.times()
		t.Logf("the page's raw PUT: first request byte at %v, last body byte at %v, answered at %v; %s", ms(first.Sub(start)), ms(last.Sub(start)), ms(d), used)
		stored(id, "the page's raw PUT")
		return d
	}

	// consolePut picks the file (a link to it named name) in the console
	// and waits for its row to end.
	consolePut := func(name string) time.Duration {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.Link(p, f); err != nil {
			t.Fatal(err)
		}
		m.reset(size)
		cpu0, page0 := cpuNow(t), pageNow(t, sctx)
		start := time.Now()
		if err := chromedp.Do(sctx, chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{f})); err != nil {
			t.Fatal(err)
		}
		// Waited for by a MutationObserver in the page rather than by
		// chromedp's polling, whose queries every 5 ms cost Chromium CPU.
		ended, err := chromedp.Run(sctx, chromedp.Evaluate[string](fmt.Sprintf(`new Promise((resolve) => {
			const ended = () => {
				const li = document.querySelector('li.upload[data-id=' + CSS.escape(%q) + ']');
				const st = li && li.dataset.state;
				if (st === 'done' || st === 'error' || st === 'cancelled') { resolve(st + ': ' + li.innerText); return true; }
				return false;
			};
			if (ended()) return;
			const o = new MutationObserver(() => { if (ended()) o.disconnect(); });
			o.observe(document.getElementById('upload-list'), { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
		})`, name), chromedp.EvalAwaitPromise))
		d := time.Since(start)
		used := cpuNow(t).since(cpu0) + "; " + pageNow(t, sctx).since(page0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ended, "done") {
			t.Fatalf("the console's upload ended %q", ended)
		}
		first, last := m.times()
		requests, err := chromedp.Run(sctx, chromedp.Evaluate[string](`{
			const r = performance.getEntriesByType('resource')
				.filter((e) => e.name.includes('/v1/uploads'))
				.map((e) => e.initiatorType + ' ' + e.name.replace(location.origin, '') + ' at ' + e.startTime.toFixed(0) +
					' ms: ' + (e.responseStart - e.startTime).toFixed(0) + ' ms to the answer, ' + (e.responseEnd - e.startTime).toFixed(0) + ' ms to its end')
				.join('; ');
			performance.clearResourceTimings();
			r;
		}`))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the console: first request byte at %v, last body byte at %v, the row done at %v; %s; its requests (page clock): %s",
			ms(first.Sub(start)), ms(last.Sub(start)), ms(d), used, requests)
		stored(name, "the console")
		return d
	}

	cliPut := func(id string) time.Duration {
		t.Helper()
		cpu0 := cpuNow(t)
		start := time.Now()
		var out bytes.Buffer
		vars := map[string]string{"SIMPLEDRIVE_URL": srv.origin, "SIMPLEDRIVE_TOKEN": testToken, "XDG_CACHE_HOME": t.TempDir(), "HOME": t.TempDir()}
		if code := cli.Main(context.Background(), []string{"put", p, "--id", id}, cli.Env{
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(k string) string { return vars[k] },
		}); code != 0 {
			t.Fatalf("simpledrive put = %d: %s", code, out.String())
		}
		d := time.Since(start)
		t.Logf("simpledrive put: %v; %s", ms(d), cpuNow(t).since(cpu0))
		stored(id, "simpledrive put")
		return d
	}

	goPut := func(origin, id, what string) time.Duration {
		t.Helper()
		cpu0 := cpuNow(t)
		d := rawPut(t, origin, id, data)
		t.Logf("Go's raw PUT %s: %v; %s", what, ms(d), cpuNow(t).since(cpu0))
		stored(id, "Go's raw PUT")
		return d
	}

	for r := 1; r <= rounds; r++ {
		page := pagePut("page256.bin")
		console := consolePut(fmt.Sprintf("console256-%d.bin", r))
		cli := cliPut("cli256.bin")
		proxied := goPut(srv.origin, "proxied256.bin", "through the proxy")
		direct := goPut(srv.direct, "direct256.bin", "straight to the server")
		t.Logf("MEASURE round %d, 256 MiB: the console %v (%.0f MiB/s), one raw PUT of the same File from the same page %v (%.0f MiB/s): console/page %.2fx; "+
			"simpledrive put %v (%.0f MiB/s); Go's raw PUT through the console's proxy %v (%.0f MiB/s), straight to the server %v (%.0f MiB/s); "+
			"the console, the page's raw PUT and put over Go's proxied PUT %.2fx, %.2fx, %.2fx",
			r, ms(console), rate(console), ms(page), rate(page), page.Seconds()/console.Seconds(),
			ms(cli), rate(cli), ms(proxied), rate(proxied), ms(direct), rate(direct),
			proxied.Seconds()/console.Seconds(), proxied.Seconds()/page.Seconds(), proxied.Seconds()/cli.Seconds())
	}
}

// meter notes when the proxy passed the first request byte after a
// reset, and when it had passed a given number of them (the end of the
// body being measured).
type meter struct {
	mu          sync.Mutex
	n, want     int64
	first, last time.Time
}

func (m *meter) watch(p *cutProxy) {
	f := func(n int) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.n == 0 {
			m.first = time.Now()
		}
		m.n += int64(n)
		if m.n >= m.want && m.last.IsZero() {
			m.last = time.Now()
		}
	}
	p.sent.Store(&f)
}

func (m *meter) reset(want int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n, m.want, m.first, m.last = 0, want, time.Time{}, time.Time{}
}

func (m *meter) times() (first, last time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.first, m.last
}

// cpuUse is the CPU time the test's process (the server, the proxy and
// the Go clients) and its children (Chromium's processes) have used.
type cpuUse struct{ self, browser time.Duration }

func cpuNow(t *testing.T) cpuUse {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	type proc struct {
		ppid int
		cpu  time.Duration
	}
	procs := map[int]proc{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: fields 4, 14 and 15.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid, time.Duration(ut+st) * 10 * time.Millisecond} // USER_HZ 100
	}
	self := os.Getpid()
	var u cpuUse
	for pid, p := range procs {
		if pid == self {
			u.self = p.cpu
			continue
		}
		for a, seen := p.ppid, 0; a > 1 && seen < 64; a, seen = procs[a].ppid, seen+1 {
			if a == self {
				u.browser += p.cpu
				break
			}
		}
	}
	return u
}

func (u cpuUse) since(before cpuUse) string {
	return fmt.Sprintf("CPU: Chromium %v, server+proxy+Go clients %v", (u.browser - before.browser).Round(10*time.Millisecond), (u.self - before.self).Round(10*time.Millisecond))
}

// pageMetrics are the page's renderer's counters (Performance.getMetrics):
// seconds of its main thread's tasks, scripts, style and layout.
type pageMetrics map[string]float64

func pageNow(t *testing.T, ctx context.Context) pageMetrics {
	t.Helper()
	r, err := chromedp.Call(ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	m := pageMetrics{}
	for _, v := range r.Metrics {
		m[v.Name] = v.Value
	}
	return m
}

func (m pageMetrics) since(before pageMetrics) string {
	d := func(k string) time.Duration {
		return time.Duration((m[k] - before[k]) * float64(time.Second)).Round(time.Millisecond)
	}
	return fmt.Sprintf("the page's main thread: tasks %v, scripts %v, style %v, layout %v (%.0f layouts)",
		d("TaskDuration"), d("ScriptDuration"), d("RecalcStyleDuration"), d("LayoutDuration"), m["LayoutCount"]-before["LayoutCount"])
}

// rawPut stores data as blob id with one raw PUT to origin and returns
// how long it took.
func rawPut(t *testing.T, origin, id string, data []byte) time.Duration {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPut, origin+"/v1/blobs/"+id, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT to %s = %d", origin, res.StatusCode)
	}
	return time.Since(start)
}
