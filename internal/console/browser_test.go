package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/console"
)

const testToken = "console-test-token"

// chromium returns the browser to drive: TEST_CHROMIUM or
// /usr/bin/chromium. Missing, the test fails under
// SIMPLEDRIVE_REQUIRE_SERVICES=1 (scripts/test installs it) and is skipped
// otherwise.
func chromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("TEST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("SIMPLEDRIVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf("chromium is required (SIMPLEDRIVE_REQUIRE_SERVICES=1) but %s is missing: %v", p, err)
		}
		t.Skipf("no chromium at %s (set TEST_CHROMIUM, or run scripts/test)", p)
	}
	return p
}

// server is a real Simple Drive (local backend, SQLite) behind a proxy
// the test can cut; origin is what the browser talks to.
type server struct {
	origin string
	direct string // the server without the proxy, for the test's own calls
	proxy  *cutProxy
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{
		"API_TOKEN":          testToken,
		"DATABASE_URL":       filepath.Join(dir, "meta.db"),
		"LOCAL_STORAGE_PATH": filepath.Join(dir, "blobs"),
		"GC_INTERVAL":        "0",
		"LOG_LEVEL":          "error",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		<-served
		a.Close()
	})
	s := &server{direct: "http://" + ln.Addr().String()}
	upstream := ln.Addr().String()
	s.proxy = newCutProxy(t, upstream)
	s.origin = "http://" + s.proxy.addr()
	return s
}

func (s *server) call(t *testing.T, method, id, query, ctype string, body []byte) (*http.Response, []byte) {
	t.Helper()
	u := s.direct + "/v1/blobs/" + url.PathEscape(id)
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func (s *server) put(t *testing.T, id, ctype string, body []byte) {
	t.Helper()
	if res, b := s.call(t, http.MethodPut, id, "", ctype, body); res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %q: %d %s", id, res.StatusCode, b)
	}
}

// sha returns the stored SHA-256 of id, or "" when it does not exist.
func (s *server) sha(t *testing.T, id string) string {
	t.Helper()
	res, b := s.call(t, http.MethodGet, id, "alt=media", "", nil)
	if res.StatusCode == http.StatusNotFound {
		return ""
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %q: %d", id, res.StatusCode)
	}
	return sum(b)
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// browserSession is one Chromium with a tab on the console, recording
// every request, every console response's headers and every dialog.
type browserSession struct {
	ctx     context.Context
	mu      sync.Mutex
	urls    []string
	dialogs []string
	badCSP  []string
	uiResp  int
}

func (b *browserSession) listen(ctx context.Context, origin string) error {
	return chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Type.String()+": "+ev.Message)
			b.mu.Unlock()
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		case *network.EventRequestWillBeSent:
			b.mu.Lock()
			b.urls = append(b.urls, ev.Request.URL)
			b.mu.Unlock()
		case *network.EventResponseReceived:
			if strings.HasPrefix(ev.Response.URL, origin+"/ui") {
				b.mu.Lock()
				b.uiResp++
				if csp, _ := ev.Response.Headers["Content-Security-Policy"].(string); csp != console.CSP {
					b.badCSP = append(b.badCSP, ev.Response.URL+" has CSP "+csp)
				}
				b.mu.Unlock()
			}
		}
	})
}

// check fails the test on any dialog, request to another origin or
// console response without the CSP.
func (b *browserSession) check(t *testing.T, origin string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dialogs) > 0 {
		t.Errorf("a script ran in the console: dialogs %q", b.dialogs)
	}
	for _, u := range b.urls {
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "blob:"+origin+"/") && u != "about:blank" {
			t.Errorf("a request left the server's origin: %s", u)
		}
	}
	for _, m := range b.badCSP {
		t.Errorf("console response without the CSP: %s", m)
	}
}

func newBrowser(t *testing.T) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	return ctx, func() { cancel(); cancelAlloc() }
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func uploadSel(id, state string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`li.upload[data-id=%s][data-state=%s]`, cssString(id), state))
}

func rowSel(kind, name string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`tr.%s[data-name=%s]`, kind, cssString(name)))
}

// cssString quotes s for a CSS selector.
func cssString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, "\\%x ", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

const xssID = `<img src=x onerror=alert(1)>.html`

