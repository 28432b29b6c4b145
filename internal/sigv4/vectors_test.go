package sigv4

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The vectors live outside the module, in ../shared/testdata/sigv4 relative
// to the module root; they are read from there, never copied.

// vectorsDir returns the directory of the SigV4 test vectors.
func vectorsDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	vectors := filepath.Join(dir, "..", "shared", "testdata", "sigv4")
	if _, err := os.Stat(vectors); err != nil {
		t.Fatalf("SigV4 test vectors missing (expected next to the module root): %v", err)
	}
	return vectors
}

// Parameters of both AWS suites (not in their files).
const (
	suiteAccessKey = "AKIDEXAMPLE"
	suiteSecret    = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteRegion    = "us-east-1"
	suiteService   = "service"
	suiteToken     = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)

var suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

// notForS3 lists the vector cases that do not apply to S3, with the reason.
// The test checks that each of them really gives a different canonical
// request, which proves the signer does not normalise paths.
var notForS3 = map[string]string{
	// aws-sig-v4-test-suite/normalize-path
	"get-relative":            "S3 never normalises paths: /example/.. is signed as it is",
	"get-relative-relative":   "S3 never normalises paths: /example1/example2/../.. is signed as it is",
	"get-slash":               "S3 never normalises paths: // is signed as it is",
	"get-slash-dot-slash":     "S3 never normalises paths: /./ is signed as it is",
	"get-slash-pointless-dot": "S3 never normalises paths: /./example is signed as it is",
	"get-slashes":             "S3 never normalises paths: //example// is signed as it is",
	// aws-signing-test-suite/v4, normalize: true
	"get-relative-normalized":            "S3 never normalises paths (the -unnormalized twin runs)",
	"get-relative-relative-normalized":   "S3 never normalises paths (the -unnormalized twin runs)",
	"get-slash-normalized":               "S3 never normalises paths (the -unnormalized twin runs)",
	"get-slash-dot-slash-normalized":     "S3 never normalises paths (the -unnormalized twin runs)",
	"get-slash-pointless-dot-normalized": "S3 never normalises paths (the -unnormalized twin runs)",
	"get-slashes-normalized":             "S3 never normalises paths (the -unnormalized twin runs)",
}

// parseRequest reads a request in the suites' format: request line,
// headers (continuation lines folded), blank line, body.
func parseRequest(t *testing.T, raw string) (*http.Request, string) {
	t.Helper()
	raw = strings.TrimPrefix(raw, "\ufeff")
	head, body, _ := strings.Cut(raw, "\n\n")
	lines := strings.Split(head, "\n")
	first := lines[0]
	sp1, sp2 := strings.IndexByte(first, ' '), strings.LastIndexByte(first, ' ')
	if sp1 < 0 || sp2 <= sp1 {
		t.Fatalf("bad request line %q", first)
	}
	target := first[sp1+1 : sp2]
	path, query, _ := strings.Cut(target, "?")
	req := &http.Request{
		Method: first[:sp1],
		URL:    &url.URL{Scheme: "https", Path: path, RawQuery: query},
		Header: make(http.Header),
	}
	var last string
	for _, line := range lines[1:] {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			vs := req.Header[last]
			vs[len(vs)-1] += " " + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("bad header line %q", line)
		}
		switch last = http.CanonicalHeaderKey(name); last {
		case "Host":
			req.Host = value
		case "Content-Length":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = n
		default:
			req.Header.Add(last, value)
		}
	}
	return req, body
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(string(b), "\ufeff")
}

// check compares one signing step with the vector's value.
func check(t *testing.T, step, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got: %q\nwant: %q", step, got, want)
	}
}

