package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/simpledrive/simpledrive/internal/client"
)

// Exit codes of the client commands, beside [ExitOK], [ExitError] and
// [ExitUsage].
const (
	ExitNotFound     = 3 // the blob (or key) does not exist: 404
	ExitConflict     = 4 // the id is taken: 409
	ExitUnauthorized = 5 // missing, wrong or insufficient token: 401, 403
	ExitUnavailable  = 6 // the server cannot be reached or answers 503
)

// progressMin is the smallest transfer that gets a progress bar.
const progressMin = 4 << 20

// clientOptions are the flags every client command takes.
type clientOptions struct {
	env     Env
	url     string
	token   string
	profile string
	quiet   bool
	json    bool
}

// addClientFlags adds --url, --token, --quiet and --json to cmd.
func addClientFlags(cmd *cobra.Command, env Env) *clientOptions {
	o := &clientOptions{env: env}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "server URL (default $SIMPLEDRIVE_URL, else http://localhost:8080)")
	f.StringVar(&o.token, "token", "", "bearer token (default $SIMPLEDRIVE_TOKEN)")
	f.StringVar(&o.profile, "profile", "", "a server added with simpledrive config add (default $SIMPLEDRIVE_PROFILE)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors, no progress")
	f.BoolVar(&o.json, "json", false, "print results as JSON, one document per line")
	return o
}

// client returns the API client the flags, environment and profiles
// describe: --url and --token, then a profile named by --profile or
// $SIMPLEDRIVE_PROFILE, then $SIMPLEDRIVE_URL and $SIMPLEDRIVE_TOKEN, then
// the current profile, then http://localhost:8080.
func (o *clientOptions) client() (*client.Client, error) {
	name := cmp.Or(o.profile, o.env.Getenv("SIMPLEDRIVE_PROFILE"))
	var named, current profile
	if ps, _, err := loadProfiles(o.env); err != nil && name != "" {
		return nil, usageError("--profile: %v", err)
	} else if name != "" {
		p, ok := ps.Profiles[name]
		if !ok {
			return nil, usageError("--profile: no profile is called %q; see simpledrive config ls", name)
		}
		named = p
	} else {
		current = ps.Profiles[ps.Current]
	}
	u := cmp.Or(o.url, named.URL, o.env.Getenv("SIMPLEDRIVE_URL"), current.URL, "http://localhost:8080")
	tok := cmp.Or(o.token, named.Token, o.env.Getenv("SIMPLEDRIVE_TOKEN"), current.Token)
	c, err := client.New(u, tok, &http.Client{Transport: transport()})
	if err != nil {
		return nil, usageError("--url: %v", err)
	}
	return c, nil
}

// transport is the client's HTTP transport: the default one's settings,
// with a bound on waiting for response headers so a hung server is noticed.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.MaxIdleConnsPerHost = 64
	return t
}

// printJSON writes v as one line of JSON to stdout.
func (o *clientOptions) printJSON(v any) { printJSON(o.env.Stdout, v) }

// printJSON writes v as one line of JSON to w.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// printf writes a human-readable line to stdout unless --quiet or --json.
func (o *clientOptions) printf(format string, args ...any) {
	if !o.quiet && !o.json {
		fmt.Fprintf(o.env.Stdout, format, args...)
	}
}

// apiError gives err the exit code of its cause.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	code := ExitError
	switch s := client.StatusOf(err); {
	case s == http.StatusNotFound:
		code = ExitNotFound
	case s == http.StatusConflict:
		code = ExitConflict
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		code = ExitUnauthorized
	case client.Unreachable(err):
		code = ExitUnavailable
	}
	return &exitError{code: code, err: err}
}

// joinErrors prints every error of a command that works on several
// arguments but the last, and returns the last with its exit code: each
// failure is reported once, and the exit code is that of the last.
func joinErrors(w io.Writer, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	for _, err := range errs[:len(errs)-1] {
		fmt.Fprintf(w, "simpledrive: %s\n", explain(err))
	}
	return apiError(errs[len(errs)-1])
}

// isTerminal reports whether the stream s is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress returns a progress bar of size bytes on stderr, or nil when the
// transfer is small, --quiet is set or stderr is not a terminal.
func (o *clientOptions) progress(size int64, desc string) *progressbar.ProgressBar {
	if o.quiet || size < progressMin || !isTerminal(o.env.Stderr) {
		return nil
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(o.env.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.env.Stderr) }),
	)
}

// setProgress moves bar to n; a nil bar does nothing.
func setProgress(bar *progressbar.ProgressBar, n int64) {
	if bar != nil {
		bar.Set64(n)
	}
}

// cacheDir is the user's cache directory for simpledrive: under
// $XDG_CACHE_HOME when set, else [os.UserCacheDir].
func (o *clientOptions) cacheDir() (string, error) {
	if d := o.env.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "simpledrive"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "simpledrive"), nil
}

// addClientCommands adds the client commands, bench and migrate to root.
func addClientCommands(root *cobra.Command, env Env) {
	root.AddCommand(newPut(env), newGet(env), newLs(env), newStat(env), newRm(env),
		newTransfer(env, "mv"), newTransfer(env, "cp"), newSync(env), newDu(env),
		newLink(env), newKeys(env), newConfig(env), newBench(env), newMigrate(env))
}

// explain returns err's message in the words of a user: a server that
// cannot be reached named with a hint, the token variable named on a
// 401, and an interrupted command told it resumes.
func explain(err error) string {
	msg := err.Error()
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &ue) && errors.As(ue.Err, &oe) && oe.Op == "dial" {
		server := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			server = u.Scheme + "://" + u.Host
		}
		cause := oe.Err.Error()
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			cause = se.Err.Error()
		}
		msg = strings.Replace(msg, ue.Error(), "cannot reach "+server+": is the server running? ("+cause+")", 1)
	}
	switch {
	case errors.Is(err, context.Canceled):
		msg += " (interrupted: run the same command again to resume)"
	case client.StatusOf(err) == http.StatusUnauthorized:
		msg += "; set SIMPLEDRIVE_TOKEN (or --token, or a profile: simpledrive config add NAME URL --token TOKEN)"
	}
	return msg
}
