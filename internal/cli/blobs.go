package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/client"
)

func newLs(env Env) *cobra.Command {
	var long, recursive, human bool
	cmd := &cobra.Command{
		Use:   "ls [PREFIX]",
		Short: "List blobs",
		Long: "List the blobs whose ids start with PREFIX, in bytewise order. Ids holding a / after the\n" +
			"prefix are shown as folders (PREFIX/sub/) unless -r lists everything below the prefix.\n" +
			"-l shows size, creation time (UTC), content type and the SHA-256's first 12 digits in\n" +
			"aligned columns; -h gives sizes in KiB, MiB, GiB.",
		Example: "  simpledrive ls docs/ -l\n  simpledrive ls -r --json | jq -r .id",
		Args:    maxArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show size, creation time, content type and SHA-256")
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every id below the prefix, without folders")
	cmd.Flags().BoolVarP(&human, "human-readable", "h", false, "with -l, sizes in KiB, MiB, GiB")
	cmd.Flags().Bool("help", false, "help for ls")
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
		var rows [][]string
		defer func() { printTable(env.Stdout, rows, 0) }()
		for {
			page, err := c.List(cmd.Context(), opts)
			if err != nil {
				return apiError(fmt.Errorf("%s: %w", strings.TrimSpace("ls "+opts.Prefix), err))
			}
			for _, p := range page.Prefixes {
				switch {
				case o.json:
					o.printJSON(map[string]string{"prefix": p})
				case o.quiet:
				case long:
					rows = append(rows, []string{"-", "-", "folder", "-", p})
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
					rows = append(rows, blobRow(b, human))
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

// printTable writes rows as columns separated by two spaces, each as wide
// as its widest cell; column right is right-aligned (sizes), the others
// left-aligned, and the last is never padded.
func printTable(w io.Writer, rows [][]string, right int) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			switch {
			case i == len(r)-1:
				line.WriteString(cell)
			case i == right:
				line.WriteString(pad + cell + "  ")
			default:
				line.WriteString(cell + pad + "  ")
			}
		}
		fmt.Fprintln(w, line.String())
	}
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
			return apiError(fmt.Errorf("stat %s: %w", args[0], err))
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
	var recursive, dryRun, yes bool
	cmd := &cobra.Command{
		Use:   "rm ID...",
		Short: "Delete blobs, or with -r every blob under a prefix",
		Long: "Delete each blob ID. With -r each ID is a prefix (a / is added when missing) and every\n" +
			"blob under it is deleted: --dry-run lists them instead, and on a terminal rm asks before\n" +
			"deleting unless --yes.",
		Example: "  simpledrive rm docs/old.txt\n  simpledrive rm -r photos/2019 --dry-run",
		Args:    minArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "delete every blob under each prefix")
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "list what would be deleted, delete nothing")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask on a terminal")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		ids := args
		if recursive {
			ids = nil
			for _, prefix := range args {
				prefix = folder(prefix)
				blobs, err := remoteTree(cmd.Context(), c, prefix)
				if err != nil {
					return apiError(fmt.Errorf("rm %s: %w", prefix, err))
				}
				for _, b := range blobs {
					ids = append(ids, b.ID)
				}
			}
			if dryRun {
				for _, id := range ids {
					o.printf("would delete %s\n", id)
				}
				o.printf("%d blobs would be deleted\n", len(ids))
				return nil
			}
			if !yes && isTerminal(env.Stdin) && !confirm(env, fmt.Sprintf("delete %d blobs under %s?", len(ids), strings.Join(args, ", "))) {
				return &exitError{code: ExitError, err: errors.New("rm: nothing deleted")}
			}
		}
		var errs []error
		for _, id := range ids {
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

// confirm asks question on stderr and reads a yes from stdin.
func confirm(env Env, question string) bool {
	fmt.Fprintf(env.Stderr, "%s [y/N] ", question)
	var answer string
	fmt.Fscanln(env.Stdin, &answer)
	return strings.EqualFold(answer, "y") || strings.EqualFold(answer, "yes")
}

func newLink(env Env) *cobra.Command {
	var expires time.Duration
	cmd := &cobra.Command{
		Use:     "link ID",
		Short:   "Make a signed link anyone can download the blob with, until it expires",
		Example: "  curl -o report.pdf \"$(simpledrive link docs/report.pdf --expires 7d)\"",
		Args:    exactArgs(1),
	}
	o := addClientFlags(cmd, env)
	expires = time.Hour
	cmd.Flags().Var(duration{&expires}, "expires", "how long the link works: 90m, 24h, 7d")
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
			return apiError(fmt.Errorf("link %s: %w", args[0], err))
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
		withS3       bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API key; its token is shown once",
		Example: "  simpledrive keys create --name ci --scope read,write --prefix builds/ --expires 720h\n" +
			"  simpledrive keys create --name backup --scope read,write,delete --prefix backup/ --s3",
		Args: noArgs,
	}
	co := addClientFlags(create, env)
	create.Flags().StringVar(&name, "name", "", "the key's name (required)")
	create.Flags().StringSliceVar(&scopes, "scope", []string{"read"}, "scopes: read, write, delete, admin")
	create.Flags().StringVar(&prefix, "prefix", "", "confine the key to ids with this prefix")
	create.Flags().Var(duration{&expires}, "expires", "expire the key after this long: 720h, 30d (default never)")
	create.Flags().BoolVar(&withS3, "s3", false, "also make S3 credentials (access key id and secret access key) for the S3 front door")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if name == "" {
			return usageError("--name is required")
		}
		c, err := co.client()
		if err != nil {
			return err
		}
		k, err := c.CreateKey(cmd.Context(), client.NewKey{Name: name, Scopes: scopes, Prefix: prefix, ExpiresIn: expires, S3: withS3})
		if err != nil {
			return apiError(err)
		}
		if co.json {
			co.printJSON(k)
			return nil
		}
		fmt.Fprintln(env.Stdout, k.Token)
		if k.S3SecretAccessKey != "" {
			fmt.Fprintf(env.Stdout, "AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", k.S3AccessKeyID, k.S3SecretAccessKey)
		}
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
