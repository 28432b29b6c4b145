package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// The real S3 client of the AWS SDK for Go v2, with its default checksum
// behaviour, talks to a server that does nothing but verify and store or
// echo bodies. Over HTTPS the SDK streams uploads as
// STREAMING-UNSIGNED-PAYLOAD-TRAILER with a trailing x-amz-checksum-crc32;
// over plain HTTP it signs the hex SHA-256 of the body.

// verifyServer is an httptest server that verifies every request.
type verifyServer struct {
	v       *Verifier
	mu      sync.Mutex
	objects map[string][]byte
	modes   []string // payload hashes seen (hex ones as "sha256")
}

// ServeHTTP verifies r and stores (PUT) or returns (GET) its object; a
// refusal is an S3 XML error.
func (s *verifyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Code: "InternalError", Message: err.Error(), Status: 500}
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.Status)
		fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", e.Code, e.Message)
	}
	vd, err := s.v.Verify(r)
	if err != nil {
		fail(err)
		return
	}
	body, err := io.ReadAll(vd.Body)
	if err != nil {
		fail(err)
		return
	}
	if sum := vd.Trailer().Get("x-amz-checksum-crc32"); sum != "" {
		var want [4]byte
		binary.BigEndian.PutUint32(want[:], crc32.ChecksumIEEE(body))
		if sum != base64.StdEncoding.EncodeToString(want[:]) {
			fail(&Error{Code: "BadDigest", Message: "crc32 mismatch", Status: 400})
			return
		}
	}
	mode := vd.PayloadHash
	if len(mode) == 64 {
		mode = "sha256"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes = append(s.modes, mode)
	switch r.Method {
	case http.MethodPut:
		s.objects[r.URL.Path] = body
		w.Header().Set("ETag", `"etag"`)
	case http.MethodGet:
		obj, ok := s.objects[r.URL.Path]
		if !ok {
			fail(&Error{Code: "NoSuchKey", Message: "no such key", Status: 404})
			return
		}
		w.Write(obj)
	}
}

// onlyReader hides every method of a reader but Read, so the SDK cannot
// seek it.
type onlyReader struct{ io.Reader }

func TestVerifierS3Client(t *testing.T) {
	keys := map[string]string{"AKIACLIENT": "client/secret+key"}
	payload := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{5, 6}).Read(payload)
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[useTLS], func(t *testing.T) {
			vs := &verifyServer{v: testVerifier(time.Time{}, "us-east-1", "s3", keys), objects: map[string][]byte{}}
			vs.v.Now = nil // the SDK signs with the real clock
			srv := httptest.NewUnstartedServer(vs)
			if useTLS {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			client := func(secret string) *s3.Client {
				return s3.New(s3.Options{
					Region:       "us-east-1",
					BaseEndpoint: aws.String(srv.URL),
					UsePathStyle: true,
					HTTPClient:   srv.Client(),
					Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
						return aws.Credentials{AccessKeyID: "AKIACLIENT", SecretAccessKey: secret}, nil
					}),
					RetryMaxAttempts: 1,
					// The defaults of config.LoadDefaultConfig, which a
					// bare s3.Options leaves unset.
					RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
					ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
				})
			}
			ctx := context.Background()
			c := client(keys["AKIACLIENT"])
			puts := map[string]*s3.PutObjectInput{
				"seekable": {Body: bytes.NewReader(payload)},
				"empty":    {Body: bytes.NewReader(nil)},
			}
			if useTLS {
				// Only HTTPS allows unseekable bodies (trailing checksum).
				puts["unseekable"] = &s3.PutObjectInput{Body: onlyReader{bytes.NewReader(payload)}, ContentLength: aws.Int64(int64(len(payload)))}
				puts["unknown-length"] = &s3.PutObjectInput{Body: onlyReader{bytes.NewReader(payload)}}
			}
			for name, in := range puts {
				in.Bucket, in.Key = aws.String("bucket"), aws.String("dir/"+name+" $+=é")
				if _, err := c.PutObject(ctx, in); err != nil {
					t.Fatalf("PutObject %s: %v", name, err)
				}
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: in.Bucket, Key: in.Key})
				if err != nil {
					t.Fatalf("GetObject %s: %v", name, err)
				}
				got, err := io.ReadAll(out.Body)
				out.Body.Close()
				want := payload
				if name == "empty" {
					want = nil
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s: read back %d bytes (%v), want %d", name, len(got), err, len(want))
				}
			}
			wantMode := map[bool]string{false: "sha256", true: StreamingUnsignedPayloadTrailer}[useTLS]
			if !slices.Contains(vs.modes, wantMode) {
				t.Fatalf("payload modes seen %v, want %s among them", vs.modes, wantMode)
			}

			// Presigned URLs, used by a plain HTTP client.
			pc := s3.NewPresignClient(c)
			put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("presigned/key")}, s3.WithPresignExpires(10*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(put.Method, put.URL, bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = put.SignedHeader.Clone()
			req.Header.Del("Host")
			sendOK(t, srv.Client(), req)
			get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("presigned/key")})
			if err != nil {
				t.Fatal(err)
			}
			req, err = http.NewRequest(get.Method, get.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sendOK(t, srv.Client(), req); !bytes.Equal(got, payload) {
				t.Fatalf("presigned GET returned %d bytes", len(got))
			}

			// A wrong secret is refused with S3's code, which the SDK reads.
			_, err = client("wrong").PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("k"), Body: bytes.NewReader(payload)})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "SignatureDoesNotMatch" {
				t.Fatalf("wrong secret: %v", err)
			}
		})
	}
}

// sendOK sends req and returns the body of its 200 response.
func sendOK(t *testing.T, c *http.Client, req *http.Request) []byte {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s (%v)", req.Method, req.URL.Path, resp.StatusCode, body, err)
	}
	return body
}
