package app

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certificate holds the server's TLS certificate, swapped atomically when
// its files are reloaded (SIGHUP), so handshakes in progress keep the
// certificate they started with and new ones get the new one.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the PEM certificate chain and key.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again; on error the current certificate stays.
func (c *certificate) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("app: TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	c.current.Store(&cert)
	return nil
}

// config is the server's TLS configuration: HTTP/1.1, TLS 1.2 or later,
// the current certificate at each handshake.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}
