package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// ErrNotFound is returned when a single row is asked for and none matches.
var ErrNotFound = errors.New("store: not found")

// ErrMissingReference is returned when a write refers to a row that no longer exists (a
// foreign key violation), e.g. an account deleted while it was being bound.
var ErrMissingReference = errors.New("store: referenced row does not exist")

// ErrStale is returned when an optimistic update finds the row's version changed.
var ErrStale = errors.New("store: stale version")

// UniqueError is a unique index violation. Index names the violated index.
type UniqueError struct{ Index string }

func (e *UniqueError) Error() string { return "store: unique violation on " + e.Index }

// IsUnique reports whether err is a violation of the named unique index.
func IsUnique(err error, index string) bool {
	var u *UniqueError
	return errors.As(err, &u) && u.Index == index
}

// sqliteUniqueColumns maps SQLite's "UNIQUE constraint failed: t.a, t.b" column lists to our
// index names, since SQLite does not name the index in the message.
var sqliteUniqueColumns = map[string]string{}

func registerUnique(index, columns string) { sqliteUniqueColumns[columns] = index }

// translate turns driver errors into store errors; other errors pass through wrapped.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return &UniqueError{Index: pg.ConstraintName}
	}
	if errors.As(err, &pg) && pg.Code == "23503" {
		return ErrMissingReference
	}
	msg := err.Error()
	if strings.Contains(msg, "FOREIGN KEY constraint failed") {
		return ErrMissingReference
	}
	if i := strings.Index(msg, "UNIQUE constraint failed: "); i >= 0 {
		cols := msg[i+len("UNIQUE constraint failed: "):]
		if j := strings.IndexAny(cols, " ("); j >= 0 && !strings.Contains(cols[:j], ",") {
			// single column, message may carry a trailing code: keep the first token
			cols = cols[:j]
		}
		cols = strings.TrimSpace(strings.Split(cols, " (")[0])
		if idx, ok := sqliteUniqueColumns[cols]; ok {
			return &UniqueError{Index: idx}
		}
		return &UniqueError{Index: cols}
	}
	return fmt.Errorf("store: %w", unavailable(err))
}
