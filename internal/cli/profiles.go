package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Named profiles: servers and their tokens kept in a file under the
// user's config directory, as `mc alias` keeps them.

// profile is one server the client commands can talk to.
type profile struct {
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
}

// profiles is the config file: the profiles by name and the one used
// when none is named.
type profiles struct {
	Current  string             `json:"current,omitempty"`
	Profiles map[string]profile `json:"profiles"`
}

// configPath is the config file: $XDG_CONFIG_HOME/simpledrive/config.json
// when set, else under [os.UserConfigDir].
func configPath(env Env) (string, error) {
	d := env.Getenv("XDG_CONFIG_HOME")
	if d == "" {
		var err error
		if d, err = os.UserConfigDir(); err != nil {
			return "", err
		}
	}
	return filepath.Join(d, "simpledrive", "config.json"), nil
}

// loadProfiles reads the config file; a missing one has no profiles.
func loadProfiles(env Env) (profiles, string, error) {
	p := profiles{Profiles: map[string]profile{}}
	path, err := configPath(env)
	if err != nil {
		return p, "", err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, path, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil {
		return p, path, fmt.Errorf("reading %s: %w", path, err)
	}
	if p.Profiles == nil {
		p.Profiles = map[string]profile{}
	}
	return p, path, nil
}

// save writes the config file, readable by its owner only (it holds
// tokens), atomically.
func (p profiles) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(p, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func newConfig(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Manage named servers (profiles) the client commands use",
		Long: "Profiles name a server URL and its token, kept in config.json under the user's config\n" +
			"directory (readable by you only). The client commands use --profile NAME, else\n" +
			"$SIMPLEDRIVE_PROFILE, else SIMPLEDRIVE_URL and SIMPLEDRIVE_TOKEN, else the current\n" +
			"profile; --url and --token override each.",
		Args: noArgs,
	}
	var token string
	add := &cobra.Command{
		Use:     "add NAME URL",
		Short:   "Add or change a profile; the first one added becomes the current one",
		Example: "  simpledrive config add home http://nas.local:8080 --token \"$TOKEN\"",
		Args:    exactArgs(2),
	}
	add.Flags().StringVar(&token, "token", "", "the server's token (default $SIMPLEDRIVE_TOKEN)")
	add.RunE = func(cmd *cobra.Command, args []string) error {
		p, path, err := loadProfiles(env)
		if err != nil {
			return err
		}
		name, u := args[0], args[1]
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return usageError("config add: %q is not an http:// or https:// URL", u)
		}
		if token == "" {
			token = env.Getenv("SIMPLEDRIVE_TOKEN")
		}
		p.Profiles[name] = profile{URL: strings.TrimSuffix(u, "/"), Token: token}
		if p.Current == "" {
			p.Current = name
		}
		if err := p.save(path); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "profile %s: %s (saved in %s)\n", name, u, path)
		return nil
	}
	ls := &cobra.Command{Use: "ls", Short: "List the profiles (* marks the current one)", Args: noArgs}
	ls.RunE = func(cmd *cobra.Command, _ []string) error {
		p, _, err := loadProfiles(env)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, name := range slices.Sorted(maps.Keys(p.Profiles)) {
			mark, tok := " ", "no token"
			if name == p.Current {
				mark = "*"
			}
			if p.Profiles[name].Token != "" {
				tok = "token set"
			}
			rows = append(rows, []string{mark, name, p.Profiles[name].URL, tok})
		}
		printTable(env.Stdout, rows, -1)
		return nil
	}
	use := &cobra.Command{Use: "use NAME", Short: "Make NAME the current profile", Args: exactArgs(1)}
	use.RunE = func(cmd *cobra.Command, args []string) error {
		p, path, err := loadProfiles(env)
		if err != nil {
			return err
		}
		if _, ok := p.Profiles[args[0]]; !ok {
			return usageError("config use: no profile is called %q; see simpledrive config ls", args[0])
		}
		p.Current = args[0]
		return p.save(path)
	}
	rm := &cobra.Command{Use: "rm NAME", Short: "Remove a profile", Args: exactArgs(1)}
	rm.RunE = func(cmd *cobra.Command, args []string) error {
		p, path, err := loadProfiles(env)
		if err != nil {
			return err
		}
		if _, ok := p.Profiles[args[0]]; !ok {
			return usageError("config rm: no profile is called %q", args[0])
		}
		delete(p.Profiles, args[0])
		if p.Current == args[0] {
			p.Current = ""
		}
		return p.save(path)
	}
	cmd.AddCommand(add, ls, use, rm)
	return cmd
}

// duration is a flag of a length of time that also takes days: 7d, 1d12h,
// besides what time.ParseDuration takes.
type duration struct{ d *time.Duration }

func (f duration) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f duration) Type() string { return "duration" }

func (f duration) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// parseDuration parses a Go duration with an optional leading whole
// number of days: "30d", "1d12h", "90m".
func parseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseInt(days, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid duration %q: want a number of days like 7d, or 1d12h, 90m", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		d += r
	}
	return d, nil
}
