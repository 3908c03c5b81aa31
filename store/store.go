// Package store persists Gatehouse's models with GORM on SQLite (pure Go, the embedded default)
// or PostgreSQL: opening, versioned migrations, transactions, queries, and the translation of
// driver errors into store errors. It holds no business rules and no authorization; callers
// (package provision) pass the workspace every scoped query is confined to.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"gatehouse/cache"
	"gatehouse/clock"
	"gatehouse/models"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store is a handle on the database. It is safe for concurrent use.
type Store struct {
	gdb *gorm.DB
	// async is PostgreSQL's second pool, whose sessions commit asynchronously, for what a
	// context marked with AsyncCommit writes (nil on SQLite, whose one connection already
	// syncs lazily: synchronous(NORMAL) in WAL mode).
	async   *gorm.DB
	dialect string
	// lowerCollation is the collation PostgreSQL lower-cases text with, when the database's
	// own lower() folds ASCII letters only ("" otherwise, and on SQLite); lowerASCIIOnly, that
	// it does and no collation folds more (lower.go).
	lowerCollation string
	lowerASCIIOnly bool
	// onMigrationWait is Options.OnMigrationWait; migrationWaitTold, that it was told.
	onMigrationWait   func(err error)
	migrationWaitTold atomic.Bool
	now               func() time.Time // the clock, in UTC
	// guardedInserts holds the guarded form of each INSERT text (batch.go): a statement's text
	// depends only on its model and columns, so there are few.
	guardedInserts *cache.Cache[string, string]
}

// Options tune Open. The zero value is what tests and the migrate command use.
type Options struct {
	// MaxConns is PostgreSQL's connection pool size (default 32). SQLite always uses one.
	MaxConns int
	// AsyncConns is the size of PostgreSQL's second pool, for writes made with AsyncCommit
	// (default MaxConns). It opens connections only as they are needed.
	AsyncConns int
	// StatementTimeout, when positive, is PostgreSQL's statement_timeout for every session but
	// migrations, and SQLite's busy timeout when below 10 s: a backstop behind the request
	// deadline carried by each call's context.
	StatementTimeout time.Duration
	// Wait is how long Open keeps retrying a database that does not answer yet (it may still be
	// starting), with exponential backoff; zero tries once. SQLite files that cannot be written
	// (a full disk) are not retried.
	Wait time.Duration
	// OnRetry, when set, is told of each failed attempt before the next one.
	OnRetry func(err error, next time.Duration)
	// OnMigrationWait, when set, is told once that a migration waits for another process's
	// write lock on the same SQLite file (err is the lock's error): Migrate then waits until
	// its turn or until its context ends, which could otherwise look like a start that hangs.
	OnMigrationWait func(err error)
	// TracerProvider, when set, traces the database calls made for a traced operation
	// (tracing.go); nil leaves the driver unwrapped.
	TracerProvider trace.TracerProvider
	// Clock stamps rows and measures Wait (default clock.Real).
	Clock clock.Clock
	// Caches, when set, collects the store's caches for metrics.
	Caches *cache.Group
}

