package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of the database as a whole, which [MapError] wraps engine errors
// with. The packages over the database translate them into their own.
var (
	// ErrUnavailable means the database cannot be reached now (network,
	// server down or shutting down, timeout, a busy SQLite file); the same
	// statement may succeed later.
	ErrUnavailable = errors.New("db: database unavailable")
	// ErrDiskFull means the database's disk or quota is full.
	ErrDiskFull = errors.New("db: database disk full")
)

// MapError classifies a database error for the layers above: failures to
// reach the database come back wrapping [ErrUnavailable], a full disk
// wrapping [ErrDiskFull]. Other errors, and nil, are returned unchanged. It
// is the one place where engine errors are classified.
func MapError(err error) error {
	switch {
	case err == nil:
		return nil
	case unavailable(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case diskFull(err):
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}

// MaybeCommitted reports whether a write that failed with err may
// nevertheless have been committed. On PostgreSQL that is any failure other
// than the server's own error answer: the statement may have reached the
// server before the connection failed or the wait for its answer was
// abandoned. pgx's [pgconn.SafeToRetry] is not taken as proof that nothing
// was sent: a COMMIT answered "conn closed" (a retry-safe error) was seen to
// have landed when a connection was cut. Callers that know a failure came
// before anything could commit (BEGIN failed, a statement inside a
// transaction never committed) say so themselves. On SQLite it is a
// cancelled or expired context, which the driver reports even when the
// statement finished just before.
func (d *DB) MaybeCommitted(err error) bool {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return false
	case d.dialect == SQLite:
		return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	case errors.As(err, &pgErr):
		return false
	}
	return true
}

func unavailable(err error) bool {
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var sqliteErr *sqlite.Error
	switch {
	case errors.Is(err, driver.ErrBadConn),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr),
		errors.As(err, &connectErr),
		pgconn.Timeout(err),
		// The statement never reached the server: pgx's "conn closed" for
		// a connection that died before BEGIN or COMMIT was sent.
		pgconn.SafeToRetry(err):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 57P0x: the server is shutting
		// down or cannot accept connections; 53300: too many connections.
		return pgErr.Code[:2] == "08" || pgErr.Code[:4] == "57P0" || pgErr.Code == "53300"
	case errors.As(err, &sqliteErr):
		code := sqliteErr.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

func diskFull(err error) bool {
	var pgErr *pgconn.PgError
	var sqliteErr *sqlite.Error
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return true
	case errors.As(err, &pgErr):
		return pgErr.Code == "53100" // disk_full
	case errors.As(err, &sqliteErr):
		return sqliteErr.Code()&0xff == sqlite3.SQLITE_FULL
	}
	return false
}
