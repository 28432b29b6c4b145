// Package app wires Simple Drive together from a [config.Config]: the
// metadata database, the storage backend, the service and the HTTP API, and
// serves it until its context ends.
package app

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/console"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/httpx/connlimit"
	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/keys/sqlkeys"
	"github.com/simpledrive/simpledrive/internal/links"
	"github.com/simpledrive/simpledrive/internal/metrics"
	"github.com/simpledrive/simpledrive/internal/s3api"
	"github.com/simpledrive/simpledrive/internal/sigv4"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/tusapi"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// App is a wired Simple Drive: every part built once at startup and shared.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	core    *Core
	db      *db.DB
	backend *storage.Bucket
	svc     *blob.Service
	keys    *keys.Keyring
	uploads *upload.Service
	metrics *metrics.Metrics
	cert    *certificate // nil without TLS
	handler http.Handler
	// s3 is the S3 front door's handler; nil without S3_API_ADDR.
	s3 http.Handler
	// inflight is MAX_INFLIGHT_BYTES, shared by the uploads' parse
	// buffers (through [httpapi.Guard]), the backend's own buffers and
	// the heads the service reads to keep small blobs in their rows.
	inflight *httpapi.Budget
}

// readyProbeKey is the storage key /readyz asks the backend about: a
// valid key no blob ever has (blob keys are sharded ab/...), so a
// healthy backend answers "absent" cheaply.
const readyProbeKey = "simpledrive-readyz-probe"

// New opens the database (running migrations) and the storage backend that
// cfg names. Call Close when done.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	var cert *certificate
	if cfg.Ops.TLSCertFile != "" {
		var err error
		if cert, err = loadCertificate(cfg.Ops.TLSCertFile, cfg.Ops.TLSKeyFile); err != nil {
			return nil, err
		}
	}
	// Every line logged with a request's context names its request id.
	log = slog.New(httpapi.LogHandler(log.Handler()))
	m := metrics.New()
	core, err := openCore(ctx, cfg, log, m)
	if err != nil {
		return nil, err
	}
	d, backend, svc := core.DB, core.Backend, core.Service
	inflight := httpapi.NewBudget(cfg.MaxInflightBytes)
	backend.SetMemory(inflight)
	svc.SetMemory(inflight)
	m.AddDB("metadata", d.Reader())
	if d.Writer() != d.Reader() {
		m.AddDB("metadata_writer", d.Writer())
	}
	uploads := upload.NewService(core.Meta, core.Meta, backend, svc, upload.Config{
		Expiry:            cfg.UploadExpiry,
		MaxSize:           cfg.MaxUploadBytes,
		MaxOpenPerCreator: cfg.MaxOpenUploads,
		MaxOpen:           cfg.MaxOpenUploadsTotal,
		Timeout:           cfg.RequestTimeout,
	}, log)
	signingKey := []byte(cfg.SigningKey)
	if len(signingKey) == 0 {
		signingKey = links.DeriveKey(cfg.APIToken)
	}
	keyring := keys.NewKeyring(sqlkeys.New(d), keys.Options{CacheTTL: cfg.Ops.KeyCacheTTL, Logger: log, S3Key: s3SealingKey(signingKey)})
	var metricsHandler http.Handler
	if cfg.Ops.MetricsAddr == "" {
		metricsHandler = m.Handler()
	}
	api := httpapi.New(svc, httpapi.Config{
		Token:          cfg.APIToken,
		MaxBlobBytes:   cfg.MaxBlobBytes,
		MaxUploadBytes: cfg.MaxUploadBytes,
		RequestTimeout: cfg.RequestTimeout,
		Ping:           d.Ping,
		BackendCheck: func(ctx context.Context) error {
			_, err := backend.Exists(ctx, readyProbeKey)
			return err
		},
		ReadyTimeout:   cfg.Ops.ReadyTimeout,
		Logger:         log,
		Tus:            tusapi.New(uploads, slog.New(httpapi.LogHandler(log.Handler()))),
		Links:          links.NewSigner(signingKey, cfg.LinkMaxExpiry),
		CORSOrigins:    cfg.CORSOrigins,
		Keys:           keyring,
		Metrics:        m,
		MetricsHandler: metricsHandler,
		RateLimit:      access.RateLimit{RPS: cfg.Ops.RateLimitRPS, Burst: cfg.Ops.RateLimitBurst, Tracked: cfg.Ops.RateLimitTracked},
		PublicURL:      cfg.PublicURL,
	})
	handler := console.Mount(api, cfg.Console) // the web console at /ui/
	var s3 http.Handler
	if cfg.S3API.Addr != "" {
		s3 = s3api.New(s3api.Config{
			Bucket:         cfg.S3API.Bucket,
			Domain:         cfg.S3API.Domain,
			Region:         cfg.S3API.Region,
			Blobs:          svc,
			Multipart:      upload.NewMultipart(core.Meta, uploads),
			Access:         api.Access(),
			Operator:       sigv4.Credentials{AccessKeyID: cfg.S3API.AccessKeyID, SecretAccessKey: cfg.S3API.SecretAccessKey},
			MaxObjectBytes: cfg.MaxUploadBytes,
			Metrics:        m,
			Logger:         log,
		})
	}
	return &App{cfg: cfg, log: log, core: core, db: d, backend: backend, svc: svc, keys: keyring, uploads: uploads, metrics: m, cert: cert, handler: handler, s3: s3, inflight: inflight}, nil
}

