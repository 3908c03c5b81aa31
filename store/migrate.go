package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migration is one versioned schema step. SQL is written once for both dialects; the
// placeholders {uuid} {time} {bytes} are replaced with each dialect's type.
type migration struct {
	version  int
	name     string
	sql      string
	postgres string // run after sql on PostgreSQL only (storage settings SQLite does not have)
	sqlite   string // run after sql on SQLite only (table rebuilds where PostgreSQL has ALTER)
}

// migrations holds every step, registered by the migrate_NNNN_*.go files (one file per step,
// so that features developed in parallel do not edit the same list). Never edit a released
// step; add a new file with the next version.
var migrations []migration

// register adds a migration step; versions must be unique.
func register(m migration) {
	for _, o := range migrations {
		if o.version == m.version {
			panic(fmt.Sprintf("store: migration version %d registered twice (%s, %s)", m.version, o.name, m.name))
		}
	}
	migrations = append(migrations, m)
	sort.Slice(migrations, func(i, j int) bool { return migrations[i].version < migrations[j].version })
}

func (s *Store) dialectSQL(sql string) string {
	types := map[string][3]string{
		SQLite:   {"text", "datetime", "blob"},
		Postgres: {"uuid", "timestamptz", "bytea"},
	}[s.dialect]
	return strings.NewReplacer("{uuid}", types[0], "{time}", types[1], "{bytes}", types[2]).Replace(sql)
}

// Migrate applies every migration not yet applied, each in its own transaction. It is safe to
// run again, and on PostgreSQL safe to run from several replicas at once (advisory lock). It
// refuses, changing nothing, a database that records a migration of a later release, or one of
// this release's versions under another name (checkApplied).
// Errors: none of the contract; a failure names its migration.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, math.MaxInt)
}

