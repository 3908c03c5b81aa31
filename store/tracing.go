package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strings"
	"time"
	"unicode"

	"github.com/XSAM/otelsql"
	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Tracing (Options.TracerProvider) wraps the driver in otelsql: a span per query, exec and
// transaction, children of the caller's span. The wrapping is at the database/sql driver,
// below GORM, so that the statements the store sends on the raw connection pool are traced as
// well as GORM's. Spans carry the SQL text but never its arguments, which can be identifiers
// and hashes.

// dialector returns the GORM dialector of dialect over dsn, traced when configured.
func (o Options) dialector(dialect, dsn string) (gorm.Dialector, error) {
	var pg driver.Connector
	if dialect == Postgres {
		var err error
		if pg, err = pgConnector(dsn); err != nil {
			return nil, err
		}
	}
	if o.TracerProvider == nil {
		if dialect == SQLite {
			return sqlite.Open(dsn), nil
		}
		return postgres.New(postgres.Config{DSN: dsn, Conn: sql.OpenDB(pg)}), nil
	}
	system := semconv.DBSystemNameSQLite
	if dialect == Postgres {
		system = semconv.DBSystemNamePostgreSQL
	}
	opts := []otelsql.Option{otelsql.WithTracerProvider(o.TracerProvider), otelsql.WithAttributes(system),
		otelsql.WithSpanNameFormatter(spanName),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			// Rows spans double the span count of every read, and session resets
			// happen on every pool checkout; neither says anything a query span doesn't.
			OmitRows:             true,
			OmitConnResetSession: true,
			// Only calls made for a traced operation (a request): migrations at start
			// and the hourly pruning would otherwise be hundreds of one-span traces.
			SpanFilter: func(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
				return trace.SpanContextFromContext(ctx).IsValid()
			},
		})}
	if dialect == Postgres {
		return postgres.New(postgres.Config{DSN: dsn, Conn: otelsql.OpenDB(pg, opts...)}), nil
	}
	db, err := otelsql.Open(sqlite.DriverName, dsn, opts...)
	if err != nil {
		return nil, err
	}
	return sqlite.Dialector{DSN: dsn, Conn: db}, nil
}

// pgConnector is pgx's database/sql connector for dsn, whose sessions read timestamptz
// values in UTC. pgx reads them in the process's local zone: a server on a host whose zone is
// not UTC answered a time it had just written with Z, and the same time read back with the
// host's offset (…-05:00; GraphQL's user accounts, for one), where SQLite's are UTC.
func pgConnector(dsn string) (driver.Connector, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.GetConnector(*cfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	})), nil
}

// spanName names a database span after its statement's verb ("SELECT", "INSERT", …), which is
// what a trace view needs at a glance; calls without a statement (begin, commit) keep
// otelsql's method name ("sql.conn.begin_tx").
func spanName(_ context.Context, method otelsql.Method, query string) string {
	query = strings.TrimLeft(query, " \t\r\n(")
	end := strings.IndexFunc(query, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(query)
	}
	if end == 0 || end > 16 {
		return string(method)
	}
	return strings.ToUpper(query[:end])
}

// DB returns the connection pool, for its statistics (sql.DBStats).
// Errors: none.
func (s *Store) DB() *sql.DB {
	return sqlDB(s.gdb)
}

// Pools returns the connection pools by name, for their statistics: "gatehouse" (DB), and on
// PostgreSQL "gatehouse_async", the pool of AsyncCommit.
// Errors: none.
func (s *Store) Pools() map[string]*sql.DB {
	pools := map[string]*sql.DB{"gatehouse": s.DB()}
	if s.async != nil {
		pools["gatehouse_async"] = sqlDB(s.async)
	}
	return pools
}

func sqlDB(g *gorm.DB) *sql.DB {
	db, err := g.DB()
	if err != nil {
		return nil // GORM fails only when the pool is not a *sql.DB, which Open never builds
	}
	return db
}
