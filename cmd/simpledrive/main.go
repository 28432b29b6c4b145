// Command simpledrive is Simple Drive: the blob-storage server and its
// command-line tools.
//
// A bare simpledrive, like simpledrive serve, runs the server, configured
// entirely by environment variables (see the README); API_TOKEN is
// required. With no other settings it stores metadata in the SQLite file
// ./data/simpledrive.db and blobs under ./data/blobs, and listens on :8080.
// SIGINT or SIGTERM shut it down gracefully; with TLS_CERT_FILE and
// TLS_KEY_FILE set, SIGHUP reloads the certificate (see app.App.Serve).
// simpledrive help lists the other commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/simpledrive/simpledrive/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
