package store

import (
	"database/sql/driver"
	"strings"

	sqlitedriver "github.com/glebarez/go-sqlite"
)

// SQLite's lower() folds ASCII letters only ("ÉQUIPE" stays "ÉQUIPE"), PostgreSQL's every
// letter, and models.Key, which the callers lower what they compare with, every letter too.
// unicodeLower is SQLite's lower() as Go's strings.ToLower, registered for every SQLite
// connection, so that a case-insensitive comparison selects the same rows on both databases.
const unicodeLower = "gatehouse_lower"

func init() {
	sqlitedriver.MustRegisterDeterministicScalarFunction(unicodeLower, 1,
		func(_ *sqlitedriver.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return strings.ToLower(v), nil
			case []byte:
				return strings.ToLower(string(v)), nil
			}
			return args[0], nil // NULL, numbers: as lower() leaves them
		})
}

// lower is the SQL of expr lower-cased as models.Key lower-cases text, on the store's database.
func (s *Store) lower(expr string) string { return lowerSQL(s.dialect, expr) }

// lowerSQL is the SQL of expr lower-cased as strings.ToLower lower-cases text, on dialect.
func lowerSQL(dialect, expr string) string {
	if dialect == SQLite {
		return unicodeLower + "(" + expr + ")"
	}
	return "lower(" + expr + ")"
}
