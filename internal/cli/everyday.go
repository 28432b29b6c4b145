package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/simpledrive/simpledrive/internal/client"
)

// newTransfer returns mv or cp: a move or copy on the server.
func newTransfer(env Env, name string) *cobra.Command {
	verb, short := "moved", "Rename a blob on the server (its bytes do not move)"
	if name == "cp" {
		verb, short = "copied", "Copy a blob on the server (its bytes do not pass through this machine)"
	}
	cmd := &cobra.Command{
		Use:     name + " SOURCE DEST",
		Short:   short,
		Example: "  simpledrive " + name + " inbox/a.txt archive/a.txt",
		Args:    exactArgs(2),
	}
	o := addClientFlags(cmd, env)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		op := c.Move
		if name == "cp" {
			op = c.Copy
		}
		b, err := op(cmd.Context(), args[0], args[1])
		if err != nil {
			return apiError(fmt.Errorf("%s %s: %w", name, args[0], err))
		}
		if o.json {
			o.printJSON(b)
		} else {
			o.printf("%s %s -> %s\n", verb, args[0], b.ID)
		}
		return nil
	}
	return cmd
}

func newDu(env Env) *cobra.Command {
	var human bool
	cmd := &cobra.Command{
		Use:   "du [PREFIX]",
		Short: "Show what the drive, or a folder of it, holds",
		Long: "Show the blobs and bytes stored under PREFIX (the whole drive by default; a key confined\n" +
			"to a prefix sees its own), the unfinished uploads and the bytes they have received, and for\n" +
			"the whole drive the bytes of deleted and replaced blobs awaiting collection.",
		Example: "  simpledrive du -h\n  simpledrive du photos/",
		Args:    maxArgs(1),
	}
	o := addClientFlags(cmd, env)
	cmd.Flags().BoolVarP(&human, "human-readable", "h", false, "sizes in KiB, MiB, GiB")
	cmd.Flags().Bool("help", false, "help for du")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		prefix := ""
		if len(args) == 1 {
			prefix = args[0]
		}
		u, err := c.Usage(cmd.Context(), prefix)
		if err != nil {
			return apiError(fmt.Errorf("%s: %w", strings.TrimSpace("du "+prefix), err))
		}
		if o.json {
			o.printJSON(u)
			return nil
		}
		size := func(n int64) string { return sizeString(n, human) }
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		where := u.Prefix
		if where == "" {
			where = "(the whole drive)"
		}
		fmt.Fprintf(tw, "prefix\t%s\n", where)
		fmt.Fprintf(tw, "blobs\t%d\n", u.Blobs)
		fmt.Fprintf(tw, "stored\t%s\n", size(u.Bytes))
		fmt.Fprintf(tw, "unfinished uploads\t%d (%s received)\n", u.Uploads, size(u.UploadBytes))
		if u.GarbageKeys != nil {
			partial := ""
			if u.GarbagePartial != nil && *u.GarbagePartial {
				partial = " at least"
			}
			fmt.Fprintf(tw, "awaiting collection\t%d (%s%s)\n", *u.GarbageKeys, partial, size(*u.GarbageBytes))
		}
		return tw.Flush()
	}
	return cmd
}

// sizeString is n bytes, in IEC units when human.
func sizeString(n int64, human bool) string {
	if human {
		return humanize.IBytes(uint64(n))
	}
	return strconv.FormatInt(n, 10)
}

// blobRow is one line of ls -l: size, creation time, content type,
// abbreviated SHA-256 and id.
func blobRow(b client.Blob, human bool) []string {
	return []string{sizeString(b.Size, human), b.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), b.ContentType, b.SHA256[:min(12, len(b.SHA256))], b.ID}
}