// s3SealingKey is the key that seals API keys' S3 secret access keys in
// the database: derived from the signing key with HKDF-SHA256 under a
// label of its own, so it is independent of the links' key.
func s3SealingKey(signingKey []byte) []byte {
	k, err := hkdf.Key(sha256.New, signingKey, nil, "simpledrive: S3 secret access keys of API keys, v1", 32)
	if err != nil {
		panic(err) // only for lengths HKDF-SHA256 cannot give
	}
	return k
}

// Handler returns the HTTP handler of the API.
func (a *App) Handler() http.Handler { return a.handler }

// Keys returns the keyring, for tools and tests that manage keys without
// HTTP.
func (a *App) Keys() *keys.Keyring { return a.keys }

// Uploads returns the service of resumable uploads (tests set its clock).
func (a *App) Uploads() *upload.Service { return a.uploads }

// Close releases the keyring, the backends and the database.
func (a *App) Close() error {
	a.keys.Close()
	return a.core.Close()
}

// ReloadTLS reads TLS_CERT_FILE and TLS_KEY_FILE again; new connections
// get the new certificate. On error the current one stays. Serve calls it
// on SIGHUP.
func (a *App) ReloadTLS() error {
	if a.cert == nil {
		return errors.New("app: TLS is not configured (TLS_CERT_FILE, TLS_KEY_FILE)")
	}
	return a.cert.reload()
}

// Serve answers HTTP requests on ln until ctx ends, then shuts down
// gracefully: it stops accepting connections and waits up to the configured
// shutdown timeout for in-flight requests to finish. Past it, it cancels the
// contexts of the requests still running, closes their connections and
// waits for every handler to return: when Serve returns, no handler uses
// the database or the backend any more, so the caller may close them.
//
// The server bounds what a client can hold: at most HTTP.MaxConns
// connections are served at once; with all taken, a new one closes the
// connection idle longest (those that never authenticated first), or, none
// being idle, waits in the listen backlog (see [connlimit]);
// headers are limited to HTTP.MaxHeaderBytes, request bodies and responses
// are cut when they stop moving for HTTP.IdleBodyTimeout, and uploads
// together hold at most MaxInflightBytes, parse buffers (see
// [httpapi.Guard]) and the backend's buffers (see [storage.Bucket.SetMemory])
// alike.
//
// With TLS configured, ln serves HTTPS, and SIGHUP reloads the
// certificate. METRICS_ADDR and PPROF_ADDR, when set, get listeners of
// their own, closed when Serve returns.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	h := a.guard(a.handler)
	var tlsConfig *tls.Config
	if a.cert != nil {
		tlsConfig = a.cert.config()
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go a.reloadOnHangup(ctx, hup)
	}
	stopSide, err := a.serveSide()
	if err != nil {
		return err
	}
	defer stopSide()
	if a.s3 != nil {
		s3ln, err := net.Listen("tcp", a.cfg.S3API.Addr)
		if err != nil {
			return fmt.Errorf("app: S3_API_ADDR: %w", err)
		}
		// The S3 front door stops with the server, before Serve returns.
		done := make(chan error, 1)
		go func() { done <- a.ServeS3(ctx, s3ln) }()
		defer func() {
			if err := <-done; err != nil {
				a.log.Error("the S3 front door stopped", "error", err.Error())
			}
		}()
	}
	base := serverURL(ln.Addr(), a.cert != nil)
	attrs := []any{"addr", ln.Addr().String(), "url", base, "tls", a.cert != nil, "storage_backend", a.cfg.StorageBackend, "database", string(a.db.Dialect())}
	if a.cfg.Console {
		attrs = append(attrs, "console", base+console.Path)
	}
	attrs = append(attrs, "cli", "export SIMPLEDRIVE_URL="+base+" SIMPLEDRIVE_TOKEN=<API_TOKEN>; simpledrive put FILE; simpledrive ls")
	a.log.Info("serving", attrs...)
	if a.cfg.GCInterval > 0 {
		// The collector stops with the server, before Serve returns and
		// the caller closes what it uses.
		gcCtx, stopGC := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.svc.CollectEvery(gcCtx, a.cfg.GCInterval)
		}()
		defer func() { stopGC(); <-done }()
	}
	return serve(ctx, ln, tlsConfig, h, a.cfg.HTTP, a.log)
}

// guard wraps h in the transport guard every listener serves through: the
// in-flight byte budget and the idle body timeout.
func (a *App) guard(h http.Handler) http.Handler {
	return httpapi.Guard(h, httpapi.Limits{Inflight: a.inflight, IdleBodyTimeout: a.cfg.HTTP.IdleBodyTimeout})
}

