package ftp

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"
)

// Defaults of the [Config] fields. [New] applies them to the fields left
// zero.
const (
	// DefaultUser is the default of [Config.User] (FTP_USER).
	DefaultUser = "anonymous"
	// DefaultMaxConns is the default of [Config.MaxConns] (FTP_MAX_CONNS).
	DefaultMaxConns = 8
	// DefaultMaxDials is the default of [Config.MaxDials] (FTP_MAX_DIALS).
	DefaultMaxDials = 4
	// DefaultTimeout is the default of [Config.Timeout] (FTP_TIMEOUT).
	DefaultTimeout = 30 * time.Second
	// DefaultIdleTimeout is the default of [Config.IdleTimeout]
	// (FTP_IDLE_TIMEOUT).
	DefaultIdleTimeout = time.Minute
	// DefaultProbeIdle is the default of [Config.ProbeIdle]
	// (FTP_PROBE_IDLE).
	DefaultProbeIdle = time.Second
	// DefaultGetBufferBytes is the default of [Config.GetBufferBytes]
	// (FTP_GET_BUFFER_BYTES).
	DefaultGetBufferBytes = 256 << 10
)

// TLS modes of [Config.TLS].
const (
	// TLSNone is plain FTP: the password and the data cross the network in
	// clear.
	TLSNone = ""
	// TLSExplicit upgrades every control connection with AUTH TLS and
	// protects data connections too (PROT P).
	TLSExplicit = "explicit"
)

// Config configures a [Store]. Each field names the environment variable
// that sets it; a zero field takes its default.
type Config struct {
	// Addr is the server's host:port (FTP_ADDR). Required.
	Addr string
	// User is the login name (FTP_USER); default [DefaultUser].
	User string
	// Password is the login password (FTP_PASSWORD); a secret that never
	// appears in errors or logs.
	Password string
	// Root is the base directory of the keys (FTP_ROOT): absolute, or
	// relative to the login directory; empty means the login directory.
	// New creates it when it is missing.
	Root string
	// MaxConns bounds the pooled control connections, idle or in use
	// (FTP_MAX_CONNS); default [DefaultMaxConns].
	MaxConns int
	// MaxDials bounds the connections being dialled at once
	// (FTP_MAX_DIALS), since servers such as vsftpd have small accept
	// queues and drop bursts; default [DefaultMaxDials], at most MaxConns.
	MaxDials int
	// TLS is [TLSNone] ("", the default) or [TLSExplicit] ("explicit")
	// (FTP_TLS). With explicit TLS, New builds the client configuration:
	// TLS 1.2 or later, the server name from Addr, the system's trusted
	// CAs plus those of TLSCAFile; each control connection has its own
	// session cache, so that its data connections resume its session, as
	// servers such as vsftpd require.
	TLS string
	// TLSCAFile is a PEM file of CA certificates to trust besides the
	// system's (FTP_TLS_CA); only with TLS set to "explicit".
	TLSCAFile string
	// Timeout bounds every read and write on every connection, each dial,
	// and how long a reader returned by Get may go unread before it loses
	// its connection (FTP_TIMEOUT); default [DefaultTimeout].
	Timeout time.Duration
	// IdleTimeout is how long a connection may sit idle in the pool before
	// it is closed rather than reused (FTP_IDLE_TIMEOUT); default
	// [DefaultIdleTimeout]. Servers close idle connections after their own
	// timeout (vsftpd: 5 minutes); keep this below it.
	IdleTimeout time.Duration
	// ProbeIdle is how long a pooled connection may sit idle before it is
	// probed with NOOP on its next use (FTP_PROBE_IDLE), which finds
	// connections the server dropped without failing a request; default
	// [DefaultProbeIdle].
	ProbeIdle time.Duration
	// GetBufferBytes is the largest blob or range a Get reads whole into
	// memory before it returns, so that its connection goes back to the
	// pool at once however slowly the caller reads (FTP_GET_BUFFER_BYTES);
	// default [DefaultGetBufferBytes]. Larger blobs stream: their first
	// GetBufferBytes are read ahead and the rest holds a connection until
	// read, for at most Timeout between reads. A negative value turns the
	// buffering off.
	GetBufferBytes int64
	// DialContext, when set, makes the TCP connections (control and data)
	// instead of a net.Dialer. It must return TCP connections. Not set from
	// the environment.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives failures that no caller sees, such as a temporary
	// file that could not be removed; default slog.Default(). Not set from
	// the environment.
	Logger *slog.Logger
}

// settings is a checked Config with its defaults applied and its TLS
// configuration built.
type settings struct {
	Config
	tls *tls.Config // nil without TLS
}

// resolve checks c, fills in its zero fields and builds its TLS
// configuration. Its errors name the environment variable to fix.
func (c Config) resolve() (*settings, error) {
	if c.Addr == "" {
		return nil, errors.New("ftp: no server address: set FTP_ADDR to host:port")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("ftp: FTP_ADDR %q: want host:port: %w", c.Addr, err)
	}
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"FTP_MAX_CONNS", c.MaxConns < 0}, {"FTP_MAX_DIALS", c.MaxDials < 0}, {"FTP_TIMEOUT", c.Timeout < 0},
		{"FTP_IDLE_TIMEOUT", c.IdleTimeout < 0}, {"FTP_PROBE_IDLE", c.ProbeIdle < 0},
	} {
		if f.negative {
			return nil, fmt.Errorf("ftp: %s must not be negative", f.name)
		}
	}
	c.User = cmp.Or(c.User, DefaultUser)
	c.MaxConns = cmp.Or(c.MaxConns, DefaultMaxConns)
	c.MaxDials = min(cmp.Or(c.MaxDials, DefaultMaxDials), c.MaxConns)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.ProbeIdle = cmp.Or(c.ProbeIdle, DefaultProbeIdle)
	c.GetBufferBytes = cmp.Or(c.GetBufferBytes, DefaultGetBufferBytes)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	tc, err := c.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	return &settings{Config: c, tls: tc}, nil
}

// tlsConfig builds the client TLS configuration of c.TLS, or returns nil
// without TLS.
func (c Config) tlsConfig(host string) (*tls.Config, error) {
	switch c.TLS {
	case TLSNone:
		if c.TLSCAFile != "" {
			return nil, errors.New("ftp: FTP_TLS_CA is set without FTP_TLS: set FTP_TLS=explicit to use it")
		}
		return nil, nil
	case TLSExplicit:
	default:
		return nil, fmt.Errorf("ftp: FTP_TLS %q: want empty or %q", c.TLS, TLSExplicit)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.TLSCAFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(c.TLSCAFile)
	if err != nil {
		return nil, fmt.Errorf("ftp: FTP_TLS_CA: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ftp: FTP_TLS_CA %s holds no PEM certificate", c.TLSCAFile)
	}
	tc.RootCAs = pool
	return tc, nil
}
