package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Every change to a signed request after signing, and every signature made
// with the wrong date, region or secret, is refused with S3's error.

var (
	tamperAt     = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	tamperCreds  = Credentials{AccessKeyID: "AKIATAMPER", SecretAccessKey: "tamper/secret+key"}
	tamperBody   = []byte("hello, verifier")
	tamperRegion = "us-east-1"
)

func tamperVerifier() *Verifier {
	return testVerifier(tamperAt, tamperRegion, "s3", map[string]string{tamperCreds.AccessKeyID: tamperCreds.SecretAccessKey})
}

// signedPut is a PUT of tamperBody signed by the AWS SDK in the header as
// of at, with region and secret.
func signedPut(t *testing.T, at time.Time, region string, creds Credentials, payloadHash string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/dir/key.txt?tagging=&x-id=PutObject", bytes.NewReader(tamperBody))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Meta-Color", "blue")
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	signer := newSDKSigner()
	if err := signer.SignHTTP(context.Background(), sdkCredentials(creds), req, payloadHash, "s3", region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

// presignedGet is a GET presigned by the AWS SDK as of at for expires
// seconds.
func presignedGet(t *testing.T, at time.Time, region string, creds Credentials, expires string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/dir/key.txt?versionId=&X-Amz-Expires="+expires, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, hdr, err := newSDKSigner().PresignHTTP(context.Background(), sdkCredentials(creds), req, UnsignedPayload, "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if !strings.EqualFold(k, "Host") {
			out.Header[k] = vs
		}
	}
	return out
}

// verifyAll verifies req and reads its whole body.
func verifyAll(v *Verifier, req *http.Request) ([]byte, error) {
	got, err := v.Verify(req)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(got.Body)
}

func setQuery(req *http.Request, key, value string) {
	q := parseQueryParams(req.URL.RawQuery)
	found := false
	for i := range q {
		if q[i].key == key {
			q[i].value, found = value, true
		}
	}
	if !found {
		q = append(q, qparam{key, value})
	}
	parts := make([]string, len(q))
	for i, p := range q {
		parts[i] = url.QueryEscape(p.key) + "=" + url.QueryEscape(p.value)
	}
	req.URL.RawQuery = strings.Join(parts, "&")
}

