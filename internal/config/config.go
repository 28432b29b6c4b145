// Package config loads Simple Drive's configuration from the environment.
//
// [Load] reads every variable, applies defaults and validates the result;
// an invalid value stops startup with an error naming the variable. Secrets
// (API_TOKEN, S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN, FTP_PASSWORD,
// S3_API_SECRET_ACCESS_KEY, ENCRYPTION_KEYS) are never part of an error
// message, and configurations print without them.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/storage/ftp"
	"github.com/simpledrive/simpledrive/internal/storage/s3"
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
	// MaxBlobBytes is the largest blob the JSON POST accepts, in decoded
	// bytes.
	MaxBlobBytes int64
	// MaxUploadBytes is the largest blob a raw PUT accepts.
	MaxUploadBytes int64
	// MaxInflightBytes bounds the bytes all in-flight uploads hold at once.
	MaxInflightBytes int64
	// InlineMaxBytes, when positive, is the size up to which a blob is
	// kept in its metadata row instead of on the backend
	// (INLINE_MAX_BYTES; 0, the default, turns it off). At most
	// [MaxInlineBytes].
	InlineMaxBytes int64
	// ReadCacheBytes bounds the memory of the read cache, which keeps the
	// verified bytes of small blobs (at most 16 KiB, not encrypted, not
	// inline) to serve hot reads without the backend (READ_CACHE_BYTES;
	// 0 turns it off).
	ReadCacheBytes int64
	// RequestTimeout bounds the server's own work for a request (metadata
	// queries, cleanup), never a transfer that keeps moving.
	RequestTimeout time.Duration
	// DeleteGrace is how long the bytes of a deleted blob are kept before
	// the collector may remove them.
	DeleteGrace time.Duration
	// GCInterval is how often the server collects garbage; 0 turns the
	// collector off.
	GCInterval time.Duration
	// GCGrace is how old bytes no metadata references must be before the
	// server's collector removes them.
	GCGrace time.Duration
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
	// UploadExpiry is how long a resumable upload lives after its creation
	// or its last write (UPLOAD_EXPIRY).
	UploadExpiry time.Duration
	// MaxOpenUploads bounds the open resumable uploads of one principal
	// (MAX_OPEN_UPLOADS): an API key, or API_TOKEN.
	MaxOpenUploads int
	// MaxOpenUploadsTotal bounds the open resumable uploads of all
	// principals together (MAX_OPEN_UPLOADS_TOTAL).
	MaxOpenUploadsTotal int
	// CORSOrigins are the origins browsers may call the API from
	// (CORS_ORIGINS, comma-separated; "*" for any). None by default.
	CORSOrigins []string
	// SigningKey signs links (SIGNING_KEY, a secret); empty means a key
	// derived from APIToken.
	SigningKey string
	// LinkMaxExpiry is the longest a signed link may live (LINK_MAX_EXPIRY).
	LinkMaxExpiry time.Duration
	// Console serves the web console at /ui/ (CONSOLE, default on).
	Console bool
	// PublicURL is the server's URL as clients reach it, such as
	// https://drive.example.com behind a proxy (PUBLIC_URL): signed links
	// are built under it. Empty means from each request's scheme and host.
	PublicURL string
	// HTTP holds the server's timeouts.
	HTTP HTTP
	// Ops holds the operational endpoints, TLS, rate limits and key cache.
	Ops Ops
	// S3 configures the s3 backend; its fields document their variables.
	S3 s3.Config
	// FTP configures the ftp backend; its fields document their variables.
	FTP ftp.Config
	// ReadBackends names backends besides StorageBackend that the server
	// reads blobs from (READ_BACKENDS), each configured by its usual
	// variables.
	ReadBackends []string
	// S3API configures the S3 front door (DESIGN section 9).
	S3API S3API
	// EncryptionKeys are the master keys of encryption at rest
	// (ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE, DESIGN section 10), the
	// first current; nil when neither is set: bytes are stored in clear.
	// They print redacted.
	EncryptionKeys *crypt.Keyring
}

// S3API configures the S3 front door.
type S3API struct {
	// Addr is its listen address (S3_API_ADDR); empty turns it off.
	Addr string
	// Bucket is the one bucket it serves (S3_API_BUCKET).
	Bucket string
	// Domain, when set, makes it answer virtual-host style requests to
	// <bucket>.<Domain> (S3_API_DOMAIN).
	Domain string
	// Region is the region requests are signed for (S3_API_REGION).
	Region string
	// AccessKeyID and SecretAccessKey are the operator's credentials,
	// with every scope (S3_API_ACCESS_KEY_ID, S3_API_SECRET_ACCESS_KEY, a
	// secret); unset, only API keys made with S3 credentials sign in.
	AccessKeyID, SecretAccessKey string
}

