package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
)

// openCore loads the server's configuration from env and opens what the
// maintenance commands work on: database, backend and service, wired as
// the server wires them. API_TOKEN may be unset: these commands serve no
// requests.
func openCore(ctx context.Context, env Env) (*app.Core, error) {
	getenv := func(name string) string {
		if v := env.Getenv(name); v != "" || name != "API_TOKEN" {
			return v
		}
		return "unused-by-maintenance-commands"
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, usageError("invalid configuration:\n%v", err)
	}
	// Warnings and errors only: the commands report on stdout.
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: max(cfg.LogLevel, slog.LevelWarn)}))
	core, err := app.OpenCore(ctx, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("opening the database and backend: %w", err)
	}
	return core, nil
}

// progress shows a long run's progress on stderr when it is a terminal,
// and nothing otherwise (piped or redirected output stays clean).
type progress struct {
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, what string) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	return &progress{bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(what),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

// set shows n items done.
func (p *progress) set(n int) {
	if p.bar != nil {
		p.bar.Set64(int64(n))
	}
}

// done clears the bar.
func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// bytesString renders a byte count with a binary unit.
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
