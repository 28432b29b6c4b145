package app

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

// TestSlowloris: a client sending its headers one byte a second is
// disconnected within the header timeout, while other clients are served
// meanwhile.
func TestSlowloris(t *testing.T) {
	cfg := httpConfig()
	cfg.ReadHeaderTimeout = 2 * time.Second
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	go serve(ctx, ln, nil, ok, cfg, slog.New(slog.DiscardHandler))

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, c) // returns when the server closes
		closed <- time.Since(start)
	}()
	served := 0
	header := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
	ticker := time.NewTicker(time.Second) // the client's pace, not synchronisation
	defer ticker.Stop()
	for i := 0; ; i++ {
		select {
		case d := <-closed:
			if d > cfg.ReadHeaderTimeout+time.Second {
				t.Fatalf("slow client cut after %v; want within the %v header timeout", d, cfg.ReadHeaderTimeout)
			}
			if served == 0 {
				t.Fatal("no other client was served while the slow one held its connection")
			}
			t.Logf("slow client cut after %v; %d other requests served meanwhile", d.Round(time.Millisecond), served)
			return
		case <-ticker.C:
			c.Write([]byte{header[i%len(header)]}) // fails once cut
			resp, err := http.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				t.Fatalf("another client: %v", err)
			}
			resp.Body.Close()
			served++
			if time.Since(start) > 10*time.Second {
				t.Fatal("the slow client is still connected after 10s")
			}
		}
	}
}

// TestIdleConnections: 1,000 idle keep-alive connections do not stop new
// requests from being served.
func TestIdleConnections(t *testing.T) {
	const idle = 1000
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, nil, ok, httpConfig(), slog.New(slog.DiscardHandler)) }() // MAX_CONNS 1024
	defer func() { stop(); <-served }()
	for i := range idle {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		// One request makes the connection accepted and kept alive; it
		// then sits idle.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %v", i, err)
		}
		resp.Body.Close()
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 20 {
		resp, err := client.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatalf("new request %d with %d idle connections held: %v", i, idle, err)
		}
		resp.Body.Close()
	}
}

// writeCert writes a fresh self-signed certificate for 127.0.0.1 with the
// common name cn to certFile and keyFile.
func writeCert(t *testing.T, cn, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written beside and renamed, as an operator's tooling would, so a
	// reload never reads half a file.
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// servedCN returns the common name of the certificate a new TLS
// connection to addr is served.
func servedCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestTLSReloadOnSIGHUP: the server speaks HTTPS with TLS_CERT_FILE and
// TLS_KEY_FILE, and after SIGHUP new connections get the certificate now
// in the files; a broken file keeps the current one. pprof is served on
// PPROF_ADDR alone.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, "first", certFile, keyFile)
	pprofLn := listen(t)
	pprofAddr := pprofLn.Addr().String()
	pprofLn.Close() // Serve listens on the address itself
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"API_TOKEN": "token", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs",
			"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile, "PPROF_ADDR": pprofAddr}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := make(messages, 100)
	a, err := New(context.Background(), cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln := listen(t)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	for msg := range logs {
		if msg == "serving" {
			break // SIGHUP is being watched
		}
	}
	addr := ln.Addr().String()
	if cn := servedCN(t, addr); cn != "first" {
		t.Fatalf("served certificate %q; want first", cn)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz over TLS: %v", err)
	}
	resp.Body.Close()

	writeCert(t, "second", certFile, keyFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, logs, "TLS certificate reloaded")
	if cn := servedCN(t, addr); cn != "second" {
		t.Fatalf("after SIGHUP the served certificate is %q; want second", cn)
	}
	os.WriteFile(keyFile, []byte("not a key"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, logs, "TLS certificate reload failed; keeping the current one")
	if cn := servedCN(t, addr); cn != "second" {
		t.Fatalf("after a failed reload the served certificate is %q; want second", cn)
	}

	// pprof: on its own listener, not on the API's.
	resp, err = http.Get("http://" + pprofAddr + "/debug/pprof/cmdline")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pprof on PPROF_ADDR: %v", err)
	}
	resp.Body.Close()
	resp, err = client.Get("https://" + addr + "/debug/pprof/cmdline")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("pprof on the API listener: %v, %v; want 404", resp.StatusCode, err)
	}
	resp.Body.Close()
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// waitFor reads log messages until msg.
func waitFor(t *testing.T, logs messages, msg string) {
	t.Helper()
	timeout := time.After(10 * time.Second) // a failure bound
	for {
		select {
		case m := <-logs:
			if m == msg {
				return
			}
		case <-timeout:
			t.Fatalf("no %q logged", msg)
		}
	}
}

func TestTLSFilesChecked(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"API_TOKEN": "token", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs",
			"TLS_CERT_FILE": dir + "/missing.pem", "TLS_KEY_FILE": dir + "/missing.key"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "TLS_CERT_FILE") {
		t.Fatalf("New with missing certificate files = %v; want an error naming TLS_CERT_FILE", err)
	}
}