// String describes c with its secret redacted.
func (c S3API) String() string {
	if c.SecretAccessKey != "" {
		c.SecretAccessKey = "<redacted>"
	}
	type plain S3API // without this String method
	return fmt.Sprintf("config.S3API%+v", plain(c))
}

// GoString is [S3API.String], so %#v redacts the secret too.
func (c S3API) GoString() string { return c.String() }

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
	// MaxConns bounds the connections served at once; with all taken, a
	// new one closes the one idle longest, or waits to be accepted.
	MaxConns int
}

// Ops configures what operators run the server with beside the API.
type Ops struct {
	// MetricsAddr, when set, is the listen address of /metrics; otherwise
	// /metrics is served on ListenAddr.
	MetricsAddr string
	// PprofAddr, when set, is the listen address of net/http/pprof; pprof
	// is served nowhere else.
	PprofAddr string
	// TLSCertFile and TLSKeyFile, set together, make ListenAddr serve
	// HTTPS with this PEM certificate chain and key, reloaded on SIGHUP.
	TLSCertFile, TLSKeyFile string
	// RateLimitRPS is the sustained requests per second each key (or
	// client address, without a valid key) may send; 0 means no limit.
	RateLimitRPS float64
	// RateLimitBurst is how many requests may come at once above the rate.
	RateLimitBurst int
	// RateLimitTracked bounds the keys and client addresses the limiter
	// tracks one by one; 0 means its default.
	RateLimitTracked int
	// KeyCacheTTL is how long a looked-up API key is trusted, at most 5s:
	// the bound on how long a revoked key works on other replicas.
	KeyCacheTTL time.Duration
	// ReadyTimeout bounds each check of /readyz.
	ReadyTimeout time.Duration
}

// Defaults.
const (
	DefaultListenAddr   = ":8080"
	DefaultDatabaseURL  = "./data/simpledrive.db"
	DefaultLocalPath    = "./data/blobs"
	DefaultMaxBlobBytes = 64 << 20
	// DefaultMaxOpenUploads and DefaultMaxOpenUploadsTotal bound open tus
	// uploads per principal and in all: far above what a browser user
	// opens, far below what fills a database.
	DefaultMaxOpenUploads      = 1000
	DefaultMaxOpenUploadsTotal = 100000
	// DefaultMaxUploadBytes is the largest raw PUT without MAX_UPLOAD_BYTES.
	DefaultMaxUploadBytes = 5 << 30
	// DefaultMaxInflightBytes is the default in-flight upload budget.
	DefaultMaxInflightBytes = 512 << 20
	// MaxInlineBytes is the largest INLINE_MAX_BYTES: every byte kept in
	// a row is carried by each read of the row, by the database's
	// backups and by its replicas.
	MaxInlineBytes = 1 << 20
	// DefaultReadCacheBytes is the default READ_CACHE_BYTES.
	DefaultReadCacheBytes = 16 << 20
	// DefaultMaxHeaderBytes is the default bound on request headers.
	DefaultMaxHeaderBytes = 32 << 10
	// DefaultMaxConns is the default bound on concurrent connections.
	DefaultMaxConns = 1024
	// DefaultKeyCacheTTL is the default, and longest, API key cache TTL.
	DefaultKeyCacheTTL = 5 * time.Second
	// DefaultS3APIBucket and DefaultS3APIRegion are the S3 front door's
	// bucket and region without S3_API_BUCKET and S3_API_REGION.
	DefaultS3APIBucket = "simpledrive"
	DefaultS3APIRegion = "us-east-1"
)

// Load reads the configuration through getenv (os.Getenv in production) and
// validates it. The error names every bad variable.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := p.load()
	p.validate(&c)
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, nil
}

