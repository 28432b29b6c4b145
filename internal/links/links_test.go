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
	b := links.Blob{ID: "a/b c", SHA256: "ab12", CreatedAt: now.Add(-time.Hour)}
	q := s.Sign(b, now.Add(time.Minute))
	for _, m := range []string{"GET", "HEAD"} {
		if err := s.Verify(m, b, q, now); err != nil {
			t.Fatalf("Verify(%s) = %v", m, err)
		}
	}
	invalid := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, links.ErrInvalid) {
			t.Errorf("%s: Verify = %v; want ErrInvalid", name, err)
		}
	}
	invalid("expired", s.Verify("GET", b, q, now.Add(time.Minute)))
	invalid("PUT", s.Verify("PUT", b, q, now))
	invalid("DELETE", s.Verify("DELETE", b, q, now))
	other := b
	other.ID = "a/b d"
	invalid("other id", s.Verify("GET", other, q, now))
	other = b
	other.SHA256 = "ab13"
	invalid("other bytes", s.Verify("GET", other, q, now))
	other = b
	other.CreatedAt = other.CreatedAt.Add(time.Microsecond)
	invalid("recreated", s.Verify("GET", other, q, now))
	invalid("other key", links.NewSigner(links.DeriveKey("token2"), time.Hour).Verify("GET", b, q, now))
	tampered := s.Sign(b, now.Add(time.Minute))
	tampered.Set("expires", tampered.Get("expires")+"0")
	invalid("later expiry", s.Verify("GET", b, tampered, now))
	tampered = s.Sign(b, now.Add(time.Minute))
	tampered.Set("expires", "+"+tampered.Get("expires"))
	invalid("expiry spelled otherwise", s.Verify("GET", b, tampered, now))
	tampered = s.Sign(b, now.Add(time.Minute))
	tampered.Add("sig", tampered.Get("sig"))
	invalid("two sigs", s.Verify("GET", b, tampered, now))
	if a, b := links.DeriveKey("token"), links.DeriveKey("token"); string(a) != string(b) || len(a) != 32 {
		t.Fatal("DeriveKey is not deterministic: replicas would disagree")
	}
}