// TestAWSSigV4Suite runs the classic AWS suite, signed in the header.
func TestAWSSigV4Suite(t *testing.T) {
	root := filepath.Join(vectorsDir(t), "aws-sig-v4-test-suite")
	var reqs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".req") {
			reqs = append(reqs, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 31 {
		t.Fatalf("found %d cases in %s; the suite has 31", len(reqs), root)
	}
	for _, reqPath := range reqs {
		name := strings.TrimSuffix(filepath.Base(reqPath), ".req")
		base := strings.TrimSuffix(reqPath, ".req")
		t.Run(name, func(t *testing.T) {
			req, body := parseRequest(t, readFile(t, reqPath))
			s := Signer{Credentials: Credentials{AccessKeyID: suiteAccessKey, SecretAccessKey: suiteSecret}, Region: suiteRegion, Service: suiteService}
			after := name == "post-sts-header-after"
			if name == "post-sts-header-before" {
				s.Credentials.SessionToken = suiteToken
			}
			req.Header.Del(headerSecurityToken)
			got, err := s.sign(req, PayloadHash([]byte(body)), suiteTime, false)
			if err != nil {
				t.Fatal(err)
			}
			if after {
				// The token is added after signing, outside the signature.
				req.Header.Set(headerSecurityToken, suiteToken)
			}
			if reason, skip := notForS3[name]; skip {
				if got.canonicalRequest == readFile(t, base+".creq") {
					t.Fatalf("case listed as not for S3 (%s), yet the signer normalised the path", reason)
				}
				t.Logf("not applicable to S3: %s; checked that the path is signed unnormalised", reason)
				return
			}
			check(t, "canonical request", got.canonicalRequest, readFile(t, base+".creq"))
			check(t, "string to sign", got.stringToSign, readFile(t, base+".sts"))
			check(t, "authorization", req.Header.Get(headerAuthorization), readFile(t, base+".authz"))
		})
	}
}

// crtContext is an aws-signing-test-suite context.json.
type crtContext struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		Token           string `json:"token"`
	} `json:"credentials"`
	Expiration       int64     `json:"expiration_in_seconds"`
	Normalize        bool      `json:"normalize"`
	Region           string    `json:"region"`
	Service          string    `json:"service"`
	SignBody         bool      `json:"sign_body"`
	Timestamp        time.Time `json:"timestamp"`
	OmitSessionToken bool      `json:"omit_session_token"`
}

func (c crtContext) signer() Signer {
	s := Signer{
		Credentials: Credentials{AccessKeyID: c.Credentials.AccessKeyID, SecretAccessKey: c.Credentials.SecretAccessKey},
		Region:      c.Region, Service: c.Service,
	}
	if !c.OmitSessionToken {
		s.Credentials.SessionToken = c.Credentials.Token
	}
	return s
}

// TestAWSSigningSuite runs the AWS CRT suite, both in the header and as
// presigned URLs.
func TestAWSSigningSuite(t *testing.T) {
	root := filepath.Join(vectorsDir(t), "aws-signing-test-suite", "v4")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 38 {
		t.Fatalf("found %d cases in %s; the suite has 38", len(entries), root)
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			var ctx crtContext
			if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "context.json"))), &ctx); err != nil {
				t.Fatal(err)
			}
			reason, skip := notForS3[e.Name()]
			if skip && !ctx.Normalize {
				t.Fatalf("notForS3 lists %s wrongly (normalize=%v)", e.Name(), ctx.Normalize)
			}
			t.Run("header", func(t *testing.T) { crtHeader(t, dir, ctx, reason) })
			t.Run("query", func(t *testing.T) { crtQuery(t, dir, ctx, reason) })
		})
	}
}

