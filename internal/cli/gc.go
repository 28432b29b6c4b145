package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/blob"
)

func newGC(env Env) *cobra.Command {
	var olderThan time.Duration
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove blob bytes nothing references",
		Long: "Remove the bytes of deleted blobs whose DELETE_GRACE has passed, and the bytes no metadata\n" +
			"references (creates a crash or a failure interrupted, temporary files of interrupted writes)\n" +
			"that are older than --older-than. Uses the server's configuration (environment variables) and\n" +
			"may run while servers serve: --older-than must exceed the longest upload plus REQUEST_TIMEOUT,\n" +
			"since a create stores its bytes before the row that references them. Exit 0 on success, 1 on\n" +
			"failure, 2 on a usage error.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 0 {
				return usageError("--older-than must not be negative")
			}
			ctx := cmd.Context()
			core, err := openCore(ctx, env)
			if err != nil {
				return err
			}
			defer core.Close()
			bar := newProgress(env.Stderr, "keys")
			start := time.Now()
			r, err := core.Service.Collect(ctx, start, blob.GCOptions{
				OlderThan: olderThan,
				DryRun:    dryRun,
				Progress:  func(r blob.GCReport) { bar.set(r.Listed) },
			})
			bar.done()
			if asJSON {
				out := struct {
					blob.GCReport
					Backend string  `json:"backend"`
					DryRun  bool    `json:"dry_run"`
					Seconds float64 `json:"seconds"`
				}{r, core.Backend.Name(), dryRun, time.Since(start).Seconds()}
				json.NewEncoder(env.Stdout).Encode(out)
			} else {
				printGC(env, core.Backend.Name(), olderThan, dryRun, r, time.Since(start))
			}
			if err != nil {
				return fmt.Errorf("gc stopped: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", time.Hour, "remove unreferenced bytes only when older than this")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "find and count, remove nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	return cmd
}

func printGC(env Env, backend string, olderThan time.Duration, dryRun bool, r blob.GCReport, took time.Duration) {
	verb := "removed"
	if dryRun {
		verb = "would remove (dry run)"
	}
	w := env.Stdout
	fmt.Fprintf(w, "backend %s: %d keys listed (%s) in %s\n", backend, r.Listed, bytesString(r.ListedBytes), took.Round(time.Millisecond))
	fmt.Fprintf(w, "deleted blobs past DELETE_GRACE: %s %d\n", verb, r.Garbage)
	fmt.Fprintf(w, "unreferenced bytes older than %s: %d keys (%s); %s %d keys (%s)\n",
		olderThan, r.Orphans, bytesString(r.OrphanBytes), verb, orIf(dryRun, r.Orphans, r.Removed), bytesString(orIf(dryRun, r.OrphanBytes, r.RemovedBytes)))
	fmt.Fprintf(w, "unreferenced bytes younger, kept: %d keys (%s)\n", r.Young, bytesString(r.YoungBytes))
}

func orIf[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}
