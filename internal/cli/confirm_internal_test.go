package cli

import (
	"strings"
	"testing"
)

// TestConfirm: rm -r's question takes y or yes, in any case, and nothing
// else; it is asked on stderr.
func TestConfirm(t *testing.T) {
	for answer, want := range map[string]bool{"y\n": true, "YES\n": true, "yes": true, "n\n": false, "\n": false, "": false, "yep\n": false} {
		var stderr strings.Builder
		env := Env{Stdin: strings.NewReader(answer), Stderr: &stderr}
		if got := confirm(env, "delete 3 blobs under a/?"); got != want || stderr.String() != "delete 3 blobs under a/? [y/N] " {
			t.Errorf("answer %q: %v, asked %q; want %v", answer, got, stderr.String(), want)
		}
	}
	if isTerminal(strings.NewReader("")) {
		t.Error("a reader that is not a file counts as a terminal: rm -r would ask where nobody answers")
	}
}