// TestConsoleInChromium drives the console in headless Chromium against a
// real server: sign-in, folders, uploads (30 MiB, interrupted and
// resumed, a conflict), download, preview, share link, delete, a hostile
// id, the CSP on every console response and no request to another origin.
func TestConsoleInChromium(t *testing.T) {
	chromium(t)
	srv := startServer(t)
	tmp := t.TempDir()
	small := []byte("hello from the console\n")
	srv.put(t, xssID, "text/html", []byte("<script>alert(2)</script><img src=x onerror=alert(3)>"))

	ctx, cancel := newBrowser(t)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	bs := &browserSession{ctx: ctx}
	if err := bs.listen(ctx, srv.origin); err != nil {
		t.Fatal(err)
	}
	defer bs.check(t, srv.origin)
	do := func(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			shot(t, ctx, tmp, "failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := evaluator(ctx)

	do(t, "open the console and sign in with a wrong token",
		chromedp.Navigate(srv.origin+"/ui"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "wrong"),
		chromedp.Click(chromedp.CSS("#signin button")),
		chromedp.WaitVisible(chromedp.CSS("#status.error")),
	)
	if msg := eval(t, `document.getElementById("status").textContent`); !strings.Contains(msg, "not valid") {
		t.Errorf("error shown for a wrong token = %q", msg)
	}
	do(t, "sign in",
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.CSS("#signin button")),
		chromedp.WaitVisible(chromedp.ID("drive-view")),
		chromedp.WaitVisible(rowSel("blob", xssID)),
	)
	if got := eval(t, `sessionStorage.getItem("simpledrive.token")`); got != testToken {
		t.Errorf("token in sessionStorage = %q", got)
	}
	if c := eval(t, `document.cookie`); c != "" {
		t.Errorf("cookies = %q; want none", c)
	}

	t.Run("hostile id is text", func(t *testing.T) {
		names := eval(t, `JSON.stringify([...document.querySelectorAll("#rows tr.blob td.name")].map(td => td.textContent))`)
		if !strings.Contains(names, jsonText(xssID)) {
			t.Errorf("rows %s do not show the id %q as text", names, xssID)
		}
		if n := eval(t, `String(document.querySelectorAll("#rows img, #status img").length)`); n != "0" {
			t.Errorf("%s img elements in the list: the id was parsed as HTML", n)
		}
		do(t, "preview the hostile blob",
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr.blob[data-name=%s] button`, cssString(xssID)))),
			chromedp.WaitVisible(chromedp.CSS(`#details[data-ready=true]`)),
			chromedp.Click(chromedp.ID("d-preview")),
			chromedp.WaitVisible(chromedp.CSS(`#d-previewbox pre`)),
		)
		if got := eval(t, `document.querySelector("#d-previewbox pre").textContent`); !strings.Contains(got, "<script>alert(2)</script>") {
			t.Errorf("preview of stored HTML = %q; want its source as text", got)
		}
		do(t, "close", chromedp.Click(chromedp.ID("d-close")), chromedp.WaitNotVisible(chromedp.ID("details")))
	})

	t.Run("folders by upload", func(t *testing.T) {
		p := writeFile(t, tmp, "file.txt", small)
		do(t, "make a/b and upload file.txt into it",
			chromedp.Click(chromedp.ID("newfolder-open")),
			chromedp.SendKeys(chromedp.ID("newfolder-name"), "a/b"),
			chromedp.Click(chromedp.CSS("#newfolder button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(`#crumbs [aria-current=page]`)),
			chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
			chromedp.WaitVisible(uploadSel("a/b/file.txt", "done")),
			chromedp.WaitVisible(rowSel("blob", "file.txt")),
		)
		if got := srv.sha(t, "a/b/file.txt"); got != sum(small) {
			t.Fatalf("stored a/b/file.txt has SHA-256 %q; want %q", got, sum(small))
		}
		do(t, "browse from the top into a and b",
			chromedp.Click(chromedp.CSS(`#crumbs li:first-child button`)),
			chromedp.WaitVisible(rowSel("folder", "a")),
			chromedp.Click(chromedp.CSS(`tr.folder[data-name="a"] button`)),
			chromedp.WaitVisible(rowSel("folder", "b")),
			chromedp.Click(chromedp.CSS(`tr.folder[data-name="b"] button`)),
			chromedp.WaitVisible(rowSel("blob", "file.txt")),
		)
		if crumbs := eval(t, `[...document.querySelectorAll("#crumbs li")].map(li => li.textContent).join("/")`); crumbs != "Home/a/b" {
			t.Errorf("breadcrumbs = %q; want Home/a/b", crumbs)
		}
	})

	t.Run("conflict is not overwritten", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "file.txt", []byte("other bytes"))
		do(t, "upload file.txt again",
			chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
			chromedp.WaitVisible(uploadSel("a/b/file.txt", "error")),
		)
		msg := eval(t, `document.querySelector('li.upload[data-id="a/b/file.txt"][data-state=error] .info').textContent`)
		if !strings.Contains(msg, "already exists") || !strings.Contains(msg, "blob_exists") {
			t.Errorf("conflict message = %q", msg)
		}
		if got := srv.sha(t, "a/b/file.txt"); got != sum(small) {
			t.Errorf("a/b/file.txt was overwritten")
		}
		do(t, "dismiss", chromedp.Click(chromedp.CSS(`li.upload[data-id="a/b/file.txt"][data-state=error] .ubuttons button:last-child`)))
	})

	t.Run("Replace on 409, then rename", func(t *testing.T) {
		srv.put(t, "a/b/replace.txt", "text/plain", []byte("the old version"))
		newer := []byte("the new version, from the console")
		p := writeFile(t, t.TempDir(), "replace.txt", newer)
		do(t, "upload replace.txt over a stored blob",
			chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
			chromedp.WaitVisible(uploadSel("a/b/replace.txt", "error")),
			chromedp.WaitVisible(chromedp.CSS(`li.upload[data-id="a/b/replace.txt"] .ubuttons button:not([hidden])`)),
		)
		shot(t, ctx, tmp, "conflict-offers-replace.png")
		if got := srv.sha(t, "a/b/replace.txt"); got != sum([]byte("the old version")) {
			t.Fatalf("the conflict overwrote the blob before Replace")
		}
		do(t, "Replace",
			chromedp.Click(chromedp.CSS(`li.upload[data-id="a/b/replace.txt"] .ubuttons button:nth-child(3)`)),
			chromedp.WaitVisible(uploadSel("a/b/replace.txt", "done")),
		)
		if got := srv.sha(t, "a/b/replace.txt"); got != sum(newer) {
			t.Fatalf("after Replace the blob has SHA-256 %s; want the new file's", got)
		}
		do(t, "rename it to a/renamed.txt",
			chromedp.WaitVisible(rowSel("blob", "replace.txt")),
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="replace.txt"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#details[data-ready=true]`)),
			chromedp.SetValue(chromedp.ID("d-newid"), "a/renamed.txt"),
			chromedp.Click(chromedp.CSS("#d-rename button")),
			chromedp.WaitNotVisible(chromedp.ID("details")),
			chromedp.WaitNotPresent(rowSel("blob", "replace.txt")),
		)
		shot(t, ctx, tmp, "renamed.png")
		if got := srv.sha(t, "a/renamed.txt"); got != sum(newer) {
			t.Fatalf("a/renamed.txt has SHA-256 %q; want the replaced bytes'", got)
		}
		if got := srv.sha(t, "a/b/replace.txt"); got != "" {
			t.Fatalf("the old id still holds a blob after the rename")
		}
	})

	t.Run("multi-select delete and folder delete", func(t *testing.T) {
		for _, id := range []string{"m/1.txt", "m/2.txt", "m/3.txt", "m/sub/x.txt", "m/sub/deeper/y.txt"} {
			srv.put(t, id, "text/plain", []byte(id))
		}
		do(t, "open m/ and tick 1.txt and 2.txt",
			chromedp.Navigate(srv.origin+"/ui/#m%2F"),
			chromedp.WaitVisible(rowSel("blob", "3.txt")),
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="1.txt"] td.sel input`)),
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="2.txt"] td.sel input`)),
			chromedp.WaitVisible(chromedp.ID("sel-delete")),
			chromedp.Click(chromedp.ID("sel-delete")),
			chromedp.WaitVisible(chromedp.ID("sel-confirm")),
		)
		shot(t, ctx, tmp, "multi-select-confirm.png")
		if text := eval(t, `document.getElementById("sel-confirm-text").textContent`); !strings.Contains(text, "Delete 2 files permanently?") {
			t.Errorf("confirmation = %q", text)
		}
		do(t, "confirm",
			chromedp.Click(chromedp.ID("sel-confirm-yes")),
			chromedp.WaitNotPresent(rowSel("blob", "1.txt")),
			chromedp.WaitVisible(rowSel("blob", "3.txt")),
		)
		for id, want := range map[string]bool{"m/1.txt": false, "m/2.txt": false, "m/3.txt": true} {
			if got := srv.sha(t, id) != ""; got != want {
				t.Errorf("%s present = %v after deleting the selection; want %v", id, got, want)
			}
		}
		do(t, "delete the folder sub",
			chromedp.Click(chromedp.CSS(`tr.folder[data-name="sub"] button.fdel`)),
			chromedp.WaitVisible(chromedp.ID("sel-confirm")),
		)
		shot(t, ctx, tmp, "folder-delete-confirm.png")
		if text := eval(t, `document.getElementById("sel-confirm-text").textContent`); !strings.Contains(text, "Delete 2 files permanently (1 folder with everything in it)") {
			t.Errorf("folder confirmation = %q", text)
		}
		do(t, "confirm",
			chromedp.Click(chromedp.ID("sel-confirm-yes")),
			chromedp.WaitNotPresent(rowSel("folder", "sub")),
		)
		for id, want := range map[string]bool{"m/sub/x.txt": false, "m/sub/deeper/y.txt": false, "m/3.txt": true} {
			if got := srv.sha(t, id) != ""; got != want {
				t.Errorf("%s present = %v after the folder delete; want %v", id, got, want)
			}
		}
		do(t, "back to a/b/, where the next uploads go",
			chromedp.Navigate(srv.origin+"/ui/#a%2Fb%2F"),
			chromedp.WaitVisible(rowSel("blob", "file.txt")),
		)
	})

	big := random(t, 30<<20)
	// Each XMLHttpRequest's method and body from here on ("PATCH File
	// 31457280"): a whole file goes as the File itself, which Chromium
	// sends from its file, and only what is left after a cut as a slice of it.
	eval(t, `(() => {
		window.sends = [];
		const { open, send } = XMLHttpRequest.prototype;
		XMLHttpRequest.prototype.open = function (method, ...rest) { this.method = method; return open.call(this, method, ...rest); };
		XMLHttpRequest.prototype.send = function (body) {
			const kind = body instanceof File ? 'File' : body instanceof Blob ? 'Blob' : String(body);
			window.sends.push(this.method + ' ' + kind + (body instanceof Blob ? ' ' + body.size : ''));
			return send.call(this, body);
		};
		return 'recording';
	})()`)
	patches := func() string {
		return eval(t, `(() => { const p = window.sends.filter((s) => s.startsWith('PATCH')).join(', '); window.sends = []; return p; })()`)
	}
	t.Run("30 MiB upload", func(t *testing.T) {
		p := writeFile(t, tmp, "big30.bin", big)
		// When the row's percentage is redrawn: at most every 250 ms
		// (PROGRESS_MS), where progress events come every 50 ms or so.
		eval(t, `(() => {
			window.redraws = [];
			new MutationObserver((ms) => {
				for (const m of ms) {
					if (m.target.classList.contains('pct') && m.target.closest('li.upload[data-id="a/b/big30.bin"]')) window.redraws.push(performance.now());
				}
			}).observe(document.getElementById('upload-list'), { subtree: true, childList: true });
			return 'watching';
		})()`)
		do(t, "upload",
			chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
			chromedp.WaitVisible(uploadSel("a/b/big30.bin", "done")),
			chromedp.WaitVisible(rowSel("blob", "big30.bin")),
		)
		sel := `li.upload[data-id="a/b/big30.bin"]`
		if pct := eval(t, `document.querySelector('`+sel+` .pct').textContent`); pct != "100%" {
			t.Errorf("progress text = %q; want 100%%", pct)
		}
		if v := eval(t, `(() => { const p = document.querySelector('`+sel+` progress'); return p.value + "/" + p.max })()`); v != fmt.Sprintf("%d/%d", len(big), len(big)) {
			t.Errorf("progress bar = %s", v)
		}
		if got := srv.sha(t, "a/b/big30.bin"); got != sum(big) {
			t.Errorf("stored big30.bin differs")
		}
		if got, want := patches(), fmt.Sprintf("PATCH File %d", len(big)); got != want {
			t.Errorf("the upload's PATCH bodies: %q; want %q (the File itself)", got, want)
		}
		// The draws at least 250 ms apart, and the one of done. The
		// observer notes a draw when its callback runs, which can be a
		// frame or two after the draw: 50 ms of slack for that.
		if v := eval(t, `(() => {
			const r = window.redraws;
			const span = r.length ? r[r.length - 1] - r[0] : 0;
			return r.length <= Math.floor((span + 50) / 250) + 2 ? 'ok' : r.length + ' redraws in ' + span.toFixed(0) + ' ms';
		})()`); v != "ok" {
			t.Errorf("the upload's row was redrawn too often: %s", v)
		}
	})

	t.Run("interrupted upload resumes", func(t *testing.T) {
		data := random(t, 24<<20)
		p := writeFile(t, tmp, "resume.bin", data)
		cut := srv.proxy.armCut(6 << 20)
		do(t, "upload until the network is cut",
			chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
		)
		select {
		case <-cut:
		case <-time.After(45 * time.Second):
			t.Fatal("the proxy never cut the upload")
		}
		do(t, "see it retry", chromedp.WaitVisible(uploadSel("a/b/resume.bin", "retrying")))
		srv.proxy.restore()
		do(t, "see it finish", chromedp.WaitVisible(uploadSel("a/b/resume.bin", "done")))
		if got := srv.sha(t, "a/b/resume.bin"); got != sum(data) {
			t.Errorf("resumed upload stored different bytes")
		}
		// The File, then a slice of what the server did not get.
		if got := patches(); !strings.HasPrefix(got, fmt.Sprintf("PATCH File %d, PATCH Blob ", len(data))) || strings.Count(got, "PATCH") != 2 {
			t.Errorf("the resumed upload's PATCH bodies: %q; want the File, then one slice", got)
		}
		do(t, "listed", chromedp.WaitVisible(rowSel("blob", "resume.bin")))
	})

	shot(t, ctx, tmp, "console.png")

	t.Run("download", func(t *testing.T) {
		dl := t.TempDir()
		progress := chromedp.Events(ctx, browser.DownloadProgress)
		do(t, "download big30.bin",
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
					Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: ptr(true),
				})
				return err
			}),
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="big30.bin"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#details[data-ready=true]`)),
			chromedp.Click(chromedp.ID("d-download")),
		)
		if sha := eval(t, `document.getElementById("d-sha").textContent`); sha != sum(big) {
			t.Errorf("details show SHA-256 %q; want %q", sha, sum(big))
		}
		var guid string
		for ev, err := range progress {
			if err != nil {
				t.Fatal(err)
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("download cancelled")
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				guid = ev.GUID
				break
			}
		}
		got, err := os.ReadFile(filepath.Join(dl, guid))
		if err != nil {
			t.Fatal(err)
		}
		if sum(got) != sum(big) {
			t.Errorf("downloaded %d bytes with another SHA-256", len(got))
		}
		do(t, "close", chromedp.Click(chromedp.ID("d-close")))
	})

	t.Run("share link in a fresh browser context", func(t *testing.T) {
		do(t, "make a link",
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="file.txt"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#details[data-ready=true]`)),
			chromedp.SetValue(chromedp.ID("d-expiry"), "86400"),
			chromedp.Click(chromedp.CSS("#d-share button[type=submit]")),
			chromedp.WaitVisible(chromedp.ID("d-link")),
		)
		link := eval(t, `document.getElementById("d-link").value`)
		u, err := url.Parse(link)
		if err != nil || "http://"+u.Host != srv.origin || u.Path != "/v1/blobs/a/b/file.txt" || strings.Contains(link, testToken) {
			t.Fatalf("share link = %q", link)
		}
		if exp := u.Query().Get("expires"); exp == "" {
			t.Errorf("link without expiry: %q", link)
		}
		fresh, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		fb := &browserSession{}
		if err := chromedp.Do(fresh); err != nil {
			t.Fatal(err)
		}
		if err := fb.listen(fresh, srv.origin); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(fresh, chromedp.Navigate(link)); err != nil {
			t.Fatal(err)
		}
		body, err := chromedp.Run(fresh, chromedp.Evaluate[string](`document.body.innerText`))
		if err != nil {
			t.Fatal(err)
		}
		if body != strings.TrimSuffix(string(small), "\n") && body != string(small) {
			t.Errorf("the link shows %q; want the file", body)
		}
		if tok, _ := chromedp.Run(fresh, chromedp.Evaluate[string](`sessionStorage.getItem("simpledrive.token") || ""`)); tok != "" {
			t.Errorf("the fresh context has a token")
		}
		// The hostile blob through its own link: the sandbox keeps its
		// scripts from running on the console's origin.
		res, b := srv.call(t, http.MethodGet, xssID, "alt=media", "", nil)
		if csp := res.Header.Get("Content-Security-Policy"); csp != console.MediaCSP {
			t.Errorf("alt=media CSP = %q (%s)", csp, b)
		}
		fb.check(t, srv.origin)
		do(t, "close", chromedp.Click(chromedp.ID("d-close")))
	})

	t.Run("delete", func(t *testing.T) {
		do(t, "delete file.txt",
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="file.txt"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#details[data-ready=true]`)),
			chromedp.Click(chromedp.ID("d-delete")),
			chromedp.WaitVisible(chromedp.ID("d-confirm-yes")),
			chromedp.Click(chromedp.ID("d-confirm-yes")),
			chromedp.WaitNotPresent(rowSel("blob", "file.txt")),
		)
		if srv.sha(t, "a/b/file.txt") != "" {
			t.Errorf("a/b/file.txt still exists")
		}
	})

	t.Run("first render of 1,000 blobs", func(t *testing.T) {
		for i := range 1000 {
			srv.put(t, fmt.Sprintf("many/f%04d.txt", i), "text/plain", []byte("x"))
		}
		start := time.Now()
		do(t, "open many/ in a new page load",
			chromedp.Navigate(srv.origin+"/ui/#many%2F"),
			chromedp.WaitVisible(rowSel("blob", "f0000.txt")),
		)
		first := time.Since(start)
		rows := eval(t, `String(document.querySelectorAll("#rows tr").length)`)
		start = time.Now()
		for _, n := range []string{"500", "750", "1000"} {
			do(t, "load more", chromedp.Click(chromedp.ID("more")), chromedp.WaitReady(chromedp.CSS(`#files[data-loaded="`+n+`"]`)))
		}
		do(t, "all loaded", chromedp.WaitVisible(rowSel("blob", "f0999.txt")), chromedp.WaitNotVisible(chromedp.ID("more")))
		t.Logf("MEASURE first render of a 1,000-blob folder: %v (page load to the first %s rows); the rest by three load more: %v",
			first.Round(time.Millisecond), rows, time.Since(start).Round(time.Millisecond))
		if n := eval(t, `String(document.querySelectorAll("#rows tr").length)`); n != "1000" {
			t.Errorf("%s rows after loading everything; want 1000", n)
		}
	})

	bs.mu.Lock()
	n := bs.uiResp
	bs.mu.Unlock()
	if n < 5 {
		t.Errorf("only %d console responses recorded", n)
	}
}

