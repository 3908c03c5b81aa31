package store

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// Every way a PostgreSQL password can be written is masked.
func TestDescribeMasksEveryPasswordForm(t *testing.T) {
	for _, raw := range []string{
		"postgres://app:s3cr3t-pw@db:5432/gh?sslmode=disable",
		"postgres://app@db:5432/gh?sslmode=disable&password=s3cr3t-pw",
		"postgresql://db/gh?password=s3cr3t-pw",
		"postgres://app:s3cr3t-pw@db@x:5432/gh",
		"host=db user=app password=s3cr3t-pw dbname=gh",
		"host=db user=app password='s3cr3t-pw with space' dbname=gh",
		"host=db user=app PASSWORD = s3cr3t-pw",
	} {
		got := Describe(raw)
		if strings.Contains(got, "s3cr3t") {
			t.Errorf("Describe(%q) = %q", raw, got)
		}
		if !strings.Contains(got, "xxxxx") {
			t.Errorf("Describe(%q) = %q: no mask", raw, got)
		}
	}
	if got := Describe("sqlite:data/gh.db"); got != "sqlite:data/gh.db" {
		t.Errorf("sqlite: %q", got)
	}
}

func TestWithStatementTimeout(t *testing.T) {
	if got := withStatementTimeout("postgres://h/db?sslmode=disable", 1500e6); !strings.Contains(got, "statement_timeout=1500") {
		t.Fatal(got)
	}
	// A parameter the operator set is kept, as a query parameter or in options; the name
	// elsewhere (a password, a database) does not count.
	for _, raw := range []string{"postgres://h/db?statement_timeout=0", "postgres://h/db?options=-c%20statement_timeout%3D0"} {
		if got := withStatementTimeout(raw, 2e9); got != raw {
			t.Errorf("%s: %s", raw, got)
		}
	}
	if got := withStatementTimeout("postgres://u:statement_timeout@h/statement_timeout", 2e9); !strings.Contains(got, "?statement_timeout=2000") {
		t.Errorf("the name in the password and database: %s", got)
	}
	if got := withAsyncCommit("postgres://h/db?synchronous_commit=on"); got != "postgres://h/db?synchronous_commit=on" {
		t.Errorf("an operator's synchronous_commit: %s", got)
	}
}

// Open keeps retrying a database that does not answer, with backoff, for Options.Wait.
func TestOpenWaitsForTheDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	var retries int
	start := time.Now()
	_, err = Open(context.Background(), "postgres://u@"+addr+"/db?sslmode=disable&connect_timeout=1",
		Options{Wait: 1500 * time.Millisecond, OnRetry: func(error, time.Duration) { retries++ }})
	if err == nil || models.ErrorCode(err) != models.EUNAVAILABLE {
		t.Fatalf("open: %v", err)
	}
	if d := time.Since(start); retries < 3 || d < time.Second || d > 5*time.Second {
		t.Fatalf("%d retries in %v", retries, d)
	}
	if _, err := Open(context.Background(), "mysql://x", Options{Wait: time.Hour}); err == nil {
		t.Fatal("a bad URL is not retried, it fails")
	}
}

// The statement timeout reaches PostgreSQL sessions as a run-time parameter.
func TestStatementTimeoutIsSet(t *testing.T) {
	st, err := Open(context.Background(), storetest.URL(t, Postgres), Options{StatementTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v string
	if err := st.RawScan(context.Background(), &v, "SHOW statement_timeout"); err != nil || v != "1500ms" {
		t.Fatalf("statement_timeout %q %v", v, err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}
