package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/cli"
)

func TestBlobCommands(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	dir := t.TempDir()
	small, data := randomFile(t, dir, "hello.txt", 1000)

	if code, out, errs := s.run(ctx, t, nil, "put", small, "--prefix", "docs/"); code != 0 || !strings.Contains(out, "docs/hello.txt") {
		t.Fatalf("put = %d, %q, %q", code, out, errs)
	}
	// Taken id: conflict.
	if code, _, errs := s.run(ctx, t, nil, "put", small, "--prefix", "docs/"); code != cli.ExitConflict || !strings.Contains(errs, "blob_exists") {
		t.Fatalf("put of a taken id = %d, %q; want %d naming blob_exists", code, errs, cli.ExitConflict)
	}
	// Standard input.
	if code, _, errs := s.run(ctx, t, strings.NewReader("from stdin"), "put", "-", "--id", "docs/sub/in.txt"); code != 0 {
		t.Fatalf("put - = %d, %q", code, errs)
	}
	if code, _, _ := s.run(ctx, t, nil, "put", "-"); code != cli.ExitUsage {
		t.Fatalf("put - without --id = %d; want %d", code, cli.ExitUsage)
	}

	code, out, _ := s.run(ctx, t, nil, "stat", "docs/hello.txt", "--json")
	var st struct {
		ID          string `json:"id"`
		Size        int64  `json:"size"`
		ContentType string `json:"content_type"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Size != 1000 || !strings.HasPrefix(st.ContentType, "text/plain") {
		t.Fatalf("stat --json = %d, %q", code, out)
	}

	if code, out, _ := s.run(ctx, t, nil, "ls", "docs/"); code != 0 || out != "docs/sub/\ndocs/hello.txt\n" {
		t.Fatalf("ls docs/ = %d, %q", code, out)
	}
	if code, out, _ := s.run(ctx, t, nil, "ls", "-r"); code != 0 || out != "docs/hello.txt\ndocs/sub/in.txt\n" {
		t.Fatalf("ls -r = %d, %q", code, out)
	}
	if code, out, _ := s.run(ctx, t, nil, "ls", "-l", "docs/"); code != 0 || !strings.Contains(out, "1000") || !strings.Contains(out, "docs/sub/") {
		t.Fatalf("ls -l = %d, %q", code, out)
	}

	target := filepath.Join(dir, "copy.txt")
	if code, _, errs := s.run(ctx, t, nil, "get", "docs/hello.txt", "-o", target); code != 0 {
		t.Fatalf("get = %d, %q", code, errs)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, data) {
		t.Fatal("get wrote other bytes")
	}
	if code, out, _ := s.run(ctx, t, nil, "get", "docs/sub/in.txt", "-o", "-"); code != 0 || out != "from stdin" {
		t.Fatalf("get -o - = %d, %q", code, out)
	}
	if code, _, errs := s.run(ctx, t, nil, "get", "nope", "-o", filepath.Join(dir, "nope")); code != cli.ExitNotFound || !strings.Contains(errs, "blob_not_found") {
		t.Fatalf("get of a missing id = %d, %q; want %d", code, errs, cli.ExitNotFound)
	}

	if code, _, _ := s.run(ctx, t, nil, "rm", "docs/hello.txt", "docs/sub/in.txt"); code != 0 {
		t.Fatalf("rm = %d", code)
	}
	if code, _, errs := s.run(ctx, t, nil, "rm", "docs/hello.txt"); code != cli.ExitNotFound || !strings.Contains(errs, "blob_not_found") {
		t.Fatalf("rm again = %d, %q", code, errs)
	}
	if code, _, errs := s.run(ctx, t, nil, "stat", "x", "--token", "wrong"); code != cli.ExitUnauthorized || !strings.Contains(errs, "unauthorized") {
		t.Fatalf("stat with a wrong token = %d, %q; want %d", code, errs, cli.ExitUnauthorized)
	}
	if code, _, _ := s.run(ctx, t, nil, "stat", "x", "--url", "http://127.0.0.1:1"); code != cli.ExitUnavailable {
		t.Fatalf("stat of an unreachable server = %d; want %d", code, cli.ExitUnavailable)
	}
	if code, _, _ := s.run(ctx, t, nil, "stat"); code != cli.ExitUsage {
		t.Fatalf("stat without an id = %d; want %d", code, cli.ExitUsage)
	}
}

// TestPutResumes kills a resumable upload part-way (its context is
// cancelled once the server has received 10 MiB) and checks that running
// the same put again finishes it by sending only the rest, with PATCHes of
// 4 MiB and with the default, one PATCH, of which the server keeps what
// arrived.
func TestPutResumes(t *testing.T) {
	for _, chunk := range [][]string{{"--chunk-size", "4MiB"}, nil} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			s := startServer(t, nil)
			const size = 24 << 20
			file, data := randomFile(t, t.TempDir(), "big.bin", size)
			ctx, cancel := context.WithCancel(context.Background())
			s.setHook(func(kind string, total int64) {
				if kind == "patch" && total >= 10<<20 {
					cancel()
				}
			})
			args := append([]string{"put", file, "--id", "big", "--threshold", "1MiB"}, chunk...)
			if code, _, _ := s.run(ctx, t, nil, args...); code == 0 {
				t.Fatal("the interrupted put succeeded")
			}
			s.setHook(nil)
			s.settle() // the server keeps what the cut PATCH brought
			first := s.patched.Swap(0)
			code, _, errs := s.run(context.Background(), t, nil, args...)
			if code != 0 {
				t.Fatalf("second put = %d, %q", code, errs)
			}
			second := s.patched.Load()
			if second >= size || first+second < size || !strings.Contains(errs, "resumed") {
				t.Fatalf("the first put sent %d bytes and the second %d of %d (stderr %q); want the second to send only the rest", first, second, size, errs)
			}
			t.Logf("the interrupted put sent %d bytes, the resumed one %d, of %d", first, second, size)
			checkBlob(t, s, "big", data)
		})
	}
}

// TestPutChecksFileDigest checks that a resumable put, which computes the
// file's CRC-32C while the bytes go up, fails when the blob made does not
// have the file's bytes (here the server receives a flipped byte): by the
// CRC-32C the server reports, or by the SHA-256 when it reports none (a
// blob stored before the server recorded CRC-32Cs) or no Repr-Digest at
// all (an older server, or a proxy that drops it); intact bytes pass.
func TestPutChecksFileDigest(t *testing.T) {
	s := startServer(t, nil)
	file, data := randomFile(t, t.TempDir(), "big.bin", 2<<20)
	for i, tc := range []struct {
		flip, noCRC, noDigest bool
		want                  string // in the error; "" for none
	}{
		{true, false, false, "CRC-32C"}, {true, true, false, "SHA-256"}, {true, false, true, "SHA-256"},
		{false, false, false, ""}, {false, true, false, ""}, {false, false, true, ""},
	} {
		s.flip.Store(tc.flip)
		s.noCRC.Store(tc.noCRC)
		s.noDigest.Store(tc.noDigest)
		id := fmt.Sprintf("big%d", i)
		code, _, errs := s.run(context.Background(), t, nil, "put", file, "--id", id, "--threshold", "1MiB")
		switch {
		case tc.want != "" && (code == 0 || !strings.Contains(errs, tc.want)):
			t.Errorf("put of bytes the server received altered (without CRC-32C: %v, without Repr-Digest: %v) = %d, %q; want a failure naming the %s", tc.noCRC, tc.noDigest, code, errs, tc.want)
		case tc.want == "" && code != 0:
			t.Errorf("put (without CRC-32C: %v, without Repr-Digest: %v) = %d, %q", tc.noCRC, tc.noDigest, code, errs)
		case tc.want == "":
			checkBlob(t, s, id, data)
		}
	}
}

// TestGetResumes cuts a download part-way and checks that the next get
// fetches only the rest.
func TestGetResumes(t *testing.T) {
	s := startServer(t, nil)
	const size = 20 << 20
	dir := t.TempDir()
	file, data := randomFile(t, dir, "big.bin", size)
	if code, _, errs := s.run(context.Background(), t, nil, "put", file, "--id", "big"); code != 0 {
		t.Fatalf("put = %d, %q", code, errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.setHook(func(kind string, total int64) {
		if kind == "media" && total >= 8<<20 {
			cancel()
		}
	})
	out := filepath.Join(dir, "out.bin")
	if code, _, _ := s.run(ctx, t, nil, "get", "big", "-o", out); code == 0 {
		t.Fatal("the interrupted get succeeded")
	}
	s.setHook(nil)
	if fi, err := os.Stat(out + ".part"); err != nil || fi.Size() == 0 {
		t.Fatalf("no partial download left: %v", err)
	}
	s.media.Store(0)
	if code, _, errs := s.run(context.Background(), t, nil, "get", "big", "-o", out); code != 0 {
		t.Fatalf("second get = %d, %q", code, errs)
	}
	t.Logf("the resumed get received %d bytes of %d", s.media.Load(), size)
	if n := s.media.Load(); n >= size {
		t.Fatalf("the second get received %d bytes of %d; want only the rest", n, size)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("the resumed download differs from the blob")
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatalf("the .part file is left: %v", err)
	}
}

// TestGetResumeRejectsCorruptPartial leaves a .part whose prefix differs
// from the blob (a flipped byte in the middle) and checks that the next get
// never completes it: the whole-file SHA-256 over the kept prefix and the
// resumed bytes fails, and the download starts over from byte 0, so FILE
// ends up equal to the blob.
func TestGetResumeRejectsCorruptPartial(t *testing.T) {
	s := startServer(t, nil)
	const size = 4 << 20
	dir := t.TempDir()
	file, data := randomFile(t, dir, "big.bin", size)
	if code, _, errs := s.run(context.Background(), t, nil, "put", file, "--id", "big"); code != 0 {
		t.Fatalf("put = %d, %q", code, errs)
	}
	out := filepath.Join(dir, "out.bin")
	partial := bytes.Clone(data[:size/2])
	partial[size/4] ^= 0xff
	if err := os.WriteFile(out+".part", partial, 0o644); err != nil {
		t.Fatal(err)
	}
	s.media.Store(0)
	if code, _, errs := s.run(context.Background(), t, nil, "get", "big", "-o", out); code != 0 {
		t.Fatalf("get after a corrupt partial = %d, %q", code, errs)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("the get resumed from a corrupt partial file and kept its bytes")
	}
	if n := s.media.Load(); n < size {
		t.Fatalf("the get received %d bytes of %d; want the whole blob again", n, size)
	}
	if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
		t.Fatalf("the .part file is left: %v", err)
	}
}

// TestLargeRoundTrip sends 100 MiB through put (resumable) and get.
func TestLargeRoundTrip(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") == "" {
		t.Skip("SIMPLEDRIVE_SLOW_TESTS is not set")
	}
	s := startServer(t, nil)
	dir := t.TempDir()
	file, data := randomFile(t, dir, "huge.bin", 100<<20)
	if code, _, errs := s.run(context.Background(), t, nil, "put", file, "--id", "huge"); code != 0 {
		t.Fatalf("put = %d, %q", code, errs)
	}
	checkBlob(t, s, "huge", data)
}

// checkBlob downloads id with get and compares it with want.
func checkBlob(t *testing.T, s *server, id string, want []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "check")
	if code, _, errs := s.run(context.Background(), t, nil, "get", id, "-o", out, "-q"); code != 0 {
		t.Fatalf("get %s = %d, %q", id, code, errs)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get %s: %d bytes, %v; they differ from the %d put", id, len(got), err, len(want))
	}
}

func TestLinkAndKeys(t *testing.T) {
	s := startServer(t, nil)
	ctx := context.Background()
	s.run(ctx, t, strings.NewReader("shared"), "put", "-", "--id", "docs/a b.txt")
	code, out, errs := s.run(ctx, t, nil, "link", "docs/a b.txt", "--expires", "2h")
	if code != 0 || !strings.HasPrefix(out, s.URL+"/v1/blobs/docs%2Fa%20b.txt?alt=media&expires=") {
		t.Fatalf("link = %d, %q, %q; want an absolute URL", code, out, errs)
	}
	if code, _, _ := s.run(ctx, t, nil, "link", "x", "--expires", "0s"); code != cli.ExitUsage {
		t.Fatalf("link --expires 0s = %d; want %d", code, cli.ExitUsage)
	}

	code, out, errs = s.run(ctx, t, nil, "keys", "create", "--name", "ci", "--scope", "read,write")
	if code != 0 || !strings.HasPrefix(out, "sd_") || !strings.Contains(errs, "shown only now") {
		t.Fatalf("keys create = %d, %q, %q", code, out, errs)
	}
	code, out, _ = s.run(ctx, t, nil, "keys", "ls", "--json")
	var k struct {
		KeyID  string   `json:"key_id"`
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
		Token  string   `json:"token"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil || k.Name != "ci" || len(k.Scopes) != 2 || k.Token != "" {
		t.Fatalf("keys ls --json = %d, %q; want the key without its token", code, out)
	}
	if code, out, _ := s.run(ctx, t, nil, "keys", "revoke", k.KeyID); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke = %d, %q", code, out)
	}
	if code, out, _ := s.run(ctx, t, nil, "keys", "ls"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("keys ls after revoke = %d, %q", code, out)
	}
	if code, _, _ := s.run(ctx, t, nil, "keys", "revoke", "nope"); code != cli.ExitNotFound {
		t.Fatalf("keys revoke of an unknown key = %d; want %d", code, cli.ExitNotFound)
	}
}
