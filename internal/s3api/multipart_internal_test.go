package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/testenv"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// mpServer returns a Server with multipart uploads over SQLite and a
// memory backend, and its upload service.
func mpServer(t *testing.T) (*Server, *upload.Service) {
	t.Helper()
	s, up, _ := mpServerWith(t, upload.Config{Expiry: time.Hour, MaxSize: 1 << 30})
	return s, up
}

// mpServerWith is mpServer with the upload configuration cfg, and its
// metadata store.
func mpServerWith(t *testing.T, cfg upload.Config) (*Server, *upload.Service, *sqlmeta.Store) {
	t.Helper()
	m := sqlmeta.New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "meta.db")))
	log := slog.New(slog.DiscardHandler)
	bucket := storage.NewBucket("memory", memory.New())
	svc := blob.New(m, bucket, blob.Options{Timeout: 10 * time.Second, DeleteGrace: time.Hour}, log)
	up := upload.NewService(m, m, bucket, svc, cfg, log)
	return New(Config{Bucket: "drive", Blobs: svc, Multipart: upload.NewMultipart(m, up), Access: access.New(access.Config{})}), up, m
}

// response is what a handler answered.
type response struct {
	status int
	header http.Header
	body   []byte
}

// serveAs runs the request method target (path and query) with body as
// principal p would send it once authenticated: its operation picked and
// decided as authorize does, then served.
func serveAs(t *testing.T, s *Server, p access.Principal, method, target string, body []byte, header ...string) response {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rq := &request{Request: r, method: method, id: "TESTREQUEST", length: int64(len(body)), body: io.NopCloser(bytes.NewReader(body))}
	w := httptest.NewRecorder()
	if e := s.parse(rq); e != nil {
		t.Fatalf("%s %s: %v", method, target, e)
	}
	rq.op = pick(rq)
	rq.principal = p
	req := access.Request{Principal: p, Action: rq.op.action, Now: time.Now()}
	var err error
	if req.Target, req.Also, err = rq.op.target.extract(s, rq); err != nil {
		t.Fatal(err)
	}
	rq.principal, rq.decision, rq.also = p, s.cfg.Access.Decide(req), req.Also
	switch rq.decision.Verdict {
	case access.Allow:
		rq.op.serve(s, w, rq)
	default:
		writeError(w, rq, errAccessDenied)
	}
	return response{w.Code, w.Header(), w.Body.Bytes()}
}

func (r response) code() string {
	var doc struct{ Code string }
	xml.Unmarshal(r.body, &doc)
	return doc.Code
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if err := xml.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return v
}

func create(t *testing.T, s *Server, p access.Principal, key string) string {
	t.Helper()
	res := decode[struct{ UploadId, Key string }](t, serveAs(t, s, p, http.MethodPost, "/drive/"+key+"?uploads", nil))
	if res.Key != key || res.UploadId == "" {
		t.Fatalf("CreateMultipartUpload: %+v", res)
	}
	return res.UploadId
}

func putPart(t *testing.T, s *Server, p access.Principal, key, id string, n int, data []byte) response {
	t.Helper()
	return serveAs(t, s, p, http.MethodPut, fmt.Sprintf("/drive/%s?partNumber=%d&uploadId=%s", key, n, id), data)
}

