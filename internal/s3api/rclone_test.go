package s3api_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// rclone runs Debian's rclone (TEST_RCLONE) against the front door, its
// whole configuration in RCLONE_CONFIG_SD_* variables: the remote "sd:".
// Multipart uploads start at 5 MiB, in parts of 5 MiB.
func (srv *server) rclone(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--config", filepath.Join(t.TempDir(), "none.conf"),
		"--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--transfers", "4", "--retries", "1", "--low-level-retries", "1"}, args...)...)
	// Only the remote's configuration: no AWS_* variables of the
	// environment (a CA bundle, a profile) reach rclone's S3 client.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") })
	cmd.Env = append(env,
		"RCLONE_CONFIG_SD_TYPE=s3", "RCLONE_CONFIG_SD_PROVIDER=Other", "RCLONE_CONFIG_SD_ENDPOINT="+srv.s3,
		"RCLONE_CONFIG_SD_ACCESS_KEY_ID="+operatorID, "RCLONE_CONFIG_SD_SECRET_ACCESS_KEY="+operatorPass,
		"RCLONE_CONFIG_SD_REGION=us-east-1", "RCLONE_CONFIG_SD_FORCE_PATH_STYLE=true")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("rclone %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// TestS3Rclone: rclone copies a tree of hundreds of small files and
// several multipart-sized ones up, checks it by downloading, lists it,
// syncs changes, and copies it down again, byte for byte.
func TestS3Rclone(t *testing.T) {
	bin := testenv.Lookup(t, "TEST_RCLONE")[0]
	srv := start(t, stacks[0])
	files := map[string][]byte{}
	for i := range 300 {
		files[fmt.Sprintf("docs/%02d/file %d.txt", i%17, i)] = randomBytes(1+i*37%4000, uint64(i))
	}
	for i := range 3 {
		files[fmt.Sprintf("media/big-%d.bin", i)] = randomBytes(11*mib+i*1234, uint64(1000+i)) // three parts of 5 MiB
	}
	files["unicode/日本 é+&.txt"] = []byte("non-ASCII name")
	up := t.TempDir()
	testenv.WriteTree(t, up, files)
	remote := "sd:" + bucket + "/tree"

	srv.rclone(t, bin, "copy", up, remote)
	srv.rclone(t, bin, "check", "--download", up, remote)
	var want []string
	for p := range files {
		want = append(want, p)
	}
	slices.Sort(want)
	got := strings.Split(strings.TrimSpace(srv.rclone(t, bin, "lsf", "-R", "--files-only", remote)), "\n")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("rclone lsf: %d names; want %d: %q", len(got), len(want), got[:min(5, len(got))])
	}

	// Changes: some deleted, one rewritten, one added, a big one replaced.
	for i := range 20 {
		p := fmt.Sprintf("docs/%02d/file %d.txt", i%17, i)
		os.Remove(filepath.Join(up, p))
		delete(files, p)
	}
	files["docs/00/file 300.txt"] = []byte("added")
	files["docs/01/file 21.txt"] = []byte("rewritten, another size")
	files["media/big-1.bin"] = randomBytes(12*mib, 77)
	testenv.WriteTree(t, up, map[string][]byte{"docs/00/file 300.txt": files["docs/00/file 300.txt"],
		"docs/01/file 21.txt": files["docs/01/file 21.txt"], "media/big-1.bin": files["media/big-1.bin"]})
	srv.rclone(t, bin, "sync", "--checksum", up, remote)
	srv.rclone(t, bin, "check", "--download", up, remote)

	down := t.TempDir()
	srv.rclone(t, bin, "copy", remote, down)
	testenv.SameTree(t, "the tree copied down", testenv.ReadTree(t, down), files)
}
