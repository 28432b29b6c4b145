package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

func TestUploadAndLinkVariables(t *testing.T) {
	c, err := config.Load(env(map[string]string{"API_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.UploadExpiry != 24*time.Hour || c.LinkMaxExpiry != 7*24*time.Hour || c.SigningKey != "" || c.CORSOrigins != nil {
		t.Fatalf("defaults: expiry %v, link max %v, key set %v, origins %v", c.UploadExpiry, c.LinkMaxExpiry, c.SigningKey != "", c.CORSOrigins)
	}
	c, err = config.Load(env(map[string]string{
		"API_TOKEN": "t", "UPLOAD_EXPIRY": "2h", "LINK_MAX_EXPIRY": "1h", "SIGNING_KEY": strings.Repeat("s", 32),
		"CORS_ORIGINS": "https://a.example, http://localhost:3000,",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.UploadExpiry != 2*time.Hour || c.LinkMaxExpiry != time.Hour || !slices.Equal(c.CORSOrigins, []string{"https://a.example", "http://localhost:3000"}) {
		t.Fatalf("parsed: %v %v %v", c.UploadExpiry, c.LinkMaxExpiry, c.CORSOrigins)
	}
	secret := "short-secret-value"
	_, err = config.Load(env(map[string]string{"API_TOKEN": "t", "SIGNING_KEY": secret, "CORS_ORIGINS": "a.example/", "UPLOAD_EXPIRY": "soon"}))
	for _, name := range []string{"SIGNING_KEY", "CORS_ORIGINS", "UPLOAD_EXPIRY"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Error("the error shows SIGNING_KEY")
	}
}

// TestPublicURL: PUBLIC_URL is an http or https URL with a host, or unset.
func TestPublicURL(t *testing.T) {
	c, err := config.Load(env(map[string]string{"API_TOKEN": "t", "PUBLIC_URL": "https://drive.example.com/base"}))
	if err != nil || c.PublicURL != "https://drive.example.com/base" {
		t.Fatalf("PUBLIC_URL: %q, %v", c.PublicURL, err)
	}
	for _, bad := range []string{"drive.example.com", "ftp://drive.example.com", "https://", "https://x/?a=1"} {
		if _, err := config.Load(env(map[string]string{"API_TOKEN": "t", "PUBLIC_URL": bad})); err == nil || !strings.Contains(err.Error(), "PUBLIC_URL") {
			t.Errorf("PUBLIC_URL=%s: %v; want an error naming it", bad, err)
		}
	}
}