// Open connects to url: "sqlite:<path>" (":memory:" is not supported: use a temporary file) or
// "postgres://…". It does not migrate; call Migrate. At most one Options is used.
func Open(ctx context.Context, rawURL string, options ...Options) (*Store, error) {
	var opt Options
	if len(options) > 0 {
		opt = options[0]
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 32
	}
	if opt.AsyncConns <= 0 {
		opt.AsyncConns = opt.MaxConns
	}
	if opt.Clock == nil {
		opt.Clock = clock.Real
	}
	deadline := opt.Clock.Now().Add(opt.Wait)
	backoff := 100 * time.Millisecond
	for {
		s, err := open(ctx, rawURL, opt)
		left := deadline.Sub(opt.Clock.Now())
		// A disk without room does not gain any by waiting: the cause is said at once.
		if err == nil || !errors.Is(err, models.ErrUnavailable) || storageFault(err) != "" || left <= 0 {
			return s, err
		}
		backoff = min(backoff, left)
		if opt.OnRetry != nil {
			opt.OnRetry(err, backoff)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// CheckURL returns the error Open returns for a URL it can open in no state of the database:
// one of another scheme than sqlite: and postgres://, or a sqlite: one without a file path. It
// reads nothing and creates nothing, so that a start checks the URL with the rest of its
// configuration, before the first file it creates.
func CheckURL(rawURL string) error {
	if path, ok := SQLitePath(rawURL); ok {
		if path == "" || strings.Contains(path, ":memory:") {
			return fmt.Errorf("store: sqlite needs a file path, got %q", rawURL)
		}
		return nil
	}
	if !strings.HasPrefix(rawURL, "postgres://") && !strings.HasPrefix(rawURL, "postgresql://") {
		return fmt.Errorf("store: unsupported database URL (want sqlite:<path> or postgres://…)")
	}
	return nil
}

// SQLitePath returns the database file a sqlite: URL names ("sqlite:<path>" or
// "sqlite://<path>"), and whether rawURL is a sqlite: URL.
func SQLitePath(rawURL string) (string, bool) {
	path, ok := strings.CutPrefix(rawURL, "sqlite:")
	return strings.TrimPrefix(path, "//"), ok
}

func open(ctx context.Context, rawURL string, opt Options) (*Store, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	// In microseconds, PostgreSQL's precision (as provision's clock): what a write stamps is
	// what a read returns, on either database.
	now := func() time.Time { return opt.Clock.Now().UTC().Truncate(time.Microsecond) }
	cfg := &gorm.Config{
		// Queries are never logged: their parameters can carry identifiers and hashes.
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                now,
	}
	var dsn, dialect string
	switch path, sqlite := SQLitePath(rawURL); {
	case sqlite:
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("store: %w", err)
			}
		}
		if err := createPrivate(path); err != nil {
			return nil, err
		}
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout(opt.StatementTimeout).Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		// Transactions take the write lock at BEGIN, so that one that reads before it writes
		// waits (busy_timeout) for another process's writer, as `gatehouse clients` beside a
		// server, instead of failing at its first write with SQLITE_BUSY (a read snapshot
		// cannot be upgraded). No _time_format: the driver reads no parameter after it, and
		// ignored _txlock; its default format is the "sqlite" one anyway.
		q.Set("_txlock", "immediate")
		// The path is a file: URI path, which SQLite percent-decodes: escape what URIs reserve.
		escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
		dialect = SQLite
		dsn = "file:" + escaped + "?" + q.Encode()
	default:
		dialect = Postgres
		dsn = withStatementTimeout(rawURL, opt.StatementTimeout)
	}
	conns := opt.MaxConns
	if dialect == SQLite {
		// SQLite has one writer. A single connection serialises everything without
		// SQLITE_BUSY surprises; WAL keeps it fast.
		conns = 1
	}
	gdb, err := openPool(cfg, opt, dialect, dsn, conns)
	if err != nil {
		return nil, err
	}
	s := &Store{gdb: gdb, dialect: dialect, now: now, onMigrationWait: opt.OnMigrationWait,
		guardedInserts: cache.New[string, string](opt.Caches, "guarded_inserts", cache.Options{MaxEntries: 256})}
	if dialect == Postgres {
		// Not pinged: it connects when a sign-in first writes, not at start or in a CLI command.
		lazy := *cfg
		lazy.DisableAutomaticPing = true
		if s.async, err = openPool(&lazy, opt, dialect, withAsyncCommit(dsn), opt.AsyncConns); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if dialect == Postgres {
		var folds bool
		s.lowerCollation, folds = lowerCollation(ctx, s.gdb)
		s.lowerASCIIOnly = !folds
	}
	return s, nil
}

// openPool opens one GORM handle on a pool of at most conns connections.
func openPool(cfg *gorm.Config, opt Options, dialect, dsn string, conns int) (*gorm.DB, error) {
	dial, err := opt.dialector(dialect, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	gdb, err := gorm.Open(dial, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, unavailable(err))
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sqlDB.SetMaxOpenConns(conns)
	if dialect == Postgres {
		sqlDB.SetMaxIdleConns(conns)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	return gdb, nil
}

// Dialect returns SQLite or Postgres.
// Errors: none.
func (s *Store) Dialect() string { return s.dialect }

// Close releases the connection pools.
// Errors: none of the contract.
func (s *Store) Close() error {
	var errs []error
	for _, g := range []*gorm.DB{s.gdb, s.async} {
		if g == nil {
			continue
		}
		sqlDB, err := g.DB()
		if err == nil {
			err = sqlDB.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Ping checks that the database answers.
// Errors: none of the contract; a database that does not answer wraps models.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", unavailable(err))
	}
	return nil
}

type txKey struct{}

type asyncKey struct{}

// AsyncCommit marks ctx so that the writes made with it outside a transaction, and the
// transactions InTx begins with it, commit asynchronously on PostgreSQL (synchronous_commit
// off, on a pool of their own): they are visible to every session at once, but a crash of the
// database server (not of Gatehouse; a clean shutdown flushes them) can lose the last fraction
// of a second of them. PostgreSQL writes its log in order, so any later synchronous commit,
// on any connection, makes them durable too. A commit's wait for the disk is most of what a
// short write costs the database here (its CPU per returning sign-in: 1,080 µs with four
// synchronous commits, 740 µs with none). Callers decide what may be lost (package
// provision: sign-in state until the token endpoint hands something out). No effect on
// SQLite.
func AsyncCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, asyncKey{}, true)
}

// pool is the pool ctx's writes go to outside a transaction.
func (s *Store) pool(ctx context.Context) *gorm.DB {
	if s.async != nil && ctx.Value(asyncKey{}) != nil {
		return s.async
	}
	return s.gdb
}

// InTx runs fn in one transaction; every store call made with the ctx passed to fn joins it.
// Nested calls join the outer transaction. An error or panic from fn rolls back.
// Errors: fn's, unchanged; a failed BEGIN or COMMIT wraps models.ErrUnavailable.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if inTx(ctx) { // joins it (InTxFromFirstWrite's: fn's writes do)
		return fn(ctx)
	}
	// Errors of fn are already translated; those of BEGIN and COMMIT are classified here.
	return unavailable(s.pool(ctx).WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ctx, counts := withCounts(context.WithValue(ctx, txKey{}, tx))
		if err := fn(ctx); err != nil {
			return err
		}
		return s.flushCounts(ctx, counts)
	}))
}