func crtHeader(t *testing.T, dir string, ctx crtContext, notForS3 string) {
	req, body := parseRequest(t, readFile(t, filepath.Join(dir, "request.txt")))
	s := ctx.signer()
	got, err := s.sign(req, PayloadHash([]byte(body)), ctx.Timestamp, ctx.SignBody)
	if err != nil {
		t.Fatal(err)
	}
	want := readFile(t, filepath.Join(dir, "header-canonical-request.txt"))
	if notForS3 != "" {
		if got.canonicalRequest == want {
			t.Fatalf("case listed as not for S3 (%s), yet the signer normalised the path", notForS3)
		}
		t.Logf("not applicable to S3: %s; checked that the path is signed unnormalised", notForS3)
		return
	}
	check(t, "canonical request", got.canonicalRequest, want)
	check(t, "string to sign", got.stringToSign, readFile(t, filepath.Join(dir, "header-string-to-sign.txt")))
	check(t, "signature", got.signature, readFile(t, filepath.Join(dir, "header-signature.txt")))
	signed := readFile(t, filepath.Join(dir, "header-signed-request.txt"))
	if authz := req.Header.Get(headerAuthorization); !strings.Contains(signed, "Authorization:"+authz+"\n") {
		t.Errorf("Authorization %q is not the one in header-signed-request.txt", authz)
	}
}

func crtQuery(t *testing.T, dir string, ctx crtContext, notForS3 string) {
	req, body := parseRequest(t, readFile(t, filepath.Join(dir, "request.txt")))
	s := ctx.signer()
	u, got, err := s.presign(req, PayloadHash([]byte(body)), time.Duration(ctx.Expiration)*time.Second, ctx.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	want := readFile(t, filepath.Join(dir, "query-canonical-request.txt"))
	if notForS3 != "" {
		if got.canonicalRequest == want {
			t.Fatalf("case listed as not for S3 (%s), yet the signer normalised the path", notForS3)
		}
		return
	}
	check(t, "canonical request", got.canonicalRequest, want)
	check(t, "string to sign", got.stringToSign, readFile(t, filepath.Join(dir, "query-string-to-sign.txt")))
	sig := readFile(t, filepath.Join(dir, "query-signature.txt"))
	check(t, "signature", got.signature, sig)
	if !strings.HasSuffix(u, "&X-Amz-Signature="+sig) {
		t.Errorf("presigned URL %q does not end in the signature", u)
	}
}

// s3Examples is s3-examples/s3-examples.json.
type s3Examples struct {
	AccessKeyID     string   `json:"access_key_id"`
	SecretAccessKey string   `json:"secret_access_key"`
	Region          string   `json:"region"`
	Service         string   `json:"service"`
	Date            string   `json:"x_amz_date"`
	Cases           []s3Case `json:"cases"`
}

type s3Case struct {
	Name             string      `json:"name"`
	Method           string      `json:"method"`
	CanonicalURI     string      `json:"canonical_uri"`
	CanonicalQuery   string      `json:"canonical_query"`
	Headers          [][2]string `json:"headers"`
	Body             *string     `json:"body"`
	PayloadHash      string      `json:"payload_hash"`
	SignedHeaders    string      `json:"signed_headers"`
	CanonicalRequest string      `json:"canonical_request"`
	StringToSign     string      `json:"string_to_sign"`
	Signature        string      `json:"signature"`
	Authorization    string      `json:"authorization"`
	URL              string      `json:"url"`
	Chunks           []struct {
		Size      int    `json:"size"`
		Fill      string `json:"fill"`
		Signature string `json:"signature"`
	} `json:"chunks"`
}

// request rebuilds the documented request: the decoded path, the query and
// the headers the signer does not set itself.
func (c s3Case) request(t *testing.T) *http.Request {
	t.Helper()
	path, err := url.PathUnescape(c.CanonicalURI)
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Method: c.Method, URL: &url.URL{Scheme: "https", Path: path}, Header: make(http.Header)}
	if c.URL == "" {
		req.URL.RawQuery = c.CanonicalQuery // a presigned URL's query is the signer's to add
	}
	for _, h := range c.Headers {
		switch h[0] {
		case "host":
			req.Host = h[1]
		case "content-length":
			req.ContentLength, err = strconv.ParseInt(h[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
		case "x-amz-date", "x-amz-content-sha256":
			// set by the signer
		default:
			req.Header.Add(h[0], h[1])
		}
	}
	return req
}

// TestS3Examples runs the examples of the Amazon S3 API Reference.
func TestS3Examples(t *testing.T) {
	var ex s3Examples
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(vectorsDir(t), "s3-examples", "s3-examples.json"))), &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Cases) != 6 {
		t.Fatalf("found %d S3 examples; the file has 6", len(ex.Cases))
	}
	at, err := time.Parse(TimeFormat, ex.Date)
	if err != nil {
		t.Fatal(err)
	}
	s := Signer{Credentials: Credentials{AccessKeyID: ex.AccessKeyID, SecretAccessKey: ex.SecretAccessKey}, Region: ex.Region, Service: ex.Service}
	for _, c := range ex.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Body != nil && c.PayloadHash != UnsignedPayload && !strings.HasPrefix(c.PayloadHash, "STREAMING-") {
				check(t, "payload hash", PayloadHash([]byte(*c.Body)), c.PayloadHash)
			}
			if c.URL != "" {
				u, err := s.Presign(c.request(t), c.PayloadHash, 24*time.Hour, at)
				if err != nil {
					t.Fatal(err)
				}
				check(t, "presigned URL", u, c.URL)
				return
			}
			req := c.request(t)
			got, err := s.sign(req, c.PayloadHash, at, true)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "canonical request", got.canonicalRequest, c.CanonicalRequest)
			check(t, "string to sign", got.stringToSign, c.StringToSign)
			check(t, "signature", got.signature, c.Signature)
			check(t, "authorization", strings.ReplaceAll(req.Header.Get(headerAuthorization), ", ", ","), c.Authorization)
			prev := got.signature
			for i, ch := range c.Chunks {
				chunk := []byte(strings.Repeat(ch.Fill, ch.Size))
				prev = s.SignChunk(at, prev, chunk)
				check(t, "chunk "+strconv.Itoa(i)+" signature", prev, ch.Signature)
			}
		})
	}
}

