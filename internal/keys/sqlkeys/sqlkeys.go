// Package sqlkeys is the [keys.Store] over Simple Drive's SQL database:
// the api_keys table of SQLite or PostgreSQL, opened and migrated by
// package db.
//
// Times are stored as Unix microseconds, so both engines compare them
// alike; an insert uses ON CONFLICT (id) DO NOTHING, so a taken id is told
// from other failures without matching engine error codes.
package sqlkeys

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/keys"
)

var _ keys.Store = (*Store)(nil)

// Store is the SQL [keys.Store]. It is safe for concurrent use.
type Store struct {
	db *db.DB
}

// New returns a Store over d.
func New(d *db.DB) *Store { return &Store{db: d} }

const columns = `id, name, secret_sha256, scopes, prefix, created_at, expires_at, revoked_at, last_used_at, s3_secret_sealed`

// Insert implements [keys.Store].
func (s *Store) Insert(ctx context.Context, k keys.Key) error {
	res, err := s.db.Writer().ExecContext(ctx,
		`INSERT INTO api_keys (`+columns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		 ON CONFLICT (id) DO NOTHING`,
		k.ID, k.Name, hex.EncodeToString(k.SecretHash[:]), k.Scopes.String(), k.Prefix,
		k.CreatedAt.UnixMicro(), micros(k.ExpiresAt), micros(k.RevokedAt), micros(k.LastUsedAt),
		sql.NullString{String: k.S3Sealed, Valid: k.S3Sealed != ""})
	if err != nil {
		return fmt.Errorf("sqlkeys: insert: %w", mapError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlkeys: insert: %w", mapError(err))
	}
	if n == 0 {
		return fmt.Errorf("sqlkeys: insert %s: %w", k.ID, keys.ErrExists)
	}
	return nil
}

// Get implements [keys.Store].
func (s *Store) Get(ctx context.Context, id string) (keys.Key, error) {
	k, err := scan(s.db.Reader().QueryRowContext(ctx, `SELECT `+columns+` FROM api_keys WHERE id = $1`, id))
	if err != nil {
		return keys.Key{}, fmt.Errorf("sqlkeys: get %s: %w", id, mapError(err))
	}
	return k, nil
}

// List implements [keys.Store].
func (s *Store) List(ctx context.Context) ([]keys.Key, error) {
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT `+columns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlkeys: list: %w", mapError(err))
	}
	defer rows.Close()
	out := []keys.Key{}
	for rows.Next() {
		k, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlkeys: list: %w", mapError(err))
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlkeys: list: %w", mapError(err))
	}
	return out, nil
}

// Revoke implements [keys.Store].
func (s *Store) Revoke(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.Writer().ExecContext(ctx,
		`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlkeys: revoke %s: %w", id, mapError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlkeys: revoke %s: %w", id, mapError(err))
	}
	if n == 0 {
		return fmt.Errorf("sqlkeys: revoke %s: %w", id, keys.ErrNotFound)
	}
	return nil
}

// Touch implements [keys.Store].
func (s *Store) Touch(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.Writer().ExecContext(ctx,
		`UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`,
		id, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("sqlkeys: touch %s: %w", id, mapError(err))
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scan(row scanner) (keys.Key, error) {
	var k keys.Key
	var hash, scopes string
	var created int64
	var expires, revoked, used sql.NullInt64
	var sealed sql.NullString
	if err := row.Scan(&k.ID, &k.Name, &hash, &scopes, &k.Prefix, &created, &expires, &revoked, &used, &sealed); err != nil {
		return keys.Key{}, err
	}
	k.S3Sealed = sealed.String
	sum, err := hex.DecodeString(hash)
	if err != nil || len(sum) != len(k.SecretHash) {
		return keys.Key{}, fmt.Errorf("key %s: malformed secret_sha256", k.ID)
	}
	copy(k.SecretHash[:], sum)
	if k.Scopes, err = keys.ParseScopes(strings.Fields(scopes)); err != nil {
		return keys.Key{}, fmt.Errorf("key %s: %w", k.ID, err)
	}
	k.CreatedAt = time.UnixMicro(created).UTC()
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = fromMicros(expires), fromMicros(revoked), fromMicros(used)
	return k, nil
}

// micros returns t in Unix microseconds, or NULL for the zero time.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// mapError is the one place where this package classifies database errors.
func mapError(err error) error {
	err = db.MapError(err)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return keys.ErrNotFound
	case errors.Is(err, db.ErrUnavailable):
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, err)
	}
	return err
}
