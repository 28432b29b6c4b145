package links_test

import (
	"errors"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/links"
)

func TestSignVerify(t *testing.T) {
	s := links.NewSigner(links.DeriveKey("token"), time.Hour)
	now := time.Unix(1_800_000_000, 0)
	b := links.Blob{ID: "a/b c", CreatedAt: now.Add(-time.Hour)}
	q := s.Sign(b, now.Add(time.Minute))
	for _, m := range []string{"GET", "HEAD"} {
		got, err := s.Verify(m, b.ID, q, now)
		if err != nil {
			t.Fatalf("Verify(%s) = %v", m, err)
		}
		if got.Version != b.CreatedAt.UnixMicro() || !got.Expires.Equal(now.Add(time.Minute)) {
			t.Fatalf("Verify(%s) = %+v", m, got)
		}
	}
	invalid := func(name string) func(links.Verified, error) {
		return func(_ links.Verified, err error) {
			t.Helper()
			if !errors.Is(err, links.ErrInvalid) {
				t.Errorf("%s: Verify = %v; want ErrInvalid", name, err)
			}
		}
	}
	invalid("expired")(s.Verify("GET", b.ID, q, now.Add(time.Minute)))
	invalid("PUT")(s.Verify("PUT", b.ID, q, now))
	invalid("DELETE")(s.Verify("DELETE", b.ID, q, now))
	invalid("other id")(s.Verify("GET", "a/b d", q, now))
	invalid("other key")(links.NewSigner(links.DeriveKey("token2"), time.Hour).Verify("GET", b.ID, q, now))
	for _, c := range []struct {
		name, param, value string
	}{
		{"later expiry", "expires", q.Get("expires") + "0"},
		{"expiry spelled otherwise", "expires", "+" + q.Get("expires")},
		{"other version", "v", q.Get("v") + "1"},
		{"version spelled otherwise", "v", "0" + q.Get("v")},
	} {
		tampered := s.Sign(b, now.Add(time.Minute))
		tampered.Set(c.param, c.value)
		invalid(c.name)(s.Verify("GET", b.ID, tampered, now))
	}
	for _, param := range []string{"sig", "v", "expires"} {
		tampered := s.Sign(b, now.Add(time.Minute))
		tampered.Add(param, tampered.Get(param))
		invalid("two " + param)(s.Verify("GET", b.ID, tampered, now))
		tampered.Del(param)
		invalid("no " + param)(s.Verify("GET", b.ID, tampered, now))
	}
	if a, b := links.DeriveKey("token"), links.DeriveKey("token"); string(a) != string(b) || len(a) != 32 {
		t.Fatal("DeriveKey is not deterministic: replicas would disagree")
	}
}
