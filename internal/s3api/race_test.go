package s3api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestS3ReplaceRace: concurrent PutObjects of one key and GetObjects
// during them. Every PUT succeeds (an overwrite replaces atomically), and
// every GET returns one whole version, never a mix or a short body.
func TestS3ReplaceRace(t *testing.T) {
	for _, st := range []stack{stacks[0], stacks[1]} {
		t.Run(st.name, func(t *testing.T) {
			srv := start(t, st)
			c := srv.operator()
			ctx := context.Background()
			const key, size, writers, rounds, readers = "race/one", 256 << 10, 4, 5, 4
			version := func(w int) []byte { return bytes.Repeat([]byte{byte('a' + w)}, size+w) }
			mustPut(t, c, key, version(0))
			var wg sync.WaitGroup
			stop := make(chan struct{})
			errs := make(chan error, writers*rounds+readers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(version(w))}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			var reads sync.WaitGroup
			for range readers {
				reads.Add(1)
				go func() {
					defer reads.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
						if err != nil {
							errs <- err
							return
						}
						b, err := io.ReadAll(out.Body)
						out.Body.Close()
						if err != nil {
							errs <- err
							return
						}
						if w := int(b[0] - 'a'); w < 0 || w >= writers || !bytes.Equal(b, version(w)) || aws.ToString(out.ETag) != quotedMD5(b) {
							errs <- errors.New("a GET returned no whole version: " + string(b[:8]) + "... ETag " + aws.ToString(out.ETag))
							return
						}
					}
				}()
			}
			wg.Wait()
			close(stop)
			reads.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
