package cli

import "github.com/spf13/cobra"

func newBench(env Env) *cobra.Command { return &cobra.Command{Use: "bench"} }
