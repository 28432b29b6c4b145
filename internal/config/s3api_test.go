package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

// TestS3API: the S3 front door's variables, their defaults, their checks,
// and the secret kept out of printed configurations and errors.
func TestS3API(t *testing.T) {
	c, err := config.Load(env(map[string]string{"API_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (config.S3API{Bucket: "simpledrive", Region: "us-east-1"}); c.S3API != want {
		t.Fatalf("S3API defaults = %v; want %v (off)", c.S3API, want)
	}
	const secret = "very-secret-access-key-123"
	c, err = config.Load(env(map[string]string{"API_TOKEN": "t", "S3_API_ADDR": ":9000", "S3_API_BUCKET": "my.drive-1",
		"S3_API_DOMAIN": "s3.example.com", "S3_API_REGION": "eu-west-3", "S3_API_ACCESS_KEY_ID": "AKIDOPERATOR", "S3_API_SECRET_ACCESS_KEY": secret}))
	if err != nil {
		t.Fatal(err)
	}
	want := config.S3API{Addr: ":9000", Bucket: "my.drive-1", Domain: "s3.example.com", Region: "eu-west-3", AccessKeyID: "AKIDOPERATOR", SecretAccessKey: secret}
	if c.S3API != want {
		t.Fatalf("S3API = %#v", c.S3API)
	}
	for _, printed := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c.S3API)} {
		if strings.Contains(printed, secret) || !strings.Contains(printed, "AKIDOPERATOR") {
			t.Fatalf("a printed configuration shows the secret, or not the key id: %s", printed)
		}
	}
	for _, bad := range []map[string]string{
		{"S3_API_BUCKET": "No_Such"},
		{"S3_API_BUCKET": "ab"},
		{"S3_API_ACCESS_KEY_ID": "AKIDONLY"},
		{"S3_API_SECRET_ACCESS_KEY": secret},
		{"S3_API_ACCESS_KEY_ID": "AKID", "S3_API_SECRET_ACCESS_KEY": "short"},
		{"S3_API_ADDR": ":8080"},
	} {
		bad["API_TOKEN"] = "t"
		_, err := config.Load(env(bad))
		if err == nil || !strings.Contains(err.Error(), "S3_API_") || strings.Contains(err.Error(), secret) {
			t.Errorf("Load(%v) = %v; want an error naming the variable, without the secret", bad, err)
		}
	}
}
