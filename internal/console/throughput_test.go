package console_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/simpledrive/simpledrive/internal/cli"
)

// TestUploadThroughput (SIMPLEDRIVE_SLOW_TESTS=1) uploads 256 MiB through
// the console (tus in Chromium), with simpledrive put (tus), and with one
// raw PUT straight to the server and one through the console's proxy, in
// one run, and logs the rates.
func TestUploadThroughput(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("set SIMPLEDRIVE_SLOW_TESTS=1 to move 256 MiB through the console")
	}
	chromium(t)
	srv := startServer(t)
	const size = 256 << 20
	data := random(t, size)
	p := writeFile(t, t.TempDir(), "big256.bin", data)

	ctx, cancel := newBrowser(t)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithTimeout(ctx, 3*time.Minute)
	defer stop()
	if err := chromedp.Do(sctx,
		chromedp.Navigate(srv.origin+"/ui/"),
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.CSS("#signin button")),
		chromedp.WaitVisible(chromedp.ID("drive-view")),
	); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Do(sctx,
		chromedp.SetUploadFiles(chromedp.ID("files-input"), []string{p}),
		chromedp.WaitVisible(uploadSel("big256.bin", "done")),
	); err != nil {
		t.Fatal(err)
	}
	console := time.Since(start)
	if got := srv.sha(t, "big256.bin"); got != sum(data) {
		t.Fatal("stored bytes differ")
	}

	start = time.Now()
	var out bytes.Buffer
	vars := map[string]string{"SIMPLEDRIVE_URL": srv.origin, "SIMPLEDRIVE_TOKEN": testToken, "XDG_CACHE_HOME": t.TempDir(), "HOME": t.TempDir()}
	if code := cli.Main(context.Background(), []string{"put", p, "--id", "cli256.bin"}, cli.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(k string) string { return vars[k] },
	}); code != 0 {
		t.Fatalf("simpledrive put = %d: %s", code, out.String())
	}
	cliPut := time.Since(start)
	if got := srv.sha(t, "cli256.bin"); got != sum(data) {
		t.Fatal("the CLI stored other bytes")
	}

	put := rawPut(t, srv.direct, "put256.bin", data)
	proxied := rawPut(t, srv.origin, "proxied256.bin", data)
	rate := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	t.Logf("MEASURE 256 MiB through the console: %v (%.0f MiB/s); simpledrive put (tus, same proxy): %v (%.0f MiB/s); both through the test's proxy; one raw PUT straight to the server: %v (%.0f MiB/s); one raw PUT through the proxy: %v (%.0f MiB/s); console and put over the proxied PUT: %.2fx, %.2fx",
		console.Round(time.Millisecond), rate(console), cliPut.Round(time.Millisecond), rate(cliPut), put.Round(time.Millisecond), rate(put),
		proxied.Round(time.Millisecond), rate(proxied), proxied.Seconds()/console.Seconds(), proxied.Seconds()/cliPut.Seconds())
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