func complete(t *testing.T, s *Server, p access.Principal, key, id string, parts ...any) response {
	t.Helper()
	var b strings.Builder
	b.WriteString("<CompleteMultipartUpload>")
	for i := 0; i+1 < len(parts); i += 2 {
		fmt.Fprintf(&b, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", parts[i], parts[i+1])
	}
	b.WriteString("</CompleteMultipartUpload>")
	return serveAs(t, s, p, http.MethodPost, "/drive/"+key+"?uploadId="+id, []byte(b.String()))
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestMultipartRoundTrip: parts out of order make the object of the
// listed ones, with the ETag md5-of-part-md5s-N; ListParts shows them.
func TestMultipartRoundTrip(t *testing.T) {
	s, _ := mpServer(t)
	op := access.OperatorPrincipal
	p1, p2, p3 := bytes.Repeat([]byte("a"), upload.MinPartSize), bytes.Repeat([]byte("b"), upload.MinPartSize), []byte("tail")
	id := create(t, s, op, "dir/obj")
	for _, c := range []struct {
		n    int
		data []byte
	}{{3, p3}, {1, []byte("replaced later")}, {2, p2}, {1, p1}} {
		res := putPart(t, s, op, "dir/obj", id, c.n, c.data)
		if res.status != http.StatusOK || res.header.Get("ETag") != `"`+md5hex(c.data)+`"` {
			t.Fatalf("UploadPart %d: %d %s %s", c.n, res.status, res.header.Get("ETag"), res.body)
		}
	}
	parts := decode[struct {
		Part []struct {
			PartNumber int
			ETag       string
			Size       int64
		}
		IsTruncated          bool
		NextPartNumberMarker int
	}](t, serveAs(t, s, op, http.MethodGet, "/drive/dir/obj?uploadId="+id+"&max-parts=2", nil))
	if len(parts.Part) != 2 || parts.Part[0].PartNumber != 1 || parts.Part[0].Size != upload.MinPartSize || !parts.IsTruncated || parts.NextPartNumberMarker != 2 {
		t.Fatalf("ListParts: %+v", parts)
	}
	res := complete(t, s, op, "dir/obj", id, 1, md5hex(p1), 2, `"`+md5hex(p2)+`"`, 3, md5hex(p3))
	sum := md5.New()
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		sum.Write(s[:])
	}
	want := `"` + hex.EncodeToString(sum.Sum(nil)) + `-3"`
	if got := decode[struct{ ETag, Key string }](t, res); got.ETag != want || got.Key != "dir/obj" {
		t.Fatalf("CompleteMultipartUpload: %+v; want ETag %s", got, want)
	}
	b, rc, err := s.cfg.Blobs.Get(context.Background(), "dir/obj")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(data, bytes.Join([][]byte{p1, p2, p3}, nil)) || etag(b) != want {
		t.Fatalf("the object holds %d bytes, ETag %s", len(data), etag(b))
	}
	if r := putPart(t, s, op, "dir/obj", id, 4, []byte("x")); r.status != http.StatusNotFound || r.code() != "NoSuchUpload" {
		t.Fatalf("UploadPart after completion: %d %s", r.status, r.body)
	}
}

// TestMultipartCompleteRefusals: S3's errors for a part list that does not
// match the parts, and nothing is stored.
func TestMultipartCompleteRefusals(t *testing.T) {
	s, _ := mpServer(t)
	op := access.OperatorPrincipal
	small, big := []byte("small"), bytes.Repeat([]byte("x"), upload.MinPartSize)
	id := create(t, s, op, "k")
	putPart(t, s, op, "k", id, 1, small)
	putPart(t, s, op, "k", id, 2, big)
	putPart(t, s, op, "k", id, 3, small)
	for _, c := range []struct {
		parts []any
		code  string
	}{
		{[]any{1, md5hex(big)}, "InvalidPart"},
		{[]any{4, md5hex(small)}, "InvalidPart"},
		{[]any{3, md5hex(small), 2, md5hex(big)}, "InvalidPartOrder"},
		{[]any{1, md5hex(small), 2, md5hex(big)}, "EntityTooSmall"},
		{nil, "MalformedXML"},
	} {
		if r := complete(t, s, op, "k", id, c.parts...); r.status != http.StatusBadRequest || r.code() != c.code {
			t.Errorf("Complete(%v) = %d %s; want %s", c.parts, r.status, r.body, c.code)
		}
	}
	if r := complete(t, s, op, "other", id, 2, md5hex(big)); r.code() != "NoSuchUpload" {
		t.Errorf("Complete of another key's upload = %s", r.body)
	}
	if ok, _ := s.cfg.Blobs.Exists(context.Background(), "k"); ok {
		t.Fatal("a refused completion stored the object")
	}
	if r := complete(t, s, op, "k", id, 2, md5hex(big), 3, md5hex(small)); r.status != http.StatusOK {
		t.Fatalf("Complete after refusals: %d %s", r.status, r.body)
	}
}

// TestMultipartContentMD5: a part whose Content-MD5 differs is refused
// BadDigest and not kept.
func TestMultipartContentMD5(t *testing.T) {
	s, _ := mpServer(t)
	op := access.OperatorPrincipal
	id := create(t, s, op, "k")
	other := md5.Sum([]byte("other"))
	r := serveAs(t, s, op, http.MethodPut, "/drive/k?partNumber=1&uploadId="+id, []byte("data"), "Content-MD5", base64.StdEncoding.EncodeToString(other[:]))
	if r.status != http.StatusBadRequest || r.code() != "BadDigest" {
		t.Fatalf("UploadPart with a wrong Content-MD5: %d %s", r.status, r.body)
	}
	right := md5.Sum([]byte("data"))
	r = serveAs(t, s, op, http.MethodPut, "/drive/k?partNumber=1&uploadId="+id, []byte("data"), "Content-MD5", base64.StdEncoding.EncodeToString(right[:]))
	if r.status != http.StatusOK {
		t.Fatalf("UploadPart with its Content-MD5: %d %s", r.status, r.body)
	}
	parts := decode[struct{ Part []struct{ PartNumber int } }](t, serveAs(t, s, op, http.MethodGet, "/drive/k?uploadId="+id, nil))
	if len(parts.Part) != 1 {
		t.Fatalf("parts after a refused and an accepted part: %+v", parts)
	}
}

// TestMultipartAbortAndList: ListMultipartUploads shows open uploads by
// key, folded by a delimiter and paged by markers; an aborted upload is
// gone.
func TestMultipartAbortAndList(t *testing.T) {
	s, _ := mpServer(t)
	op := access.OperatorPrincipal
	ids := map[string]string{}
	for _, k := range []string{"a/1", "a/2", "b", "c/x/y"} {
		ids[k] = create(t, s, op, k)
	}
	type listing struct {
		Upload []struct {
			Key, UploadId string
		}
		CommonPrefixes []struct{ Prefix string }
		IsTruncated    bool
		NextKeyMarker  string
	}
	got := decode[listing](t, serveAs(t, s, op, http.MethodGet, "/drive?uploads&delimiter=/", nil))
	if len(got.Upload) != 1 || got.Upload[0].Key != "b" || len(got.CommonPrefixes) != 2 || got.CommonPrefixes[0].Prefix != "a/" {
		t.Fatalf("folded listing: %+v", got)
	}
	var keys []string
	marker := ""
	for range 10 {
		page := decode[listing](t, serveAs(t, s, op, http.MethodGet, "/drive?uploads&max-uploads=1&key-marker="+marker, nil))
		for _, u := range page.Upload {
			keys = append(keys, u.Key)
		}
		if !page.IsTruncated {
			break
		}
		marker = page.NextKeyMarker
	}
	if strings.Join(keys, ",") != "a/1,a/2,b,c/x/y" {
		t.Fatalf("paged listing: %v", keys)
	}
	if r := serveAs(t, s, op, http.MethodDelete, "/drive/b?uploadId="+ids["b"], nil); r.status != http.StatusNoContent {
		t.Fatalf("AbortMultipartUpload: %d %s", r.status, r.body)
	}
	if r := serveAs(t, s, op, http.MethodDelete, "/drive/b?uploadId="+ids["b"], nil); r.code() != "NoSuchUpload" {
		t.Fatalf("second abort: %d %s", r.status, r.body)
	}
	if got := decode[listing](t, serveAs(t, s, op, http.MethodGet, "/drive?uploads&prefix=b", nil)); len(got.Upload) != 0 {
		t.Fatalf("the aborted upload is listed: %+v", got)
	}
}

// TestMultipartConfined: a key confined to a prefix cannot create, touch
// or see uploads outside it, even knowing their ids; overwriting needs
// the delete scope.
func TestMultipartConfined(t *testing.T) {
	s, _ := mpServer(t)
	op := access.OperatorPrincipal
	outside := create(t, s, op, "other/k")
	team := access.Principal{Kind: access.Key, KeyID: "team", Scopes: keys.Read | keys.Write, Prefix: "team/"}
	if r := serveAs(t, s, team, http.MethodPost, "/drive/other/x?uploads", nil); r.status != http.StatusForbidden {
		t.Fatalf("create outside the prefix: %d %s", r.status, r.body)
	}
	for _, r := range []response{
		putPart(t, s, team, "other/k", outside, 1, []byte("x")),
		serveAs(t, s, team, http.MethodGet, "/drive/other/k?uploadId="+outside, nil),
		serveAs(t, s, team, http.MethodDelete, "/drive/other/k?uploadId="+outside, nil),
		complete(t, s, team, "other/k", outside, 1, md5hex([]byte("x"))),
	} {
		if r.status != http.StatusForbidden {
			t.Errorf("a call on another prefix's upload: %d %s", r.status, r.body)
		}
	}
	// Its own key's path with another upload's id finds nothing.
	if r := putPart(t, s, team, "team/k", outside, 1, []byte("x")); r.code() != "NoSuchUpload" {
		t.Errorf("an upload id under another key: %d %s", r.status, r.body)
	}
	type listing struct{ Upload []struct{ Key string } }
	mine := create(t, s, team, "team/k")
	if got := decode[listing](t, serveAs(t, s, team, http.MethodGet, "/drive?uploads", nil)); len(got.Upload) != 1 || got.Upload[0].Key != "team/k" {
		t.Fatalf("confined listing: %+v", got)
	}
	// Overwriting an existing object needs delete.
	if _, err := s.cfg.Blobs.Create(context.Background(), "team/k", strings.NewReader("old"), 3); err != nil {
		t.Fatal(err)
	}
	putPart(t, s, team, "team/k", mine, 1, []byte("new"))
	if r := complete(t, s, team, "team/k", mine, 1, md5hex([]byte("new"))); r.status != http.StatusForbidden {
		t.Fatalf("overwrite without delete: %d %s", r.status, r.body)
	}
	team.Scopes |= keys.Delete
	if r := complete(t, s, team, "team/k", mine, 1, md5hex([]byte("new"))); r.status != http.StatusOK {
		t.Fatalf("overwrite with delete: %d %s", r.status, r.body)
	}
}

// TestMultipartParallelParts: parts sent at once all count.
func TestMultipartParallelParts(t *testing.T) {
	s, _ := mpServer(t)
	op := access.OperatorPrincipal
	id := create(t, s, op, "par")
	const n = 8
	var wg sync.WaitGroup
	parts := make([]any, 0, 2*n)
	var all []byte
	for i := 1; i <= n; i++ {
		data := bytes.Repeat([]byte{byte('0' + i)}, upload.MinPartSize)
		if i == n {
			data = data[:10]
		}
		all = append(all, data...)
		parts = append(parts, i, md5hex(data))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := putPart(t, s, op, "par", id, i, data); r.status != http.StatusOK {
				t.Errorf("part %d: %d %s", i, r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if r := complete(t, s, op, "par", id, parts...); r.status != http.StatusOK {
		t.Fatalf("Complete: %d %s", r.status, r.body)
	}
	_, rc, err := s.cfg.Blobs.Get(context.Background(), "par")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); !bytes.Equal(got, all) {
		t.Fatal("the object is not its parts in order")
	}
}

// TestMultipartRacesTus: a tus upload and an S3 multipart upload of one
// key finishing at once: exactly one makes the object, whole, and the
// other fails with a clear error (tus: the id exists; S3:
// OperationAborted), leaving nothing of its own visible. When the tus
// upload has finished before the S3 completion starts, the completion
// replaces its blob, as any overwrite by a principal that may delete
// does: both succeed, in that order, and the object is S3's, whole.
func TestMultipartRacesTus(t *testing.T) {
	s, up := mpServer(t)
	op := access.OperatorPrincipal
	ctx := context.Background()
	tusData, s3Data := []byte("bytes sent by tus"), []byte("bytes sent by S3 multipart")
	wins := map[string]int{}
	for i := range 10 {
		key := fmt.Sprintf("race/%d", i)
		tu, err := up.Create(ctx, upload.New{BlobID: key, Length: int64(len(tusData))})
		if err != nil {
			t.Fatal(err)
		}
		id := create(t, s, op, key)
		putPart(t, s, op, key, id, 1, s3Data)
		var wg sync.WaitGroup
		var tusErr error
		var s3Res response
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, tusErr = up.Write(ctx, tu.ID, upload.Write{Body: bytes.NewReader(tusData), Size: int64(len(tusData)), Length: -1})
		}()
		go func() {
			defer wg.Done()
			s3Res = complete(t, s, op, key, id, 1, md5hex(s3Data))
		}()
		wg.Wait()
		_, rc, err := s.cfg.Blobs.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		switch {
		case tusErr == nil && s3Res.status == http.StatusConflict && s3Res.code() == "OperationAborted" && bytes.Equal(got, tusData):
			wins["tus"]++
		case errors.Is(tusErr, blob.ErrExists) && s3Res.status == http.StatusOK && bytes.Equal(got, s3Data):
			wins["s3"]++
		case tusErr == nil && s3Res.status == http.StatusOK && bytes.Equal(got, s3Data):
			wins["tus, then s3 over it"]++
		default:
			t.Fatalf("race %d: tus %v, S3 %d %s, object %q", i, tusErr, s3Res.status, s3Res.body, got)
		}
	}
	t.Logf("winners: %v", wins)
}

// TestMultipartCompletionLease: while a completion holds the upload's
// lease, a part, an abort and a second completion answer 409
// OperationAborted; multipart uploads count against the open-upload
// limit; an expired upload is NoSuchUpload.
func TestMultipartCompletionLease(t *testing.T) {
	s, up, m := mpServerWith(t, upload.Config{Expiry: time.Hour, MaxSize: 1 << 30, MaxOpenPerCreator: 2})
	op := access.OperatorPrincipal
	ctx := context.Background()
	id := create(t, s, op, "k")
	putPart(t, s, op, "k", id, 1, []byte("one"))
	if ok, err := m.LeaseUpload(ctx, id, "completer", time.Now(), time.Now().Add(time.Minute)); !ok || err != nil {
		t.Fatalf("LeaseUpload = %v, %v", ok, err)
	}
	for what, r := range map[string]response{
		"UploadPart": putPart(t, s, op, "k", id, 2, []byte("two")),
		"Abort":      serveAs(t, s, op, http.MethodDelete, "/drive/k?uploadId="+id, nil),
		"Complete":   complete(t, s, op, "k", id, 1, md5hex([]byte("one"))),
	} {
		if r.status != http.StatusConflict || r.code() != "OperationAborted" {
			t.Errorf("%s during a completion: %d %s", what, r.status, r.body)
		}
	}
	id2 := create(t, s, op, "k2")
	if r := serveAs(t, s, op, http.MethodPost, "/drive/k3?uploads", nil); r.status != http.StatusServiceUnavailable || r.code() != "SlowDown" {
		t.Errorf("a third open upload with MAX_OPEN_UPLOADS=2: %d %s", r.status, r.body)
	}
	up.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	if r := serveAs(t, s, op, http.MethodGet, "/drive/k2?uploadId="+id2, nil); r.code() != "NoSuchUpload" {
		t.Errorf("ListParts of an expired upload: %d %s", r.status, r.body)
	}
}