// TestVerifierRefusesTampering changes one thing of a valid header-signed
// or presigned request at a time.
func TestVerifierRefusesTampering(t *testing.T) {
	hash := PayloadHash(tamperBody)
	header := func(t *testing.T) *http.Request { return signedPut(t, tamperAt, tamperRegion, tamperCreds, hash) }
	presigned := func(t *testing.T) *http.Request {
		return presignedGet(t, tamperAt.Add(-time.Hour), tamperRegion, tamperCreds, "7200")
	}
	cases := []struct {
		name string
		req  func(t *testing.T) *http.Request
		code string
	}{
		{"header signed header value", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("X-Amz-Meta-Color", "red")
			return r
		}, "SignatureDoesNotMatch"},
		{"header content type", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("Content-Type", "text/html")
			return r
		}, "SignatureDoesNotMatch"},
		{"header second value", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Add("X-Amz-Meta-Color", "red")
			return r
		}, "SignatureDoesNotMatch"},
		{"header unsigned x-amz header", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("X-Amz-Acl", "public-read")
			return r
		}, "AccessDenied"},
		{"header query value", func(t *testing.T) *http.Request {
			r := header(t)
			setQuery(r, "tagging", "x")
			return r
		}, "SignatureDoesNotMatch"},
		{"header query added", func(t *testing.T) *http.Request {
			r := header(t)
			setQuery(r, "acl", "")
			return r
		}, "SignatureDoesNotMatch"},
		{"header path", func(t *testing.T) *http.Request {
			r := header(t)
			r.URL.Path = "/bucket/dir/key2.txt"
			return r
		}, "SignatureDoesNotMatch"},
		{"header method", func(t *testing.T) *http.Request {
			r := header(t)
			r.Method = http.MethodPost
			return r
		}, "SignatureDoesNotMatch"},
		{"header host", func(t *testing.T) *http.Request {
			r := header(t)
			r.Host = "127.0.0.1:9001"
			return r
		}, "SignatureDoesNotMatch"},
		{"header payload byte", func(t *testing.T) *http.Request {
			r := header(t)
			b := bytes.Clone(tamperBody)
			b[3] ^= 1
			r.Body = io.NopCloser(bytes.NewReader(b))
			return r
		}, "XAmzContentSHA256Mismatch"},
		{"header content length", func(t *testing.T) *http.Request {
			r := header(t)
			r.Body = io.NopCloser(bytes.NewReader(tamperBody[1:]))
			r.ContentLength--
			return r
		}, "SignatureDoesNotMatch"},
		{"header payload hash replaced", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			return r
		}, "SignatureDoesNotMatch"},
		{"header payload hash missing", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Del("X-Amz-Content-Sha256")
			return r
		}, "InvalidRequest"},
		{"header payload hash bogus", func(t *testing.T) *http.Request {
			return signedPut(t, tamperAt, tamperRegion, tamperCreds, "not-a-hash")
		}, "InvalidArgument"},
		{"header signature", func(t *testing.T) *http.Request {
			r := header(t)
			a := r.Header.Get("Authorization")
			last := a[len(a)-1]
			r.Header.Set("Authorization", a[:len(a)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
			return r
		}, "SignatureDoesNotMatch"},
		{"header signed headers list", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "content-type;", "", 1))
			return r
		}, "SignatureDoesNotMatch"},
		{"header host not signed", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
			return r
		}, "AuthorizationHeaderMalformed"},
		{"header date changed", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("X-Amz-Date", tamperAt.Add(time.Second).Format(TimeFormat))
			return r
		}, "SignatureDoesNotMatch"},
		{"header date removed", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Del("X-Amz-Date")
			return r
		}, "AccessDenied"},
		{"header date other day than scope", func(t *testing.T) *http.Request {
			r := signedPut(t, tamperAt.Add(-24*time.Hour), tamperRegion, tamperCreds, hash)
			r.Header.Set("X-Amz-Date", tamperAt.Format(TimeFormat))
			return r
		}, "AuthorizationHeaderMalformed"},
		{"header signed 16 minutes ago", func(t *testing.T) *http.Request {
			return signedPut(t, tamperAt.Add(-16*time.Minute), tamperRegion, tamperCreds, hash)
		}, "RequestTimeTooSkewed"},
		{"header signed 16 minutes ahead", func(t *testing.T) *http.Request {
			return signedPut(t, tamperAt.Add(16*time.Minute), tamperRegion, tamperCreds, hash)
		}, "RequestTimeTooSkewed"},
		{"header other region", func(t *testing.T) *http.Request {
			return signedPut(t, tamperAt, "eu-west-1", tamperCreds, hash)
		}, "AuthorizationHeaderMalformed"},
		{"header other service", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/s3/", "/s4/", 1))
			return r
		}, "AuthorizationHeaderMalformed"},
		{"header wrong secret", func(t *testing.T) *http.Request {
			return signedPut(t, tamperAt, tamperRegion, Credentials{AccessKeyID: tamperCreds.AccessKeyID, SecretAccessKey: "guess"}, hash)
		}, "SignatureDoesNotMatch"},
		{"header unknown key", func(t *testing.T) *http.Request {
			return signedPut(t, tamperAt, tamperRegion, Credentials{AccessKeyID: "AKIAOTHER", SecretAccessKey: tamperCreds.SecretAccessKey}, hash)
		}, "InvalidAccessKeyId"},
		{"header session token", func(t *testing.T) *http.Request {
			return signedPut(t, tamperAt, tamperRegion, Credentials{AccessKeyID: tamperCreds.AccessKeyID, SecretAccessKey: tamperCreds.SecretAccessKey, SessionToken: "tok"}, hash)
		}, "InvalidToken"},
		{"header malformed", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Signature=", "Sig=", 1))
			return r
		}, "AuthorizationHeaderMalformed"},
		{"header malformed credential", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "", 1))
			return r
		}, "AuthorizationHeaderMalformed"},
		{"header other algorithm", func(t *testing.T) *http.Request {
			r := header(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), Algorithm, "AWS4-ECDSA-P256-SHA256", 1))
			return r
		}, "InvalidArgument"},
		{"header and query auth", func(t *testing.T) *http.Request {
			r := header(t)
			setQuery(r, "X-Amz-Algorithm", Algorithm)
			return r
		}, "InvalidArgument"},
		{"presigned query value", func(t *testing.T) *http.Request {
			r := presigned(t)
			setQuery(r, "versionId", "1")
			return r
		}, "SignatureDoesNotMatch"},
		{"presigned path", func(t *testing.T) *http.Request {
			r := presigned(t)
			r.URL.Path += "x"
			return r
		}, "SignatureDoesNotMatch"},
		{"presigned expires raised", func(t *testing.T) *http.Request {
			r := presigned(t)
			setQuery(r, "X-Amz-Expires", "7201")
			return r
		}, "SignatureDoesNotMatch"},
		{"presigned date", func(t *testing.T) *http.Request {
			r := presigned(t)
			setQuery(r, "X-Amz-Date", tamperAt.Add(-time.Hour+time.Second).Format(TimeFormat))
			return r
		}, "SignatureDoesNotMatch"},
		{"presigned signature", func(t *testing.T) *http.Request {
			r := presigned(t)
			setQuery(r, "X-Amz-Signature", strings.Repeat("0", 64))
			return r
		}, "SignatureDoesNotMatch"},
		{"presigned signature missing", func(t *testing.T) *http.Request {
			r := presigned(t)
			q := parseQueryParams(r.URL.RawQuery)
			q = slicesDeleteKey(q, "X-Amz-Signature")
			r.URL.RawQuery = canonicalQueryOf(q)
			return r
		}, "AuthorizationQueryParametersError"},
		{"presigned unsigned x-amz header", func(t *testing.T) *http.Request {
			r := presigned(t)
			r.Header.Set("X-Amz-Meta-Color", "red")
			return r
		}, "AccessDenied"},
		{"presigned expired", func(t *testing.T) *http.Request {
			return presignedGet(t, tamperAt.Add(-time.Hour-time.Second), tamperRegion, tamperCreds, "3600")
		}, "AccessDenied"},
		{"presigned not valid yet", func(t *testing.T) *http.Request {
			return presignedGet(t, tamperAt.Add(16*time.Minute), tamperRegion, tamperCreds, "3600")
		}, "AccessDenied"},
		{"presigned longer than a week", func(t *testing.T) *http.Request {
			r := presigned(t)
			setQuery(r, "X-Amz-Expires", "604801")
			return r
		}, "AuthorizationQueryParametersError"},
		{"presigned negative expiry", func(t *testing.T) *http.Request {
			r := presigned(t)
			setQuery(r, "X-Amz-Expires", "-1")
			return r
		}, "AuthorizationQueryParametersError"},
		{"presigned other region", func(t *testing.T) *http.Request {
			return presignedGet(t, tamperAt, "eu-west-1", tamperCreds, "60")
		}, "AuthorizationQueryParametersError"},
		{"presigned wrong secret", func(t *testing.T) *http.Request {
			return presignedGet(t, tamperAt, tamperRegion, Credentials{AccessKeyID: tamperCreds.AccessKeyID, SecretAccessKey: "guess"}, "60")
		}, "SignatureDoesNotMatch"},
		{"presigned unknown key", func(t *testing.T) *http.Request {
			return presignedGet(t, tamperAt, tamperRegion, Credentials{AccessKeyID: "AKIAOTHER", SecretAccessKey: "x"}, "60")
		}, "InvalidAccessKeyId"},
		{"presigned other algorithm", func(t *testing.T) *http.Request {
			r := presigned(t)
			setQuery(r, "X-Amz-Algorithm", "AWS4-HMAC-SHA1")
			return r
		}, "AuthorizationQueryParametersError"},
		{"presigned streaming payload", func(t *testing.T) *http.Request {
			r := presigned(t)
			r.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
			return r
		}, "InvalidArgument"},
	}
	v := tamperVerifier()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verifyAll(v, wire(t, c.req(t)))
			wantCode(t, err, c.code)
			if strings.Contains(err.Error(), tamperCreds.SecretAccessKey) {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
	// The untouched requests pass, so each refusal above is the tampering's.
	for name, req := range map[string]func(t *testing.T) *http.Request{"header": header, "presigned": presigned} {
		body, err := verifyAll(v, wire(t, req(t)))
		if err != nil {
			t.Fatalf("untouched %s request refused: %v", name, err)
		}
		if name == "header" && !bytes.Equal(body, tamperBody) {
			t.Fatalf("body %q", body)
		}
	}
}