// ServeS3 answers S3 requests (DESIGN section 9) on ln until ctx ends, then
// shuts down as [App.Serve] does, with the same limits and TLS. Serve
// calls it on S3_API_ADDR; it fails without S3_API_ADDR configured.
func (a *App) ServeS3(ctx context.Context, ln net.Listener) error {
	if a.s3 == nil {
		ln.Close()
		return errors.New("app: the S3 front door is off (S3_API_ADDR is unset)")
	}
	var tlsConfig *tls.Config
	if a.cert != nil {
		tlsConfig = a.cert.config()
	}
	a.log.Info("serving the S3 front door", "addr", ln.Addr().String(), "bucket", a.cfg.S3API.Bucket, "region", a.cfg.S3API.Region,
		"aws_cli", "aws --endpoint-url "+serverURL(ln.Addr(), tlsConfig != nil)+" s3 ls s3://"+a.cfg.S3API.Bucket)
	return serve(ctx, ln, tlsConfig, a.guard(a.s3), a.cfg.HTTP, a.log)
}

// reloadOnHangup reloads the TLS certificate on each signal from hup until
// ctx ends.
func (a *App) reloadOnHangup(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := a.ReloadTLS(); err != nil {
				a.log.Error("TLS certificate reload failed; keeping the current one", "error", err.Error())
			} else {
				a.log.Info("TLS certificate reloaded")
			}
		}
	}
}

// serveSide starts the listeners of METRICS_ADDR and PPROF_ADDR, when set.
// stop closes them.
func (a *App) serveSide() (stop func(), err error) {
	var servers []*http.Server
	stop = func() {
		for _, s := range servers {
			s.Close()
		}
	}
	side := []struct {
		name, addr string
		handler    func() http.Handler
	}{
		{"METRICS_ADDR", a.cfg.Ops.MetricsAddr, func() http.Handler { return a.metrics.Handler() }},
		{"PPROF_ADDR", a.cfg.Ops.PprofAddr, pprofHandler},
	}
	for _, s := range side {
		if s.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			stop()
			return nil, fmt.Errorf("app: %s: %w", s.name, err)
		}
		srv := &http.Server{
			Handler:           s.handler(),
			ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
			IdleTimeout:       a.cfg.HTTP.IdleTimeout,
			MaxHeaderBytes:    a.cfg.HTTP.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		}
		servers = append(servers, srv)
		go srv.Serve(ln)
		a.log.Info("serving "+s.name, "addr", ln.Addr().String())
	}
	return stop, nil
}

// pprofHandler serves net/http/pprof on a mux of its own: never on the
// default mux, never on the API's listener.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serve is [App.Serve] for any handler; tlsConfig, when not nil, makes ln
// serve TLS.
func serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, h http.Handler, cfg config.HTTP, log *slog.Logger) error {
	// Requests' contexts derive from handlerCtx, cancelled when shutdown
	// gives up waiting.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	var handlers tracker
	srv := &http.Server{
		Handler:           handlers.wrap(h),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return handlerCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// The guard's stall watch reads each response's progress off its
		// TCP connection.
		ConnContext: httpapi.ConnContext,
	}
	// An idle connection of a client that never authenticated is closed
	// after as long as a client may take to send a header.
	conns := connlimit.New(cfg.MaxConns, cfg.ReadHeaderTimeout)
	errc := make(chan error, 1)
	go func() { errc <- conns.Serve(srv, ln, tlsConfig) }()

	select {
	case err := <-errc:
		cancelHandlers()
		srv.Close()
		handlers.closeAndWait()
		return fmt.Errorf("app: serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still running must not outlive the database and
		// backend they use, which the caller closes next.
		log.Warn("shutdown timeout passed: cancelling the requests still running")
		cancelHandlers()
		srv.Close()
		handlers.closeAndWait()
		return fmt.Errorf("app: shutdown after SHUTDOWN_TIMEOUT: %w", err)
	}
	handlers.closeAndWait()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("app: serving: %w", err)
	}
	log.Info("stopped")
	return nil
}

// tracker counts running handlers so that shutdown can wait for them.
// Once closed it runs no new handler: a request that reaches it then (its
// connection was accepted before the server closed) is refused with 503.
type tracker struct {
	mu      sync.Mutex
	closed  bool
	running sync.WaitGroup
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.running.Add(1)
	return true
}

// closeAndWait refuses new handlers and waits for the running ones.
func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	if hook := waitingForHandlers.Load(); hook != nil {
		(*hook)()
	}
	t.running.Wait()
}

// waitingForHandlers is a test hook: called, when set, when shutdown starts
// waiting for the running handlers. Atomic, since servers of other tests
// may still be shutting down when a test sets it.
var waitingForHandlers atomic.Pointer[func()]

func (t *tracker) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.enter() {
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "application/problem+json")
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"title":"Service Unavailable","status":503,"detail":"the server is shutting down","code":"unavailable"}`+"\n")
			return
		}
		defer t.running.Done()
		h.ServeHTTP(w, r)
	})
}

// Run builds the App from cfg, listens on cfg.ListenAddr and serves until
// ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("app: LISTEN_ADDR: %w", err)
	}
	return a.Serve(ctx, ln)
}

// serverURL is the URL a user on this machine reaches the server at on
// addr: localhost for an address that listens on every interface.
func serverURL(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