// TestWireMatchesSignature checks that what net/http sends is what was
// signed: the canonical path and query go out unchanged.
func TestWireMatchesSignature(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/a%20b/c+d=e~f%25/%C3%A9?b=2&a=x+y&a=%zz", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := Signer{Credentials: Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}, Region: "us-east-1", Service: "s3"}
	got, err := s.sign(req, EmptyPayloadHash, suiteTime, true)
	if err != nil {
		t.Fatal(err)
	}
	var wire strings.Builder
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(wire.String(), "\r\n")
	want := "GET /bucket/a%20b/c%2Bd%3De~f%25/%C3%A9?a=%25zz&a=x%2By&b=2 HTTP/1.1"
	check(t, "request line", line, want)
	lines := bufio.NewScanner(strings.NewReader(got.canonicalRequest))
	lines.Scan()
	lines.Scan()
	check(t, "canonical URI", lines.Text(), "/bucket/a%20b/c%2Bd%3De~f%25/%C3%A9")
	if !strings.Contains(wire.String(), "\r\nHost: 127.0.0.1:9000\r\n") {
		t.Errorf("Host header not sent as signed:\n%s", wire.String())
	}
}

// TestCredentialsRedacted checks that printing credentials shows no secret.
func TestCredentialsRedacted(t *testing.T) {
	c := Credentials{AccessKeyID: "AKID", SecretAccessKey: "s3cr3t-key", SessionToken: "t0ken"}
	signer := Signer{Credentials: c, Region: "r", Service: "s3"}
	for _, s := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(&c),
		fmt.Sprintf("%v", signer), fmt.Sprintf("%+v", signer), fmt.Sprintf("%#v", signer), fmt.Sprintf("%+v", &signer),
	} {
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "t0ken") || !strings.Contains(s, "AKID") {
			t.Errorf("Credentials print as %q", s)
		}
	}
}