// TestVerifierTruncatedBody cuts the last byte of a signed request on the
// wire: the body fails with IncompleteBody, never io.EOF.
func TestVerifierTruncatedBody(t *testing.T) {
	for _, hash := range []string{PayloadHash(tamperBody), UnsignedPayload} {
		var buf bytes.Buffer
		if err := signedPut(t, tamperAt, tamperRegion, tamperCreds, hash).Write(&buf); err != nil {
			t.Fatal(err)
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf.Bytes()[:buf.Len()-1])))
		if err != nil {
			t.Fatal(err)
		}
		_, err = verifyAll(tamperVerifier(), req)
		wantCode(t, err, "IncompleteBody")
	}
}

func slicesDeleteKey(q []qparam, key string) []qparam {
	out := q[:0]
	for _, p := range q {
		if p.key != key {
			out = append(out, p)
		}
	}
	return out
}

// TestVerifierAnonymous checks that a request without SigV4 is left to
// the caller, and that a failing key lookup is not a refusal.
func TestVerifierAnonymous(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/key?X-Amz-Date=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tamperVerifier().Verify(wire(t, req)); !errors.Is(err, ErrAnonymous) {
		t.Fatalf("anonymous request: %v", err)
	}
	v := tamperVerifier()
	boom := errors.New("database down")
	v.Secret = func(context.Context, string) (string, error) { return "", boom }
	_, err = v.Verify(wire(t, signedPut(t, tamperAt, tamperRegion, tamperCreds, UnsignedPayload)))
	var e *Error
	if !errors.Is(err, boom) || errors.As(err, &e) {
		t.Fatalf("failing key lookup: %v", err)
	}
}