func jsonText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

// shot saves a screenshot under dir and, when SCREENSHOT_DIR is set, a
// copy there.
// evaluator returns a function that evaluates a JavaScript expression of
// string type in the browser of ctx, failing the test when it cannot.
func evaluator(ctx context.Context) func(t *testing.T, expr string) string {
	return func(t *testing.T, expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	if d := os.Getenv("SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// hostileScript is what a stored document runs if it gets the chance: it
// marks the origin's storage and cookies and calls back to the server,
// each a trace the test looks for on the server's origin afterwards.
const hostileScript = `try { localStorage.setItem("pwned-%[1]s", "1") } catch (e) {}
try { document.cookie = "pwned-%[1]s=1; path=/" } catch (e) {}
fetch("/pwned?from=%[1]s").catch(() => {});`

// TestHostileBlobsThroughLinks opens a stored HTML page and a stored SVG,
// each with a script, through their signed links in Chromium: the pages
// render, yet no script runs on the server's origin (nothing in its
// localStorage or cookies, no call back), because alt=media responses are
// sandboxed while the console is served.
func TestHostileBlobsThroughLinks(t *testing.T) {
	chromium(t)
	srv := startServer(t)
	blobs := []struct {
		id, ctype, body, loaded string // loaded: JavaScript true once the document rendered
	}{
		{"hostile.html", "text/html",
			"<!doctype html><title>hostile</title><p id=marker>hostile page</p><script>" + fmt.Sprintf(hostileScript, "html") + "</script>",
			`document.getElementById("marker").textContent === "hostile page"`},
		{"hostile.svg", "image/svg+xml",
			`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect id="marker" width="10" height="10"/><script>` + fmt.Sprintf(hostileScript, "svg") + `</script></svg>`,
			`document.documentElement.localName === "svg" && document.getElementById("marker") !== null`},
	}
	ctx, cancel := newBrowser(t)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	bs := &browserSession{}
	if err := bs.listen(ctx, srv.origin); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		srv.put(t, b.id, b.ctype, []byte(b.body))
		link := srv.link(t, b.id)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.origin+link)); err != nil {
			t.Fatalf("opening the link of %s: %v", b.id, err)
		}
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](b.loaded))
		if err != nil {
			t.Fatalf("opening the link of %s: %v", b.id, err)
		}
		if !loaded {
			t.Errorf("the link of %s did not render the document", b.id)
		}
	}
	// Back on the server's origin, in a page of its own: the traces a
	// script would have left.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.origin+"/ui/")); err != nil {
		t.Fatal(err)
	}
	traces, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({storage: Object.keys(localStorage).filter(k => k.startsWith("pwned")), cookie: document.cookie})`))
	if err != nil {
		t.Fatal(err)
	}
	if traces != `{"storage":[],"cookie":""}` {
		t.Errorf("a stored document's script ran on the server's origin: it left %s", traces)
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for _, u := range bs.urls {
		if strings.Contains(u, "pwned") {
			t.Errorf("a stored document's script called back: %s", u)
		}
	}
}

// link returns the path and query of a signed link to id, valid for ten
// minutes, to be opened on the origin the browser uses.
func (s *server) link(t *testing.T, id string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.direct+"/v1/links", strings.NewReader(fmt.Sprintf(`{"id": %q, "expires_in": 600}`, id)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/links for %q: %d, %v", id, res.StatusCode, err)
	}
	u, err := url.Parse(out.URL) // absolute, on the host the test called
	if err != nil {
		t.Fatalf("link %q: %v", out.URL, err)
	}
	return u.RequestURI()
}

// viewport is a window the console is tried at.
type viewport struct {
	name          string
	width, height int64
	touch         bool // a touch screen without a mouse: nothing to drop with
}

var viewports = []viewport{{"desktop", 1200, 900, false}, {"phone", 390, 844, true}}

// TestConsoleEverydayInChromium drives the everyday operations at desktop
// and phone widths against a real server: the usage line, a share link's
// expiry shown as information (not as an error), Replace and Skip on a
// 409, rename. Every step leaves a screenshot in the test's artifact
// directory (go test -artifacts keeps them).
func TestConsoleEverydayInChromium(t *testing.T) {
	chromium(t)
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) { everyday(t, vp) })
	}
}

func everyday(t *testing.T, vp viewport) {
	srv := startServer(t)
	for id, body := range map[string]string{
		"keep.txt": "the stored version", "docs/a.txt": "aaa", "docs/b.txt": "bbb",
		"docs/sub/c.txt": "ccc", "old/x.txt": "xxx", "old/y/z.txt": "zzz",
	} {
		srv.put(t, id, "text/plain", []byte(body))
	}
	ctx, cancel := newBrowser(t)
	defer cancel()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if vp.touch {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)); err != nil {
		t.Fatal(err)
	}
	bs := &browserSession{ctx: ctx}
	if err := bs.listen(ctx, srv.origin); err != nil {
		t.Fatal(err)
	}
	defer bs.check(t, srv.origin)
	dir := t.ArtifactDir()
	// settled waits until the listing is read and drawn.
	settled := chromedp.WaitReady(chromedp.CSS(`#files:not([aria-busy])`))
	shots := 0
	// step runs the actions, then saves a numbered screenshot of the result.
	step := func(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := chromedp.Do(sctx, steps...)
		shots++
		name := fmt.Sprintf("%s-%02d-%s.png", vp.name, shots, strings.ReplaceAll(what, " ", "-"))
		shot(t, ctx, dir, name)
		if err != nil {
			uploads, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("li.upload")].map(li => li.dataset.id + " " + li.dataset.state + ": " + li.textContent).join("\n")`))
			crumbs, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#crumbs li")].map(li => li.textContent).join("/")`))
			t.Fatalf("%s: %v\nin %s, the upload list:\n%s", what, err, crumbs, uploads)
		}
	}
	eval := evaluator(ctx)

	step(t, "signed in",
		chromedp.Navigate(srv.origin+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.CSS("#signin button")),
		chromedp.WaitVisible(rowSel("blob", "keep.txt")),
		chromedp.WaitVisible(chromedp.CSS(`#usage:not(:empty)`)),
	)
	if got := eval(t, `document.getElementById("usage").textContent`); got != "In the drive: 6 files, 33 B" {
		t.Errorf("usage line = %q; want the drive's 6 files and 33 bytes", got)
	}

	// checkLabels fails unless each label is on the row of its control,
	// just before it: the label's vertical middle within the control's box.
	checkLabels := func(t *testing.T, width int64) {
		t.Helper()
		for _, id := range []string{"filter", "sort"} {
			r := eval(t, fmt.Sprintf(`(() => {
				const c = document.getElementById(%[1]q).getBoundingClientRect(), l = document.querySelector('label[for=%[1]s]').getBoundingClientRect();
				return JSON.stringify([l.top, l.bottom, l.right, c.top, c.bottom, c.left].map(Math.round)) })()`, id))
			var b [6]float64
			if err := json.Unmarshal([]byte(r), &b); err != nil {
				t.Fatal(err)
			}
			if mid := (b[0] + b[1]) / 2; mid < b[3] || mid > b[4] || b[2] > b[5] {
				t.Errorf("at %d px the label of #%s is at top %v, its control at top %v (label [top bottom right], control [top bottom left] = %s): not on one row", width, id, b[0], b[3], r)
			}
		}
	}
	t.Run("layout", func(t *testing.T) {
		// Phones are tried from 320 to 430 px: the toolbar wraps
		// differently at each.
		widths := []int64{vp.width}
		if vp.touch {
			widths = []int64{320, 340, 360, 375, 390, 414, 430}
		}
		for _, w := range widths {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, vp.height, opts...)); err != nil {
				t.Fatal(err)
			}
			checkLabels(t, w)
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height, opts...)); err != nil {
			t.Fatal(err)
		}
		step(t, "layout")
		if w := eval(t, `String(document.documentElement.scrollWidth - window.innerWidth)`); w != "0" {
			t.Errorf("the page is %s px wider than the window", w)
		}
		want := "block"
		if vp.touch {
			want = "none"
		}
		if got := eval(t, `getComputedStyle(document.querySelector(".drophint")).display`); got != want {
			t.Errorf("drop hint display = %q; want %q (pointer fine: %s)", got, want, eval(t, `String(matchMedia("(pointer: fine)").matches)`))
		}
	})

	t.Run("share link expiry is information", func(t *testing.T) {
		step(t, "share link",
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="keep.txt"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#details[data-ready=true]`)),
			chromedp.Click(chromedp.CSS("#d-share button[type=submit]")),
			chromedp.WaitVisible(chromedp.ID("d-info")),
		)
		msg := eval(t, `document.getElementById("d-info").textContent`)
		want := eval(t, `new Date(Number(new URL(document.getElementById("d-link").value).searchParams.get("expires")) * 1000)
			.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })`)
		if !strings.Contains(msg, "Link") || !strings.Contains(msg, "until "+want) {
			t.Errorf("share message = %q; want the link's expiry %q", msg, want)
		}
		if shown := eval(t, `String(!document.getElementById("d-error").hidden)`); shown != "false" {
			t.Errorf("the error box is shown beside the share message")
		}
		if c := eval(t, `getComputedStyle(document.getElementById("d-info")).color`); c == "rgb(180, 35, 24)" {
			t.Errorf("the share message is drawn in the error colour %s", c)
		}
		step(t, "closed", chromedp.Click(chromedp.ID("d-close")), chromedp.WaitNotVisible(chromedp.ID("details")))
	})

	t.Run("409 offers Replace and Skip", func(t *testing.T) {
		newer := []byte("the version from the browser")
		p := writeFile(t, t.TempDir(), "keep.txt", newer)
		li := `li.upload[data-id="keep.txt"]`
		step(t, "conflict",
			chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
			chromedp.WaitVisible(uploadSel("keep.txt", "error")),
		)
		if got := eval(t, `[...document.querySelectorAll('`+li+` .ubuttons button:not([hidden])')].map(b => b.textContent).join(",")`); got != "Replace,Skip" {
			t.Fatalf("buttons on a 409 = %q; want Replace,Skip", got)
		}
		step(t, "skipped",
			chromedp.Click(chromedp.CSS(li+` .ubuttons button:last-child`)),
			chromedp.WaitNotPresent(chromedp.CSS(li)),
		)
		if got := srv.sha(t, "keep.txt"); got != sum([]byte("the stored version")) {
			t.Fatalf("Skip changed keep.txt")
		}
		step(t, "conflict again",
			chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
			chromedp.WaitVisible(uploadSel("keep.txt", "error")),
		)
		step(t, "replaced",
			chromedp.Click(chromedp.CSS(li+` .ubuttons button:nth-child(3)`)),
			chromedp.WaitVisible(uploadSel("keep.txt", "done")),
			settled,
		)
		if got := srv.sha(t, "keep.txt"); got != sum(newer) {
			t.Fatalf("after Replace keep.txt has SHA-256 %s; want the new file's", got)
		}
	})

	t.Run("rename", func(t *testing.T) {
		step(t, "rename",
			chromedp.Click(chromedp.CSS(`tr.folder[data-name="docs"] button`)),
			chromedp.WaitVisible(rowSel("blob", "a.txt")),
			chromedp.Click(chromedp.CSS(`tr.blob[data-name="a.txt"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`#details[data-ready=true]`)),
			chromedp.SetValue(chromedp.ID("d-newid"), "docs/renamed.txt"),
		)
		step(t, "renamed",
			chromedp.Click(chromedp.CSS("#d-rename button")),
			chromedp.WaitNotVisible(chromedp.ID("details")),
			settled,
			chromedp.WaitVisible(rowSel("blob", "renamed.txt")),
			chromedp.WaitNotPresent(rowSel("blob", "a.txt")),
		)
		if srv.sha(t, "docs/renamed.txt") != sum([]byte("aaa")) || srv.sha(t, "docs/a.txt") != "" {
			t.Fatalf("after the rename docs/renamed.txt holds %q and docs/a.txt %q", srv.sha(t, "docs/renamed.txt"), srv.sha(t, "docs/a.txt"))
		}
	})

	tick := func(kind, name string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr.%s[data-name=%s] td.sel input`, kind, cssString(name))))
	}
	t.Run("multi-select delete", func(t *testing.T) {
		step(t, "two files selected",
			tick("blob", "renamed.txt"),
			tick("blob", "b.txt"),
			chromedp.WaitVisible(chromedp.ID("selbar")),
			chromedp.Click(chromedp.ID("sel-delete")),
			chromedp.WaitVisible(chromedp.ID("sel-confirm-yes")),
		)
		if got := eval(t, `document.getElementById("sel-confirm-text").textContent`); got != "Delete 2 files permanently? This cannot be undone." {
			t.Errorf("confirmation = %q", got)
		}
		step(t, "two files deleted",
			chromedp.Click(chromedp.ID("sel-confirm-yes")),
			chromedp.WaitNotPresent(rowSel("blob", "b.txt")),
			chromedp.WaitNotPresent(rowSel("blob", "renamed.txt")),
			chromedp.WaitVisible(rowSel("folder", "sub")),
		)
		for id, want := range map[string]string{"docs/renamed.txt": "", "docs/b.txt": "", "docs/sub/c.txt": sum([]byte("ccc"))} {
			if got := srv.sha(t, id); got != want {
				t.Errorf("after deleting two files %s has SHA-256 %q; want %q", id, got, want)
			}
		}
	})

	t.Run("folder delete", func(t *testing.T) {
		step(t, "folder selected",
			chromedp.Click(chromedp.CSS(`#crumbs li:first-child button`)),
			chromedp.WaitVisible(rowSel("folder", "old")),
			tick("folder", "old"),
			chromedp.Click(chromedp.ID("sel-delete")),
			chromedp.WaitVisible(chromedp.ID("sel-confirm-yes")),
		)
		if got := eval(t, `document.getElementById("sel-confirm-text").textContent`); got != "Delete 2 files permanently (1 folder with everything in it)? This cannot be undone." {
			t.Errorf("confirmation = %q; want the folder's 2 files counted", got)
		}
		step(t, "kept on second thought", chromedp.Click(chromedp.ID("sel-confirm-no")), chromedp.WaitNotVisible(chromedp.ID("sel-confirm")))
		if srv.sha(t, "old/x.txt") == "" {
			t.Fatalf("Keep them deleted old/x.txt")
		}
		step(t, "folder deleted",
			chromedp.Click(chromedp.ID("sel-delete")),
			chromedp.WaitVisible(chromedp.ID("sel-confirm-yes")),
			chromedp.Click(chromedp.ID("sel-confirm-yes")),
			chromedp.WaitNotPresent(rowSel("folder", "old")),
			chromedp.WaitVisible(rowSel("folder", "docs")),
		)
		for id, want := range map[string]string{"old/x.txt": "", "old/y/z.txt": "", "docs/sub/c.txt": sum([]byte("ccc")), "keep.txt": sum([]byte("the version from the browser"))} {
			if got := srv.sha(t, id); got != want {
				t.Errorf("after deleting old/ %s has SHA-256 %q; want %q", id, got, want)
			}
		}
	})

	t.Run("multi-select download", func(t *testing.T) {
		dl := t.TempDir()
		if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: ptr(true),
		}); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a missing download fails, not hangs
		defer cancel()
		progress := chromedp.Events(dctx, browser.DownloadProgress)
		step(t, "a file and a folder downloaded",
			tick("blob", "keep.txt"),
			tick("folder", "docs"),
			chromedp.Click(chromedp.ID("sel-download")),
		)
		var got []string
		for ev, err := range progress {
			if err != nil {
				t.Fatal(err)
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("a download was cancelled")
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				b, err := os.ReadFile(filepath.Join(dl, ev.GUID))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
				if len(got) == 2 {
					break
				}
			}
		}
		slices.Sort(got)
		if want := []string{"ccc", "the version from the browser"}; !slices.Equal(got, want) {
			t.Errorf("downloaded %q; want %q", got, want)
		}
	})

	t.Run("folder upload", func(t *testing.T) {
		tree := map[string][]byte{"readme.md": []byte("# proj\n"), "src/main.go": []byte("package main\n"), "src/deep/x y ü.txt": random(t, 70_000), "empty.txt": {}}
		root := filepath.Join(t.TempDir(), "proj")
		for rel, b := range tree {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, root, rel, b)
		}
		// stored checks that every file of the tree is stored under prefix
		// with its bytes.
		stored := func(t *testing.T, prefix string) {
			t.Helper()
			for rel, b := range tree {
				if got := srv.sha(t, prefix+rel); got != sum(b) {
					t.Errorf("%s%s has SHA-256 %q; want %q", prefix, rel, got, sum(b))
				}
			}
		}
		step(t, "folder picked",
			chromedp.SetUploadFiles(chromedp.ID("dir-input"), []string{root}),
			chromedp.WaitVisible(uploadSel("proj/src/deep/x y ü.txt", "done")),
			chromedp.WaitVisible(uploadSel("proj/readme.md", "done")),
			chromedp.WaitVisible(uploadSel("proj/empty.txt", "done")),
			chromedp.WaitVisible(uploadSel("proj/src/main.go", "done")),
			settled,
			chromedp.WaitVisible(rowSel("folder", "proj")),
		)
		stored(t, "proj/")
		if vp.touch {
			return // nothing is dropped on a touch screen
		}
		step(t, "folder dropped",
			chromedp.Click(chromedp.ID("newfolder-open")),
			chromedp.SendKeys(chromedp.ID("newfolder-name"), "dropped"),
			chromedp.Click(chromedp.CSS("#newfolder button[type=submit]")),
			// In the new folder, its listing shown: the drop lands
			// there, on the drop zone where it now is (any page has a
			// current crumb, and the listing moves the zone).
			chromedp.Poll[chromedp.Void](`document.querySelector("#crumbs [aria-current=page]")?.textContent.includes("dropped") && !document.getElementById("files").hasAttribute("aria-busy")`,
				chromedp.WithPollingInterval(20*time.Millisecond)),
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				xy, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const r = document.getElementById("dropzone").getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2] })()`))
				if err != nil {
					return err
				}
				data := &input.DragData{Files: []string{root}, DragOperationsMask: 1}
				for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
					if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: xy[0], Y: xy[1], Data: data}); err != nil {
						return err
					}
				}
				return nil
			}),
			chromedp.WaitVisible(uploadSel("dropped/proj/src/deep/x y ü.txt", "done")),
			chromedp.WaitVisible(uploadSel("dropped/proj/readme.md", "done")),
			chromedp.WaitVisible(uploadSel("dropped/proj/empty.txt", "done")),
			chromedp.WaitVisible(uploadSel("dropped/proj/src/main.go", "done")),
			settled,
			chromedp.WaitVisible(rowSel("folder", "proj")),
		)
		stored(t, "dropped/proj/")
	})

	// The README's screenshots: docs/console-desktop.png and
	// docs/console-phone.png are copies of this step's.
	step(t, "overview",
		chromedp.Click(chromedp.CSS(`#crumbs li:first-child button`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#crumbs li:nth-child(2)`)),
		settled,
		chromedp.WaitVisible(rowSel("folder", "proj")),
		tick("folder", "proj"),
		chromedp.WaitVisible(chromedp.ID("selbar")),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("li.upload[data-state=done] .ubuttons button:last-child").forEach(b => b.click()); scrollTo(0, 0)`),
		chromedp.WaitNotVisible(chromedp.ID("uploads")),
	)
}
