package app

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

// records passes on every log record.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool        { return true }
func (r records) Handle(_ context.Context, rec slog.Record) error { r <- rec; return nil }
func (r records) WithAttrs([]slog.Attr) slog.Handler              { return r }
func (r records) WithGroup(string) slog.Handler                   { return r }

// TestStartupLogNamesConsoleAndCLI: the "serving" line gives the server's
// URL, the console's (while it is on) and the CLI's first commands, and
// never the token.
func TestStartupLogNamesConsoleAndCLI(t *testing.T) {
	for _, consoleOn := range []string{"on", "off"} {
		dir := t.TempDir()
		cfg, err := config.Load(func(name string) string {
			return map[string]string{"API_TOKEN": "very-secret-token", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs", "CONSOLE": consoleOn}[name]
		})
		if err != nil {
			t.Fatal(err)
		}
		logs := make(records, 100)
		a, err := New(context.Background(), cfg, slog.New(logs))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- a.Serve(ctx, ln) }()
		attrs := map[string]string{}
		for rec := range logs {
			if rec.Message == "serving" {
				rec.Attrs(func(at slog.Attr) bool { attrs[at.Key] = at.Value.String(); return true })
				break
			}
		}
		stop()
		<-served
		a.Close()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		base := "http://localhost:" + port
		if attrs["url"] != base || !strings.Contains(attrs["cli"], "SIMPLEDRIVE_URL="+base) || !strings.Contains(attrs["cli"], "simpledrive ls") {
			t.Errorf("CONSOLE=%s: serving line %v; want url %s and the CLI's first commands", consoleOn, attrs, base)
		}
		if want := map[string]string{"on": base + "/ui/", "off": ""}[consoleOn]; attrs["console"] != want {
			t.Errorf("CONSOLE=%s: console %q; want %q", consoleOn, attrs["console"], want)
		}
		for k, v := range attrs {
			if strings.Contains(v, "very-secret-token") {
				t.Errorf("the serving line shows the token in %s", k)
			}
		}
	}
}
