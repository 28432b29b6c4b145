// Package db opens Simple Drive's metadata database and keeps its schema
// current.
//
// DATABASE_URL selects the engine: a postgres:// (or postgresql://) URL opens
// PostgreSQL through pgx; anything else is the path of a SQLite file, opened
// with the pure-Go modernc.org/sqlite driver, its directory created if
// missing. Both engines take the same SQL text: queries use $1, $2, ...
// placeholders, which both accept.
//
// # SQLite
//
// SQLite runs in WAL mode with synchronous=FULL, so a commit is on disk
// before it returns: a blob acknowledged with 201 survives a power loss,
// like the bytes the local backend fsyncs. SQLite allows one writer at a
// time. [DB] therefore holds two pools on the
// same file: [DB.Writer] has a single connection, so writes queue in Go
// instead of failing with SQLITE_BUSY, and [DB.Reader] has several read-only
// connections, which WAL mode lets run beside the writer. On PostgreSQL both
// methods return the same pool. A [Lookup] runs the one query of a blob's
// read, its record by id, on read connections of its own below
// database/sql, where that costs a third of what it does through it.
//
// # Migrations
//
// Versioned goose migrations are embedded per engine under migrations/ and run
// by [Open]. On PostgreSQL a session-level advisory lock serialises replicas
// that start at the same moment.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names a database engine.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations
var migrations embed.FS

// DB is an open, migrated metadata database.
type DB struct {
	dialect Dialect
	read    *sql.DB
	write   *sql.DB
	path    string // the SQLite file

	mu      sync.Mutex
	lookups []*Lookup  // to close
	changes []*Changes // to close, after the pools
	closed  bool
}

// Open connects to the database that url names, checks that it answers and
// applies every pending migration.
func Open(ctx context.Context, url string) (*DB, error) {
	d, err := open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := d.migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func open(ctx context.Context, url string) (*DB, error) {
	scheme, _, isURL := strings.Cut(url, "://")
	switch {
	case scheme == "postgres" || scheme == "postgresql":
		return openPostgres(ctx, url)
	case isURL:
		// Only the scheme is shown: the rest may hold a password.
		return nil, fmt.Errorf("db: DATABASE_URL: unsupported scheme %q; want postgres:// or a SQLite file path", scheme)
	}
	return openSQLite(ctx, url)
}

func openPostgres(ctx context.Context, url string) (*DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("db: DATABASE_URL: %w", err)
	}
	// As many idle connections as open ones: a pool that closes what it
	// just used churns connections under load. Idle ones expire instead.
	pool.SetMaxOpenConns(32)
	pool.SetMaxIdleConns(32)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := ping(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connecting to PostgreSQL (check DATABASE_URL): %w", MapError(err))
	}
	return &DB{dialect: Postgres, read: pool, write: pool}, nil
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, errors.New("db: DATABASE_URL: want a postgres:// URL or a SQLite file path without '?' or '#'")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("db: creating the directory of DATABASE_URL: %w", err)
		}
	}
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	// The writer opens first: it creates the file and switches it to WAL,
	// which is persistent, before any read-only connection exists.
	write, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_txlock=immediate&"+pragmas)
	if err != nil {
		return nil, fmt.Errorf("db: DATABASE_URL: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	if err := ping(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("db: opening SQLite file %q: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&"+pragmas)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("db: DATABASE_URL: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers) // database/sql keeps only 2 by default
	return &DB{dialect: SQLite, read: read, write: write, path: path}, nil
}

func ping(ctx context.Context, pool *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pool.PingContext(ctx)
}

func (d *DB) migrate(ctx context.Context) error {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	var opts []goose.ProviderOption
	if d.dialect == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("db: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("db: migrations: %w", err)
	}
	provider, err := goose.NewProvider(dialect, d.write, fsys, opts...)
	if err != nil {
		return fmt.Errorf("db: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("db: applying migrations: %w", MapError(err))
	}
	return nil
}

// Dialect returns the engine behind d.
func (d *DB) Dialect() Dialect { return d.dialect }

// Reader returns the pool for statements that only read.
func (d *DB) Reader() *sql.DB { return d.read }

// Writer returns the pool for statements that write. On SQLite it holds a
// single connection.
func (d *DB) Writer() *sql.DB { return d.write }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.read.PingContext(ctx); err != nil {
		return fmt.Errorf("db: ping: %w", MapError(err))
	}
	return nil
}

// Close closes both pools and every [Lookup].
func (d *DB) Close() error {
	d.mu.Lock()
	for _, l := range d.lookups {
		l.close()
	}
	d.closed = true
	changes := d.changes
	d.mu.Unlock()
	if d.read == d.write {
		return d.write.Close()
	}
	err := errors.Join(d.read.Close(), d.write.Close())
	for _, c := range changes {
		c.close()
	}
	return err
}
