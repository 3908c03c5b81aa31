package store

import (
	"database/sql"

	"github.com/XSAM/otelsql"
	"github.com/glebarez/sqlite"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Option configures Open.
type Option func(*options)

type options struct {
	tracer trace.TracerProvider
}

// WithTracerProvider traces every database call (a span per query, exec and transaction,
// children of the caller's span) through tp. Without it the driver is not wrapped at all.
//
// The wrapping is at the database/sql driver (otelsql), below GORM, so that the statements
// the store sends on the raw connection pool are traced as well as GORM's. Spans carry the
// SQL text but never its arguments, which can be identifiers and hashes.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}

// dialector returns the GORM dialector of dialect over dsn, traced when configured.
func (o options) dialector(dialect, dsn string) (gorm.Dialector, error) {
	if o.tracer == nil {
		if dialect == SQLite {
			return sqlite.Open(dsn), nil
		}
		return postgres.Open(dsn), nil
	}
	driverName := sqlite.DriverName
	if dialect == Postgres {
		driverName = "pgx" // registered by pgx's database/sql driver, which GORM's dialector imports
	}
	db, err := otelsql.Open(driverName, dsn, otelsql.WithTracerProvider(o.tracer),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			// Rows spans double the span count of every read, and session resets
			// happen on every pool checkout; neither says anything a query span doesn't.
			OmitRows:             true,
			OmitConnResetSession: true,
		}))
	if err != nil {
		return nil, err
	}
	if dialect == SQLite {
		return sqlite.Dialector{DSN: dsn, Conn: db}, nil
	}
	return postgres.New(postgres.Config{DSN: dsn, Conn: db}), nil
}

// DB returns the connection pool, for its statistics (sql.DBStats).
func (s *Store) DB() *sql.DB {
	db, err := s.gdb.DB()
	if err != nil {
		return nil // GORM fails only when the pool is not a *sql.DB, which Open never builds
	}
	return db
}