// migrateTo applies the migrations up to version last (tests of a step start before it).
func (s *Store) migrateTo(ctx context.Context, last int) error {
	// Under the migrations' lock too: on PostgreSQL, CREATE TABLE IF NOT EXISTS run by two
	// replicas at once on an empty database fails in one of them (a duplicate key in pg_type).
	var foreign []string
	if err := s.migrationTx(ctx, func(tx *gorm.DB) error {
		if s.dialect == Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(7215339)").Error; err != nil {
				return err
			}
		}
		var err error
		if foreign, err = s.foreignTables(tx); err != nil || len(foreign) > 0 {
			return err
		}
		return tx.Exec(s.dialectSQL(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at {time} NOT NULL)`)).Error
	}); err != nil {
		return fmt.Errorf("store: migrate: %w", unavailable(err))
	}
	if len(foreign) > 0 {
		return foreignError(foreign)
	}
	if err := s.checkApplied(ctx); err != nil {
		return err
	}
	for _, m := range migrations {
		if m.version > last {
			break
		}
		err := s.migrationTx(ctx, func(tx *gorm.DB) error {
			if s.dialect == Postgres {
				// A migration may rewrite a large table: the serving statement_timeout
				// does not apply to it.
				if err := tx.Exec("SET LOCAL statement_timeout = 0").Error; err != nil {
					return err
				}
				if err := tx.Exec("SELECT pg_advisory_xact_lock(7215339)").Error; err != nil {
					return err
				}
			}
			var n int64
			if err := tx.Raw("SELECT count(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			sql := m.sql
			switch s.dialect {
			case Postgres:
				sql += m.postgres
			case SQLite:
				sql += m.sqlite
			}
			for _, stmt := range strings.Split(s.dialectSQL(sql), ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("%w in %q", err, strings.TrimSpace(stmt))
				}
			}
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, s.now()).Error
		})
		if err != nil {
			return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, unavailable(err))
		}
	}
	return nil
}

// migrationTx runs fn in one transaction of the migrations. On PostgreSQL they take turns on
// an advisory lock, waited for as long as it takes. On SQLite the transaction takes the write
// lock at BEGIN (_txlock=immediate), so a process starting beside another one waits for that
// one's step and then finds it applied; but SQLite waits only its busy timeout (10 s, or the
// statement timeout), and a step longer than that (a table rebuild on a large database) would
// fail the others' start with "database is locked". Such a transaction is begun again until it
// gets its turn or ctx ends (the driver's busy wait does not end with ctx: this one does).
func (s *Store) migrationTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	for {
		err := s.gdb.WithContext(ctx).Transaction(fn)
		if err == nil || s.dialect != SQLite || !sqliteBusy(err) {
			return err
		}
		if s.onMigrationWait != nil && s.migrationWaitTold.CompareAndSwap(false, true) {
			s.onMigrationWait(err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Migratable returns the error Migrate refuses the database with before it changes anything
// (one that is not Gatehouse's, one a later release or another build migrated), reading only:
// for a start that asks something of the database before it migrates it, so that a database
// the migrations refuse is refused first, unchanged.
// Errors: none of the contract.
func (s *Store) Migratable(ctx context.Context) error {
	db := s.gdb.WithContext(ctx)
	foreign, err := s.foreignTables(db)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", unavailable(err))
	}
	if len(foreign) > 0 {
		return foreignError(foreign)
	}
	if migrated, err := s.hasColumn(ctx, "schema_migrations", "version"); err != nil || !migrated {
		return err // a new database
	}
	return s.checkApplied(ctx)
}

// foreignError refuses a database with another product's tables (foreignTables).
func foreignError(foreign []string) error {
	if len(foreign) > 5 {
		foreign = append(foreign[:5], "…")
	}
	return fmt.Errorf("store: migrate: the database is not Gatehouse's: it has tables (%s) but no Gatehouse migrations; "+
		"check GATEHOUSE_DATABASE_URL (Gatehouse needs an empty database of its own, or one it has migrated)", strings.Join(foreign, ", "))
}

// hasColumn reports whether the database's schema has table with column: a database not
// migrated yet, or not to the last version, lacks some.
func (s *Store) hasColumn(ctx context.Context, table, column string) (bool, error) {
	query := `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`
	if s.dialect == Postgres {
		query = `SELECT count(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?`
	}
	var n int64
	if err := s.db(ctx).Raw(query, table, column).Scan(&n).Error; err != nil {
		return false, translate(err)
	}
	return n > 0, nil
}

// foreignTables lists the tables of a database that has no schema_migrations table: another
// product's database, named by mistake, which the migrations must not fill with Gatehouse's
// tables (nor fail in halfway, on a table name both use). Empty for an empty database and for
// one Gatehouse has migrated.
func (s *Store) foreignTables(tx *gorm.DB) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
	if s.dialect == Postgres {
		// Not a table an extension made (PostGIS's spatial_ref_sys, created in public by
		// CREATE EXTENSION postgis before Gatehouse's first start): that is the database's
		// equipment, not another product's data.
		query = `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
			AND NOT EXISTS (SELECT 1 FROM pg_depend d
				WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
			ORDER BY c.relname`
	}
	var tables []string
	if err := tx.Raw(query).Scan(&tables).Error; err != nil {
		return nil, err
	}
	if slices.Contains(tables, "schema_migrations") {
		return nil, nil
	}
	return tables, nil
}

// checkApplied refuses a database whose recorded migrations are not this release's: one a
// later release applied (a rollback, or a replica not yet upgraded restarting), or one recorded
// under another name than this release's step of that version. Such a database has tables and
// rows this release does not know how to keep: it would write rows the later release reads
// otherwise, or run its own step over another one. Refusing before any request is served is
// the only safe answer (docs/administration.md, "Upgrading").
func (s *Store) checkApplied(ctx context.Context) error {
	var applied []struct {
		Version int
		Name    string
	}
	if err := s.gdb.WithContext(ctx).Raw("SELECT version, name FROM schema_migrations ORDER BY version").
		Scan(&applied).Error; err != nil {
		return fmt.Errorf("store: migrate: %w", unavailable(err))
	}
	known := map[int]string{}
	last := 0
	for _, m := range migrations {
		known[m.version] = m.name
		last = max(last, m.version)
	}
	var later []string
	for _, a := range applied {
		name, ok := known[a.Version]
		switch {
		case a.Version > last:
			later = append(later, fmt.Sprintf("%d %q", a.Version, a.Name))
		case ok && name != a.Name:
			return fmt.Errorf("store: migrate: the database records migration %d as %q, but this release's migration %d is %q: "+
				"it was migrated by another build of Gatehouse; run that build, or restore a backup taken before it ran", a.Version, a.Name, a.Version, name)
		}
	}
	if len(later) > 0 {
		return fmt.Errorf("store: migrate: the database was migrated by a later release of Gatehouse (it records migration %s; this release has migrations up to %d): "+
			"run that release or a later one; to go back to this one, restore a backup taken before the upgrade", strings.Join(later, ", "), last)
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
// Errors: none of the contract; 0 before the first migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	if err := s.gdb.WithContext(ctx).Raw("SELECT max(version) FROM schema_migrations").Scan(&v).Error; err != nil {
		return 0, translate(err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}
