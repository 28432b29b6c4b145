package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/client"
)

func newLs(env Env) *cobra.Command {
	var long, recursive bool
	cmd := &cobra.Command{
		Use:   "ls [PREFIX]",
		Short: "List blobs",
		Long: "List the blobs whose ids start with PREFIX, in bytewise order. Ids holding a / after the\n" +
			"prefix are shown as folders (PREFIX/sub/) unless -r lists everything below the prefix.",
		Example: "  simpledrive ls docs/ -l\n  simpledrive ls -r --json | jq -r .id",
		Args:    maxArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show size, creation time, content type and SHA-256")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every id below the prefix, without folders")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		opts := client.ListOptions{Limit: 1000}
		if len(args) == 1 {
			opts.Prefix = args[0]
		}
		if !recursive {
			opts.Delimiter = "/"
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		defer tw.Flush()
		for {
			page, err := c.List(cmd.Context(), opts)
			if err != nil {
				return apiError(err)
			}
			for _, p := range page.Prefixes {
				switch {
				case o.json:
					o.printJSON(map[string]string{"prefix": p})
				case o.quiet:
				case long:
					fmt.Fprintf(tw, "\t\t\t\t%s\n", p)
				default:
					fmt.Fprintln(env.Stdout, p)
				}
			}
			for _, b := range page.Blobs {
				switch {
				case o.json:
					o.printJSON(b)
				case o.quiet:
				case long:
					fmt.Fprintf(tw, "%d\t%s\t%s\t%.12s\t%s\n", b.Size, b.CreatedAt.Format(time.RFC3339), b.ContentType, b.SHA256, b.ID)
				default:
					fmt.Fprintln(env.Stdout, b.ID)
				}
			}
			if page.NextCursor == "" {
				return nil
			}
			opts.Cursor = page.NextCursor
		}
	}
	return cmd
}

func newStat(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stat ID",
		Short: "Show a blob's metadata",
		Args:  exactArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		b, err := c.Stat(cmd.Context(), args[0])
		if err != nil {
			return apiError(err)
		}
		if o.json {
			o.printJSON(b)
			return nil
		}
		o.printf("id:           %s\nsize:         %d\nsha256:       %s\ncontent_type: %s\ncreated_at:   %s\n",
			b.ID, b.Size, b.SHA256, b.ContentType, b.CreatedAt.Format(time.RFC3339Nano))
		return nil
	}
	return cmd
}

func newRm(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rm ID...",
		Short: "Delete blobs",
		Args:  minArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		var errs []error
		for _, id := range args {
			if err := c.Delete(cmd.Context(), id); err != nil {
				errs = append(errs, fmt.Errorf("rm %s: %w", id, err))
				continue
			}
			if o.json {
				o.printJSON(map[string]any{"id": id, "deleted": true})
			} else {
				o.printf("deleted %s\n", id)
			}
		}
		return joinErrors(env.Stderr, errs)
	}
	return cmd
}

func newLink(env Env) *cobra.Command {
	var expires time.Duration
	cmd := &cobra.Command{
		Use:     "link ID",
		Short:   "Make a signed link anyone can download the blob with, until it expires",
		Example: "  curl -o report.pdf \"$(simpledrive link docs/report.pdf --expires 24h)\"",
		Args:    exactArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.Flags().DurationVar(&expires, "expires", time.Hour, "how long the link works")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if expires < time.Second {
			return usageError("--expires must be at least 1s")
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		u, err := c.Link(cmd.Context(), args[0], expires)
		if err != nil {
			return apiError(err)
		}
		if o.json {
			o.printJSON(map[string]any{"id": args[0], "url": u, "expires_at": time.Now().Add(expires).UTC().Format(time.RFC3339)})
		} else if !o.quiet {
			fmt.Fprintln(env.Stdout, u)
		}
		return nil
	}
	return cmd
}

func newKeys(env Env) *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Manage API keys (needs the admin scope)",
		Args:  noArgs,
	}
	var (
		name, prefix string
		scopes       []string
		expires      time.Duration
	)
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create an API key; its token is shown once",
		Example: "  simpledrive keys create --name ci --scope read,write --prefix builds/ --expires 720h",
		Args:    noArgs,
	}
	co := addClientFlags(create, env)
	create.Flags().StringVar(&name, "name", "", "the key's name (required)")
	create.Flags().StringSliceVar(&scopes, "scope", []string{"read"}, "scopes: read, write, delete, admin")
	create.Flags().StringVar(&prefix, "prefix", "", "confine the key to ids with this prefix")
	create.Flags().DurationVar(&expires, "expires", 0, "expire the key after this long (default never)")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return usageError("--name is required")
		}
		c, err := co.client()
		if err != nil {
			return err
		}
		k, err := c.CreateKey(cmd.Context(), client.NewKey{Name: name, Scopes: scopes, Prefix: prefix, ExpiresIn: expires})
		if err != nil {
			return apiError(err)
		}
		if co.json {
			co.printJSON(k)
			return nil
		}
		fmt.Fprintln(env.Stdout, k.Token)
		if !co.quiet {
			fmt.Fprintf(env.Stderr, "key %s (%s, scopes %s) created; the token above is shown only now\n", k.KeyID, k.Name, strings.Join(k.Scopes, ","))
		}
		return nil
	}

	ls := &cobra.Command{Use: "ls", Short: "List API keys, without secrets", Args: noArgs}
	lo := addClientFlags(ls, env)
	ls.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := lo.client()
		if err != nil {
			return err
		}
		list, err := c.ListKeys(cmd.Context())
		if err != nil {
			return apiError(err)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		defer tw.Flush()
		if !lo.json && !lo.quiet {
			fmt.Fprintln(tw, "KEY ID\tNAME\tSCOPES\tPREFIX\tCREATED\tEXPIRES\tSTATE")
		}
		for _, k := range list {
			if lo.json {
				lo.printJSON(k)
				continue
			}
			state, exp := "active", "never"
			if k.ExpiresAt != nil {
				exp = k.ExpiresAt.Format(time.RFC3339)
				if k.ExpiresAt.Before(time.Now()) {
					state = "expired"
				}
			}
			if k.RevokedAt != nil {
				state = "revoked"
			}
			if !lo.quiet {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KeyID, k.Name, strings.Join(k.Scopes, ","), k.Prefix,
					k.CreatedAt.Format(time.RFC3339), exp, state)
			}
		}
		return nil
	}

	revoke := &cobra.Command{Use: "revoke KEY_ID...", Short: "Revoke API keys", Args: minArgs(1)}
	ro := addClientFlags(revoke, env)
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := ro.client()
		if err != nil {
			return err
		}
		var errs []error
		for _, id := range args {
			if err := c.RevokeKey(cmd.Context(), id); err != nil {
				errs = append(errs, fmt.Errorf("revoke %s: %w", id, err))
				continue
			}
			ro.printf("revoked %s\n", id)
		}
		return joinErrors(env.Stderr, errs)
	}
	keys.AddCommand(create, ls, revoke)
	return keys
}

// maxArgs is cobra.MaximumNArgs as a usage error.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError("%s takes at most %d argument(s); see %s --help", cmd.CommandPath(), n, cmd.CommandPath())
		}
		return nil
	}
}
