package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/blob"
)

// ExitProblems is the exit code of fsck when it found a problem.
const ExitProblems = 1

func newFsck(env Env) *cobra.Command {
	var deep, repair, asJSON bool
	var jobs int
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check every blob's metadata against its bytes",
		Long: "Check every metadata row against the storage backend: the bytes are present and of the\n" +
			"recorded size, and with --deep have the recorded SHA-256 and CRC-32C (each blob is read\n" +
			"whole, streamed). Prints each problem and a summary. Changes nothing unless --repair, which\n" +
			"removes only the rows whose bytes are gone, each printed first, and with --deep records the\n" +
			"CRC-32C of sound blobs stored before it was kept (reads then verify them by it). Rows of a backend other than STORAGE_BACKEND\n" +
			"are reported, never repaired. Uses the server's configuration and may run while servers\n" +
			"serve. Exit 0 when everything is sound, 1 when a problem was found (even if repaired) or the\n" +
			"check could not finish, 2 on a usage error.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if jobs < 1 || jobs > 256 {
				return usageError("--jobs must be 1 to 256")
			}
			ctx := cmd.Context()
			core, err := openCore(ctx, env)
			if err != nil {
				return err
			}
			defer core.Close()
			bar := newProgress(env.Stderr, "blobs")
			start := time.Now()
			r, err := core.Service.Check(ctx, blob.CheckOptions{
				Deep:   deep,
				Repair: repair,
				Jobs:   jobs,
				Problem: func(p blob.Problem) {
					fmt.Fprintf(env.Stdout, "%s\tid=%q\tbackend=%s\tkey=%s\t%s\n", p.Kind, p.Record.ID, p.Record.Backend, p.Record.StorageKey, p.Detail)
				},
				Repaired: func(p blob.Problem) {
					fmt.Fprintf(env.Stdout, "repaired\tid=%q\tremoved the metadata row of missing bytes\n", p.Record.ID)
				},
				Progress: func(r blob.CheckReport) { bar.set(r.Records) },
			})
			bar.done()
			took := time.Since(start)
			if asJSON {
				out := struct {
					blob.CheckReport
					Backend string  `json:"backend"`
					Deep    bool    `json:"deep"`
					Seconds float64 `json:"seconds"`
				}{r, core.Backend.Name(), deep, took.Seconds()}
				json.NewEncoder(env.Stdout).Encode(out)
			} else {
				mode := "present, size"
				if deep {
					mode += ", SHA-256, CRC-32C"
				}
				fmt.Fprintf(env.Stdout, "backend %s: %d rows, %d checked (%s; %s) in %s: %d problems%s",
					core.Backend.Name(), r.Records, r.Checked, bytesString(r.Bytes), mode, took.Round(time.Millisecond), r.Problems, kinds(r.ByKind))
				if repair {
					fmt.Fprintf(env.Stdout, ", %d repaired", r.Repaired)
					if deep {
						fmt.Fprintf(env.Stdout, ", %d CRC-32C recorded", r.CRC32CRecorded)
					}
				}
				fmt.Fprintln(env.Stdout)
			}
			if err != nil {
				return fmt.Errorf("fsck stopped: %w", err)
			}
			if r.Problems > 0 {
				return &exitError{code: ExitProblems, err: fmt.Errorf("fsck found %d problems", r.Problems)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&deep, "deep", false, "read every blob whole and compare its SHA-256 and CRC-32C")
	cmd.Flags().BoolVar(&repair, "repair", false, "remove the metadata rows whose bytes are gone (with --deep: record missing CRC-32Cs)")
	cmd.Flags().IntVar(&jobs, "jobs", 8, "blobs checked at once")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
	return cmd
}

// kinds renders the problem counts by kind, in a stable order.
func kinds(by map[string]int) string {
	if len(by) == 0 {
		return ""
	}
	var parts []string
	for k, n := range by {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}
