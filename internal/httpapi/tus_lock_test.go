package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
)

// TestLockedPatchAnswerIsReadable (issue 19, finding 7): a PATCH meeting
// another PATCH's lease is answered 423 in a way a client that sends its
// whole body before reading can read: the server drains the body, and the
// connection stays usable.
func TestLockedPatchAnswerIsReadable(t *testing.T) {
	hs, reads, _ := replicas(t, stackNamed(t, "local+SQLite"), 1)
	h := hs[0]
	data := testData(1<<20, 7)
	loc := h.create("locked/held", int64(len(data)))

	// A PATCH whose body arrives only when the test says so holds the lease.
	pw, done := heldPatch(t, h, reads[0], loc, 0, int64(len(data)))

	// A second PATCH from a client that writes everything, then reads:
	// 16 MiB, more than the connection's buffers hold.
	u, _ := url.Parse(h.url)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := bytes.Repeat([]byte("b"), 16<<20)
	head := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", loc, token, len(body))
	if _, err := c.Write(append([]byte(head), body...)); err != nil {
		t.Fatalf("sending the second PATCH: %v (the server did not read its body)", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to the second PATCH: %v", err)
	}
	problem, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusLocked || !bytes.Contains(problem, []byte(`"code":"upload_locked"`)) || resp.Close {
		t.Fatalf("second PATCH = %d (close %v) %s; want 423 upload_locked on a kept connection", resp.StatusCode, resp.Close, problem)
	}
	// The connection serves the next request.
	fmt.Fprintf(c, "HEAD %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n\r\n", loc, token)
	if resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead}); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD on the same connection: %v %v; want 200", resp, err)
	}

	pw.Write(data)
	pw.Close()
	if st := <-done; st != http.StatusNoContent {
		t.Fatalf("the first PATCH = %d; want 204", st)
	}
	h.expectBlob("locked/held", data, "")
}
