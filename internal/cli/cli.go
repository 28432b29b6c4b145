// Package cli is the simpledrive command line: the server (simpledrive
// serve, also what a bare simpledrive runs) and the commands operators and
// users run beside it.
//
// Commands read the server's configuration from the environment, like the
// server; client commands read SIMPLEDRIVE_URL and SIMPLEDRIVE_TOKEN,
// which flags override. Exit codes are documented in the README: 0 success,
// 1 failure, 2 usage error, and more specific ones per command.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Env is what a command may touch of its process: its streams and
// environment. Tests run commands with an Env of their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// exitError carries the exit code of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError reports a command used wrongly: exit code 2.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// Main runs the command line args (without the program name) and returns
// the process's exit code. It returns when the command is done or ctx ends
// (SIGINT, SIGTERM).
func Main(ctx context.Context, args []string, env Env) int {
	root := newRoot(env)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	msg := explain(err)
	if name := cmd.Name(); cmd != root && !strings.HasPrefix(msg, name+" ") && !strings.HasPrefix(msg, name+":") {
		msg = name + ": " + msg
	}
	fmt.Fprintf(env.Stderr, "simpledrive: %s\n", msg)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isFlagError(err) {
		return ExitUsage
	}
	return ExitError
}

// noArgs refuses arguments, as a usage error: for the root command, an
// argument is an unknown command.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.Root().Name())
	}
	return nil
}

// flagError marks errors cobra reports for bad flags and arguments, which
// it returns as plain errors.
type flagError struct{ error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

func newRoot(env Env) *cobra.Command {
	serve := newServe(env)
	root := &cobra.Command{
		Use:   "simpledrive",
		Short: "Simple Drive: a small blob-storage service",
		Long: "Simple Drive stores blobs under ids of the client's choosing, on local disk, in its database,\n" +
			"in an S3-compatible store or on an FTP server. Without a command it runs the server.",
		Args:          noArgs,
		RunE:          serve.RunE,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError{err} })
	root.Version = version()
	root.SetVersionTemplate("simpledrive {{.Version}}\n")
	root.AddCommand(serve, newGC(env), newFsck(env), newRekey(env))
	addClientCommands(root, env)
	return root
}

// version is the module's version and the commit it was built from, as
// the Go toolchain recorded them: "v1.2.3", or "(devel) commit 3dcfb6c4a1b2
// (modified)" for a build from a work tree.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			modified = " (modified)"
		}
	}
	if rev != "" {
		v += " commit " + rev + modified
	}
	return v
}
