package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The verifier is tested on AWS's published vectors (the signed requests
// of both suites and the S3 API Reference examples), on requests signed by
// the AWS SDK for Go v2 and sent through net/http, and on every tampering
// of those.

// testVerifier returns a verifier whose clock reads at and that knows the
// given key pairs.
func testVerifier(at time.Time, region, service string, keys map[string]string) *Verifier {
	return &Verifier{
		Region:  region,
		Service: service,
		Now:     func() time.Time { return at },
		Secret: func(_ context.Context, id string) (string, error) {
			s, ok := keys[id]
			if !ok {
				return "", ErrUnknownKey
			}
			return s, nil
		},
	}
}

// suiteRequest reads a signed request of the suites as a server sees it:
// the path decoded.
func suiteRequest(t *testing.T, raw string) (*http.Request, string) {
	t.Helper()
	req, body := parseRequest(t, raw)
	if p, err := url.PathUnescape(req.URL.Path); err == nil {
		req.URL.Path = p
	}
	if req.Host == "" {
		t.Fatal("no Host in the signed request")
	}
	return req, body
}

// checkSuiteCase verifies one signed request of a generic-service suite
// step by step: the canonical request and string to sign against the
// vector's, then the whole authentication. Requests carrying a session
// token are refused (the verifier issues none) after the signature itself
// is checked.
func checkSuiteCase(t *testing.T, v *Verifier, req *http.Request, body, creq, sts string) {
	t.Helper()
	a, err := v.parse(req)
	if err != nil {
		t.Fatal(err)
	}
	payload := PayloadHash([]byte(body))
	if !slices.Contains(a.signedHeaders, "x-amz-security-token") && req.Header.Get("X-Amz-Security-Token") != "" ||
		strings.Contains(creq, "X-Amz-Security-Token") != queryHas(a.query, "X-Amz-Security-Token") {
		// The token was added after signing: refused (unsigned x-amz-*
		// header, or a token the verifier never issued).
		_, err = v.authenticate(req, a, payload)
		wantCode(t, err, map[bool]string{true: "InvalidToken", false: "AccessDenied"}[a.presigned])
		return
	}
	got := canonicalRequestOf(req, a, payload)
	check(t, "canonical request", got, creq)
	check(t, "string to sign", a.stringToSign(got), sts)
	key := deriveSigningKey(suiteSecret, a.scopeDate, a.region, a.service)
	if !signatureMatches(key, a.stringToSign(got), a.signature) {
		t.Fatal("signature does not match")
	}
	_, err = v.authenticate(req, a, payload)
	if req.Header.Get("X-Amz-Security-Token") != "" || queryHas(a.query, "X-Amz-Security-Token") {
		var e *Error
		if !errors.As(err, &e) || (e.Code != "InvalidToken" && e.Code != "AccessDenied") {
			t.Fatalf("request with a session token: got %v, want InvalidToken or AccessDenied", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifierAWSSigV4Suite verifies the requests of the classic AWS suite
// signed with their .authz (the .sreq files of post-vanilla-query-space and
// -nonunreserved carry another signature than their .authz, .creq and
// .sts); the path-normalising cases must fail, as S3 never normalises.
func TestVerifierAWSSigV4Suite(t *testing.T) {
	root := filepath.Join(vectorsDir(t), "aws-sig-v4-test-suite")
	var cases []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".req") {
			cases = append(cases, strings.TrimSuffix(p, ".req"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 31 {
		t.Fatalf("found %d requests; the suite has 31", len(cases))
	}
	v := testVerifier(suiteTime, suiteRegion, suiteService, map[string]string{suiteAccessKey: suiteSecret})
	for _, base := range cases {
		name := filepath.Base(base)
		t.Run(name, func(t *testing.T) {
			req, body := suiteRequest(t, readFile(t, base+".req"))
			req.Header.Set("Authorization", readFile(t, base+".authz"))
			if _, ok := notForS3[name]; ok {
				a, err := v.parse(req)
				if err != nil {
					t.Fatal(err)
				}
				_, err = v.authenticate(req, a, PayloadHash([]byte(body)))
				wantCode(t, err, "SignatureDoesNotMatch")
				return
			}
			checkSuiteCase(t, v, req, body, readFile(t, base+".creq"), readFile(t, base+".sts"))
		})
	}
}

// TestVerifierAWSSigningSuite verifies the signed requests, header and
// presigned, of the AWS CRT suite.
func TestVerifierAWSSigningSuite(t *testing.T) {
	root := filepath.Join(vectorsDir(t), "aws-signing-test-suite", "v4")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 38 {
		t.Fatalf("found %d cases; the suite has 38", len(entries))
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			var ctx crtContext
			if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "context.json"))), &ctx); err != nil {
				t.Fatal(err)
			}
			v := testVerifier(ctx.Timestamp, ctx.Region, ctx.Service, map[string]string{ctx.Credentials.AccessKeyID: ctx.Credentials.SecretAccessKey})
			for _, form := range []string{"header", "query"} {
				t.Run(form, func(t *testing.T) {
					req, body := suiteRequest(t, readFile(t, filepath.Join(dir, form+"-signed-request.txt")))
					if _, ok := notForS3[e.Name()]; ok {
						a, err := v.parse(req)
						if err != nil {
							t.Fatal(err)
						}
						_, err = v.authenticate(req, a, PayloadHash([]byte(body)))
						wantCode(t, err, "SignatureDoesNotMatch")
						return
					}
					checkSuiteCase(t, v, req, body,
						readFile(t, filepath.Join(dir, form+"-canonical-request.txt")),
						readFile(t, filepath.Join(dir, form+"-string-to-sign.txt")))
				})
			}
		})
	}
}

