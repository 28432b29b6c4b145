// Package config loads Simple Drive's configuration from the environment.
//
// [Load] reads every variable, applies defaults and validates the result;
// an invalid value stops startup with an error naming the variable. Secrets
// (API_TOKEN, S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN, FTP_PASSWORD) are never
// part of an error message.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Backend names accepted by STORAGE_BACKEND.
const (
	BackendLocal    = "local"
	BackendDatabase = "database"
	BackendS3       = "s3"
	BackendFTP      = "ftp"
)

// Backends lists the valid STORAGE_BACKEND values.
var Backends = []string{BackendLocal, BackendDatabase, BackendS3, BackendFTP}

// Config is the whole configuration of one Simple Drive process.
type Config struct {
	// APIToken is the bearer token every /v1/ request must carry.
	APIToken string
	// ListenAddr is the HTTP listen address.
	ListenAddr string
	// StorageBackend names where blob bytes live; one of [Backends].
	StorageBackend string
	// DatabaseURL locates the metadata database: a postgres:// URL or a
	// SQLite file path.
	DatabaseURL string
	// LocalStoragePath is the root directory of the local backend.
	LocalStoragePath string
	// MaxBlobBytes is the largest accepted blob, in decoded bytes.
	MaxBlobBytes int64
	// MaxInflightBytes bounds the bytes all in-flight uploads hold at once.
	MaxInflightBytes int64
	// RequestTimeout bounds the work done for one request.
	RequestTimeout time.Duration
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// HTTP holds the server's timeouts.
	HTTP HTTP
	// S3 configures the s3 backend.
	S3 S3
	// FTP configures the ftp backend.
	FTP FTP
}

// HTTP holds the HTTP server's timeouts and connection limits.
type HTTP struct {
	// ReadHeaderTimeout bounds reading request headers.
	ReadHeaderTimeout time.Duration
	// IdleBodyTimeout is how long a request body or a response may go
	// without moving a byte before the connection is cut. A transfer that
	// keeps moving has no time limit.
	IdleBodyTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long shutdown waits for in-flight requests.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers of one request.
	MaxHeaderBytes int
	// MaxConns bounds the connections served at once; more wait to be
	// accepted.
	MaxConns int
}

// S3 configures the s3 backend.
type S3 struct {
	Endpoint        string // S3_ENDPOINT, e.g. https://s3.eu-west-1.amazonaws.com
	Region          string // S3_REGION
	Bucket          string // S3_BUCKET
	AccessKeyID     string // S3_ACCESS_KEY_ID
	SecretAccessKey string // S3_SECRET_ACCESS_KEY (secret)
	SessionToken    string // S3_SESSION_TOKEN (secret, optional)
	ForcePathStyle  bool   // S3_FORCE_PATH_STYLE
	Prefix          string // S3_PREFIX, key prefix inside the bucket
	PartSize        int64  // S3_PART_SIZE, multipart threshold and part size
}

// FTP configures the ftp backend.
type FTP struct {
	Addr     string        // FTP_ADDR, host:port
	User     string        // FTP_USER
	Password string        // FTP_PASSWORD (secret)
	Root     string        // FTP_ROOT, base directory on the server ("" is the login directory)
	MaxConns int           // FTP_MAX_CONNS, pooled control connections
	TLS      string        // FTP_TLS: "" (none) or "explicit"
	TLSCA    string        // FTP_TLS_CA: PEM file of extra CAs to trust
	Timeout  time.Duration // FTP_TIMEOUT, bound on every network operation
}

// Defaults.
const (
	DefaultListenAddr   = ":8080"
	DefaultDatabaseURL  = "./data/simpledrive.db"
	DefaultLocalPath    = "./data/blobs"
	DefaultMaxBlobBytes = 64 << 20
	// DefaultMaxInflightBytes is the default in-flight upload budget, or
	// 4×MAX_BLOB_BYTES when that is larger.
	DefaultMaxInflightBytes = 512 << 20
	// DefaultMaxHeaderBytes is the default bound on request headers.
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultMaxConns is the default bound on concurrent connections.
	DefaultMaxConns   = 1024
	DefaultS3PartSize = 16 << 20
	minS3PartSize     = 5 << 20
)