// load reads every variable, with defaults, collecting parse errors.
func (p *parser) load() Config {
	getenv := p.getenv
	c := Config{
		APIToken:            getenv("API_TOKEN"),
		ListenAddr:          p.str("LISTEN_ADDR", DefaultListenAddr),
		StorageBackend:      p.str("STORAGE_BACKEND", BackendLocal),
		DatabaseURL:         p.str("DATABASE_URL", DefaultDatabaseURL),
		LocalStoragePath:    p.str("LOCAL_STORAGE_PATH", DefaultLocalPath),
		MaxBlobBytes:        p.bytes("MAX_BLOB_BYTES", DefaultMaxBlobBytes),
		MaxUploadBytes:      p.bytes("MAX_UPLOAD_BYTES", DefaultMaxUploadBytes),
		MaxInflightBytes:    p.bytes("MAX_INFLIGHT_BYTES", DefaultMaxInflightBytes),
		InlineMaxBytes:      p.offBytes("INLINE_MAX_BYTES"),
		ReadCacheBytes:      p.zeroBytes("READ_CACHE_BYTES", DefaultReadCacheBytes),
		RequestTimeout:      p.duration("REQUEST_TIMEOUT", 2*time.Minute),
		DeleteGrace:         p.duration("DELETE_GRACE", time.Hour),
		GCInterval:          p.interval("GC_INTERVAL", time.Hour),
		GCGrace:             p.duration("GC_GRACE", time.Hour),
		LogLevel:            p.level("LOG_LEVEL"),
		UploadExpiry:        p.duration("UPLOAD_EXPIRY", 24*time.Hour),
		MaxOpenUploads:      p.integer("MAX_OPEN_UPLOADS", DefaultMaxOpenUploads),
		MaxOpenUploadsTotal: p.integer("MAX_OPEN_UPLOADS_TOTAL", DefaultMaxOpenUploadsTotal),
		CORSOrigins:         p.list("CORS_ORIGINS"),
		SigningKey:          getenv("SIGNING_KEY"),
		LinkMaxExpiry:       p.duration("LINK_MAX_EXPIRY", 7*24*time.Hour),
		Console:             p.onOff("CONSOLE", true),
		PublicURL:           getenv("PUBLIC_URL"),
		HTTP: HTTP{
			ReadHeaderTimeout: p.duration("HTTP_READ_HEADER_TIMEOUT", 10*time.Second),
			IdleBodyTimeout:   p.duration("HTTP_IDLE_BODY_TIMEOUT", 30*time.Second),
			IdleTimeout:       p.duration("HTTP_IDLE_TIMEOUT", 2*time.Minute),
			ShutdownTimeout:   p.duration("SHUTDOWN_TIMEOUT", 30*time.Second),
			MaxHeaderBytes:    int(p.bytes("HTTP_MAX_HEADER_BYTES", DefaultMaxHeaderBytes)),
			MaxConns:          p.integer("MAX_CONNS", DefaultMaxConns),
		},
		Ops: Ops{
			MetricsAddr:      getenv("METRICS_ADDR"),
			PprofAddr:        getenv("PPROF_ADDR"),
			TLSCertFile:      getenv("TLS_CERT_FILE"),
			TLSKeyFile:       getenv("TLS_KEY_FILE"),
			RateLimitRPS:     p.rate("RATE_LIMIT_RPS"),
			RateLimitBurst:   p.integer("RATE_LIMIT_BURST", 0),
			RateLimitTracked: p.integer("RATE_LIMIT_TRACKED", 0),
			KeyCacheTTL:      p.duration("KEY_CACHE_TTL", DefaultKeyCacheTTL),
			ReadyTimeout:     p.duration("READY_TIMEOUT", 2*time.Second),
		},
		S3: s3.Config{
			Endpoint:        getenv("S3_ENDPOINT"),
			Region:          p.str("S3_REGION", s3.DefaultRegion),
			Bucket:          getenv("S3_BUCKET"),
			AccessKeyID:     getenv("S3_ACCESS_KEY_ID"),
			SecretAccessKey: getenv("S3_SECRET_ACCESS_KEY"),
			SessionToken:    getenv("S3_SESSION_TOKEN"),
			ForcePathStyle:  p.boolean("S3_FORCE_PATH_STYLE", false),
			Prefix:          getenv("S3_PREFIX"),
			PartSize:        p.bytes("S3_PART_SIZE", s3.DefaultPartSize),
			Timeout:         p.duration("S3_TIMEOUT", s3.DefaultTimeout),
			MaxRetries:      p.retries("S3_MAX_RETRIES", s3.DefaultMaxRetries),
			RetryDelay:      p.duration("S3_RETRY_DELAY", s3.DefaultRetryDelay),
		},
		FTP: ftp.Config{
			Addr:           getenv("FTP_ADDR"),
			User:           p.str("FTP_USER", ftp.DefaultUser),
			Password:       getenv("FTP_PASSWORD"),
			Root:           getenv("FTP_ROOT"),
			MaxConns:       p.integer("FTP_MAX_CONNS", ftp.DefaultMaxConns),
			MaxDials:       p.integer("FTP_MAX_DIALS", ftp.DefaultMaxDials),
			TLS:            getenv("FTP_TLS"),
			TLSCAFile:      getenv("FTP_TLS_CA"),
			Timeout:        p.duration("FTP_TIMEOUT", ftp.DefaultTimeout),
			IdleTimeout:    p.duration("FTP_IDLE_TIMEOUT", ftp.DefaultIdleTimeout),
			ProbeIdle:      p.duration("FTP_PROBE_IDLE", ftp.DefaultProbeIdle),
			GetBufferBytes: p.bufferBytes("FTP_GET_BUFFER_BYTES", ftp.DefaultGetBufferBytes),
		},
	}
	c.ReadBackends = p.list("READ_BACKENDS")
	c.S3API = S3API{
		Addr:            getenv("S3_API_ADDR"),
		Bucket:          p.str("S3_API_BUCKET", DefaultS3APIBucket),
		Domain:          getenv("S3_API_DOMAIN"),
		Region:          p.str("S3_API_REGION", DefaultS3APIRegion),
		AccessKeyID:     getenv("S3_API_ACCESS_KEY_ID"),
		SecretAccessKey: getenv("S3_API_SECRET_ACCESS_KEY"),
	}
	c.EncryptionKeys = p.keyring()
	if c.Ops.RateLimitRPS > 0 && c.Ops.RateLimitBurst == 0 {
		c.Ops.RateLimitBurst = int(math.Ceil(c.Ops.RateLimitRPS))
	}
	return c
}

