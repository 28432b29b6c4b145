package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/blob"
)

func newRekey(env Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Rewrap every blob's and upload part's data key under the current master key",
		Long: "Rewrap the data key of every encrypted blob, and of every encrypted part of an unfinished\n" +
			"upload, under the current (first) master key of\n" +
			"ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE; no stored byte is rewritten. Each row switches by a\n" +
			"compare-and-swap, so servers may serve meanwhile; stopping it is safe, and running it again\n" +
			"continues. Once it finished (and no server still writes under an older key), the older keys\n" +
			"can be dropped from the configuration. Uses the server's configuration. Exit 0 on success,\n" +
			"1 on failure, 2 on a usage error.",
		Example: "  ENCRYPTION_KEYS=k2:NEW...,k1:OLD... simpledrive rekey\n" +
			"  ENCRYPTION_KEYS=k2:NEW... simpledrive serve",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			core, err := openCore(ctx, env)
			if err != nil {
				return err
			}
			defer core.Close()
			bar := newProgress(env.Stderr, "blobs")
			start := time.Now()
			st, err := core.Service.Rekey(ctx, func(s blob.RekeyStats) { bar.set(int(s.Scanned)) })
			bar.done()
			took := time.Since(start)
			if asJSON {
				printJSON(env.Stdout, map[string]any{
					"scanned": st.Scanned, "rewrapped": st.Rewrapped, "current": st.Current, "clear": st.Clear,
					"changed": st.Changed, "parts": st.Parts, "parts_changed": st.PartsChanged,
					"seconds": took.Seconds(), "complete": err == nil,
				})
			} else {
				fmt.Fprintf(env.Stdout, "scanned %d blobs in %s: rewrapped %d, %d already under the current key, %d in clear, %d changed meanwhile; rewrapped %d parts of unfinished uploads\n",
					st.Scanned, took.Round(time.Millisecond), st.Rewrapped, st.Current, st.Clear, st.Changed+st.PartsChanged, st.Parts)
			}
			if err != nil {
				return fmt.Errorf("rekey stopped (run it again to continue): %w", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	return cmd
}
