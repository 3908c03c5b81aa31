package store

import (
	"context"
	"database/sql/driver"
	"strings"

	sqlitedriver "github.com/glebarez/go-sqlite"
	"gorm.io/gorm"
)

// SQLite's lower() folds ASCII letters only ("ÉQUIPE" stays "ÉQUIPE"), PostgreSQL's every
// letter when the database's LC_CTYPE is a UTF-8 locale (lowerCollation), and models.Key, which the callers lower what they compare with, every letter too.
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
func (s *Store) lower(expr string) string { return lowerSQL(s.dialect, s.lowerCollation, expr) }

// lowerSQL is the SQL of expr lower-cased as strings.ToLower lower-cases text, on dialect; on
// PostgreSQL with collation (lowerCollation) when the database's own lower() does not fold
// every letter. The result is compared in the database's default collation again, so that
// only the lower-casing changes, not how eq, gt or lt order text.
func lowerSQL(dialect, collation, expr string) string {
	switch {
	case dialect == SQLite:
		return unicodeLower + "(" + expr + ")"
	case collation != "":
		return "lower(" + expr + ` COLLATE "` + collation + `") COLLATE "default"`
	}
	return "lower(" + expr + ")"
}

// foldingCollations are collations whose lower() folds every letter, in the order tried
// when the database's own does not: ICU's root locale (PostgreSQL built with ICU, as the
// Debian, RHEL and official Docker packages are), then glibc's C.UTF-8 under its two names.
var foldingCollations = []string{"und-x-icu", "C.utf8", "C.UTF-8"}

// lowerCollation finds how PostgreSQL lower-cases as strings.ToLower does. A database created
// with LC_CTYPE C (or POSIX) folds ASCII letters only in lower(), so "ÉMILE" would not match
// "émile" in a case-insensitive SCIM filter there, while it does on SQLite and on a database
// with a UTF-8 LC_CTYPE. It returns "" when the database's own lower() folds every letter, the
// first of foldingCollations that does otherwise, and ok false when none does (the store then
// lower-cases ASCII only, and the caller warns).
func lowerCollation(ctx context.Context, db *gorm.DB) (collation string, ok bool) {
	const probe, folded = "ÉΣÆ", "éσæ"
	var got string
	if err := db.WithContext(ctx).Raw("SELECT lower(?)", probe).Scan(&got).Error; err != nil || got == folded {
		return "", true // folds every letter; or nothing can be told, and nothing changes
	}
	for _, c := range foldingCollations {
		got = ""
		// The names are this package's constants, never input.
		if db.WithContext(ctx).Raw(`SELECT lower(CAST(? AS text) COLLATE "`+c+`")`, probe).Scan(&got).Error == nil && got == folded {
			return c, true
		}
	}
	return "", false
}

// CaseFoldingWarning is what an operator should be told of how this database lower-cases
// text, or "": on a PostgreSQL database whose LC_CTYPE folds ASCII letters only and which has
// none of foldingCollations, case-insensitive SCIM filters and name searches match "ÉMILE"
// only as "ÉMILE", not as "émile".
// Errors: none.
func (s *Store) CaseFoldingWarning() string {
	if !s.lowerASCIIOnly {
		return ""
	}
	return "store: this PostgreSQL database lower-cases ASCII letters only (its LC_CTYPE is C or POSIX) and has no ICU or C.UTF-8 collation: " +
		"case-insensitive SCIM filters and name searches will not fold accented letters; create the database with a UTF-8 LC_CTYPE (C.UTF-8, en_US.UTF-8)"
}