// parser collects one error per bad variable instead of stopping at the first.
type parser struct {
	getenv func(string) string
	prefix string // of every variable's name in messages (see LoadBackend)
	errs   []error
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("config: %s%s: %s", p.prefix, name, fmt.Sprintf(format, args...)))
}

// keyring reads the master keys of ENCRYPTION_KEYS or of the file
// ENCRYPTION_KEYS_FILE names (one or the other); its errors carry no key
// material.
func (p *parser) keyring() *crypt.Keyring {
	spec, file := p.getenv("ENCRYPTION_KEYS"), p.getenv("ENCRYPTION_KEYS_FILE")
	var ring *crypt.Keyring
	var err error
	name := "ENCRYPTION_KEYS"
	switch {
	case spec != "" && file != "":
		p.fail(name, "set ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE, not both")
		return nil
	case spec != "":
		ring, err = crypt.ParseKeyring([]byte(spec))
	case file != "":
		name = "ENCRYPTION_KEYS_FILE"
		ring, err = crypt.ReadKeyringFile(file)
	default:
		return nil
	}
	if err != nil {
		p.fail(name, "%v", err)
	}
	return ring
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

// rate parses a rate in events per second, where empty or 0 means none.
func (p *parser) rate(name string) float64 {
	v := p.getenv(name)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		p.fail(name, "want a number of requests per second, 0 or more (0 turns limiting off), got %q", v)
		return 0
	}
	return f
}

// bufferBytes parses a buffer size, where 0 turns the buffer off.
func (p *parser) bufferBytes(name string, def int64) int64 {
	if p.getenv(name) == "0" {
		return -1
	}
	return p.bytes(name, def)
}

// offBytes parses a byte count, where empty or 0 means none (0).
func (p *parser) offBytes(name string) int64 { return p.zeroBytes(name, 0) }

// zeroBytes parses a byte count, where 0 means none (0) and empty def.
func (p *parser) zeroBytes(name string, def int64) int64 {
	if p.getenv(name) == "0" {
		return 0
	}
	return p.bytes(name, def)
}

// interval parses a period, where 0 turns what it paces off.
func (p *parser) interval(name string, def time.Duration) time.Duration {
	if p.getenv(name) == "0" {
		return 0
	}
	return p.duration(name, def)
}

