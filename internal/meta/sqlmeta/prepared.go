package sqlmeta

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// stmt is a statement of the hot path (a create's insert, a read's
// lookup, the savepoints of a grouped commit). On SQLite, where parsing
// and planning a statement costs about as much as running it, it is
// prepared on its pool when first used and then on each connection once
// (database/sql keeps it per connection); elsewhere (pool nil), the query
// text runs as is: pgx caches the statements it prepares by itself.
type stmt struct {
	pool  *sql.DB // nil: never prepared
	query string

	mu   sync.Mutex // serialises preparing
	prep atomic.Pointer[sql.Stmt]
}

func newStmt(pool *sql.DB, query string) *stmt { return &stmt{pool: pool, query: query} }

// prepared returns the prepared statement, preparing it first if need
// be, or nil when it is not to be prepared or preparing failed (the query
// text then runs, and reports the failure itself).
func (s *stmt) prepared(ctx context.Context) *sql.Stmt {
	if p := s.prep.Load(); p != nil || s.pool == nil {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.prep.Load(); p != nil {
		return p
	}
	p, err := s.pool.PrepareContext(ctx, s.query)
	if err != nil {
		return nil
	}
	s.prep.Store(p)
	return p
}

// queryRow runs the statement on its pool.
func (s *stmt) queryRow(ctx context.Context, pool *sql.DB, args ...any) *sql.Row {
	if p := s.prepared(ctx); p != nil {
		return p.QueryRowContext(ctx, args...)
	}
	return pool.QueryRowContext(ctx, s.query, args...)
}

// exec runs the statement in t, a transaction of its pool: through the
// prepared statement once [stmt.prepared] has prepared it. It never
// prepares it itself: that takes a connection of the pool, and SQLite's
// writer pool has one, which t holds.
func (s *stmt) exec(ctx context.Context, t tx, args ...any) (sql.Result, error) {
	if sqlTx, ok := t.(*sql.Tx); ok {
		if p := s.prep.Load(); p != nil {
			return sqlTx.StmtContext(ctx, p).ExecContext(ctx, args...)
		}
	}
	return t.ExecContext(ctx, s.query, args...)
}