// TestVerifierDateHeader verifies a request dated by Date alone (no
// X-Amz-Date), signed over a canonical request written out by hand, and
// refuses it when Date is left out of the signed headers.
func TestVerifierDateHeader(t *testing.T) {
	date := tamperAt.Format(http.TimeFormat)
	s := &Signer{Credentials: tamperCreds, Region: tamperRegion, Service: "s3"}
	for _, signed := range []string{"date;host;x-amz-content-sha256", "host;x-amz-content-sha256"} {
		creq := "GET\n/bucket/key\n\n"
		if strings.HasPrefix(signed, "date") {
			creq += "date:" + date + "\n"
		}
		creq += "host:127.0.0.1:9000\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\n" + signed + "\nUNSIGNED-PAYLOAD"
		sts := "AWS4-HMAC-SHA256\n" + tamperAt.Format(TimeFormat) + "\n" + s.scope(tamperAt) + "\n" + PayloadHash([]byte(creq))
		sig := hex.EncodeToString(hmacSHA256(s.signingKey(tamperAt), sts))
		req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/bucket/key", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Date", date)
		req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
		req.Header.Set("Authorization", Algorithm+" Credential="+tamperCreds.AccessKeyID+"/"+s.scope(tamperAt)+",SignedHeaders="+signed+",Signature="+sig)
		_, err = verifyAll(tamperVerifier(), wire(t, req))
		if strings.HasPrefix(signed, "date") {
			if err != nil {
				t.Fatalf("Date-signed request refused: %v", err)
			}
			continue
		}
		wantCode(t, err, "AccessDenied")
	}
}

// TestVerifierDefaultPort accepts a presigned URL whose host names the
// scheme's default port, which the SDK leaves out of the signature while
// net/http sends it; any other port is a different host.
func TestVerifierDefaultPort(t *testing.T) {
	for port, code := range map[string]string{":80": "", ":443": "", ":81": "SignatureDoesNotMatch", "": ""} {
		req, err := http.NewRequest(http.MethodGet, "http://s3.example.com/bucket/key?X-Amz-Expires=60", nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := newSDKSigner().PresignHTTP(context.Background(), sdkCredentials(tamperCreds), req, UnsignedPayload, "s3", tamperRegion, tamperAt)
		if err != nil {
			t.Fatal(err)
		}
		out, err := http.NewRequest(http.MethodGet, strings.Replace(u, "s3.example.com", "s3.example.com"+port, 1), nil)
		if err != nil {
			t.Fatal(err)
		}
		w := wire(t, out)
		if w.Host != "s3.example.com"+port {
			t.Fatalf("net/http sent Host %q", w.Host)
		}
		_, err = verifyAll(tamperVerifier(), w)
		if code == "" {
			if err != nil {
				t.Fatalf("port %q: %v", port, err)
			}
			continue
		}
		wantCode(t, err, code)
	}
}
