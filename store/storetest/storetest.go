// Package storetest gives tests a fresh, empty database of each dialect: a temporary SQLite
// file always, and a new PostgreSQL database when GATEHOUSE_TEST_POSTGRES_URL is set. Every
// database is dropped when its test ends, so test runs leave nothing behind.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection that creates and drops databases
)

// EnvPostgres names the variable holding an admin URL of a PostgreSQL server for tests.
const EnvPostgres = "GATEHOUSE_TEST_POSTGRES_URL"

// Dialects returns the dialects to test: "sqlite" always, "postgres" when configured.
func Dialects() []string {
	if os.Getenv(EnvPostgres) != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Each runs fn as a subtest per dialect, each with its own fresh database URL.
func Each(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, URL(t, d)) })
	}
}

// URL returns the URL of a new empty database of the given dialect, dropped at test end.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	case "postgres":
		return postgresURL(t)
	}
	t.Fatalf("storetest: unknown dialect %q", dialect)
	return ""
}

func postgresURL(t testing.TB) string { return PostgresURLWith(t, "") }

// PostgresURLWith returns the URL of a new empty PostgreSQL database created with the given
// CREATE DATABASE options (such as "TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C'"), dropped
// at test end; the test is skipped when GATEHOUSE_TEST_POSTGRES_URL is not set.
func PostgresURLWith(t testing.TB, options string) string {
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		t.Skip(EnvPostgres + " is not set")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "gatehouse_test_" + hex.EncodeToString(b)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, strings.TrimSpace("CREATE DATABASE "+name+" "+options)); err != nil {
		db.Close()
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// AbortFirstAuditEvent makes the first insert into audit_events of PostgreSQL database db
// fail as a serialization failure's victim (40001), once, as PostgreSQL may abort any
// transaction: a trigger counts on a sequence, which the rollback does not undo. The
// database is migrated already.
func AbortFirstAuditEvent(t testing.TB, db *sql.DB) {
	t.Helper()
	for _, q := range []string{
		`CREATE SEQUENCE abort_once`,
		`CREATE FUNCTION abort_once() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN IF nextval('abort_once') = 1 THEN RAISE EXCEPTION 'chosen as the victim' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$`,
		`CREATE TRIGGER abort_once BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION abort_once()`,
	} {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("storetest: %v", err)
		}
	}
}

// WaitAdvisoryLockWaiter returns once a session of PostgreSQL database db waits for an
// advisory lock (a start waiting on the bootstrap lock).
func WaitAdvisoryLockWaiter(t testing.TB, db *sql.DB) error {
	deadline := time.After(10 * time.Second)
	for {
		var waiting int
		if err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			return err
		}
		if waiting > 0 {
			return nil
		}
		select {
		case <-deadline:
			return errors.New("storetest: no session waits for an advisory lock")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