// Load reads the configuration through getenv (os.Getenv in production) and
// validates it. The error names every bad variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		APIToken:         getenv("API_TOKEN"),
		ListenAddr:       p.str("LISTEN_ADDR", DefaultListenAddr),
		StorageBackend:   p.str("STORAGE_BACKEND", BackendLocal),
		DatabaseURL:      p.str("DATABASE_URL", DefaultDatabaseURL),
		LocalStoragePath: p.str("LOCAL_STORAGE_PATH", DefaultLocalPath),
		MaxBlobBytes:     p.bytes("MAX_BLOB_BYTES", DefaultMaxBlobBytes),
		MaxInflightBytes: p.bytes("MAX_INFLIGHT_BYTES", 0),
		RequestTimeout:   p.duration("REQUEST_TIMEOUT", 2*time.Minute),
		LogLevel:         p.level("LOG_LEVEL"),
		HTTP: HTTP{
			ReadHeaderTimeout: p.duration("HTTP_READ_HEADER_TIMEOUT", 10*time.Second),
			IdleBodyTimeout:   p.duration("HTTP_IDLE_BODY_TIMEOUT", 30*time.Second),
			IdleTimeout:       p.duration("HTTP_IDLE_TIMEOUT", 2*time.Minute),
			ShutdownTimeout:   p.duration("SHUTDOWN_TIMEOUT", 30*time.Second),
			MaxHeaderBytes:    int(p.bytes("HTTP_MAX_HEADER_BYTES", DefaultMaxHeaderBytes)),
			MaxConns:          p.integer("MAX_CONNS", DefaultMaxConns),
		},
		S3: S3{
			Endpoint:        getenv("S3_ENDPOINT"),
			Region:          p.str("S3_REGION", "us-east-1"),
			Bucket:          getenv("S3_BUCKET"),
			AccessKeyID:     getenv("S3_ACCESS_KEY_ID"),
			SecretAccessKey: getenv("S3_SECRET_ACCESS_KEY"),
			SessionToken:    getenv("S3_SESSION_TOKEN"),
			ForcePathStyle:  p.boolean("S3_FORCE_PATH_STYLE", false),
			Prefix:          getenv("S3_PREFIX"),
			PartSize:        p.bytes("S3_PART_SIZE", DefaultS3PartSize),
		},
		FTP: FTP{
			Addr:     getenv("FTP_ADDR"),
			User:     p.str("FTP_USER", "anonymous"),
			Password: getenv("FTP_PASSWORD"),
			Root:     getenv("FTP_ROOT"),
			MaxConns: p.integer("FTP_MAX_CONNS", 8),
			TLS:      getenv("FTP_TLS"),
			TLSCA:    getenv("FTP_TLS_CA"),
			Timeout:  p.duration("FTP_TIMEOUT", 30*time.Second),
		},
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = max(DefaultMaxInflightBytes, 4*c.MaxBlobBytes)
	}
	p.validate(&c)
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, nil
}

// parser collects one error per bad variable instead of stopping at the first.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...)))
}

func (p *parser) str(name, def string) string {
	if v := p.getenv(name); v != "" {
		return v
	}
	return def
}

func (p *parser) integer(name string, def int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		p.fail(name, "want a positive integer, got %q", v)
		return def
	}
	return n
}

func (p *parser) bytes(name string, def int64) int64 {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := ParseBytes(v)
	if err != nil {
		p.fail(name, "%v", err)
		return def
	}
	return n
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, "want a positive duration such as 30s or 2m, got %q", v)
		return def
	}
	return d
}

func (p *parser) boolean(name string, def bool) bool {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "want true or false, got %q", v)
		return def
	}
	return b
}

func (p *parser) level(name string) slog.Level {
	var l slog.Level
	v := p.getenv(name)
	if v == "" {
		return slog.LevelInfo
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, "want debug, info, warn or error, got %q", v)
		return slog.LevelInfo
	}
	return l
}

func (p *parser) validate(c *Config) {
	if c.APIToken == "" {
		p.fail("API_TOKEN", "required: set it to the bearer token clients must send")
	} else if strings.TrimSpace(c.APIToken) != c.APIToken || strings.ContainsAny(c.APIToken, " \t\r\n") {
		p.fail("API_TOKEN", "must not contain whitespace")
	}
	if c.MaxInflightBytes < 4*c.MaxBlobBytes {
		p.fail("MAX_INFLIGHT_BYTES", "must be at least 4 times MAX_BLOB_BYTES (%d), so that the largest upload in its most verbose accepted encoding fits", c.MaxBlobBytes)
	}
	if c.HTTP.MaxHeaderBytes < 4<<10 || c.HTTP.MaxHeaderBytes > 1<<20 {
		p.fail("HTTP_MAX_HEADER_BYTES", "must be between 4KiB and 1MiB")
	}
	if !slices.Contains(Backends, c.StorageBackend) {
		p.fail("STORAGE_BACKEND", "unknown backend %q; valid: %s", c.StorageBackend, strings.Join(Backends, ", "))
	}
	switch c.StorageBackend {
	case BackendLocal:
		if c.LocalStoragePath == "" {
			p.fail("LOCAL_STORAGE_PATH", "required with STORAGE_BACKEND=local")
		}
	case BackendS3:
		required := []struct{ name, value string }{
			{"S3_ENDPOINT", c.S3.Endpoint}, {"S3_BUCKET", c.S3.Bucket},
			{"S3_ACCESS_KEY_ID", c.S3.AccessKeyID}, {"S3_SECRET_ACCESS_KEY", c.S3.SecretAccessKey},
		}
		for _, r := range required {
			if r.value == "" {
				p.fail(r.name, "required with STORAGE_BACKEND=s3")
			}
		}
		if c.S3.PartSize < minS3PartSize {
			p.fail("S3_PART_SIZE", "must be at least 5MiB, the S3 minimum part size")
		}
	case BackendFTP:
		if c.FTP.Addr == "" {
			p.fail("FTP_ADDR", "required with STORAGE_BACKEND=ftp")
		}
		if c.FTP.TLS != "" && c.FTP.TLS != "explicit" {
			p.fail("FTP_TLS", "want empty or explicit, got %q", c.FTP.TLS)
		}
		if c.FTP.TLSCA != "" && c.FTP.TLS == "" {
			p.fail("FTP_TLS_CA", "only meaningful with FTP_TLS=explicit")
		}
	}
}

// ParseBytes parses a byte count: a plain integer, or one with a suffix
// KiB, MiB or GiB (1024-based) or KB, MB, GB (1000-based). The count must be
// positive.
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	num, mult := s, int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive byte count such as 1048576 or 64MiB, got %q", s)
	}
	return n * mult, nil
}
