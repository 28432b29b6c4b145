package cli

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
)

func newServe(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the server (the default command)",
		Long: "Run the Simple Drive server, configured by environment variables (see the README); API_TOKEN\n" +
			"is required. SIGINT or SIGTERM shut it down gracefully.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(env.Getenv)
			if err != nil {
				return usageError("invalid configuration:\n%v", err)
			}
			log := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
			if err := app.Run(cmd.Context(), cfg, log); err != nil {
				log.Error("simpledrive stopped", "error", err.Error())
				return fmt.Errorf("server stopped: %w", err)
			}
			return nil
		},
	}
}
