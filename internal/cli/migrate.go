package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/config"
)

func newMigrate(env Env) *cobra.Command {
	var (
		to          string
		encrypt     bool
		decrypt     bool
		concurrency int
		asJSON      bool
		quiet       bool
	)
	cmd := &cobra.Command{
		Use:   "migrate --to BACKEND | --encrypt | --decrypt",
		Short: "Move every blob to another storage backend, or encrypt or decrypt them at rest",
		Long: "Copy every blob that is not on BACKEND to it, verifying its size and SHA-256, then switch its\n" +
			"metadata row to the copy in one statement and record the old bytes for collection after\n" +
			"DELETE_GRACE. The deployment is configured by the server's variables (DATABASE_URL,\n" +
			"STORAGE_BACKEND, READ_BACKENDS, ...); the target by the same variables prefixed TARGET_\n" +
			"(TARGET_LOCAL_STORAGE_PATH, TARGET_S3_ENDPOINT, ...). The database target stores in the\n" +
			"metadata database. Stopping it is safe: running it again continues. Servers keep reading\n" +
			"every blob throughout when their READ_BACKENDS include BACKEND. With INLINE_MAX_BYTES set, blobs up\n" +
			"to it move into their metadata rows instead (from any backend, BACKEND's too); with it 0, blobs\n" +
			"kept in rows move out to BACKEND.\n\n" +
			"--encrypt stores every blob kept in clear anew, encrypted under the current master key of\n" +
			"ENCRYPTION_KEYS, and --decrypt every encrypted blob in clear, by the same compare-and-swap;\n" +
			"without --to the blobs stay on STORAGE_BACKEND. Both are resumable the same way.",
		Example: "  TARGET_S3_ENDPOINT=https://s3.example.com TARGET_S3_BUCKET=drive ... \\\n" +
			"    simpledrive migrate --to s3\n" +
			"  ENCRYPTION_KEYS=k1:... simpledrive migrate --encrypt",
		Args: noArgs,
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the target backend: local, database, s3 or ftp")
	f.BoolVar(&encrypt, "encrypt", false, "encrypt the blobs stored in clear (needs ENCRYPTION_KEYS)")
	f.BoolVar(&decrypt, "decrypt", false, "store the encrypted blobs in clear")
	f.IntVar(&concurrency, "concurrency", 4, "blobs copied at once")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		switch {
		case to == "" && !encrypt && !decrypt:
			return usageError("--to, --encrypt or --decrypt is required")
		case encrypt && decrypt:
			return usageError("--encrypt and --decrypt exclude each other")
		}
		if concurrency < 1 {
			return usageError("--concurrency must be at least 1")
		}
		// The migration talks to no client: the token is not needed.
		getenv := func(n string) string {
			if v := env.Getenv(n); v != "" || n != "API_TOKEN" {
				return v
			}
			return "unused-by-migrate"
		}
		cfg, err := config.Load(getenv)
		if err != nil {
			return usageError("invalid configuration:\n%v", err)
		}
		if encrypt && cfg.EncryptionKeys == nil {
			return usageError("--encrypt needs ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE")
		}
		target := cfg
		if to != "" {
			if target, err = config.LoadBackend("TARGET_", to, env.Getenv); err != nil {
				return usageError("invalid target configuration:\n%v", err)
			}
		}
		to = target.StorageBackend
		log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
		m, closeAll, err := app.NewMigration(cmd.Context(), cfg, target, log)
		if err != nil {
			return &exitError{code: ExitUnavailable, err: err}
		}
		defer closeAll()
		m.Concurrency = concurrency
		m.Encrypt, m.Decrypt = encrypt, decrypt
		start := time.Now()
		last := start
		if !quiet && !asJSON {
			m.Progress = func(s blob.MigrationStats) {
				if now := time.Now(); now.Sub(last) >= time.Second && isTerminal(env.Stderr) {
					last = now
					fmt.Fprintf(env.Stderr, "\rscanned %d, moved %d (%s)", s.Scanned, s.Moved, humanBytes(float64(s.Bytes)))
				}
			}
		}
		st, err := m.Run(cmd.Context())
		elapsed := time.Since(start)
		if asJSON {
			printJSON(env.Stdout, map[string]any{
				"to": to, "scanned": st.Scanned, "moved": st.Moved, "already": st.Already, "changed": st.Changed,
				"bytes": st.Bytes, "seconds": elapsed.Seconds(), "mb_per_s": float64(st.Bytes) / 1e6 / elapsed.Seconds(),
				"complete": err == nil,
			})
		} else if !quiet {
			if isTerminal(env.Stderr) {
				fmt.Fprintln(env.Stderr)
			}
			fmt.Fprintf(env.Stdout, "scanned %d blobs: moved %d (%s in %s, %s/s), %d already on %s, %d changed meanwhile\n",
				st.Scanned, st.Moved, humanBytes(float64(st.Bytes)), elapsed.Round(time.Millisecond),
				humanBytes(float64(st.Bytes)/elapsed.Seconds()), st.Already, to, st.Changed)
		}
		if err != nil {
			return fmt.Errorf("migration stopped (run it again to continue): %w", err)
		}
		return nil
	}
	return cmd
}

// humanBytes formats a byte count with a binary unit.
func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