// db returns the transaction carried by ctx, or the pool. In InTxFromFirstWrite it begins the
// transaction (GORM's statements are not told apart: any may write); an error is the
// returned session's.
func (s *Store) db(ctx context.Context) *gorm.DB {
	db, err := s.handle(ctx, true)
	if err != nil {
		db = s.gdb.Session(&gorm.Session{NewDB: true, Context: ctx})
		_ = db.AddError(err)
	}
	return db
}

// scoped confines a query to one workspace. Every workspace-owned read and write goes
// through it.
func (s *Store) scoped(ctx context.Context, ws uuid.UUID) *gorm.DB {
	return s.db(ctx).Where("workspace_id = ?", ws)
}

// Create inserts one model or a slice of models of the same type.
// Errors: ErrAlreadyExists (the violated index's field), ErrMissingReference.
func (s *Store) Create(ctx context.Context, v any) error {
	defaultSCIMData(v)
	if err := translate(s.db(ctx).Create(v).Error); err != nil {
		return err
	}
	return s.countCreated(ctx, v)
}

// NewID returns a new time-ordered (v7) UUID.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// first loads one row into dest or returns ErrNotFound.
func first(q *gorm.DB, dest any) error {
	res := q.Limit(1).Find(dest)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// exists reports whether the query matches a row.
func exists(q *gorm.DB) (bool, error) {
	var n int64
	// Count ignores Limit; a Select("1") would become count("1"), which SQLite reads as a
	// column name.
	if err := q.Count(&n).Error; err != nil {
		return false, translate(err)
	}
	return n > 0, nil
}

// RawScan runs a read-only SQL query and scans its result into dest. It exists for tests and
// diagnostics that must look at the rows as stored.
// Errors: none of the contract.
func (s *Store) RawScan(ctx context.Context, dest any, sql string, args ...any) error {
	return translate(s.db(ctx).Raw(sql, args...).Scan(dest).Error)
}
