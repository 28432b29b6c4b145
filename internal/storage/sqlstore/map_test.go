package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// unsentError is shaped like pgx's "conn closed": the statement was never
// sent, which the driver marks with SafeToRetry.
type unsentError struct{ safe bool }

func (unsentError) Error() string       { return "conn closed" }
func (e unsentError) SafeToRetry() bool { return e.safe }

func TestMapError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want error // nil: no sentinel
	}{
		{sql.ErrNoRows, storage.ErrNotFound},
		{fmt.Errorf("commit: %w", unsentError{safe: true}), storage.ErrUnavailable},
		{unsentError{safe: false}, nil},
		{errors.New("syntax error"), nil},
	} {
		got := mapError(c.err)
		for _, sentinel := range []error{storage.ErrNotFound, storage.ErrUnavailable, storage.ErrInsufficientStorage} {
			if errors.Is(got, sentinel) != (sentinel == c.want) {
				t.Errorf("mapError(%v) = %v; want sentinel %v", c.err, got, c.want)
			}
		}
	}
}