// retries parses a retry count, where 0 means none.
func (p *parser) retries(name string, def int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0:
		p.fail(name, "want a count of retries, 0 or more, got %q", v)
		return def
	case n == 0:
		return s3.NoRetries
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

// onOff reads a switch: on/off, true/false, 1/0 (any case).
func (p *parser) onOff(name string, def bool) bool {
	switch v := strings.ToLower(p.getenv(name)); v {
	case "":
		return def
	case "on", "true", "1":
		return true
	case "off", "false", "0":
		return false
	default:
		p.fail(name, "want on or off, got %q", v)
		return def
	}
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
	if c.SigningKey != "" && len(c.SigningKey) < 32 {
		p.fail("SIGNING_KEY", "must be at least 32 bytes (or unset, to derive the key from API_TOKEN)")
	}
	for _, o := range c.CORSOrigins {
		if o != "*" && (!strings.Contains(o, "://") || strings.HasSuffix(o, "/")) {
			p.fail("CORS_ORIGINS", "%q is not an origin such as https://app.example.com (scheme://host[:port], no path) or *", o)
		}
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		p.fail("PUBLIC_URL", "%q is not a URL such as https://drive.example.com (http or https, a host, an optional path)", c.PublicURL)
	}
	if c.HTTP.MaxHeaderBytes < 4<<10 || c.HTTP.MaxHeaderBytes > 1<<20 {
		p.fail("HTTP_MAX_HEADER_BYTES", "must be between 4KiB and 1MiB")
	}
	if (c.Ops.TLSCertFile == "") != (c.Ops.TLSKeyFile == "") {
		p.fail("TLS_CERT_FILE", "TLS_CERT_FILE and TLS_KEY_FILE go together: set both or neither")
	}
	if c.Ops.RateLimitBurst > 0 && c.Ops.RateLimitRPS == 0 && p.getenv("RATE_LIMIT_RPS") == "" {
		p.fail("RATE_LIMIT_BURST", "only meaningful with RATE_LIMIT_RPS")
	}
	if c.InlineMaxBytes > MaxInlineBytes {
		p.fail("INLINE_MAX_BYTES", "must be at most 1MiB (or 0, off): the bytes of every blob up to it live in the metadata database, "+
			"carried by each query of its row, by every backup and by every replica; larger blobs belong on the storage backend")
	}
	if c.Ops.KeyCacheTTL > DefaultKeyCacheTTL {
		p.fail("KEY_CACHE_TTL", "must be at most 5s, so a revoked key is refused everywhere within 5 seconds")
	}
	p.validateS3API(c)
	for _, addr := range []struct{ name, value string }{{"METRICS_ADDR", c.Ops.MetricsAddr}, {"PPROF_ADDR", c.Ops.PprofAddr}, {"S3_API_ADDR", c.S3API.Addr}} {
		if addr.value != "" && addr.value == c.ListenAddr {
			p.fail(addr.name, "must differ from LISTEN_ADDR")
		}
	}
	if !slices.Contains(Backends, c.StorageBackend) {
		p.fail("STORAGE_BACKEND", "unknown backend %q; valid: %s", c.StorageBackend, strings.Join(Backends, ", "))
	}
	p.validateBackend(c, c.StorageBackend)
	for _, b := range c.ReadBackends {
		if !slices.Contains(Backends, b) {
			p.fail("READ_BACKENDS", "unknown backend %q; valid: %s", b, strings.Join(Backends, ", "))
			continue
		}
		p.validateBackend(c, b)
	}
}

// validateS3API checks the variables of the S3 front door.
func (p *parser) validateS3API(c *Config) {
	s := c.S3API
	if !validBucketName(s.Bucket) {
		p.fail("S3_API_BUCKET", "%q is not a valid S3 bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", s.Bucket)
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		p.fail("S3_API_ACCESS_KEY_ID", "S3_API_ACCESS_KEY_ID and S3_API_SECRET_ACCESS_KEY go together: set both or neither")
	}
	if s.AccessKeyID != "" && (len(s.AccessKeyID) < 3 || len(s.AccessKeyID) > 128 || strings.ContainsAny(s.AccessKeyID, " \t\r\n/=,")) {
		p.fail("S3_API_ACCESS_KEY_ID", "must be 3 to 128 characters without whitespace, '/', '=' or ','")
	}
	if s.SecretAccessKey != "" && len(s.SecretAccessKey) < 16 {
		p.fail("S3_API_SECRET_ACCESS_KEY", "must be at least 16 characters")
	}
	if s.Region == "" || strings.ContainsAny(s.Region, " /") {
		p.fail("S3_API_REGION", "must be a region name such as us-east-1")
	}
}

// validBucketName reports whether name follows S3's bucket naming rules.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && ((c != '.' && c != '-') || i == 0 || i == len(name)-1) {
			return false
		}
	}
	return true
}

// validateBackend checks the variables of the backend called name.
func (p *parser) validateBackend(c *Config, name string) {
	switch name {
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
		if c.S3.PartSize < s3.MinPartSize || c.S3.PartSize > s3.MaxPartSize {
			p.fail("S3_PART_SIZE", "must be 5MiB to 5GiB, the part sizes S3 allows")
		}
	case BackendFTP:
		if c.FTP.Addr == "" {
			p.fail("FTP_ADDR", "required with STORAGE_BACKEND=ftp")
		}
		if c.FTP.TLS != "" && c.FTP.TLS != "explicit" {
			p.fail("FTP_TLS", "want empty or explicit, got %q", c.FTP.TLS)
		}
		if c.FTP.TLSCAFile != "" && c.FTP.TLS == "" {
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
