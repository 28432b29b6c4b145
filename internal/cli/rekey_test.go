package cli_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/cli"
)

// TestRekeyAndEncryptCommands: migrate --encrypt encrypts the blobs kept
// in clear; rekey then moves their data keys to the new current key, after
// which the old key can be dropped (the commands refuse to run while rows
// still need a key the configuration lacks, naming it).
func TestRekeyAndEncryptCommands(t *testing.T) {
	vars := maintEnv(t)
	seed(t, vars) // three blobs in clear
	key := func(id string, b byte) string {
		return id + ":" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(b), 32)))
	}
	vars["ENCRYPTION_KEYS"] = key("old", 'o')
	if code, stdout, stderr := run(t, vars, "migrate", "--encrypt", "--json"); code != cli.ExitOK || !strings.Contains(stdout, `"moved":3`) {
		t.Fatalf("migrate --encrypt = exit %d, %q, %q", code, stdout, stderr)
	}
	vars["ENCRYPTION_KEYS"] = key("new", 'n')
	if code, _, stderr := run(t, vars, "rekey"); code == cli.ExitOK || !strings.Contains(stderr, `"old"`) {
		t.Fatalf("rekey without the old key = exit %d, %q; want a failure naming it", code, stderr)
	}
	vars["ENCRYPTION_KEYS"] = key("new", 'n') + "," + key("old", 'o')
	code, stdout, stderr := run(t, vars, "rekey", "--json")
	var res struct {
		Scanned, Rewrapped int64
		Complete           bool
	}
	if code != cli.ExitOK || json.Unmarshal([]byte(stdout), &res) != nil || res.Rewrapped != 3 || !res.Complete {
		t.Fatalf("rekey = exit %d, %q, %q; want 3 rewrapped", code, stdout, stderr)
	}
	vars["ENCRYPTION_KEYS"] = key("new", 'n')
	if code, stdout, stderr := run(t, vars, "fsck", "--deep"); code != cli.ExitOK {
		t.Fatalf("fsck --deep with the old key dropped = exit %d, %q, %q", code, stdout, stderr)
	}
	if code, stdout, _ := run(t, vars, "rekey"); code != cli.ExitOK || !strings.Contains(stdout, "rewrapped 0, 3 already under the current key") {
		t.Fatalf("a second rekey = exit %d, %q", code, stdout)
	}
}