// wantCode fails t unless err is an *Error with the given code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got error %v, want %s", err, code)
	}
	if e.Status < 400 || e.Message == "" {
		t.Fatalf("error %s has status %d and message %q", e.Code, e.Status, e.Message)
	}
}

// wire sends req through net/http's client encoding and server parsing,
// so the verifier sees what a server would.
func wire(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// s3ExampleRequest builds the documented request of c as it goes on the
// wire, body included.
func s3ExampleRequest(t *testing.T, c s3Case) *http.Request {
	t.Helper()
	var body []byte
	if c.Body != nil {
		body = []byte(*c.Body)
	}
	if len(c.Chunks) > 0 {
		for _, ch := range c.Chunks {
			body = strconv.AppendInt(body, int64(ch.Size), 16)
			body = append(body, ";chunk-signature="+ch.Signature+"\r\n"...)
			body = append(body, strings.Repeat(ch.Fill, ch.Size)+"\r\n"...)
		}
	}
	target := c.CanonicalURI
	if c.CanonicalQuery != "" {
		target += "?" + c.CanonicalQuery
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil {
			t.Fatal(err)
		}
		target = u.RequestURI()
	}
	var raw bytes.Buffer
	raw.WriteString(c.Method + " " + target + " HTTP/1.1\r\n")
	for _, h := range c.Headers {
		raw.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	if c.Authorization != "" {
		raw.WriteString("Authorization: " + c.Authorization + "\r\n")
	}
	if len(body) > 0 && !hasHeader(c.Headers, "content-length") {
		raw.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	raw.WriteString("\r\n")
	raw.Write(body)
	req, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func hasHeader(hs [][2]string, name string) bool {
	for _, h := range hs {
		if h[0] == name {
			return true
		}
	}
	return false
}

// TestVerifierS3Examples verifies the requests of the Amazon S3 API
// Reference examples end to end, the chunked upload with its published
// chunk signatures included.
func TestVerifierS3Examples(t *testing.T) {
	var ex s3Examples
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(vectorsDir(t), "s3-examples", "s3-examples.json"))), &ex); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(TimeFormat, ex.Date)
	if err != nil {
		t.Fatal(err)
	}
	v := testVerifier(at.Add(time.Minute), ex.Region, ex.Service, map[string]string{ex.AccessKeyID: ex.SecretAccessKey})
	for _, c := range ex.Cases {
		t.Run(c.Name, func(t *testing.T) {
			req := s3ExampleRequest(t, c)
			got, err := v.Verify(req)
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessKeyID != ex.AccessKeyID || got.Presigned != (c.URL != "") {
				t.Fatalf("verified as %+v", got)
			}
			body, err := io.ReadAll(got.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if c.Body != nil {
				want = *c.Body
			}
			for _, ch := range c.Chunks {
				want += strings.Repeat(ch.Fill, ch.Size)
			}
			if string(body) != want {
				t.Fatalf("body: got %d bytes, want %d", len(body), len(want))
			}
			if c.URL == "" {
				check(t, "canonical request", canonicalRequestOf(req, mustParse(t, v, req), got.PayloadHash), c.CanonicalRequest)
			}
			if len(c.Chunks) > 0 && got.DecodedLength != int64(len(want)) {
				t.Fatalf("DecodedLength %d, want %d", got.DecodedLength, len(want))
			}
		})
	}
}

func mustParse(t *testing.T, v *Verifier, req *http.Request) *authRequest {
	t.Helper()
	a, err := v.parse(req)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestVerifierSDKGenerated signs generated requests (odd paths, repeated
// and unsorted query keys, multi-value and whitespace-laden headers) with
// the AWS SDK's signer, in the header and presigned, sends them through
// net/http, and verifies them.
func TestVerifierSDKGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		g := generate(r)
		g.creds.SessionToken = ""
		body := []byte(strconv.Itoa(r.Int()))
		switch g.payloadHash {
		case EmptyPayloadHash:
			body = nil
		case UnsignedPayload:
		default:
			g.payloadHash = PayloadHash(body)
		}
		g.contentLength = int64(len(body))
		v := testVerifier(g.at.Add(time.Duration(r.IntN(600))*time.Second), g.region, "s3", map[string]string{g.creds.AccessKeyID: g.creds.SecretAccessKey})
		presign := i%2 == 1
		req := sdkSign(t, g, body, presign)
		got, err := v.Verify(wire(t, req))
		if err != nil {
			t.Fatalf("request %d (%+v, presigned %v): %v", i, g, presign, err)
		}
		read, err := io.ReadAll(got.Body)
		if err != nil || !bytes.Equal(read, body) {
			t.Fatalf("request %d: body %q, %v; want %q", i, read, err, body)
		}
	}
}

// sdkSign signs g, with body, by the AWS SDK's signer as the S3 client
// does: path escaped the S3 way, x-amz-content-sha256 set.
func sdkSign(t testing.TB, g genRequest, body []byte, presign bool) *http.Request {
	t.Helper()
	req := g.request(true)
	req.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	signer := newSDKSigner()
	creds := sdkCredentials(g.creds)
	if !presign {
		req.Header.Set("X-Amz-Content-Sha256", g.payloadHash)
		if err := signer.SignHTTP(context.Background(), creds, req, g.payloadHash, "s3", g.region, g.at); err != nil {
			t.Fatal(err)
		}
		return req
	}
	q := req.URL.RawQuery
	if q != "" {
		q += "&"
	}
	req.URL.RawQuery = q + "X-Amz-Expires=900"
	u, hdr, err := signer.PresignHTTP(context.Background(), creds, req, UnsignedPayload, "s3", g.region, g.at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(req.Method, u, req.Body)
	if err != nil {
		t.Fatal(err)
	}
	out.ContentLength = req.ContentLength
	for k, vs := range hdr {
		if strings.EqualFold(k, "Host") {
			out.Host = vs[0]
			continue
		}
		out.Header[k] = vs
	}
	return out
}

// newSDKSigner returns the AWS SDK's signer set up as the S3 client uses
// it: the path escaped once, by the caller.
func newSDKSigner() *sdkv4.Signer {
	return sdkv4.NewSigner(func(o *sdkv4.SignerOptions) {
		o.DisableURIPathEscaping = true
		o.DisableHeaderHoisting = true
	})
}

// TestVerifierAcceptsSigner verifies generated requests signed by the
// package's own signer, in the header, presigned and streamed: the two
// canonicalisations, written apart, agree.
func TestVerifierAcceptsSigner(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for i := range 1000 {
		g := generate(r)
		g.creds.SessionToken = ""
		g.contentLength = 0
		v := testVerifier(g.at, g.region, "s3", map[string]string{g.creds.AccessKeyID: g.creds.SecretAccessKey})
		req := g.request(false)
		var body io.Reader = http.NoBody
		switch i % 3 {
		case 0:
			if err := g.signer().Sign(req, EmptyPayloadHash, g.at); err != nil {
				t.Fatal(err)
			}
		case 1:
			u, err := g.signer().Presign(req, UnsignedPayload, 15*time.Minute, g.at)
			if err != nil {
				t.Fatal(err)
			}
			presigned, err := http.NewRequest(req.Method, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			presigned.Header = req.Header
			req = presigned
		default:
			data := bytes.Repeat([]byte{byte(i)}, 20000)
			cb, err := g.signer().SignStreaming(req, bytes.NewReader(data), int64(len(data)), 0, g.at)
			if err != nil {
				t.Fatal(err)
			}
			body = cb
		}
		req.Body = io.NopCloser(body)
		got, err := v.Verify(wire(t, req))
		if err != nil {
			t.Fatalf("request %d (%+v): %v", i, g, err)
		}
		if _, err := io.ReadAll(got.Body); err != nil {
			t.Fatalf("request %d body: %v", i, err)
		}
	}
}
